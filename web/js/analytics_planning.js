// Analytics' planning sections: collaboration per department, the weighted forecast, and for
// managers and admins the assignment report (fairness) and a form to set targets.
import { gql } from './api.js';
import { PLANNING, ASSIGNMENT_REPORT, TARGETS, SET_TARGET } from './queries.js';
import { store, onBoardEvent } from './state.js';
import { esc, $, money, hours } from './util.js';
import { t } from './i18n.js';
import { options, showErrors, onSubmit } from './forms.js';
import { thisMonth, targetText } from './targets.js';

const manages = () => ['ADMIN', 'MANAGER'].includes(store.viewer.role);
const PERIODS = ['month', 'days30', 'quarter'];

/** [from, to) of a period, ending now (to a minute on, so what just happened counts). */
export function periodRange(period, now = new Date()) {
  const y = now.getUTCFullYear();
  const mo = now.getUTCMonth();
  const from = period === 'days30' ? new Date(now.getTime() - 30 * 864e5)
    : period === 'quarter' ? new Date(Date.UTC(y, mo - (mo % 3), 1)) : new Date(Date.UTC(y, mo, 1));
  return { from: from.toISOString(), to: new Date(now.getTime() + 60000).toISOString() };
}

const fmt = (h) => (h === null || h === undefined ? '—' : hours(h));
const spread = (s) => (s.count ? `${fmt(s.medianHours)} / ${fmt(s.p90Hours)}` : '—');

function departmentsTable(rows) {
  if (!rows.length) return `<p class="muted">${esc(t('analytics.noData'))}</p>`;
  const body = rows.map((r) => `<tr data-testid="dept-row" data-department="${esc(r.department.key)}">
    <th scope="row">${esc(r.department.name)}</th>
    <td>${esc(spread(r.handoffResponse))}<span class="cell-sub">${esc(t('planning.n', { count: r.handoffResponse.count }))}</span></td>
    <td>${esc(spread(r.approvalTurnaround))}<span class="cell-sub">${esc(t('planning.n', { count: r.approvalTurnaround.count }))}</span></td>
    <td data-testid="dept-deals">${r.dealCount}</td>
    <td>${esc(r.batonTotalHours ? hours(r.batonTotalHours) : '—')}<span class="cell-sub">${esc(r.batonHours.count ? t('planning.perDeal', { time: fmt(r.batonHours.medianHours) }) : '')}</span></td></tr>`).join('');
  return `<div class="table-scroll" tabindex="0" role="region" aria-labelledby="dept-heading">
    <table class="money-table planning-table" data-testid="dept-table">
    <thead><tr><th scope="col">${esc(t('planning.department'))}</th><th scope="col">${esc(t('planning.handoff'))}</th>
      <th scope="col">${esc(t('planning.approval'))}</th><th scope="col">${esc(t('planning.deals'))}</th><th scope="col">${esc(t('planning.baton'))}</th></tr></thead>
    <tbody>${body}</tbody></table></div>`;
}

/** ▲/▼ with words, so the direction never rests on colour alone. */
function moved(amount, base) {
  const n = Number(amount);
  if (!n) return `<span class="moved">${esc(t('forecast.unchanged'))}</span>`;
  const up = n > 0;
  return `<span class="moved ${up ? 'moved-up' : 'moved-down'}"><span aria-hidden="true">${up ? '▲' : '▼'}</span> ${esc(t(up ? 'forecast.up' : 'forecast.down', { amount: money(Math.abs(n), base, true) }))}</span>`;
}

function forecastSection(f) {
  const base = f.baseCurrency;
  const rows = f.rows.slice().sort((a, b) => a.month.localeCompare(b.month) || CATS.indexOf(a.category) - CATS.indexOf(b.category));
  const notes = [
    f.unscheduledCount ? t('forecast.unscheduled', { count: f.unscheduledCount }) : '',
    f.hiddenAmountCount ? t('forecast.hidden', { count: f.hiddenAmountCount }) : '',
    f.missingRates.length ? t('money.rateMissing', { currencies: f.missingRates.join(', ') }) : '',
  ].filter(Boolean);
  const table = rows.length ? `<div class="table-scroll" tabindex="0" role="region" aria-labelledby="forecast-heading">
    <table class="money-table planning-table" data-testid="forecast-table">
    <thead><tr><th scope="col">${esc(t('forecast.month'))}</th><th scope="col">${esc(t('forecast.label'))}</th><th scope="col">${esc(t('planning.deals'))}</th>
      <th scope="col">${esc(t('forecast.weighted'))}</th><th scope="col">${esc(t('forecast.moved'))}</th></tr></thead>
    <tbody>${rows.map((r) => `<tr data-testid="forecast-row"><th scope="row">${esc(r.month)}</th><td>${esc(t(`forecast.cat.${r.category}`))}</td>
      <td>${r.count}</td><td class="num">${esc(money(r.weightedAmount, base))}</td><td>${moved(r.movedSinceLastWeek, base)}</td></tr>`).join('')}</tbody></table></div>`
    : `<p class="muted">${esc(t('analytics.noData'))}</p>`;
  return `<div class="kpis"><div class="kpi"><p class="kpi-label">${esc(t('forecast.total'))}</p>
      <p class="kpi-value" data-testid="forecast-total">${esc(money(f.weightedAmount, base, true))}</p>
      <p class="kpi-sub" data-testid="forecast-moved">${moved(f.movedSinceLastWeek, base)}</p></div></div>
    ${table}${notes.map((n) => `<p class="muted small">${esc(n)}</p>`).join('')}`;
}
const CATS = ['PIPELINE', 'BEST_CASE', 'COMMIT', 'CLOSED'];

function reportSection(r) {
  const owners = r.owners.length ? `<div class="table-scroll" tabindex="0" role="region" aria-label="${esc(t('report.owners'))}">
    <table class="money-table planning-table" data-testid="report-owners"><caption>${esc(t('report.owners'))}</caption>
    <thead><tr><th scope="col">${esc(t('label.owner'))}</th>${['offered', 'claimed', 'won', 'lost', 'openLoad'].map((k) => `<th scope="col">${esc(t(`report.${k}`))}</th>`).join('')}</tr></thead>
    <tbody>${r.owners.map((o) => `<tr><th scope="row">${esc(o.user.name)}</th><td>${o.offered}</td><td>${o.claimed}</td><td>${o.won}</td><td>${o.lost}</td><td>${o.openLoad}</td></tr>`).join('')}</tbody></table></div>`
    : `<p class="muted">${esc(t('analytics.noData'))}</p>`;
  const rules = r.rules.length ? `<div class="table-scroll" tabindex="0" role="region" aria-label="${esc(t('report.rules'))}">
    <table class="money-table planning-table" data-testid="report-rules"><caption>${esc(t('report.rules'))}</caption>
    <thead><tr><th scope="col">${esc(t('report.rule'))}</th>${['offered', 'claimed', 'won', 'lost', 'spread'].map((k) => `<th scope="col">${esc(t(`report.${k}`))}</th>`).join('')}</tr></thead>
    <tbody>${r.rules.map((x) => `<tr><th scope="row">${esc(x.ruleName)}</th><td>${x.offered}</td><td>${x.claimed}</td><td>${x.won}</td><td>${x.lost}</td>
      <td>${x.spread == null ? '—' : esc(t('report.spreadValue', { spread: x.spread, max: x.maxOpenLoad, min: x.minOpenLoad }))}</td></tr>`).join('')}</tbody></table></div>` : '';
  return `<p class="muted small">${esc(t('report.intro'))}</p>${owners}${rules}`;
}

function targetForm() {
  const v = store.viewer;
  const scopes = [['OWNER', t('targets.scope.OWNER')], ['DEPARTMENT', t('targets.scope.DEPARTMENT')]];
  if (v.role === 'ADMIN') scopes.push(['ORGANIZATION', t('targets.scope.ORGANIZATION')]);
  // Managers set targets for their department and its people; admins for anyone.
  const users = store.users.filter((u) => v.role === 'ADMIN' || u.department.key === v.department.key);
  const depts = store.departments.filter((d) => v.role === 'ADMIN' || d.key === v.department.key);
  return `<form class="grid-form target-form" id="target-form" data-testid="target-form" novalidate>
    <label>${esc(t('targets.scope'))} <select name="scope">${options(scopes, 'OWNER')}</select></label>
    <label>${esc(t('targets.period'))} <input name="period" value="${esc(thisMonth())}" required pattern="\\d{4}-(\\d{2}|Q[1-4])" placeholder="2026-11 / 2026-Q4"></label>
    <label data-for="OWNER">${esc(t('label.owner'))} <select name="ownerId">${options(users.map((u) => [u.id, u.name]), v.id)}</select></label>
    <label data-for="DEPARTMENT" hidden>${esc(t('planning.department'))} <select name="departmentKey">${options(depts.map((d) => [d.key, d.name]), v.department.key)}</select></label>
    <label>${esc(t('targets.wonAmount', { currency: store.baseCurrency }))} <input name="wonAmount" type="number" min="0" step="any"></label>
    <label>${esc(t('targets.newQualified'))} <input name="newQualifiedCount" type="number" min="0" step="1"></label>
    <p class="form-error wide" role="alert"></p>
    <p class="form-note wide" role="status" data-testid="target-saved"></p>
    <div class="actions wide"><button type="submit" class="btn btn-primary">${esc(t('targets.save'))}</button></div>
  </form>
  <div data-testid="target-list" class="target-list"></div>`;
}

async function showTargets(box, period) {
  const list = $('[data-testid=target-list]', box);
  try {
    const { targets, baseCurrency } = await gql(TARGETS, { period });
    list.innerHTML = targets.length ? `<ul class="plain-list">${targets.map((x) => `<li><strong>${esc(x.owner?.name || x.department?.name || t('targets.scope.ORGANIZATION'))}</strong>
      <span class="muted">${esc(x.period)}</span> ${esc(targetText(x, baseCurrency))}</li>`).join('')}</ul>`
      : `<p class="muted small">${esc(t('targets.none', { period }))}</p>`;
  } catch (err) { list.textContent = err.message; }
}

function wireTargetForm(box) {
  const form = $('#target-form', box);
  const sync = () => { form.querySelectorAll('[data-for]').forEach((l) => { l.hidden = l.dataset.for !== form.scope.value; }); };
  form.scope.addEventListener('change', sync);
  form.period.addEventListener('change', () => showTargets(box, form.period.value.trim()));
  onSubmit(form, async () => {
    const input = { scope: form.scope.value, period: form.period.value.trim() };
    if (input.scope === 'OWNER') input.ownerId = form.ownerId.value;
    if (input.scope === 'DEPARTMENT') input.departmentKey = form.departmentKey.value;
    input.wonAmount = form.wonAmount.value === '' ? null : form.wonAmount.value;
    input.newQualifiedCount = form.newQualifiedCount.value === '' ? null : Number(form.newQualifiedCount.value);
    const { setTarget: res } = await gql(SET_TARGET, { input });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    $('[data-testid=target-saved]', form).textContent = res.target ? t('targets.saved') : t('targets.removed');
    showTargets(box, input.period);
  });
  showTargets(box, form.period.value);
}

export function mountPlanning(el) {
  let alive = true;
  let period = 'month';
  el.innerHTML = `
    <div class="planning-head"><label>${esc(t('planning.period'))} <select id="planning-period" data-testid="planning-period">${options(PERIODS.map((p) => [p, t(`planning.period.${p}`)]), period)}</select></label></div>
    <section class="panel" aria-labelledby="dept-heading" data-testid="analytics-departments"><h2 id="dept-heading">${esc(t('planning.departments'))}</h2>
      <p class="muted small">${esc(t('planning.intro'))}</p><div data-part="departments" aria-busy="true"></div></section>
    <section class="panel" aria-labelledby="forecast-heading" data-testid="analytics-forecast"><h2 id="forecast-heading">${esc(t('forecast.heading'))}</h2>
      <div data-part="forecast" aria-busy="true"></div></section>
    ${manages() ? `<section class="panel" aria-labelledby="report-heading" data-testid="analytics-report"><h2 id="report-heading">${esc(t('report.heading'))}</h2>
      <div data-part="report" aria-busy="true"></div></section>
    <section class="panel" aria-labelledby="targets-heading" data-testid="analytics-targets"><h2 id="targets-heading">${esc(t('targets.setHeading'))}</h2>${targetForm()}</section>` : ''}`;
  const part = (k) => $(`[data-part=${k}]`, el);
  const fill = (k, html) => { const p = part(k); if (p) { p.removeAttribute('aria-busy'); p.innerHTML = html; } };
  const failed = (k, err) => fill(k, `<p class="banner-error">${esc(t('analytics.loadFailed', { message: err.message }))}</p>`);

  async function load() {
    const range = periodRange(period);
    try {
      const { collaboration, forecast } = await gql(PLANNING, range);
      if (!alive) return;
      fill('departments', departmentsTable(collaboration));
      fill('forecast', forecastSection(forecast));
    } catch (err) { if (alive) { failed('departments', err); failed('forecast', err); } }
    if (!manages()) return;
    try {
      const { assignmentReport } = await gql(ASSIGNMENT_REPORT, range);
      if (alive) fill('report', reportSection(assignmentReport));
    } catch (err) { if (alive) failed('report', err); }
  }
  $('#planning-period', el).addEventListener('change', (e) => { period = e.target.value; load(); });
  if (manages()) wireTargetForm(el);
  let timer = null;
  const off = onBoardEvent((evt) => {
    if (evt.type === 'CONFIGURATION_CHANGED') return;
    clearTimeout(timer);
    timer = setTimeout(load, 1500);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}
