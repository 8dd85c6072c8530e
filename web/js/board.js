// The board: one column per stage, drag and drop, filters, live refresh.
import Sortable from '../vendor/sortablejs/sortable.esm.js';
import { gql, describeUserErrors } from './api.js';
import { BOARD, BOARD_CHANGES, CARD_BY_ID, MOVE, UPDATE, REQUEST_APPROVAL, CREATE_OPP, EXPORT_LINK } from './queries.js';
import { store, stageByKey, onBoardEvent, deptName } from './state.js';
import { esc, $, $$, money, toast, debounce, since, day, fieldWords, fieldLabel, listWords } from './util.js';
import { t, kindName, intlLocale } from './i18n.js';
import { cardInner, locked, openModal, dataText, priorityLabel } from './ui.js';
import { focusFirst, keepFocus, tabStops } from './focus.js';
import { openDrawer, refreshDrawerIfShowing } from './drawer.js';
import { contactLine, uploadForm, attachFrom, fileKindWord, wireFilePicks } from './drawer_records.js';
import { scrollHints } from './overflow.js';
import { onlyBase } from './money.js';
import { mountTargetsStrip } from './targets.js';

const FILTER_KEY = 'baton.filter';
const cards = new Map(); // id -> card data
const cardEls = new Map(); // id -> element
let root = null;
let dragging = false;
let refetchPending = false;
let sortables = [];
let loadSeq = 0;

function loadFilter() {
  try { return JSON.parse(sessionStorage.getItem(FILTER_KEY)) || {}; } catch (err) { return {}; }
}
function saveFilter(f) { sessionStorage.setItem(FILTER_KEY, JSON.stringify(f)); }

function filterInput(f) {
  const out = {};
  if (f.mine) out.ownerIds = [store.viewer.id];
  else if (f.owner) out.ownerIds = [f.owner];
  if (f.department) out.departmentKeys = [f.department];
  if (f.tag) out.tags = [f.tag.replace(/^#/, '').trim()];
  if (f.priority) out.priority = [f.priority];
  if (f.search) out.search = f.search;
  if (f.staleOnly) out.staleOnly = true;
  if (Number(f.stuckHours) > 0) out.stuckForHours = Math.floor(Number(f.stuckHours));
  return Object.keys(out).length ? out : null;
}

export function mountBoard(view) {
  root = view;
  cards.clear();
  cardEls.clear();
  const f = loadFilter();
  const opt = (value, label, selected) => `<option value="${esc(value)}"${selected ? ' selected' : ''}>${esc(label)}</option>`;
  view.innerHTML = `
    <h1 class="sr-only" tabindex="-1">${esc(t('board.heading'))}</h1>
    <div class="targets-strip" id="targets-strip" data-testid="targets-strip" hidden></div>
    <form class="filters" id="filters" role="search" aria-label="${esc(t('filters.label'))}">
      <input type="search" name="search" placeholder="${esc(t('filters.searchPlaceholder'))}" aria-label="${esc(t('filters.search'))}" value="${esc(f.search || '')}">
      <button type="button" class="btn filter-toggle" id="filter-toggle" aria-expanded="false" aria-controls="filter-more" data-testid="filter-toggle">${esc(t('filters.toggle'))}<span class="filter-count"></span></button>
      <div class="filter-more" id="filter-more">
      <label class="check"><input type="checkbox" name="mine" ${f.mine ? 'checked' : ''}> ${esc(t('filters.mine'))}</label>
      <select name="department" aria-label="${esc(t('filters.department'))}">${opt('', t('filters.allDepartments'))}${store.departments.map((d) => opt(d.key, d.name, f.department === d.key)).join('')}</select>
      <select name="owner" aria-label="${esc(t('label.owner'))}">${opt('', t('filters.allOwners'))}${store.users.map((u) => opt(u.id, u.name, f.owner === u.id)).join('')}</select>
      <input name="tag" list="tag-list" placeholder="${esc(t('filters.tag'))}" aria-label="${esc(t('filters.tag'))}" value="${esc(f.tag || '')}" size="8">
      <datalist id="tag-list"></datalist>
      <select name="priority" aria-label="${esc(t('label.priority'))}">${opt('', t('filters.anyPriority'))}${['URGENT', 'HIGH', 'MEDIUM', 'LOW'].map((p) => opt(p, priorityLabel(p), f.priority === p)).join('')}</select>
      <label class="check"><input type="checkbox" name="staleOnly" ${f.staleOnly ? 'checked' : ''}> ${esc(t('filters.stale'))}</label>
      <span class="filter-stuck"><span aria-hidden="true">${esc(t('filters.stuck'))}</span><input type="number" name="stuckHours" min="1" step="1" inputmode="numeric" data-testid="filter-stuck"
        aria-label="${esc(t('filters.stuckLabel'))}" value="${esc(f.stuckHours || '')}"><span aria-hidden="true">${esc(t('filters.stuckHours'))}</span></span>
      <button type="button" class="btn btn-ghost" id="clear-filters">${esc(t('filters.clear'))}</button>
      <span class="spacer"></span>
      <button type="button" class="btn btn-ghost" id="export-cards" data-testid="export" title="${esc(t('filters.exportTitle'))}">${esc(t('filters.export'))}</button>
      </div>
      <button type="button" class="btn btn-primary" id="new-card">${esc(t('board.newDeal'))}</button>
    </form>
    <div class="board-frame" id="board-frame">
    <div class="board" id="board" aria-busy="true">${columnsHtml()}</div>
    <button type="button" class="btn board-more" data-testid="board-more" tabindex="-1" aria-hidden="true" hidden>${esc(t('board.more'))}</button>
    </div>`;
  const form = $('#filters', view);
  const apply = () => {
    const next = {
      mine: form.mine.checked, department: form.department.value, owner: form.owner.value,
      tag: form.tag.value.trim(), priority: form.priority.value, search: form.search.value.trim(), staleOnly: form.staleOnly.checked,
      stuckHours: form.stuckHours.value.trim(),
    };
    form.owner.disabled = next.mine;
    showFilterCount(form, next);
    saveFilter(next);
    load();
  };
  form.owner.disabled = !!f.mine;
  showFilterCount(form, f);
  // On a phone the filters fold behind one button, so search and New deal fit on one row.
  $('#filter-toggle', view).addEventListener('click', (e) => {
    e.currentTarget.setAttribute('aria-expanded', String(form.classList.toggle('filters-open')));
  });
  form.addEventListener('change', apply);
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  form.search.addEventListener('input', debounce(apply, 300));
  $('#clear-filters', view).addEventListener('click', () => { form.reset(); $$('select,input', form).forEach((i) => { if (i.type === 'checkbox') i.checked = false; else i.value = ''; }); apply(); });
  $('#new-card', view).addEventListener('click', newCardDialog);
  $('#export-cards', view).addEventListener('click', exportCards);

  const board = $('#board', view);
  const offHints = scrollHints($('#board-frame', view));
  const offTargets = mountTargetsStrip($('#targets-strip', view));
  board.addEventListener('click', onBoardClick);
  board.addEventListener('keydown', onBoardKey);

  makeSortable(board);

  const offEvent = onBoardEvent((evt) => {
    // A reconnect may have missed anything, and an event without a card (a stage or rule
    // changed) may change every column: those reload the board. Card events apply alone;
    // the configuration log's own events (people, tokens, webhooks) change nothing on it.
    if (evt.type === 'CONFIGURATION_CHANGED') return;
    if (evt.type === 'RECONNECTED' || !evt.opportunity?.id) { scheduleRefetch(); return; }
    noteChange(evt.opportunity.id);
    refreshDrawerIfShowing(evt.opportunity.id);
  });
  load();
  const tick = setInterval(() => cards.forEach((c, id) => refreshBadges(id)), 60000);
  return () => {
    offEvent();
    offHints();
    offTargets();
    clearInterval(tick);
    sortables.forEach((s) => s.destroy());
    sortables = [];
    root = null;
  };
}

/** The folded filters' button says how many are set, so a filtered phone board does not look empty by mistake. */
function showFilterCount(form, f) {
  const n = ['mine', 'department', 'owner', 'tag', 'priority', 'staleOnly', 'stuckHours'].filter((k) => f[k]).length;
  $('.filter-count', form).innerHTML = n ? ` <span class="count-pill">${n}<span class="sr-only">${esc(t('filters.set'))}</span></span>` : '';
}

function columnsHtml() {
  return store.stages.map((s) => `
    <section class="column kind-${esc(s.kind)}" data-testid="column-${esc(s.key)}" data-stage="${esc(s.key)}" aria-labelledby="column-title-${esc(s.key)}">
      <header class="column-head">
        <h2 id="column-title-${esc(s.key)}">${esc(s.name)}</h2>
        <span class="col-count" title="${esc(t('column.cards'))}">0</span>
        <span class="col-total" title="${esc(t('column.total'))}"></span>
        ${gateHint(s)}
      </header>
      <div class="cards" data-stage="${esc(s.key)}"></div>
    </section>`).join('');
}

function makeSortable(board) {
  sortables.forEach((sortable) => sortable.destroy());
  sortables = $$('.cards', board).map((list) => Sortable.create(list, {
    group: 'board',
    sort: false,
    animation: 180,
    forceFallback: true, // pointer-event driven: the same path for mouse, touch and pen
    fallbackTolerance: 4,
    delayOnTouchOnly: true,
    delay: 180, // touch: a short press starts a drag, a swipe scrolls the board
    filter: '.move-btn, .no-move', // the server would refuse the move (viewerCanMove)
    preventOnFilter: false,
    ghostClass: 'card-ghost',
    chosenClass: 'card-chosen',
    dragClass: 'card-drag',
    onStart: () => { dragging = true; board.classList.add('is-dragging'); },
    onEnd: onDrop,
  }));
}

/** An administrator renamed, reordered, added or archived a stage (PIPELINE_UPDATED, then a
 * reload): the served columns name the stages now; redraw the columns when they differ. The
 * cards' elements are kept and placed again by renderColumns. */
function syncStages(board) {
  const served = board.columns.map((c) => c.stage);
  if (JSON.stringify(served) === JSON.stringify(store.stages)) return;
  store.stages = served;
  const boardEl = $('#board', root);
  boardEl.innerHTML = columnsHtml();
  makeSortable(boardEl);
}

function gateHint(stage) {
  const needs = [...(stage.requiredFields || []).map(fieldWords), ...(stage.requiredApprovals || []).map((k) => t('gate.approval', { kind: kindName(k) })),
    ...(stage.requiredFiles || []).map((k) => t('gate.fileWords', { kind: fileKindWord(k) }))];
  const previous = stage.requirePreviousDeliverables && store.stages.filter((s) => s.kind !== 'LOST' && s.position < stage.position).pop();
  if (previous?.deliverables?.length) needs.push(t('gate.deliverablesOf', { stage: previous.name }));
  return needs.length ? `<p class="gate-hint" title="${esc(t('gate.hintTitle', { needs: listWords(needs) }))}">${esc(t('gate.hint', { needs: listWords(needs) }))}</p>` : '';
}

// ------------------------------------------------------------- data

/** Download the filtered cards. The link is signed, one-time and short-lived: no bearer token in a URL. */
async function exportCards() {
  try {
    const { createExportLink: link } = await gql(EXPORT_LINK, { input: { format: 'CSV', filter: filterInput(loadFilter()) } });
    if (!link.url) { toast(describeUserErrors(link.userErrors) || t('export.failed'), 'error'); return; }
    const a = document.createElement('a');
    a.href = link.url;
    a.download = '';
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    toast(err.message, 'error');
  }
}

async function load() {
  if (!root) return;
  const mine = ++loadSeq;
  const boardEl = $('#board', root);
  try {
    const data = await gql(BOARD, { filter: filterInput(loadFilter()) });
    if (mine !== loadSeq || !root) return;
    render(data.board);
    boardEl.removeAttribute('aria-busy');
    $('.board-error', root)?.remove();
  } catch (err) {
    if (!root) return;
    boardEl.removeAttribute('aria-busy');
    let banner = $('.board-error', root);
    if (!banner) {
      banner = document.createElement('p');
      banner.className = 'board-error banner-error';
      boardEl.before(banner);
    }
    banner.textContent = t('board.loadFailed', { message: err.message });
  }
}

const scheduleRefetch = debounce(() => {
  if (dragging) { refetchPending = true; return; }
  load();
}, 120);

function render(board) {
  // Cards move between lists here, and a moved element loses focus: keep the keyboard user's place.
  keepFocus(root, () => { syncStages(board); renderColumns(board); });
}

function renderColumns(board) {
  const byStage = new Map(board.columns.map((c) => [c.stage.key, c]));
  const tags = new Set();
  withFlip(() => {
    const seen = new Set();
    for (const colEl of $$('.column', root)) {
      const col = byStage.get(colEl.dataset.stage);
      const list = $('.cards', colEl);
      const nodes = col ? col.opportunities.edges.map((e) => e.node) : [];
      if (col && col.totalCount > nodes.length) partColumns.add(colEl.dataset.stage); else partColumns.delete(colEl.dataset.stage);
      renderFigures(colEl, col);
      let prev = null;
      for (const card of nodes) {
        seen.add(card.id);
        (card.tags || []).forEach((tag) => tags.add(tag));
        const el = upsertCard(card);
        const want = prev ? prev.nextSibling : list.firstChild;
        if (want !== el) list.insertBefore(el, want);
        prev = el;
      }
    }
    for (const [id, el] of cardEls) {
      if (!seen.has(id)) dropCard(id, el);
    }
  });
  const dl = $('#tag-list', root);
  if (dl) dl.innerHTML = [...tags].sort().map((t) => `<option value="${esc(t)}">`).join('');
}

function renderFigures(colEl, col) {
  $('.col-count', colEl).textContent = col ? col.totalCount : 0;
  $('.col-total', colEl).innerHTML = col ? columnTotal(col) : '';
  if (col?.hiddenAmountCount) $('.col-total', colEl).insertAdjacentHTML('beforeend', ` ${locked(t('column.amounts', { count: col.hiddenAmountCount }))}`);
}

function dropCard(id, el) {
  el.remove();
  cardEls.delete(id);
  cards.delete(id);
}

// ------------------------------------------------------------- live changes, one card at a time

const changed = new Set(); // cards named by events since the last apply
const partColumns = new Set(); // stage keys of columns the last full load held only the newest page of
let applying = false;

/** Queue a card an event (or this board's own mutation) changed; a burst costs one request. */
function noteChange(id) {
  changed.add(id);
  scheduleChanges();
}

const scheduleChanges = debounce(applyChanges, 120);

/** The changed cards (as the board's filter sees them) and every column's figures in one
 * request (BOARD_CHANGES), applied in place: a card enters, leaves or moves between
 * columns; counts and totals follow. */
async function applyChanges() {
  if (!root || !changed.size) return;
  if (dragging || applying) { scheduleChanges(); return; }
  const ids = [...changed].slice(0, 100);
  ids.forEach((id) => changed.delete(id));
  if (changed.size) scheduleChanges();
  const filter = filterInput(loadFilter());
  const generation = loadSeq; // a full load that starts meanwhile supersedes this answer
  applying = true;
  try {
    const data = await gql(BOARD_CHANGES, { filter, changed: { ...filter, ids } });
    if (!root || generation !== loadSeq) return;
    const byStage = new Map(data.board.columns.map((c) => [c.stage.key, c]));
    const found = new Map(data.opportunities.edges.map((e) => [e.node.id, e.node]));
    keepFocus(root, () => withFlip(() => {
      for (const colEl of $$('.column', root)) renderFigures(colEl, byStage.get(colEl.dataset.stage));
      ids.forEach((id) => placeCard(id, found.get(id)));
    }));
  } catch (err) {
    scheduleRefetch(); // the whole board, which reports the error
  } finally {
    applying = false;
  }
}

function numericId(id) {
  return Number(atob(id).split(':')[1]);
}

/** Put `card` where the board shows it: its stage's column, newest first; nowhere when it
 * is gone from view, or older than every card held of a column the board holds only part of
 * (it would be on a later page). Whether a column is held whole comes from the last full
 * load, not from the new count: that count may already include cards whose events are
 * still on their way, and comparing with it would drop them. */
function placeCard(id, card) {
  const el = cardEls.get(id);
  const list = card && $(`.cards[data-stage="${CSS.escape(card.stage.key)}"]`, root);
  if (!list) {
    if (el) dropCard(id, el);
    return;
  }
  const key = numericId(id);
  const others = [...list.children].filter((other) => other !== el && other.dataset.id);
  const after = others.find((other) => numericId(other.dataset.id) < key) || null;
  if (!after && partColumns.has(card.stage.key)) {
    if (el) dropCard(id, el);
    return;
  }
  const placed = upsertCard(card);
  if (placed.parentElement !== list || placed.nextSibling !== after) list.insertBefore(placed, after);
}

/** FLIP: cards that `change` moved glide from where they were. */
function withFlip(change) {
  const before = new Map();
  cardEls.forEach((el, id) => before.set(id, { rect: el.getBoundingClientRect(), stage: el.closest('.cards')?.dataset.stage }));
  change();
  cardEls.forEach((el, id) => {
    const old = before.get(id);
    if (!old) return;
    const now = el.getBoundingClientRect();
    const dx = old.rect.left - now.left;
    const dy = old.rect.top - now.top;
    if (Math.abs(dx) < 1 && Math.abs(dy) < 1) return;
    const crossed = old.stage !== el.closest('.cards')?.dataset.stage;
    el.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'translate(0, 0)' }],
      { duration: crossed ? 450 : 250, easing: 'cubic-bezier(.2,.8,.2,1)' });
    if (crossed) flash(el);
  });
}

/** A column's amounts: one figure per currency, never added together, then the total in
 * the base currency at the dated rates, or which rate is missing. */
function columnTotal(col) {
  const parts = (col.totals || []).map((total) => money(total.amount, total.currency, true));
  const base = col.baseTotal;
  if (!base || !parts.length) return '';
  let converted = '';
  if (base.missingRates?.length) {
    converted = ` <span class="col-base-total rate-missing" data-testid="col-base-total">${esc(t('column.rateMissing', { currencies: base.missingRates.join(', ') }))}</span>`;
  } else if (!onlyBase(col.totals, base)) {
    const title = base.rateDate ? t('column.inAt', { currency: base.currency, date: day(base.rateDate) }) : t('column.in', { currency: base.currency });
    converted = ` <span class="col-base-total" data-testid="col-base-total" title="${esc(title)}">≈ ${esc(money(base.amount, base.currency, true))}</span>`;
  }
  return `<span class="col-totals" data-testid="col-totals">${esc(parts.join(' + '))}</span>${converted}`;
}

function flash(el) {
  el.classList.remove('arrived');
  void el.offsetWidth; // restart the highlight animation
  el.classList.add('arrived');
}

function signature(card) { return JSON.stringify(card); }

function upsertCard(card) {
  cards.set(card.id, card);
  let el = cardEls.get(card.id);
  const sig = signature(card);
  if (!el) {
    el = document.createElement('article');
    el.className = 'card';
    el.dataset.testid = 'card';
    el.setAttribute('data-testid', 'card');
    el.tabIndex = 0;
    cardEls.set(card.id, el);
  }
  if (el.dataset.sig !== sig) {
    el.dataset.id = card.id;
    el.dataset.sig = sig;
    el.dataset.version = card.version;
    el.className = `card prio-${card.priority}${card.overdueTaskCount ? ' has-overdue' : ''}${card.viewerCanMove === false ? ' no-move' : ''}`;
    el.setAttribute('aria-label', t('card.label', { title: card.title, account: card.account?.name || '' }));
    if (card.viewerCanMove === false) el.removeAttribute('aria-keyshortcuts'); else el.setAttribute('aria-keyshortcuts', 'M');
    el.innerHTML = cardInner(card) + contactLine(card) + stuckLine(card);
  }
  return el;
}

/** Why the card is stuck (Opportunity.stuckReason): its longest wait in one sentence, with an icon and a word, not colour alone. */
function stuckLine(card) {
  if (!card.stuckReason) return '';
  return `<p class="card-stuck" data-testid="card-stuck"><span class="stuck-icon" aria-hidden="true">⚑</span><span class="sr-only">${esc(t('stuck.label'))}: </span>${esc(card.stuckReason)}</p>`;
}

function refreshBadges(id) {
  const el = cardEls.get(id);
  const card = cards.get(id);
  if (el && card) { el.dataset.sig = ''; upsertCard(card); }
}

async function refetchCard(id) {
  try {
    const { node } = await gql(CARD_BY_ID, { id });
    if (node) { upsertCard(node); }
  } catch (err) { /* the change below reports errors */ }
  noteChange(id);
}

// ------------------------------------------------------------- interactions

function onBoardClick(e) {
  const btn = e.target.closest('.move-btn');
  const cardEl = e.target.closest('.card');
  if (!cardEl) return;
  if (btn) { e.stopPropagation(); openMoveMenu(cardEl, btn); return; }
  openDrawer(cardEl.dataset.id);
}

function onBoardKey(e) {
  const cardEl = e.target.closest('.card');
  if (!cardEl || e.target !== cardEl) return;
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openDrawer(cardEl.dataset.id); }
  if ((e.key === 'm' || e.key === 'M') && $('.move-btn', cardEl)) { e.preventDefault(); openMoveMenu(cardEl, $('.move-btn', cardEl)); }
}

function onDrop(evt) {
  dragging = false;
  $('#board', root)?.classList.remove('is-dragging');
  const id = evt.item.dataset.id;
  const toKey = evt.to.dataset.stage;
  if (evt.from === evt.to) {
    if (refetchPending) { refetchPending = false; load(); }
    return;
  }
  const revert = () => {
    const ref = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, ref);
  };
  moveCard(id, toKey, { revert });
  if (refetchPending) refetchPending = false;
}

/** moveOpportunity with the card's version; explains gates and conflicts. */
export async function moveCard(id, stageKey, { revert, lostReason } = {}) {
  const card = cards.get(id) || (await gql(CARD_BY_ID, { id })).node;
  const stage = stageByKey(stageKey);
  const el = cardEls.get(id);
  el?.classList.add('is-saving');
  try {
    const input = { id, version: card.version, stageKey };
    if (lostReason) input.lostReason = lostReason;
    const { moveOpportunity: res } = await gql(MOVE, { input });
    const err = res.userErrors?.[0];
    if (!err) {
      if (res.opportunity) upsertCard(res.opportunity);
      focusFirst(() => cardEls.get(id)); // where the keyboard user left off (not while the drawer holds focus)
      toast(t('move.done', { title: card.title, stage: stage?.name || stageKey }), 'ok', 2500);
      noteChange(id); // the figures of both columns (its own event would do it too, live or not)
      refreshDrawerIfShowing(id);
      return true;
    }
    if (revert) revert();
    if (err.code === 'STAGE_GATE') {
      await refetchCard(id);
      gateDialog(cards.get(id) || card, stage, err);
    } else if (err.code === 'CONFLICT') {
      await refetchCard(id);
      toast(t('move.conflict', { title: card.title }), 'warn', 8000);
    } else {
      toast(t('move.failed', { title: card.title, message: describeUserErrors(res.userErrors) }), 'error');
      scheduleRefetch();
    }
    return false;
  } catch (err) {
    if (revert) revert();
    toast(t('move.failed', { title: card.title, message: err.message }), 'error');
    scheduleRefetch();
    return false;
  } finally {
    el?.classList.remove('is-saving');
  }
}

// ------------------------------------------------------------- move menu (keyboard)

function openMoveMenu(cardEl, button) {
  closeMenu();
  const id = cardEl.dataset.id;
  const card = cards.get(id);
  const layer = document.getElementById('menu-layer');
  const menu = document.createElement('div');
  menu.className = 'menu';
  menu.setAttribute('role', 'menu');
  menu.setAttribute('aria-label', t('move.menuLabel', { title: card?.title || '' }));
  menu.dataset.testid = 'move-menu';
  menu.setAttribute('data-testid', 'move-menu');
  menu.innerHTML = `<p class="menu-title">${esc(t('move.menuTitle'))}</p>` + store.stages.map((s) => `
    <button type="button" role="menuitem" data-stage="${esc(s.key)}" ${card?.stage.key === s.key ? 'disabled aria-current="true"' : ''}>
      ${esc(s.name)}${card?.stage.key === s.key ? ` <span class="muted">${esc(t('move.here'))}</span>` : ''}</button>`).join('');
  layer.append(menu);
  button.setAttribute('aria-expanded', 'true');
  const r = button.getBoundingClientRect();
  const top = Math.min(r.bottom + 4, window.innerHeight - menu.offsetHeight - 8);
  const left = Math.min(r.left, window.innerWidth - menu.offsetWidth - 8);
  menu.style.top = `${Math.max(8, top)}px`;
  menu.style.left = `${Math.max(8, left)}px`;
  const items = $$('button:not([disabled])', menu);
  items[0]?.focus();
  menu.addEventListener('keydown', (e) => {
    const i = items.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); items[(i + 1) % items.length].focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    else if (e.key === 'Home' || e.key === 'End') { e.preventDefault(); items[e.key === 'Home' ? 0 : items.length - 1].focus(); }
    else if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); closeMenu(); button.focus(); }
  });
  menu.addEventListener('click', (e) => {
    const item = e.target.closest('button[data-stage]');
    if (!item) return;
    closeMenu();
    cardEls.get(id)?.focus(); // a gate dialog that opens returns here when it closes
    moveCard(id, item.dataset.stage);
  });
  setTimeout(() => document.addEventListener('mousedown', outside, true), 0);
  function outside(e) { if (!menu.contains(e.target)) closeMenu(); }
  menu._cleanup = () => { document.removeEventListener('mousedown', outside, true); button.setAttribute('aria-expanded', 'false'); };
}

function closeMenu() {
  $$('#menu-layer .menu').forEach((m) => { m._cleanup?.(); m.remove(); });
}

// ------------------------------------------------------------- stage gate

const UPDATABLE = {
  amount: { type: 'number', attrs: 'min="0" step="any" inputmode="decimal"' },
  expectedCloseDate: { type: 'date', attrs: '' },
  probability: { type: 'number', attrs: 'min="0" max="100"' },
  nextStep: { type: 'text', attrs: '' },
  title: { type: 'text', attrs: '' },
};

/** A gate's `deliverable:<stage>.<key>` field as the item it names: its title and department, from the stage's definition. */
function deliverableOf(field) {
  const [stageKey, ...rest] = field.slice('deliverable:'.length).split('.');
  const key = rest.join('.');
  const from = stageByKey(stageKey);
  const item = from?.deliverables?.find((d) => d.key === key);
  return { stageKey, key, stageName: from?.name || stageKey, title: item?.title || key, department: item?.department };
}

function gateDialog(card, stage, err) {
  const isDeliverable = (f) => f.startsWith('deliverable:');
  const isFile = (f) => f.startsWith('file:'); // a kind of file the stage needs on the card (Stage.requiredFiles)
  const files = (err.field || []).filter(isFile).map((f) => f.slice(5));
  const fields = (err.field || []).filter((f) => !f.startsWith('approval:') && !isDeliverable(f) && !isFile(f));
  const approvals = (err.field || []).filter((f) => f.startsWith('approval:')).map((f) => f.slice(9));
  const deliverables = (err.field || []).filter(isDeliverable).map(deliverableOf);
  const stageName = stage?.name || t('gate.thatStage');
  const ofStages = [...new Set(deliverables.map((d) => d.stageName))];
  const needs = [...(err.field || []).filter((f) => !isDeliverable(f) && !isFile(f)).map(fieldWords),
    ...files.map((k) => t('gate.fileWords', { kind: fileKindWord(k) })),
    ...(ofStages.length ? [t('gate.deliverablesTicked', { stages: listWords(ofStages) })] : [])];
  const modal = openModal({
    title: t('gate.title', { title: card.title, stage: stageName }), testid: 'gate-dialog', className: 'gate', returnTo: () => cardEls.get(card.id),
  });
  const fieldRows = fields.map((f) => {
    if (f === 'lostReason') {
      return `<label>${esc(t('gate.whyLost'))} <input name="lostReason" required placeholder="${esc(t('gate.whyLostPlaceholder'))}" data-field="lostReason"></label>`;
    }
    const spec = UPDATABLE[f] || { type: 'text', attrs: '' };
    return `<label>${esc(fieldLabel(f))} <input name="${esc(f)}" type="${spec.type}" ${spec.attrs} required data-field="${esc(f)}"></label>`;
  }).join('');
  const approvalRows = approvals.map((kind) => {
    const pending = (card.approvals || []).find((a) => a.kind === kind && a.status === 'PENDING');
    if (pending) {
      const open = pending.steps.filter((s) => s.status === 'PENDING' && s.openedAt);
      const who = open.map((s) => t('gate.waitingFor', { department: s.department.name, time: since(s.openedAt) }));
      return `<div class="gate-approval" data-kind="${esc(kind)}"><p><strong>${esc(t('gate.approval', { kind: kindName(kind) }))}</strong>${esc(t('gate.pending', { who: listWords(who) || t('gate.theApprovers') }))}</p></div>`;
    }
    // The stage's rule names the whole flow (roles, amount thresholds): ask for it as it stands, with no departments.
    if (stage?.autoApproval?.kind === kind) {
      return `<div class="gate-approval" data-kind="${esc(kind)}">
      <p><strong>${esc(t('gate.approval', { kind: kindName(kind) }))}</strong>${esc(t('gate.neededByRule', { stage: stageName }))}</p>
      <button type="button" class="btn request-approval" data-kind="${esc(kind)}" data-rule="1">${esc(t('gate.requestKind', { kind: kindName(kind) }))}</button>
    </div>`;
    }
    return `<div class="gate-approval" data-kind="${esc(kind)}">
      <p><strong>${esc(t('gate.approval', { kind: kindName(kind) }))}</strong>${esc(t('gate.neededAsk'))}</p>
      <div class="dept-picks">${store.departments.map((d) => `<label class="check"><input type="checkbox" value="${esc(d.key)}"> ${esc(d.name)}</label>`).join('')}</div>
      <button type="button" class="btn request-approval" data-kind="${esc(kind)}">${esc(t('gate.requestKind', { kind: kindName(kind) }))}</button>
    </div>`;
  }).join('');
  // A missing file is uploaded right here; once every one is, and nothing else is missing, the move is one click.
  const fileRows = files.length ? `<div class="gate-files" data-testid="gate-files">
      <p><strong>${esc(t('gate.files'))}</strong></p>
      ${files.map((k) => `<div class="gate-file" data-kind="${esc(k)}"><p>${esc(t('gate.fileNeeded', { kind: fileKindWord(k) }))}</p>
        ${uploadForm(`gate-file-${k}`, k, { nested: true })}</div>`).join('')}
    </div>` : '';
  const onlyFiles = files.length && !fields.length && !approvals.length && !deliverables.length;
  // Deliverables are ticked by their departments on the card's checklist, not from here.
  const inThatStage = deliverables.some((d) => d.stageKey === card.stage?.key);
  const deliverableRows = deliverables.length ? `<div class="gate-deliverables" data-testid="gate-deliverables">
      <p><strong>${esc(t('gate.notTicked'))}</strong></p>
      <ul>${deliverables.map((d) => `<li data-testid="gate-deliverable" data-key="${esc(d.key)}"><strong>${dataText(d.title)}</strong>
        <span class="muted small">· ${esc(d.stageName)}${d.department ? ` · ${esc(t('checklist.ticks', { department: d.department.name }))}` : ''}</span></li>`).join('')}</ul>
      ${inThatStage ? `<button type="button" class="btn" id="gate-checklist">${esc(t('gate.openChecklist'))}</button>` : ''}
    </div>` : '';
  modal.body.innerHTML = `
    <p class="gate-message" data-testid="gate-message">${esc(err.message)}</p>
    <p>${esc(t('gate.needsBefore'))}<strong>${esc(stageName)}</strong>${esc(t('gate.needsAfter', { needs: listWords(needs) }))}</p>
    <form class="stack" id="gate-form">
      ${fieldRows}
      ${fileRows}
      ${approvalRows}
      ${deliverableRows}
      <p class="form-error" role="alert"></p>
      <div class="actions">
        ${fields.length ? `<button type="submit" class="btn btn-primary">${esc(t('gate.saveMove', { stage: stageName }))}</button>` : ''}
        ${onlyFiles ? `<button type="button" class="btn btn-primary" id="gate-move" data-testid="gate-move" hidden>${esc(t('gate.moveNow', { stage: stageName }))}</button>` : ''}
        <button type="button" class="btn btn-ghost" id="gate-cancel">${esc(t(fields.length ? 'dialog.cancel' : 'dialog.close'))}</button>
      </div>
    </form>`;
  const form = $('#gate-form', modal.body);
  const errorEl = $('.form-error', form);
  $('#gate-cancel', form).addEventListener('click', modal.close);
  $('#gate-checklist', form)?.addEventListener('click', () => { modal.close(); openDrawer(card.id, 'details'); });
  wireFilePicks(form);
  $$('[data-upload]', form).forEach((btn) => btn.addEventListener('click', async () => {
    const box = btn.closest('.gate-file');
    btn.disabled = true;
    try {
      if (!(await attachFrom(box, card.id))) { btn.disabled = false; return; }
      box.dataset.done = '1';
      box.innerHTML = `<p role="status"><strong>${esc(t('gate.fileDone', { kind: fileKindWord(box.dataset.kind) }))}</strong></p>`;
      noteChange(card.id);
      refreshDrawerIfShowing(card.id);
      const move = $('#gate-move', form);
      if (move && $$('.gate-file:not([data-done])', form).length === 0) { move.hidden = false; move.focus(); }
      else tabStops(form)[0]?.focus(); // the button that had focus is gone
    } catch (e) { errorEl.textContent = e.message; btn.disabled = false; }
  }));
  $('#gate-move', form)?.addEventListener('click', async () => { modal.close(); await moveCard(card.id, stage.key); });
  tabStops(form)[0]?.focus();
  $$('.request-approval', form).forEach((btn) => btn.addEventListener('click', async () => {
    const box = btn.closest('.gate-approval');
    const keys = $$('input:checked', box).map((i) => i.value);
    if (!keys.length && !btn.dataset.rule) { errorEl.textContent = t('gate.pickDepartment'); return; }
    btn.disabled = true;
    try {
      const { requestApproval: res } = await gql(REQUEST_APPROVAL, { input: { opportunityId: card.id, kind: btn.dataset.kind, departmentKeys: keys, mode: 'SEQUENTIAL' } });
      if (res.userErrors?.length) { errorEl.textContent = describeUserErrors(res.userErrors); btn.disabled = false; return; }
      box.innerHTML = `<p><strong>${esc(t('gate.approval', { kind: kindName(btn.dataset.kind) }))}</strong>${esc(keys.length ? t('gate.requestedFrom', { departments: listWords(keys.map(deptName)) }) : t('gate.requested'))}</p>`;
      toast(t('gate.requestedToast', { kind: kindName(btn.dataset.kind), title: card.title }), 'ok');
      noteChange(card.id);
    } catch (e) { errorEl.textContent = e.message; btn.disabled = false; }
  }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errorEl.textContent = '';
    const values = {};
    for (const input of $$('input[data-field]', form)) {
      if (!input.value.trim()) { errorEl.textContent = t('gate.fillIn', { field: fieldWords(input.dataset.field) }); input.focus(); return; }
      values[input.dataset.field] = input.value.trim();
    }
    const { lostReason, ...update } = values;
    if (update.probability) update.probability = Number(update.probability);
    try {
      let current = cards.get(card.id) || card;
      if (Object.keys(update).length) {
        const { updateOpportunity: res } = await gql(UPDATE, { input: { id: card.id, version: current.version, ...update } });
        if (res.userErrors?.length) { errorEl.textContent = describeUserErrors(res.userErrors); return; }
        current = res.opportunity;
        upsertCard(current);
      }
      modal.close();
      await moveCard(card.id, stage.key, { lostReason });
    } catch (e2) { errorEl.textContent = e2.message; }
  });
}

// ------------------------------------------------------------- new card

const CURRENCIES = ['CNY', 'USD', 'EUR', 'GBP', 'JPY', 'HKD', 'SGD'];

/** "CNY · 人民币" / "CNY · Chinese Yuan": the code, and the currency's name in the reader's language. */
function currencyOptions(base) {
  let names = null;
  try { names = new Intl.DisplayNames([intlLocale()], { type: 'currency' }); } catch (err) { /* codes alone */ }
  return [...new Set([base || 'USD', ...CURRENCIES])].map((c) => `<option value="${esc(c)}"${c === base ? ' selected' : ''}>${esc(names ? `${c} · ${names.of(c)}` : c)}</option>`).join('');
}

function newCardDialog() {
  const modal = openModal({ title: t('newDeal.title'), testid: 'new-card-dialog' });
  modal.body.innerHTML = `
    <form class="stack" id="new-form">
      <label>${esc(t('label.title'))} <input name="title" required maxlength="200"></label>
      <label>${esc(t('label.account'))} <input name="accountName" required maxlength="200"></label>
      <label>${esc(t('label.amount'))} <input name="amount" type="number" min="0" step="0.01" inputmode="decimal"></label>
      <label>${esc(t('label.currency'))} <select name="currency" data-testid="new-card-currency">${currencyOptions(store.baseCurrency)}</select></label>
      <label>${esc(t('label.source'))} <input name="source" maxlength="100" placeholder="${esc(t('newDeal.sourcePlaceholder'))}"></label>
      <label>${esc(t('label.priority'))} <select name="priority">${['MEDIUM', 'LOW', 'HIGH', 'URGENT'].map((p) => `<option value="${p}">${esc(priorityLabel(p))}</option>`).join('')}</select></label>
      <p class="form-error" role="alert"></p>
      <div class="actions"><button class="btn btn-primary" type="submit">${esc(t('newDeal.create'))}</button></div>
    </form>`;
  const form = $('#new-form', modal.body);
  form.title.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = { title: form.title.value.trim(), accountName: form.accountName.value.trim(), priority: form.priority.value, clientMutationId: crypto.randomUUID?.() || String(Date.now()) };
    if (form.amount.value) input.amount = form.amount.value;
    input.currency = form.currency.value;
    if (form.source.value.trim()) input.source = form.source.value.trim();
    if (!input.title || !input.accountName) { $('.form-error', form).textContent = t('newDeal.missing'); return; }
    try {
      const { createOpportunity: res } = await gql(CREATE_OPP, { input });
      if (res.userErrors?.length) { $('.form-error', form).textContent = describeUserErrors(res.userErrors); return; }
      modal.close();
      if (res.opportunity) noteChange(res.opportunity.id);
      toast(t('newDeal.created', { title: input.title }), 'ok');
    } catch (err) { $('.form-error', form).textContent = err.message; }
  });
}
