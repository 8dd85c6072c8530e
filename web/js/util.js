// Small DOM and formatting helpers.
import { t, intlLocale, getTimeZone, formatNumber, listWords } from './i18n.js';

export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** An amount with its cents when it has any; `compact` shortens large ones ($33K, ¥137万, US$1.5亿). */
export function money(amount, currency = 'USD', compact = false) {
  if (amount === null || amount === undefined || amount === '') return '';
  const n = Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  const short = compact && Math.abs(n) >= 10000;
  const cents = !short && Math.round(n * 100) % 100 !== 0;
  try {
    return new Intl.NumberFormat(intlLocale(), {
      style: 'currency', currency: currency || 'USD',
      minimumFractionDigits: cents ? 2 : 0, maximumFractionDigits: cents ? 2 : (short ? 1 : 0),
      notation: short ? 'compact' : 'standard',
    }).format(n);
  } catch (err) {
    return `${formatNumber(n)} ${currency || ''}`.trim();
  }
}

/** "3h", "2d", "5m" (3小时, 2天, 5分钟) since an ISO time. */
export function since(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = Math.max(0, now - new Date(iso).getTime());
  const min = Math.floor(ms / 60000);
  if (min < 1) return t('time.underMinute'); // "waiting <1m" (等待不到1分钟); ago() says "just now"
  if (min < 60) return t('time.minutes', { n: min });
  const h = Math.floor(min / 60);
  if (h < 48) return t('time.hours', { n: h });
  return t('time.days', { n: Math.floor(h / 24) });
}

/** A duration in hours as "45m", "30h", "3d 4h". */
export function hours(h) {
  if (h < 1) return t('time.minutes', { n: Math.max(1, Math.round(h * 60)) });
  const whole = Math.round(h);
  if (whole < 48) return t('time.hours', { n: whole });
  const d = Math.floor(whole / 24);
  const rest = whole % 24;
  return rest ? t('time.daysHours', { d, h: rest }) : t('time.days', { n: d });
}

export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = Math.max(0, now - new Date(iso).getTime());
  return ms < 60000 ? t('time.justNow') : t('time.ago', { time: since(iso, now) });
}

/** A moment in the organization's time zone: "Nov 27, 09:30" / "11月27日 09:30". */
export function when(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(intlLocale(), { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: getTimeZone() }).format(new Date(iso));
}

/** A calendar date; a bare YYYY-MM-DD is that day wherever the reader is. */
export function day(iso) {
  if (!iso) return '';
  const bare = iso.length === 10;
  const d = new Date(bare ? `${iso}T00:00:00Z` : iso);
  return new Intl.DateTimeFormat(intlLocale(), { month: 'short', day: 'numeric', year: 'numeric', timeZone: bare ? 'UTC' : getTimeZone() }).format(d);
}

/** A full date and time, for titles. */
export function dateTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(intlLocale(), { dateStyle: 'medium', timeStyle: 'short', timeZone: getTimeZone() }).format(new Date(iso));
}

export function initials(name) {
  return String(name || '?').split(/\s+/).map((p) => p[0]).join('').slice(0, 2).toUpperCase();
}

/** A field a stage gate asks for, as words: "an amount" / "金额". */
export function fieldWords(field) {
  if (field.startsWith('approval:')) return t('field.approvedApproval', { kind: field.slice(9) });
  const key = `field.${field}`;
  return t.has(key) ? t(key) : field.replace(/([A-Z])/g, ' $1').toLowerCase();
}
/** The same field as a label: "Amount" / "金额". */
export function fieldLabel(field) {
  const key = `label.${field}`;
  return t.has(key) ? t(key) : fieldWords(field);
}
export { listWords };

const MAX_TOASTS = 3; // more than three stacked toasts cover the board

/**
 * Toasts: role=status region, errors stay longer. At most MAX_TOASTS show: a new one pushes
 * out the oldest (the oldest that is not an error, while there is one). A toast with a `key`
 * updates the one on screen with that key (a running summary) instead of stacking another.
 * Returns the toast's element.
 */
export function toast(message, kind = 'info', ms, key) {
  const region = document.getElementById('toasts');
  if (!region) { console.error(message); return null; }
  let item = key ? Array.from(region.children).find((t) => t.dataset.key === key) : null;
  if (!item) {
    item = document.createElement('div');
    if (key) item.dataset.key = key;
    const text = document.createElement('span');
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'toast-close';
    close.setAttribute('aria-label', t('toast.dismiss'));
    close.textContent = '×';
    close.addEventListener('click', () => item.remove());
    item.append(text, close);
    region.append(item);
    while (region.children.length > MAX_TOASTS) {
      const toasts = Array.from(region.children);
      (toasts.find((t) => !t.classList.contains('toast-error')) || toasts[0]).remove();
    }
  }
  item.className = `toast toast-${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  item.firstChild.textContent = message;
  clearTimeout(item.timer);
  item.timer = setTimeout(() => item.remove(), ms ?? (kind === 'error' ? 9000 : 4500));
  return item;
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** Build an element from an HTML string (single root). */
export function html(markup) {
  const t = document.createElement('template');
  t.innerHTML = markup.trim();
  return t.content.firstElementChild;
}

/**
 * Milliseconds to wait before retry number `attempt` (0, 1, 2, ...): exponential with
 * full jitter, capped, so that after a deploy or an outage thousands of boards do not
 * reconnect in the same instant.
 */
export function backoff(attempt, base = 500, cap = 30000) {
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 16));
}
