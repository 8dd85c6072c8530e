// The shared pool (公海): deals nobody owns yet, claimed from a list that works on a phone.
// Members see their department's pool; managers and admins pick one (or all).
import { gql } from './api.js';
import { POOL, CLAIM } from './queries.js';
import { store, onBoardEvent } from './state.js';
import { esc, $, $$, money, ago } from './util.js';
import { t } from './i18n.js';
import { options, showErrors, clearErrors } from './forms.js';
import { announce } from './announce.js';
import { keepFocus } from './focus.js';

const PAGE = 50;
// Events that put a deal into the pool or take one out of it.
export const POOL_EVENTS = new Set(['OPPORTUNITY_POOLED', 'OPPORTUNITY_CLAIMED', 'OPPORTUNITY_RELEASED', 'OPPORTUNITY_ASSIGNED', 'RECONNECTED']);

const seesEveryPool = () => ['ADMIN', 'MANAGER'].includes(store.viewer.role);

export function mountPool(view) {
  let alive = true;
  let dept = store.viewer.department.key;
  let shown = PAGE;
  const picker = seesEveryPool()
    ? `<label class="pool-dept">${esc(t('pool.department'))} <select id="pool-dept" data-testid="pool-dept">${options(
      [['', t('pool.allDepartments')], ...store.departments.map((d) => [d.key, d.name])], dept)}</select></label>`
    : '';
  view.innerHTML = `
    <div class="pool-head"><h1 tabindex="-1">${esc(t('pool.title'))}</h1>${picker}</div>
    <p class="muted pool-intro">${esc(t('pool.intro'))}</p>
    <p class="muted small" id="pool-count" data-testid="pool-count" role="status"></p>
    <ul class="pool-list" data-testid="pool-list" aria-busy="true"></ul>
    <button type="button" class="btn pool-more" data-testid="pool-more" hidden>${esc(t('pool.more'))}</button>`;
  const list = $('.pool-list', view);
  const count = $('#pool-count', view);
  const more = $('.pool-more', view);

  async function load() {
    try {
      const { pool } = await gql(POOL, { dept: dept || null, first: shown });
      if (!alive) return;
      list.removeAttribute('aria-busy');
      count.textContent = t('pool.count', { count: pool.totalCount });
      more.hidden = !pool.pageInfo.hasNextPage;
      // Errors shown beside a claim stay while the same deal is listed.
      const kept = new Map($$('.pool-item', list).map((li) => [li.dataset.id, $('.form-error', li).textContent]));
      keepFocus(list, () => {
        list.innerHTML = pool.edges.length
          ? pool.edges.map((e) => itemHtml(e.node)).join('')
          : `<li class="empty" data-testid="pool-empty">${esc(t('pool.empty'))}</li>`;
      });
      $$('.pool-item', list).forEach((li) => { if (kept.get(li.dataset.id)) $('.form-error', li).textContent = kept.get(li.dataset.id); });
    } catch (err) {
      if (!alive) return;
      list.removeAttribute('aria-busy');
      list.innerHTML = `<li class="banner-error">${esc(t('pool.loadFailed', { message: err.message }))}</li>`;
    }
  }

  list.addEventListener('click', async (e) => {
    const button = e.target.closest('[data-claim]');
    if (!button) return;
    const li = button.closest('.pool-item');
    clearErrors(li);
    button.disabled = true;
    try {
      const { claimOpportunity: res } = await gql(CLAIM, { input: { id: li.dataset.id } });
      if (res.userErrors.length) { showErrors(li, res.userErrors); button.disabled = false; button.focus(); return; }
      announce(t('pool.claimed', { title: li.dataset.title }));
      // Focus goes on to the next deal (or the heading) as this one leaves the list.
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      ($('[data-claim]', next || view) || $('h1', view)).focus();
      load();
    } catch (err) {
      $('.form-error', li).textContent = t('pool.failed', { message: err.message });
      button.disabled = false;
    }
  });
  $('#pool-dept', view)?.addEventListener('change', (e) => { dept = e.target.value; shown = PAGE; load(); });
  more.addEventListener('click', () => { shown += PAGE; load(); });

  let timer = null;
  const off = onBoardEvent((evt) => {
    if (!POOL_EVENTS.has(evt.type)) return;
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}

/** One pooled deal; viewers (read-only) get no Claim button, the server would refuse it. */
function itemHtml(o) {
  const contact = o.lastContactAt ? t('pool.lastContact', { when: ago(o.lastContactAt) }) : t('pool.noContact');
  const facts = [o.account?.name, o.stage?.name].filter(Boolean).map(esc).join(' · ');
  return `<li class="pool-item" data-testid="pool-item" data-id="${esc(o.id)}" data-title="${esc(o.title)}">
    <div class="pool-main">
      <a class="pool-title" href="#/opportunity/${esc(o.id.replace(/\//g, '%2F'))}">${esc(o.title)}</a>
      <p class="muted small">${facts}</p>
      <p class="small">${o.amount != null ? `<strong>${esc(money(o.amount, o.currency))}</strong> · ` : ''}${esc(contact)}
        ${o.poolDepartment ? ` · <span class="muted">${esc(t('pool.of', { department: o.poolDepartment.name }))}</span>` : ''}</p>
    </div>
    ${store.viewer.role === 'VIEWER' ? '' : `<button type="button" class="btn btn-primary" data-claim data-testid="pool-claim">${esc(t('pool.claim'))}<span class="sr-only"> ${esc(o.title)}</span></button>`}
    <p class="form-error" role="alert" data-testid="pool-error"></p>
  </li>`;
}
