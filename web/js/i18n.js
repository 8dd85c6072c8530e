// The board's language: message catalogs (web/i18n/*.js), the user's locale and the organization's time zone.
import en from '../i18n/en.js';
import zhCN from '../i18n/zh-CN.js';

const CATALOGS = { en, 'zh-CN': zhCN };
export const SUPPORTED = Object.keys(CATALOGS);
const CHOSEN_KEY = 'baton.locale'; // a choice made on the sign-in page, before there is a user to store it on

let locale = 'en';
let timeZone; // undefined: the browser's own zone until the server says the organization's
const plurals = new Map();

/** One of SUPPORTED for a BCP 47 tag or a list of them (navigator.languages); null if none fits. */
export function matchLocale(tags) {
  for (const tag of [].concat(tags || [])) {
    const t = String(tag || '').toLowerCase();
    if (t.startsWith('zh')) return 'zh-CN';
    if (t.startsWith('en')) return 'en';
  }
  return null;
}

/** Before sign-in: what was picked on this page, else the browser's languages, else English. */
export function browserLocale() {
  return matchLocale(sessionStorage.getItem(CHOSEN_KEY)) || matchLocale(globalThis.navigator?.languages || navigator.language) || 'en';
}
export function rememberChoice(l) { if (l) sessionStorage.setItem(CHOSEN_KEY, l); else sessionStorage.removeItem(CHOSEN_KEY); }
export function chosenOnSignIn() { return matchLocale(sessionStorage.getItem(CHOSEN_KEY)); }

export function setLocale(l, zone) {
  locale = CATALOGS[l] ? l : (matchLocale(l) || 'en');
  if (zone !== undefined) timeZone = zone || undefined;
  document.documentElement.lang = locale;
  translateDom(document);
}
export const getLocale = () => locale;
export const getTimeZone = () => timeZone;
export const isZh = () => locale === 'zh-CN';

/** The locale handed to Intl: an English browser keeps its own English (en-GB dates), Chinese is zh-CN. */
export function intlLocale() {
  if (locale === 'zh-CN') return 'zh-CN';
  const nav = globalThis.navigator?.language || '';
  return /^en\b/i.test(nav) ? nav : 'en';
}

/**
 * The message `key` in the current locale with `{name}` filled from `params`. A message that depends on a
 * count is an object of plural forms ({one, other}); `params.count` chooses, by the locale's plural rules.
 */
export function t(key, params = {}) {
  let msg = CATALOGS[locale][key] ?? en[key];
  if (msg === undefined) { console.warn(`i18n: no message "${key}"`); return key; }
  if (typeof msg === 'object') {
    if (!plurals.has(locale)) plurals.set(locale, new Intl.PluralRules(locale));
    msg = msg[plurals.get(locale).select(Number(params.count) || 0)] ?? msg.other;
  }
  return msg.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
}

t.has = (key) => key in CATALOGS[locale] || key in en;

/** An approval kind as words where the catalog knows it ("contract" → 合同), else as typed. */
export const kindName = (kind) => (t.has(`kind.${kind}`) ? t(`kind.${kind}`) : kind);

/** Fill [data-i18n] (text) and [data-i18n-attr="attr:key,attr:key"] in static markup (index.html). */
export function translateDom(root) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-attr]').forEach((el) => {
    el.dataset.i18nAttr.split(',').forEach((pair) => { const [attr, key] = pair.split(':'); el.setAttribute(attr, t(key)); });
  });
}

/** "A, B and C" / "A、B和C". */
export function listWords(items) {
  try { return new Intl.ListFormat(intlLocale(), { style: 'long', type: 'conjunction' }).format(items.map(String)); } catch (err) { return items.join(', '); }
}

export function formatNumber(n, options) {
  return new Intl.NumberFormat(intlLocale(), options).format(n);
}
