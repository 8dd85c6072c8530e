// Totals as the API gives them: one figure per currency (never added together) and a
// ConvertedTotal in the base currency at dated rates, or the currencies it has no rate for.
import { esc, money, day } from './util.js';
import { t, listWords } from './i18n.js';

/** Nothing to convert: no amounts, or only amounts in the base currency. */
export function onlyBase(totals, base) {
  return !totals?.length || (totals.length === 1 && totals[0].currency === base.currency);
}

/** "¥1,246万 + €29万": each currency's figure kept whole on its line. */
export function partsHtml(totals, compact = false) {
  return (totals || []).map((m) => `<span class="money-part">${esc(money(m.amount, m.currency, compact))}</span>`).join(' + ');
}

/** "Rate missing for GBP" when a currency has no rate, else ''. */
export function missingText(base) {
  return base?.missingRates?.length ? t('money.rateMissing', { currencies: listWords(base.missingRates) }) : '';
}

/** The total in the base currency: "¥1,290,000" when nothing needed converting, "≈ ¥15,167,900" when converted, null when a rate is missing. */
export function convertedText(totals, base, compact = false) {
  if (!base || base.amount === null || base.amount === undefined) return null;
  const figure = money(base.amount, base.currency, compact);
  return onlyBase(totals, base) ? figure : `≈ ${figure}`;
}

/** What the conversion used: "In CNY at rates of Aug 29, 2026". */
export function ratesNote(totals, base) {
  if (!base || onlyBase(totals, base) || base.missingRates?.length) return '';
  return base.rateDate ? t('money.atRates', { currency: base.currency, date: day(base.rateDate) }) : t('money.in', { currency: base.currency });
}
