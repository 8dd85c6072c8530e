// Analytics: money per currency, funnel, win rate, cycle time, loss reasons, turnaround — inline SVG drawn here.
import { gql } from './api.js';
import { ANALYTICS } from './queries.js';
import { esc } from './util.js';
import { t, formatNumber } from './i18n.js';
import { onBoardEvent, store } from './state.js';
import { locked } from './ui.js';
import { convertedText, missingText, onlyBase, partsHtml, ratesNote } from './money.js';
import { mountPlanning } from './analytics_planning.js';

const W = 560;

function fmtHours(h) {
  if (h === null || h === undefined) return '—';
  if (h < 1) return t('analytics.minutes', { n: Math.round(h * 60) });
  if (h < 48) return t('analytics.hours', { n: formatNumber(h, { maximumFractionDigits: h < 10 ? 1 : 0 }) });
  return t('analytics.days', { n: formatNumber(h / 24, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
}
const pct = (x) => (x === null || x === undefined ? '—' : formatNumber(x, { style: 'percent', maximumFractionDigits: 0 }));

function trunc(s, n) { s = String(s); return s.length > n ? `${s.slice(0, n - 1)}…` : s; }

function funnelChart(funnel) {
  const rows = funnel.filter((f) => f.stage.kind !== 'LOST');
  const max = Math.max(1, ...rows.map((f) => f.entered));
  const rowH = 44;
  const left = 110;
  const barW = W - left - 150;
  const h = rows.length * rowH + 10;
  const bars = rows.map((f, i) => {
    const y = i * rowH + 6;
    const we = Math.max(2, (f.entered / max) * barW);
    const wc = Math.max(f.current ? 2 : 0, (f.current / max) * barW);
    const x0 = left + (barW - we) / 2;
    const xc = left + (barW - wc) / 2;
    const conv = f.conversionToNext != null && i < rows.length - 1
      ? `<text x="${left + barW / 2}" y="${y + rowH - 2}" class="svg-conv" text-anchor="middle">↓ ${esc(t('analytics.goOn', { pct: pct(f.conversionToNext) }))}</text>` : '';
    return `
      <text x="${left - 10}" y="${y + 18}" text-anchor="end" class="svg-label">${esc(trunc(f.stage.name, 14))}</text>
      <rect x="${x0}" y="${y + 4}" width="${we}" height="22" rx="4" class="bar-entered ${f.stage.kind === 'WON' ? 'won' : ''}"><title>${esc(t('analytics.enteredTitle', { stage: f.stage.name, count: f.entered }))}</title></rect>
      <rect x="${xc}" y="${y + 4}" width="${wc}" height="22" rx="4" class="bar-current"><title>${esc(t('analytics.nowTitle', { stage: f.stage.name, count: f.current }))}</title></rect>
      <text x="${left + barW + 10}" y="${y + 14}" class="svg-value">${esc(t('analytics.enteredNow', { entered: f.entered, now: f.current }))}</text>
      <text x="${left + barW + 10}" y="${y + 28}" class="svg-sub">${esc(stageFigure(f))}</text>
      ${conv}`;
  }).join('');
  // role=img hides the chart's own text from screen readers, so the label carries the figures.
  const said = rows.map((f) => t('analytics.funnelSaid', { stage: f.stage.name, entered: f.entered, now: f.current })).join(t('analytics.said.sep'));
  return `<svg viewBox="0 0 ${W} ${h}" width="${W}" class="chart" role="img" aria-label="${esc(t('analytics.funnelLabel', { said }))}">${bars}</svg>
    <p class="legend"><span class="key key-entered"></span>${esc(t('analytics.everEntered'))} <span class="key key-current"></span>${esc(t('analytics.thereNow'))}</p>`;
}

/** A stage's money in a few characters for the chart: the base total, or that a rate is missing (the table has the detail). */
function stageFigure(f) {
  if (!f.totals?.length) return '';
  return convertedText(f.totals, f.baseTotal, true) ?? t('money.rateMissingShort');
}

/** Each stage's amounts per currency and in the base currency, as the board's column heads show them. */
function stageMoneyTable(funnel, base) {
  const rows = funnel.map((f) => {
    const withheld = f.hiddenAmountCount ? ` ${locked(t('column.amounts', { count: f.hiddenAmountCount }))}` : '';
    const missing = missingText(f.baseTotal);
    const note = ratesNote(f.totals, f.baseTotal);
    const converted = missing
      ? `<span class="money-missing">${esc(missing)}</span>`
      : `<span class="money-part"${note ? ` title="${esc(note)}"` : ''}>${esc(convertedText(f.totals, f.baseTotal, true) || '—')}</span>`;
    return `<tr data-testid="stage-money" data-stage="${esc(f.stage.key)}">
      <th scope="row">${esc(f.stage.name)}</th>
      <td data-testid="stage-money-parts">${f.totals?.length ? partsHtml(f.totals, true) : '—'}${withheld}</td>
      <td data-testid="stage-money-base">${f.totals?.length ? converted : '—'}</td></tr>`;
  }).join('');
  return `<table class="money-table" data-testid="stage-money-table">
    <caption>${esc(t('analytics.stageMoney'))}</caption>
    <thead><tr><th scope="col">${esc(t('label.stage'))}</th><th scope="col">${esc(t('analytics.perCurrency'))}</th>
      <th scope="col">${esc(t('money.in', { currency: base }))}</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

/** One money figure of the cohort: converted into the base currency, with each currency's own sum beneath. */
function moneyKpi(key, label, totals, base) {
  const converted = convertedText(totals, base);
  const missing = missingText(base);
  const value = converted !== null
    ? `<p class="kpi-value" data-testid="money-${key}-base">${esc(converted)}</p>`
    : `<p class="kpi-value money-missing" data-testid="money-${key}-missing">${esc(missing)}</p>`;
  const parts = onlyBase(totals, base) ? '' : `<p class="money-parts" data-testid="money-${key}-parts">${partsHtml(totals)}</p>`;
  const note = ratesNote(totals, base);
  return `<div class="kpi money-kpi" data-testid="money-${key}"><p class="kpi-label">${esc(label)}</p>${value}${parts}
    ${note ? `<p class="kpi-sub">${esc(note)}</p>` : ''}</div>`;
}

/** Lost reasons as the server counts them; `unspecified` and `hidden` are its words for no reason and a withheld one. */
function reasonLabel(reason) {
  if (reason === 'unspecified') return t('analytics.reasonUnspecified');
  if (reason === 'hidden') return t('analytics.reasonHidden');
  return reason;
}

function donut(rate) {
  const r = 52;
  const c = 2 * Math.PI * r;
  const v = rate == null ? 0 : Math.max(0, Math.min(1, rate));
  return `<svg viewBox="0 0 140 140" width="180" class="chart donut" role="img" aria-label="${esc(t('analytics.winRateLabel', { pct: pct(rate) }))}">
    <circle cx="70" cy="70" r="${r}" class="donut-track" fill="none" stroke-width="16"/>
    <circle cx="70" cy="70" r="${r}" class="donut-value" fill="none" stroke-width="16" stroke-linecap="round"
      stroke-dasharray="${(v * c).toFixed(1)} ${c.toFixed(1)}" transform="rotate(-90 70 70)"/>
    <text x="70" y="74" text-anchor="middle" class="donut-text">${pct(rate)}</text>
    <text x="70" y="90" text-anchor="middle" class="donut-sub">${esc(t('analytics.wonOfClosed'))}</text>
  </svg>`;
}

// Horizontal bars with the label above each bar, so long labels (loss reasons) stay readable.
function hbars(items, { format = (v) => String(v), cls = '', width = 400, label = '' } = {}) {
  if (!items.length) return `<p class="muted">${esc(t('analytics.noData'))}</p>`;
  const max = Math.max(1e-9, ...items.map((i) => i.value));
  const rowH = 42;
  const barW = width - 110;
  const h = items.length * rowH + 4;
  const said = items.map((it) => `${it.label} ${format(it.value)}`).join(t('analytics.said.sep'));
  return `<svg viewBox="0 0 ${width} ${h}" width="${width}" class="chart" role="img" aria-label="${esc(t('analytics.chartLabel', { label, said }))}">${items.map((it, i) => {
    const y = i * rowH;
    const w = Math.max(3, (it.value / max) * barW);
    return `<text x="0" y="${y + 14}" class="svg-label">${esc(trunc(it.label, 48))}<title>${esc(it.label)}</title></text>
      <rect x="0" y="${y + 20}" width="${barW}" height="14" rx="3" class="bar-track"/>
      <rect x="0" y="${y + 20}" width="${w}" height="14" rx="3" class="bar ${cls}"/>
      <text x="${barW + 8}" y="${y + 32}" class="svg-value">${esc(format(it.value))}</text>`;
  }).join('')}</svg>`;
}

export function mountAnalytics(view) {
  let alive = true;
  view.innerHTML = `<h1 tabindex="-1">${esc(t('nav.analytics'))}</h1><div class="analytics" aria-busy="true"><p class="muted">${esc(t('analytics.loading'))}</p></div>
    <div class="analytics planning" data-testid="analytics-planning"></div>`;
  const box = view.querySelector('.analytics');
  // Departments, forecast, fairness and targets: their own period and refresh (analytics_planning.js).
  const unmountPlanning = mountPlanning(view.lastElementChild);
  async function load() {
    try {
      const { analytics: a, baseCurrency } = await gql(ANALYTICS);
      if (!alive) return;
      store.baseCurrency = baseCurrency;
      const funnel = a.funnel.slice().sort((x, y) => x.stage.position - y.stage.position);
      const reasons = (a.lossReasonCounts || []).map((r) => ({ label: reasonLabel(r.reason), value: r.count }));
      const inStage = funnel.filter((f) => f.medianHoursInStage != null && f.stage.kind === 'OPEN').map((f) => ({ label: f.stage.name, value: f.medianHoursInStage }));
      const turnaround = [
        { label: t('analytics.handoffResponse'), value: a.medianHandoffResponseHours },
        { label: t('analytics.approvalDecision'), value: a.medianApprovalHours },
      ].filter((t) => t.value != null);
      box.removeAttribute('aria-busy');
      box.innerHTML = `
        <div class="kpis">
          <div class="kpi"><p class="kpi-label">${esc(t('analytics.winRate'))}</p><p class="kpi-value">${pct(a.winRate)}</p></div>
          <div class="kpi"><p class="kpi-label">${esc(t('analytics.cycle'))}</p><p class="kpi-value">${a.medianCycleDays == null ? '—' : esc(t('analytics.days', { n: formatNumber(a.medianCycleDays, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }))}</p></div>
          <div class="kpi"><p class="kpi-label">${esc(t('analytics.handoffResponse'))}</p><p class="kpi-value">${esc(fmtHours(a.medianHandoffResponseHours))}</p><p class="kpi-sub">${esc(t('analytics.median'))}</p></div>
          <div class="kpi"><p class="kpi-label">${esc(t('analytics.approvalTurnaround'))}</p><p class="kpi-value">${esc(fmtHours(a.medianApprovalHours))}</p><p class="kpi-sub">${esc(t('analytics.median'))}</p></div>
        </div>
        <section class="money" aria-labelledby="money-heading" data-testid="analytics-money">
          <div class="money-head"><h2 id="money-heading">${esc(t('analytics.money'))}</h2>
            <a href="#/rates" data-testid="rates-link">${esc(t('analytics.ratesLink'))}</a></div>
          <div class="money-kpis">
            ${moneyKpi('open', t('analytics.moneyOpen'), a.openTotals, a.openBaseTotal)}
            ${moneyKpi('won', t('analytics.moneyWon'), a.wonTotals, a.wonBaseTotal)}
            ${moneyKpi('all', t('analytics.moneyAll'), a.totals, a.baseTotal)}
          </div>
        </section>
        <div class="chart-grid">
          <section class="panel wide" data-testid="chart-funnel"><h2>${esc(t('analytics.funnel'))}</h2>${funnelChart(funnel)}${stageMoneyTable(funnel, baseCurrency)}</section>
          <section class="panel" data-testid="chart-winrate"><h2>${esc(t('analytics.winRate'))}</h2>${donut(a.winRate)}</section>
          <section class="panel" data-testid="chart-loss"><h2>${esc(t('analytics.lost'))}</h2>${hbars(reasons, { format: (v) => t('analytics.deals', { count: v }), cls: 'bar-loss', label: t('analytics.lossReasons') })}</section>
          <section class="panel" data-testid="chart-stage-time"><h2>${esc(t('analytics.stageTime'))}</h2>${hbars(inStage, { format: fmtHours, width: 560, label: t('analytics.stageTime') })}</section>
          <section class="panel" data-testid="chart-turnaround"><h2>${esc(t('analytics.turnaround'))}</h2>${hbars(turnaround, { format: fmtHours, cls: 'bar-turn', label: t('analytics.turnaroundShort') })}</section>
        </div>`;
    } catch (err) {
      if (!alive) return;
      box.removeAttribute('aria-busy');
      box.innerHTML = `<p class="banner-error">${esc(t('analytics.loadFailed', { message: err.message }))}</p>`;
    }
  }
  let timer = null;
  const off = onBoardEvent(() => { clearTimeout(timer); timer = setTimeout(load, 1500); });
  load();
  return () => { alive = false; off(); clearTimeout(timer); unmountPlanning(); };
}
