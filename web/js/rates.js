// Exchange rates: the organization's base currency and what other currencies are worth in it.
// Everyone signed in may read them; only admins get the forms (the server refuses others anyway).
import { gql } from './api.js';
import { RATES, SET_EXCHANGE_RATE, SET_BASE_CURRENCY } from './queries.js';
import { esc, $, day, when, toast } from './util.js';
import { t, formatNumber, intlLocale, listWords } from './i18n.js';
import { store, onBoardEvent } from './state.js';
import { showErrors, onSubmit } from './forms.js';

// Offered while typing a code; any ISO code may be entered.
const SUGGESTED = ['CNY', 'USD', 'EUR', 'HKD', 'JPY', 'GBP', 'SGD', 'KRW', 'AUD', 'CAD', 'CHF', 'TWD', 'MOP'];
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/; // a sign too: the server says why a rate must be above 0

/** Today as the server counts it: a rate applies from its date on, in UTC. */
const todayUtc = () => new Date().toISOString().slice(0, 10);

function currencyName(code) {
  try {
    const name = new Intl.DisplayNames([intlLocale()], { type: 'currency' }).of(code);
    return name && name !== code ? name : '';
  } catch (err) { return ''; }
}

const rateFigure = (rate) => formatNumber(Number(rate), { maximumFractionDigits: 8 });

/** Per currency: its newest rate dated today or earlier applies; later ones are scheduled, earlier ones superseded. */
function withStatus(rates) {
  const today = todayUtc();
  const applied = new Set();
  return rates.slice()
    .sort((a, b) => a.currency.localeCompare(b.currency) || b.date.localeCompare(a.date))
    .map((r) => {
      let status = 'superseded';
      if (r.date > today) status = 'scheduled';
      else if (!applied.has(r.currency)) { status = 'current'; applied.add(r.currency); }
      return { ...r, status };
    });
}

function ratesTable(rates, base) {
  if (!rates.length) return `<p class="muted" data-testid="rates-empty">${esc(t('rates.none', { base }))}</p>`;
  const rows = withStatus(rates).map((r) => `
    <tr data-testid="rate-row" data-currency="${esc(r.currency)}" data-status="${r.status}">
      <th scope="row"><span class="code">${esc(r.currency)}</span> <span class="muted small">${esc(currencyName(r.currency))}</span></th>
      <td class="num" data-testid="rate-figure">${esc(rateFigure(r.rate))}</td>
      <td class="date">${esc(day(r.date))}</td>
      <td><span class="rate-status ${r.status}">${esc(t(`rates.status.${r.status}`))}</span>
        <span class="muted small rate-updated">${esc(r.setBy ? t('rates.updatedBy', { when: when(r.updatedAt), name: r.setBy.name }) : t('rates.updated', { when: when(r.updatedAt) }))}</span></td>
    </tr>`).join('');
  return `<table class="rates-table">
    <thead><tr><th scope="col">${esc(t('label.currency'))}</th><th scope="col">${esc(t('rates.colRate', { base }))}</th>
      <th scope="col">${esc(t('rates.colDate'))}</th><th scope="col">${esc(t('label.status'))}</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

function rateForm() {
  return `<form class="rate-form" id="rate-form" data-testid="rate-form" novalidate>
    <label>${esc(t('label.currency'))} <input name="currency" required maxlength="3" autocomplete="off" spellcheck="false"
      autocapitalize="characters" list="currency-codes" data-testid="rate-currency" aria-describedby="rate-error"></label>
    <label><span class="rate-label"></span> <input name="rate" required inputmode="decimal" autocomplete="off" data-testid="rate-value" aria-describedby="rate-error"></label>
    <label>${esc(t('rates.colDate'))} <input name="date" type="date" min="2000-01-01" max="2100-12-31" value="${todayUtc()}" data-testid="rate-date" aria-describedby="rate-error"></label>
    <p class="rate-preview muted" aria-live="polite" data-testid="rate-preview"></p>
    <p class="form-error" id="rate-error" role="alert" data-testid="rate-error"></p>
    <div class="actions"><button class="btn btn-primary" type="submit" data-testid="rate-submit">${esc(t('rates.set'))}</button></div>
  </form>`;
}

function baseForm() {
  return `<form class="base-form" id="base-form" data-testid="base-form" novalidate>
    <label>${esc(t('rates.newBase'))} <input name="currency" required maxlength="3" autocomplete="off" spellcheck="false"
      autocapitalize="characters" list="currency-codes" data-testid="base-input" aria-describedby="base-error base-note"></label>
    <button class="btn" type="submit" data-testid="base-submit">${esc(t('rates.changeBase'))}</button>
    <p class="form-note" id="base-note"></p>
    <p class="form-error" id="base-error" role="alert" data-testid="base-error"></p>
  </form>`;
}

export function mountRates(view) {
  let alive = true;
  let loads = 0;
  const admin = store.viewer.role === 'ADMIN';
  view.innerHTML = `
    <h1 tabindex="-1">${esc(t('rates.title'))}</h1>
    <p class="muted rates-intro">${esc(t('rates.intro'))}</p>
    <div class="rates">
      <section class="panel" aria-labelledby="base-heading" data-testid="base-currency">
        <h2 id="base-heading">${esc(t('rates.base'))}</h2>
        <p class="base-now" data-testid="base-now"></p>
        <p class="muted small">${esc(t('rates.baseExplained'))}</p>
        ${admin ? baseForm() : ''}
      </section>
      ${admin
    ? `<section class="panel" aria-labelledby="rate-heading"><h2 id="rate-heading">${esc(t('rates.setTitle'))}</h2>${rateForm()}</section>`
    : `<section class="panel" data-testid="rates-read-only"><p class="muted">${esc(t('rates.readOnly'))}</p></section>`}
      <section class="panel rates-list" aria-labelledby="rates-heading" data-testid="rates-list" aria-busy="true">
        <h2 id="rates-heading">${esc(t('rates.listTitle'))}</h2>
        <p class="money-missing" data-testid="rates-missing" hidden></p>
        <div class="rates-body"><p class="muted">${esc(t('rates.loading'))}</p></div>
      </section>
    </div>
    <datalist id="currency-codes">${SUGGESTED.map((c) => `<option value="${c}">${esc(currencyName(c))}</option>`).join('')}</datalist>`;
  const list = $('.rates-list', view);
  const rform = $('#rate-form', view);
  const bform = $('#base-form', view);

  function showBase(base) {
    $('.base-now', view).innerHTML = `<strong class="code" data-testid="base-code">${esc(base)}</strong> <span class="muted">${esc(currencyName(base))}</span>`;
    if (rform) { $('.rate-label', rform).textContent = t('rates.rateIn', { base }); preview(); }
    if (bform) $('#base-note', bform).textContent = t('rates.baseNote', { base });
  }

  function preview() {
    const currency = rform.currency.value.trim().toUpperCase();
    const rate = rform.rate.value.trim();
    $('.rate-preview', rform).textContent = /^[A-Z]{3}$/.test(currency) && NUMBER.test(rate) && Number(rate) > 0
      ? t('rates.preview', { currency, rate: rateFigure(rate), base: store.baseCurrency }) : '';
  }

  async function load() {
    const seq = ++loads;
    try {
      const data = await gql(RATES);
      if (!alive || seq !== loads) return;
      store.baseCurrency = data.baseCurrency;
      showBase(data.baseCurrency);
      const missing = data.analytics?.baseTotal?.missingRates || [];
      const note = $('[data-testid="rates-missing"]', list);
      note.hidden = !missing.length;
      note.textContent = missing.length ? t('rates.missing', { currencies: listWords(missing) }) : '';
      $('.rates-body', list).innerHTML = ratesTable(data.exchangeRates, data.baseCurrency);
    } catch (err) {
      if (!alive || seq !== loads) return;
      $('.rates-body', list).innerHTML = `<p class="banner-error">${esc(t('rates.loadFailed', { message: err.message }))}</p>`;
    }
    list.removeAttribute('aria-busy');
  }

  rform?.addEventListener('input', preview);
  onSubmit(rform, async () => {
    const currency = rform.currency.value.trim().toUpperCase();
    const rate = rform.rate.value.trim().replace(/[\s,，]/g, '');
    // The API takes a number and a date or nothing: say so here rather than send what it cannot read.
    if (!NUMBER.test(rate) || rform.date.validity.badInput) {
      showErrors(rform, [!NUMBER.test(rate)
        ? { field: ['rate'], message: t(rate ? 'rates.notNumber' : 'rates.rateMissing') }
        : { field: ['date'], message: t('rates.badDate') }]);
      return;
    }
    const input = { currency, rate };
    if (rform.date.value) input.date = rform.date.value;
    const { setExchangeRate: res } = await gql(SET_EXCHANGE_RATE, { input });
    if (res.userErrors.length) { showErrors(rform, res.userErrors); return; }
    const r = res.exchangeRate;
    toast(t('rates.saved', { currency: r.currency, rate: rateFigure(r.rate), base: r.baseCurrency, date: day(r.date) }), 'ok');
    rform.rate.value = '';
    preview();
    await load();
  });

  onSubmit(bform, async () => {
    const { setBaseCurrency: res } = await gql(SET_BASE_CURRENCY, { input: { currency: bform.currency.value.trim().toUpperCase() } });
    if (res.userErrors.length) { showErrors(bform, res.userErrors); return; }
    store.baseCurrency = res.baseCurrency;
    bform.currency.value = '';
    toast(t('rates.baseChanged', { base: res.baseCurrency }), 'ok');
    await load();
  });

  // Another admin's change (or one's own, from another tab) arrives as MONEY_SETTINGS_UPDATED.
  let timer = null;
  const off = onBoardEvent((evt) => {
    if (evt.type !== 'MONEY_SETTINGS_UPDATED' && evt.type !== 'RECONNECTED') return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}
