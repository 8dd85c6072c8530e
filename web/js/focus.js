// Focus management: modal layers (the drawer, dialogs) and keeping focus across re-renders.

const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';

/** The elements Tab stops at inside `root`, in order. */
export function tabStops(root) {
  return Array.from(root.querySelectorAll(FOCUSABLE)).filter((el) => el.tabIndex >= 0 && !el.disabled
    && !el.closest('[hidden], [inert]') && el.getClientRects().length > 0);
}

/** Focus the first of `candidates` (elements or functions returning one) that is on the page and can take focus. */
export function focusFirst(...candidates) {
  for (const c of candidates) {
    const el = typeof c === 'function' ? c() : c;
    if (el && el !== document.body && el.isConnected && !el.closest('[inert]')) {
      el.focus();
      if (document.activeElement === el) return el;
    }
  }
  return null;
}

/**
 * Make `layer` modal: everything outside it becomes inert, except [data-keep-active] (live regions must
 * keep announcing, the drawer's backdrop must keep taking clicks); Tab and Shift+Tab wrap inside it, Escape calls `onEscape`. Returns `release(focusTo...)`,
 * which undoes exactly what this layer did and focuses the first usable of its arguments.
 */
export function holdFocus(layer, { onEscape } = {}) {
  const madeInert = [];
  for (let node = layer; node.parentElement && node !== document.body; node = node.parentElement) {
    for (const sibling of node.parentElement.children) {
      if (sibling === node || sibling.inert || sibling.matches('script, [data-keep-active]')) continue;
      sibling.inert = true;
      madeInert.push(sibling);
    }
  }
  const onKey = (e) => {
    if (e.key === 'Escape' && onEscape && !e.defaultPrevented) { e.preventDefault(); onEscape(); return; }
    if (e.key !== 'Tab') return;
    const stops = tabStops(layer);
    if (!stops.length) { e.preventDefault(); layer.focus(); return; }
    const first = stops[0];
    const last = stops[stops.length - 1];
    const at = document.activeElement;
    if (e.shiftKey && (at === first || at === layer || !layer.contains(at))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (at === last || !layer.contains(at))) { e.preventDefault(); first.focus(); }
  };
  layer.addEventListener('keydown', onKey);
  return (...focusTo) => {
    layer.removeEventListener('keydown', onKey);
    madeInert.forEach((el) => { el.inert = false; });
    focusFirst(...focusTo);
  };
}

// Attributes that identify a control, or the item it belongs to, across re-renders.
const OWN_KEYS = ['data-tab', 'data-draft', 'data-open', 'data-read', 'data-approve', 'data-accept', 'data-close', 'name', 'data-testid'];
const ITEM_KEYS = ['data-approval', 'data-handoff', 'data-task', 'data-id'];

function selectorOf(el, keys) {
  if (el.id) return `#${CSS.escape(el.id)}`;
  const key = keys.find((k) => el.hasAttribute(k));
  return key ? `${el.localName}[${key}="${CSS.escape(el.getAttribute(key))}"]` : el.localName;
}

/** A selector that finds the focused element of `root` again after its markup is rebuilt, or null. */
export function focusedSelector(root) {
  const el = document.activeElement;
  if (!el || el === root || !root.contains(el)) return null;
  const own = selectorOf(el, [...ITEM_KEYS, ...OWN_KEYS]);
  if (own.startsWith('#')) return own;
  const item = el.parentElement.closest(ITEM_KEYS.map((k) => `[${k}]`).join(','));
  if (item && root.contains(item)) return `${selectorOf(item, ITEM_KEYS)} ${own}`;
  return own === el.localName ? null : own; // a bare tag name would find some other element
}

/** Run `render` (which rebuilds markup inside `root`) without losing the keyboard user's place. */
export function keepFocus(root, render) {
  const selector = focusedSelector(root);
  const result = render();
  if (selector && !root.contains(document.activeElement)) root.querySelector(selector)?.focus();
  return result;
}

/** Where `el`'s list item sits: taken before an await, since a live refresh may replace the item meanwhile. */
export function placeOf(el) {
  const item = el.closest('li');
  return { list: item.parentElement, index: Array.from(item.parentElement.children).indexOf(item) };
}

/** After an item of `list` was dealt with: focus the first control of the item now at `index` (or the last one), else `fallback`. */
export function focusItemAt({ list, index }, fallback) {
  const items = Array.from(list.children).filter((li) => !li.classList.contains('empty'));
  const item = items[Math.min(index, items.length - 1)];
  return focusFirst(item && tabStops(item)[0], fallback);
}
