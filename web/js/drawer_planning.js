// The drawer's planning row: the owner's forecast category (管道/最佳情况/承诺), releasing the
// deal to the pool with a reason, and claiming it when it waits there.
import { gql } from './api.js';
import { SET_FORECAST_CATEGORY, RELEASE, CLAIM } from './queries.js';
import { store } from './state.js';
import { esc, $, toast } from './util.js';
import { t } from './i18n.js';
import { options, showErrors, clearErrors, onSubmit } from './forms.js';
import { openModal } from './ui.js';
import { announce } from './announce.js';

const CATEGORIES = ['PIPELINE', 'BEST_CASE', 'COMMIT'];

// The server lets the owner, a manager or an admin call and release a deal (can_move).
const mayPlan = (o) => o.owner?.id === store.viewer.id || ['ADMIN', 'MANAGER'].includes(store.viewer.role);

export function planningMarkup(o) {
  if (o.inPool) {
    return `<div class="planning-row" data-testid="drawer-pool">
      <p>${esc(t('pool.inPool', { department: o.poolDepartment?.name || '' }))}</p>
      ${store.viewer.role === 'VIEWER' ? '' : `<button type="button" class="btn btn-primary" id="drawer-claim" data-testid="drawer-claim">${esc(t('pool.claim'))}</button>`}
      <p class="form-error" role="alert"></p></div>`;
  }
  if (o.stage.kind === 'WON') {
    return `<div class="planning-row"><span class="muted">${esc(t('forecast.label'))}</span> <span data-testid="forecast-closed">${esc(t('forecast.cat.CLOSED'))}</span></div>`;
  }
  if (o.stage.kind !== 'OPEN' || !mayPlan(o) || o.viewerCanUpdate === false) return '';
  const current = o.forecastCategory === 'CLOSED' ? 'PIPELINE' : (o.forecastCategory || 'PIPELINE');
  return `<div class="planning-row" data-testid="drawer-planning">
    <label for="forecast-category">${esc(t('forecast.label'))}</label>
    <select id="forecast-category" name="category" data-testid="forecast-category">${options(CATEGORIES.map((c) => [c, t(`forecast.cat.${c}`)]), current)}</select>
    <button type="button" class="btn" id="forecast-save" data-testid="forecast-save">${esc(t('forecast.set'))}</button>
    <span class="spacer"></span>
    <button type="button" class="btn" id="release-open" data-testid="release-open">${esc(t('pool.release'))}</button>
    <p class="form-error" role="alert"></p>
  </div>`;
}

/** Wire planningMarkup() inside `drawer`; `reload()` reads the card again. */
export function wirePlanning(drawer, o, reload) {
  const row = $('.planning-row', drawer);
  if (!row) return;
  $('#forecast-save', row)?.addEventListener('click', async () => {
    clearErrors(row);
    const category = $('#forecast-category', row).value;
    try {
      const { setForecastCategory: res } = await gql(SET_FORECAST_CATEGORY, { input: { id: o.id, version: o.version, category } });
      if (res.userErrors.length) { showErrors(row, res.userErrors); return; }
      // The card's new version at once, so a release before the re-read is not refused as a conflict.
      Object.assign(o, res.opportunity);
      // The drawer is drawn again with the new value: the confirmation is said, not shown.
      announce(t('forecast.saved', { category: t(`forecast.cat.${category}`) }));
      reload();
    } catch (err) { $('.form-error', row).textContent = err.message; }
  });
  $('#release-open', row)?.addEventListener('click', () => releaseDialog(o, reload));
  $('#drawer-claim', row)?.addEventListener('click', async () => {
    clearErrors(row);
    try {
      const { claimOpportunity: res } = await gql(CLAIM, { input: { id: o.id } });
      if (res.userErrors.length) { showErrors(row, res.userErrors); return; }
      announce(t('pool.claimed', { title: o.title }));
      reload();
    } catch (err) { $('.form-error', row).textContent = err.message; }
  });
}

function releaseDialog(o, reload) {
  const modal = openModal({ title: t('pool.releaseTitle', { title: o.title }), testid: 'release-dialog', className: 'settings-modal' });
  modal.body.innerHTML = `<form class="stack" novalidate>
    <p>${esc(t('pool.releaseText'))}</p>
    <label>${esc(t('pool.reason'))} <textarea name="reason" rows="3" maxlength="500" required data-testid="release-reason"></textarea></label>
    <p class="form-error" role="alert"></p>
    <div class="actions"><button type="submit" class="btn btn-primary" data-testid="release-ok">${esc(t('pool.release'))}</button>
      <button type="button" class="btn" data-cancel>${esc(t('dialog.cancel'))}</button></div>
  </form>`;
  const form = $('form', modal.body);
  $('[data-cancel]', form).addEventListener('click', modal.close);
  onSubmit(form, async () => {
    const reason = form.reason.value.trim();
    if (!reason) { showErrors(form, [{ field: ['reason'], message: t('pool.reasonNeeded') }]); return; }
    const { releaseOpportunity: res } = await gql(RELEASE, { input: { id: o.id, version: o.version, reason } });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    modal.close();
    toast(t('pool.released', { title: o.title }), 'ok', 3000);
    reload();
  });
  form.reason.focus();
}
