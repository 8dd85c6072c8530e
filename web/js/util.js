// Small DOM and formatting helpers.

export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** Chinese browsers get zh-CN number words (万/亿 when compact); others their own format. */
export function moneyLocale() {
  return /^zh\b/i.test(globalThis.navigator?.language || '') ? 'zh-CN' : undefined;
}

/** An amount with its cents when it has any; `compact` shortens large ones (€33K, ¥137万). */
export function money(amount, currency = 'USD', compact = false) {
  if (amount === null || amount === undefined || amount === '') return '';
  const n = Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  const short = compact && Math.abs(n) >= 10000;
  const cents = !short && Math.round(n * 100) % 100 !== 0;
  try {
    return new Intl.NumberFormat(moneyLocale(), {
      style: 'currency', currency: currency || 'USD',
      minimumFractionDigits: cents ? 2 : 0, maximumFractionDigits: cents ? 2 : (short ? 1 : 0),
      notation: short ? 'compact' : 'standard',
    }).format(n);
  } catch (err) {
    return `${n.toLocaleString()} ${currency || ''}`.trim();
  }
}

/** "3h", "2d", "5m" since an ISO time. */
export function since(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = Math.max(0, now - new Date(iso).getTime());
  const min = Math.floor(ms / 60000);
  if (min < 1) return 'just now';
  if (min < 60) return `${min}m`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** A duration in hours as "45m", "30h", "3d 4h". */
export function hours(h) {
  if (h < 1) return `${Math.max(1, Math.round(h * 60))}m`;
  const whole = Math.round(h);
  if (whole < 48) return `${whole}h`;
  const d = Math.floor(whole / 24);
  const rest = whole % 24;
  return rest ? `${d}d ${rest}h` : `${d}d`;
}

export function ago(iso, now = Date.now()) {
  const s = since(iso, now);
  return s === 'just now' || !s ? s : `${s} ago`;
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function day(iso) {
  if (!iso) return '';
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
}

export function initials(name) {
  return String(name || '?').split(/\s+/).map((p) => p[0]).join('').slice(0, 2).toUpperCase();
}

export function titleCase(s) {
  return String(s || '').toLowerCase().replace(/_/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

const FIELD_WORDS = {
  amount: 'an amount', expectedCloseDate: 'an expected close date', lostReason: 'a reason for losing',
  probability: 'a probability', nextStep: 'a next step', ownerId: 'an owner', title: 'a title',
};
export function fieldWords(field) {
  if (field.startsWith('approval:')) return `an approved ${field.slice(9)} approval`;
  return FIELD_WORDS[field] || field.replace(/([A-Z])/g, ' $1').toLowerCase();
}
export function listWords(items) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

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
    close.setAttribute('aria-label', 'Dismiss');
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
