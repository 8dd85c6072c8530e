// The card drawer: details and edit, tasks, comments, the customer's records (drawer_records.js), handoffs, approvals, history.
import { gql, describeUserErrors } from './api.js';
import {
  DETAIL, UPDATE, CREATE_TASK, UPDATE_TASK, ADD_COMMENT, REQUEST_HANDOFF, RESPOND_HANDOFF, REQUEST_APPROVAL, DECIDE_APPROVAL,
  RETURN_APPROVAL, RESUBMIT_APPROVAL, TRANSFER_APPROVAL, ADD_APPROVAL_SIGNER, URGE_APPROVAL, CANCEL_APPROVAL, CHECK_DELIVERABLE,
} from './queries.js';
import { store, onBoardEvent, deptName, stageByKey } from './state.js';
import { esc, $, $$, money, toast, since, ago, when, day, debounce, listWords, fieldWords, fieldLabel, hours } from './util.js';
import { t, kindName } from './i18n.js';
import { deptChip, priorityLabel, waitBadges, dataText } from './ui.js';
import { moveCard } from './board.js';
import { focusFirst, holdFocus, keepFocus, placeOf } from './focus.js';
import { fetchRecords, recordsPane, wireRecords, keepChosenFile } from './drawer_records.js';
import { planningMarkup, wirePlanning } from './drawer_planning.js';

let drawer = null;
let backdrop = null;
let currentId = null;
let current = null;
let records = null; // the customer tab's data, loaded with the card
let tab = 'details';
let loadToken = 0;
let lastFocus = null;
let release = null; // undoes the drawer's hold on focus

const TABS = ['details', 'tasks', 'comments', 'customer', 'baton', 'history'];

let listening = false;
let viewAddress = 'board'; // the hash of the view under the drawer
let pushedAddress = false; // the drawer added the card's address to the history: closing goes back

export function setViewAddress(hash) { viewAddress = hash; }
export const drawerCardId = () => (drawer && !drawer.hidden ? currentId : null);

export function initDrawer() {
  drawer = document.getElementById('drawer');
  backdrop = document.getElementById('drawer-backdrop');
  backdrop.addEventListener('click', () => closeDrawer());
  if (listening) return; // the shell is drawn again on a language switch; one listener is enough
  listening = true;
  onBoardEvent((evt) => {
    if (!currentId) return;
    // The echo of the details form's own save: the save reloads the card itself, and a second
    // reload would redraw the form under the user's next edit.
    if (evt.type === 'OPPORTUNITY_UPDATED' && evt.opportunity?.id === currentId && ownSaves > 0) { ownSaves -= 1; return; }
    if (evt.type === 'RECONNECTED' || evt.opportunity?.id === currentId) refreshSoon();
  });
}

let ownSaves = 0; // details saves whose OPPORTUNITY_UPDATED has not come back yet

const refreshSoon = debounce(() => { if (currentId) load(currentId, true); }, 150);

export function refreshDrawerIfShowing(id) { if (id && id === currentId) refreshSoon(); }

/** Open card `id`; its address (#/opportunity/<id>) goes into the history, so Back closes the drawer. */
export function openDrawer(id, openTab, { fromAddress = false } = {}) {
  if (!drawer) return;
  if (drawer.hidden) {
    lastFocus = document.activeElement;
    release = holdFocus(drawer, { onEscape: () => closeDrawer() });
  }
  if (!fromAddress) {
    const address = `#/opportunity/${id.replace(/\//g, '%2F')}`; // ids are base64: '=' stays, as in the server's links
    if (location.hash !== address) {
      if (drawer.hidden || !pushedAddress) { history.pushState(null, '', address); pushedAddress = true; } else history.replaceState(null, '', address);
    }
  } else if (drawer.hidden) pushedAddress = false;
  currentId = id;
  current = null;
  if (openTab) tab = openTab;
  drawer.hidden = false;
  backdrop.hidden = false;
  document.body.classList.add('drawer-open');
  drawer.innerHTML = `<div class="drawer-loading">${esc(t('drawer.loading'))}</div>`;
  drawer.removeAttribute('aria-labelledby');
  drawer.setAttribute('aria-label', t('drawer.label'));
  drawer.focus();
  load(id, false);
}

/** Close the drawer; unless `keepAddress` (the address already changed), the view's address comes back. */
export function closeDrawer({ keepAddress = false } = {}) {
  if (!drawer || drawer.hidden) return;
  if (!keepAddress && /^#\/?(opportunity|board)\/./.test(location.hash)) {
    if (pushedAddress) history.back(); else history.replaceState(null, '', `#/${viewAddress}`);
  }
  pushedAddress = false;
  drawer.hidden = true;
  backdrop.hidden = true;
  document.body.classList.remove('drawer-open');
  const id = currentId;
  currentId = null;
  current = null;
  // Back to what opened the drawer; if a refresh replaced it, to its twin (the same card or link).
  const twin = () => document.querySelector(`#view [data-open="${CSS.escape(id)}"], #view .card[data-id="${CSS.escape(id)}"]`);
  release(lastFocus, twin, () => document.querySelector('#view h1'));
  release = null;
}

async function load(id, quiet) {
  const mine = ++loadToken;
  try {
    const [{ node }, recs] = await Promise.all([gql(DETAIL, { id }), fetchRecords(id)]);
    if (mine !== loadToken || id !== currentId) return;
    if (!node) { drawer.innerHTML = `<div class="drawer-loading">${esc(t('drawer.gone'))}</div>`; return; }
    current = node;
    records = recs;
    render(quiet);
  } catch (err) {
    if (mine !== loadToken) return;
    if (quiet && current) { toast(t('drawer.refreshFailed', { message: err.message }), 'error'); return; }
    drawer.innerHTML = `<div class="drawer-head"><h2>${esc(t('drawer.card'))}</h2><button type="button" class="icon-btn" data-close aria-label="${esc(t('drawer.close'))}">×</button></div>
      <p class="banner-error">${esc(t('drawer.loadFailed', { message: err.message }))}</p>`;
    $('[data-close]', drawer).addEventListener('click', () => closeDrawer());
  }
}

function render(quiet) {
  keepFocus(drawer, () => renderCard(quiet));
  drawer.removeAttribute('aria-label');
  drawer.setAttribute('aria-labelledby', 'drawer-title');
}

function renderCard(quiet) {
  const o = current;
  // Keep what the user is typing across live refreshes.
  const drafts = quiet ? saveDrafts(drawer) : null;
  const detailsDirty = quiet && $('#details-form', drawer)?.dataset.dirty === '1';
  const scroll = $('.drawer-body', drawer)?.scrollTop || 0;
  const chosen = keepChosenFile(drawer);
  drawer.innerHTML = `
    <div class="drawer-head">
      <div class="drawer-title">
        <p class="muted small">${esc(o.account.name)} · ${esc(o.stage.name)}</p>
        <h2 id="drawer-title">${esc(o.title)}</h2>
        <p class="drawer-sub">${o.amount != null ? `<strong>${esc(money(o.amount, o.currency))}</strong>` : `<span class="muted">${esc(t('card.noAmount'))}</span>`}
          <span class="prio prio-${esc(o.priority)}">${esc(priorityLabel(o.priority))}</span> ${deptChip(o.department)}
          <span class="muted">${esc(t('drawer.owner', { name: o.owner.name }))}</span></p>
        <div class="waits">${waitBadges(o)}</div>
      </div>
      <button type="button" class="icon-btn" data-close aria-label="${esc(t('drawer.closeCard'))}">×</button>
    </div>
    <div class="tabs" role="tablist" aria-label="${esc(t('drawer.sections'))}">
      ${TABS.map((k) => `<button type="button" role="tab" id="tab-${k}" aria-controls="pane-${k}" data-tab="${k}"
        aria-selected="${tab === k}" tabindex="${tab === k ? 0 : -1}" class="${tab === k ? 'active' : ''}">${esc(t(`tab.${k}`))}${tabCount(k)}</button>`).join('')}
    </div>
    <div class="drawer-body">
      ${TABS.map((k) => `<section class="pane" id="pane-${k}" role="tabpanel" aria-labelledby="tab-${k}" tabindex="0" data-pane="${k}" ${tab === k ? '' : 'hidden'}>${PANES[k](o)}</section>`).join('')}
    </div>`;
  $('[data-close]', drawer).addEventListener('click', () => closeDrawer());
  wireTabs();
  if (drafts) restoreDrafts(drawer, drafts);
  chosen();
  if (detailsDirty) $('#details-note', drawer).textContent = t('details.changedMeanwhile');
  $('.drawer-body', drawer).scrollTop = scroll;
  wireDetails();
  wireChecklist();
  wireTasks();
  wireComments();
  wireBaton();
  wireRecords(drawer, o, records, () => load(o.id, true));
  wirePlanning(drawer, o, () => load(o.id, true));
}

/** What the user is typing ([data-draft] fields) and which disclosures ([data-more]) are open inside `root`. */
export function saveDrafts(root) {
  const values = {};
  $$('[data-draft]', root).forEach((el) => { values[el.dataset.draft] = el.value; });
  return { values, open: $$('details[open][data-more]', root).map((d) => d.dataset.more) };
}

/** Put saveDrafts()' values back after a re-render. */
export function restoreDrafts(root, { values, open }) {
  for (const [k, v] of Object.entries(values)) {
    const el = $(`[data-draft="${CSS.escape(k)}"]`, root);
    if (el) el.value = v;
  }
  open.forEach((k) => { const d = $(`details[data-more="${CSS.escape(k)}"]`, root); if (d) d.open = true; });
}

const PANES = {
  details: detailsPane, tasks: tasksPane, comments: commentsPane, customer: (o) => recordsPane(o, records), baton: (o) => handoffsPane(o) + approvalsPane(o), history: historyPane,
};

/** The WAI-ARIA tabs pattern: one tab in the Tab order, arrows/Home/End move between tabs and show their panel. */
function wireTabs() {
  const tabs = $$('[role=tab]', drawer);
  const select = (b) => {
    tab = b.dataset.tab;
    tabs.forEach((x) => {
      const on = x === b;
      x.classList.toggle('active', on);
      x.setAttribute('aria-selected', String(on));
      x.tabIndex = on ? 0 : -1;
    });
    $$('.pane', drawer).forEach((pane) => { pane.hidden = pane.dataset.pane !== tab; });
  };
  tabs.forEach((b) => b.addEventListener('click', () => select(b)));
  $('[role=tablist]', drawer).addEventListener('keydown', (e) => {
    const i = tabs.indexOf(document.activeElement);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (i < 0 || next === undefined) return;
    e.preventDefault();
    const b = tabs[(next + tabs.length) % tabs.length];
    select(b);
    b.focus();
  });
}

function tabCount(k) {
  const o = current;
  const n = k === 'tasks' ? o.tasks.edges.filter((e) => !['DONE', 'CANCELLED'].includes(e.node.status)).length
    : k === 'comments' ? o.comments.edges.length
      : k === 'baton' ? o.handoffs.filter((h) => h.status === 'PENDING').length + o.approvals.filter((a) => ['PENDING', 'RETURNED'].includes(a.status)).length : 0;
  return n ? ` <span class="count-pill">${n}</span>` : '';
}

// ------------------------------------------------------------- details

function detailsPane(o) {
  const opt = (v, label, sel) => `<option value="${esc(v)}"${sel ? ' selected' : ''}>${esc(label)}</option>`;
  return `
    <dl class="facts">
      <dt>${esc(t('details.stage'))}</dt><dd>${esc(o.stage.name)} <span class="muted">${esc(t('details.for', { time: since(o.stageEnteredAt) }))}</span></dd>
      <dt>${esc(t('details.holds'))}</dt><dd>${esc(o.department.name)}</dd>
      <dt>${esc(t('details.expectedClose'))}</dt><dd>${o.expectedCloseDate ? esc(day(o.expectedCloseDate)) : `<span class="muted">${esc(t('details.notSet'))}</span>`}</dd>
      <dt>${esc(t('details.lastActivity'))}</dt><dd>${esc(when(o.lastActivityAt))}</dd>
      ${o.lostReason ? `<dt>${esc(t('details.lostBecause'))}</dt><dd>${esc(o.lostReason)}</dd>` : ''}
      ${o.account.industry || o.account.region ? `<dt>${esc(t('details.account'))}</dt><dd>${esc([o.account.industry, o.account.region].filter(Boolean).join(' · '))}</dd>` : ''}
    </dl>
    ${checklistMarkup(o)}
    ${o.viewerCanMove === false ? '' : `<div class="move-row">
      <label for="drawer-move">${esc(t('details.moveTo'))}</label>
      <select id="drawer-move">${store.stages.map((s) => opt(s.key, s.name, s.key === o.stage.key)).join('')}</select>
      <button type="button" class="btn" id="drawer-move-go">${esc(t('details.move'))}</button>
    </div>`}
    ${planningMarkup(o)}
    <form class="grid-form" id="details-form">
      <label class="wide">${esc(t('label.title'))} <input name="title" value="${esc(o.title)}" required maxlength="200"></label>
      <label>${esc(t('details.amountIn', { currency: o.currency }))} <input name="amount" type="number" min="0" step="any" value="${esc(o.amount ?? '')}"></label>
      <label>${esc(t('label.probability'))} <input name="probability" type="number" min="0" max="100" value="${esc(o.probability ?? '')}"></label>
      <label>${esc(t('details.expectedClose'))} <input name="expectedCloseDate" type="date" value="${esc(o.expectedCloseDate ?? '')}"></label>
      <label>${esc(t('label.priority'))} <select name="priority">${['LOW', 'MEDIUM', 'HIGH', 'URGENT'].map((p) => opt(p, priorityLabel(p), o.priority === p)).join('')}</select></label>
      <label>${esc(t('label.owner'))} <select name="ownerId">${store.users.map((u) => opt(u.id, t('details.ownerOption', { name: u.name, department: u.department.name }), u.id === o.owner.id)).join('')}</select></label>
      <label>${esc(t('label.tags'))} <input name="tags" value="${esc((o.tags || []).join(', '))}" placeholder="${esc(t('details.tagsPlaceholder'))}"></label>
      <label>${esc(t('label.source'))} <input name="source" value="${esc(o.source ?? '')}" maxlength="100" placeholder="${esc(t('newDeal.sourcePlaceholder'))}"></label>
      <label class="wide">${esc(t('label.nextStep'))} <input name="nextStep" value="${esc(o.nextStep ?? '')}" maxlength="500"></label>
      <p class="form-note wide" id="details-note" role="status"></p>
      <div class="actions wide"><button type="submit" class="btn btn-primary">${esc(t('details.save'))}</button></div>
    </form>
    ${stageTimesMarkup(o)}`;
}

// ------------------------------------------------------------- deliverables (交付物) and time in stages

/** Only the deliverable's department (or an admin) ticks it; the server refuses anyone else. */
function mayTick(d) {
  const v = store.viewer;
  return v.role === 'ADMIN' || (v.role !== 'VIEWER' && v.department.key === d.department?.key);
}

function checklistMarkup(o) {
  if (!o.checklist.length) return '';
  const done = o.checklist.filter((d) => d.done).length;
  const owner = o.stage.owner?.department;
  const rows = o.checklist.map((d) => {
    const id = `deliverable-${d.key}`;
    const title = `${dataText(d.title)}<span class="sr-only">${esc(t('sr.onCard', { title: o.title }))}</span>`;
    const lacking = !d.done && d.field && (o[d.field] ?? '') === '' && !(o.hiddenFields || []).includes(d.field);
    const who = d.done
      ? esc(t('checklist.tickedBy', { department: d.department?.name || '', name: d.doneBy?.name || t('checklist.someone'), when: when(d.doneAt) }))
      : `${esc(t('checklist.ticks', { department: d.department?.name || '' }))}${lacking ? esc(t('checklist.needsFirst', { field: fieldWords(d.field) })) : ''}`;
    const head = mayTick(d)
      ? `<label class="check"><input type="checkbox" id="${esc(id)}" ${d.done ? 'checked' : ''} aria-describedby="${esc(id)}-who" data-testid="deliverable-check"> <span>${title}</span></label>`
      : `<span class="tick" aria-hidden="true">${d.done ? '✓' : '○'}</span><span><span class="sr-only">${esc(t(d.done ? 'checklist.done' : 'checklist.notDone'))}</span>${title}</span>`;
    return `<li class="deliverable${d.done ? ' done' : ''}" data-deliverable="${esc(d.key)}" data-testid="deliverable" data-done="${d.done}">
      <div class="deliverable-head">${head}</div>
      <p class="muted small" id="${esc(id)}-who">${who}</p>
      <p class="form-error" role="alert"></p></li>`;
  }).join('');
  return `<section class="checklist" aria-labelledby="checklist-title" data-testid="checklist">
      <h3 class="pane-title" id="checklist-title">${esc(t('checklist.title', { stage: o.stage.name }))} <span class="count-pill" data-testid="checklist-progress">${done}/${o.checklist.length}</span></h3>
      ${owner ? `<p class="small muted">${esc(t('checklist.owner', { stage: o.stage.name, department: owner.name }))}</p>` : ''}
      <ul class="deliverables">${rows}</ul>
    </section>`;
}

function wireChecklist() {
  // Set here: the CSP allows no style attributes in markup.
  $$('.time-part', drawer).forEach((part) => { part.style.width = `${Math.max(Number(part.dataset.share) * 100, 0.5)}%`; });
  $$('[data-deliverable] input[type=checkbox]', drawer).forEach((box) => box.addEventListener('change', async () => {
    const li = box.closest('[data-deliverable]');
    const error = $('.form-error', li);
    error.textContent = '';
    const input = { opportunityId: current.id, stageKey: current.stage.key, key: li.dataset.deliverable, done: box.checked };
    try {
      const { checkDeliverable: res } = await gql(CHECK_DELIVERABLE, { input });
      if (res.userErrors?.length) { box.checked = !input.done; error.textContent = describeUserErrors(res.userErrors); return; }
      await load(current.id, true); // who ticked it and when; the board follows from the live event
    } catch (err) { box.checked = !input.done; error.textContent = err.message; }
  }));
}

/** Per stage, how long the card has been there and which department held it for how long. */
function stageTimesMarkup(o) {
  if (!o.stageTimes.length) return '';
  const position = (st) => stageByKey(st.stageKey)?.position ?? 99;
  const longest = Math.max(...o.stageTimes.map((st) => st.hours), 0.01);
  const rows = o.stageTimes.slice().sort((x, y) => position(x) - position(y)).map((st) => {
    const depts = st.departments.slice().sort((x, y) => y.hours - x.hours);
    // The bar's length compares the stages; its parts are the departments' shares (the text says the same).
    const bar = depts.map((d) => `<span class="time-part dept-${esc(d.department?.key || '')}" data-share="${d.hours / longest}"></span>`).join('');
    return `<li class="stage-time" data-testid="stage-time" data-stage="${esc(st.stageKey)}">
      <strong class="stage-time-name">${esc(stageByKey(st.stageKey)?.name || st.stageKey)}</strong>
      <span class="time-bar" aria-hidden="true">${bar}</span>
      <span class="stage-time-total">${esc(st.stageKey === o.stage.key ? t('times.soFar', { time: hours(st.hours) }) : hours(st.hours))}</span>
      <span class="small muted stage-time-depts">${depts.map((d) => `${esc(d.department?.name || '?')} ${esc(hours(d.hours))}`).join(' · ')}</span></li>`;
  }).join('');
  return `<section class="stage-times" aria-labelledby="stage-times-title">
      <h3 class="pane-title" id="stage-times-title">${esc(t('times.title'))}</h3>
      <ol class="stage-time-list">${rows}</ol>
    </section>`;
}

function wireDetails() {
  const form = $('#details-form', drawer);
  const note = $('#details-note', drawer);
  form.addEventListener('input', () => { form.dataset.dirty = '1'; });
  if (current.viewerCanUpdate === false) { // what the server would refuse is not offered (viewerCanUpdate)
    $$('input, select, button', form).forEach((field) => { field.disabled = true; });
    note.textContent = t('details.readOnly');
  }
  // A button commits the move: a select that moved the card on change would move it on every arrow key.
  $('#drawer-move-go', drawer)?.addEventListener('click', async () => {
    const key = $('#drawer-move', drawer).value;
    if (key === current.stage.key) { note.textContent = t('details.alreadyIn', { stage: current.stage.name }); return; }
    await moveCard(current.id, key);
    refreshSoon();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const o = current;
    const input = { id: o.id, version: o.version };
    const title = form.title.value.trim();
    if (!title) { note.textContent = t('details.needsTitle'); return; }
    if (title !== o.title) input.title = title;
    if (form.amount.value !== String(o.amount ?? '')) { if (form.amount.value) input.amount = form.amount.value; }
    if (form.probability.value !== String(o.probability ?? '') && form.probability.value !== '') input.probability = Number(form.probability.value);
    if (form.expectedCloseDate.value && form.expectedCloseDate.value !== (o.expectedCloseDate ?? '')) input.expectedCloseDate = form.expectedCloseDate.value;
    if (form.priority.value !== o.priority) input.priority = form.priority.value;
    if (form.ownerId.value !== o.owner.id) input.ownerId = form.ownerId.value;
    const tags = form.tags.value.split(',').map((t) => t.trim().replace(/^#/, '')).filter(Boolean);
    if (tags.join(',') !== (o.tags || []).join(',')) input.tags = tags;
    if (form.nextStep.value.trim() !== (o.nextStep ?? '')) input.nextStep = form.nextStep.value.trim();
    if (form.source.value.trim() !== (o.source ?? '')) input.source = form.source.value.trim() || null;
    if (Object.keys(input).length === 2) { note.textContent = t('details.nothing'); return; }
    ownSaves += 1;
    try {
      const { updateOpportunity: res } = await gql(UPDATE, { input });
      const err = res.userErrors?.[0];
      // Refused, or nothing changed on the server after all: no event comes back.
      if (err || res.opportunity?.version === o.version) ownSaves = Math.max(0, ownSaves - 1);
      if (err?.code === 'CONFLICT') {
        form.dataset.dirty = '';
        toast(t('details.conflict'), 'warn', 8000);
        await load(o.id, false);
        return;
      }
      if (err) { note.textContent = describeUserErrors(res.userErrors); return; }
      form.dataset.dirty = '';
      // Said once the drawer shows what was saved: the reload redraws the form, and what the
      // user types after seeing "Saved." must not be redrawn away.
      await load(o.id, false);
      toast(t('details.saved'), 'ok', 2000);
    } catch (err2) { ownSaves = Math.max(0, ownSaves - 1); note.textContent = err2.message; }
  });
}

// ------------------------------------------------------------- tasks

function userOptions(selectedId, blank = t('tasks.unassigned')) {
  return `<option value="">${esc(blank)}</option>` + store.users.map((u) => `<option value="${esc(u.id)}"${u.id === selectedId ? ' selected' : ''}>${esc(u.name)} · ${esc(u.department.name)}</option>`).join('');
}

function tasksPane(o) {
  const tasks = o.tasks.edges.map((e) => e.node);
  const rows = tasks.map((task) => `
    <li class="task ${task.status === 'DONE' ? 'done' : ''} ${task.overdue ? 'overdue' : ''}" data-task="${esc(task.id)}" data-version="${task.version}">
      <label class="check task-done"><input type="checkbox" ${task.status === 'DONE' ? 'checked' : ''} ${task.status === 'CANCELLED' ? 'disabled' : ''} aria-label="${esc(t('tasks.done', { title: task.title }))}">
        <span class="task-title">${esc(task.title)}</span></label>
      <span class="task-meta">${esc(task.department.name)}${task.dueAt ? esc(t('tasks.due', { when: when(task.dueAt) })) : ''}${task.overdue ? ` · <strong class="overdue-text">${esc(t('tasks.overdue'))}</strong>` : ''}${task.status === 'CANCELLED' ? esc(t('tasks.cancelled')) : ''}</span>
      <select class="task-assignee" aria-label="${esc(t('tasks.assigneeOf', { title: task.title }))}">${userOptions(task.assignee?.id)}</select>
    </li>`).join('');
  return `
    <ul class="task-list">${rows || `<li class="empty">${esc(t('tasks.none'))}</li>`}</ul>
    <form class="inline-form" id="task-form">
      <input name="title" placeholder="${esc(t('tasks.new'))}" required aria-label="${esc(t('tasks.titleLabel'))}" data-draft="task-title">
      <select name="assigneeId" aria-label="${esc(t('tasks.assignee'))}">${userOptions(null)}</select>
      <input name="dueAt" type="datetime-local" aria-label="${esc(t('tasks.dueLabel'))}">
      <button class="btn" type="submit">${esc(t('tasks.add'))}</button>
      <p class="form-error" role="alert"></p>
    </form>`;
}

function wireTasks() {
  $$('.task', drawer).forEach((li) => {
    const id = li.dataset.task;
    const version = Number(li.dataset.version);
    $('input[type=checkbox]', li).addEventListener('change', (e) => updateTask({ id, version, status: e.target.checked ? 'DONE' : 'OPEN' }));
    $('.task-assignee', li).addEventListener('change', (e) => updateTask({ id, version, assigneeId: e.target.value || null }));
  });
  const form = $('#task-form', drawer);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = { opportunityId: current.id, title: form.title.value.trim() };
    if (!input.title) return;
    if (form.assigneeId.value) input.assigneeId = form.assigneeId.value;
    if (form.dueAt.value) input.dueAt = new Date(form.dueAt.value).toISOString();
    try {
      const { createTask: res } = await gql(CREATE_TASK, { input });
      if (res.userErrors?.length) { $('.form-error', form).textContent = describeUserErrors(res.userErrors); return; }
      form.title.value = '';
      await load(current.id, true);
    } catch (err) { $('.form-error', form).textContent = err.message; }
  });
}

async function updateTask(input) {
  try {
    const { updateTask: res } = await gql(UPDATE_TASK, { input });
    const err = res.userErrors?.[0];
    if (err?.code === 'CONFLICT') toast(t('tasks.conflict'), 'warn');
    else if (err) toast(describeUserErrors(res.userErrors), 'error');
  } catch (err) { toast(err.message, 'error'); }
  await load(current.id, true);
}

// ------------------------------------------------------------- comments

function commentBody(text) {
  return esc(text).replace(/(^|\s)@([a-z0-9_]+)/gi, '$1<span class="mention">@$2</span>');
}

function commentsPane(o) {
  const items = o.comments.edges.map((e) => e.node);
  return `
    <ol class="comments">${items.map((c) => `
      <li class="comment"><p class="comment-head"><strong>${esc(c.author.name)}</strong> <span class="muted">${esc(when(c.createdAt))}</span></p>
        <p class="comment-body">${commentBody(c.body)}</p></li>`).join('') || `<li class="empty">${esc(t('comments.none'))}</li>`}</ol>
    <form class="comment-form" id="comment-form">
      <div class="mention-wrap">
        <textarea name="body" rows="3" placeholder="${esc(t('comments.placeholder'))}" aria-label="${esc(t('comments.label'))}" data-draft="comment" aria-autocomplete="list"></textarea>
        <ul class="mention-list" role="listbox" aria-label="${esc(t('comments.mentions'))}" hidden></ul>
      </div>
      <div class="actions"><button class="btn btn-primary" type="submit">${esc(t('comments.submit'))}</button></div>
      <p class="form-error" role="alert"></p>
    </form>`;
}

function wireComments() {
  const form = $('#comment-form', drawer);
  const area = form.body;
  const list = $('.mention-list', form);
  let matches = [];
  let active = 0;
  let start = -1;
  const hide = () => { list.hidden = true; matches = []; };
  const show = () => {
    list.innerHTML = matches.map((u, i) => `<li role="option" data-i="${i}" class="${i === active ? 'active' : ''}" aria-selected="${i === active}">
      <strong>@${esc(u.handle)}</strong> <span class="muted">${esc(u.name)} · ${esc(u.department.name)}</span></li>`).join('');
    list.hidden = matches.length === 0;
  };
  const pick = (i) => {
    const u = matches[i];
    if (!u) return;
    const caret = area.selectionStart;
    area.value = `${area.value.slice(0, start)}@${u.handle} ${area.value.slice(caret)}`;
    const pos = start + u.handle.length + 2;
    area.setSelectionRange(pos, pos);
    hide();
    area.focus();
  };
  area.addEventListener('input', () => {
    const upto = area.value.slice(0, area.selectionStart);
    const m = /(^|\s)@([a-z0-9_]*)$/i.exec(upto);
    if (!m) { hide(); return; }
    start = upto.length - m[2].length - 1;
    const q = m[2].toLowerCase();
    matches = store.users.filter((u) => u.handle.toLowerCase().startsWith(q) || u.name.toLowerCase().includes(q)).slice(0, 6);
    active = 0;
    show();
  });
  area.addEventListener('keydown', (e) => {
    if (list.hidden) {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (e.key === 'ArrowDown') { e.preventDefault(); active = (active + 1) % matches.length; show(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); active = (active - 1 + matches.length) % matches.length; show(); }
    else if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); pick(active); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); hide(); }
  });
  list.addEventListener('mousedown', (e) => { const li = e.target.closest('li'); if (li) { e.preventDefault(); pick(Number(li.dataset.i)); } });
  area.addEventListener('blur', () => setTimeout(hide, 150));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = area.value.trim();
    if (!body) return;
    try {
      const { addComment: res } = await gql(ADD_COMMENT, { input: { opportunityId: current.id, body } });
      if (res.userErrors?.length) { $('.form-error', form).textContent = describeUserErrors(res.userErrors); return; }
      area.value = '';
      await load(current.id, true);
    } catch (err) { $('.form-error', form).textContent = err.message; }
  });
}

// ------------------------------------------------------------- handoffs & approvals

const statusWord = (status) => (t.has(`status.${status}`) ? t(`status.${status}`) : status);

function handoffsPane(o) {
  const mine = store.viewer.department.key;
  const rows = o.handoffs.slice().reverse().map((h) => `
    <li class="handoff status-${esc(h.status)}" data-handoff="${esc(h.id)}" data-testid="handoff">
      <p><strong>${esc(h.fromDepartment.name)} → ${esc(h.toDepartment.name)}</strong>
        <span class="status status-${esc(h.status)}">${esc(statusWord(h.status))}</span></p>
      <p class="muted small">${esc(t('handoff.asked', { name: h.requestedBy.name, ago: ago(h.createdAt) }))}${h.assignee ? esc(t('handoff.for', { name: h.assignee.name })) : ''}${h.respondedAt ? esc(t('handoff.answered', { when: when(h.respondedAt) })) : h.status === 'PENDING' ? esc(t('handoff.waiting', { time: since(h.createdAt) })) : ''}</p>
      ${h.note ? `<p class="note">${esc(t('quote', { text: h.note }))}</p>` : ''}
      ${h.responseNote ? `<p class="note">${esc(t('handoff.reply', { text: h.responseNote }))}</p>` : ''}
      ${h.status === 'PENDING' && h.toDepartment.key === mine ? respondForm(h, o.title) : ''}
    </li>`).join('');
  const opts = store.departments.filter((d) => d.key !== o.department.key).map((d) => `<option value="${esc(d.key)}">${esc(d.name)}</option>`).join('');
  return `
    <h3 class="pane-title">${esc(t('handoff.title'))}</h3>
    <ul class="handoffs">${rows || `<li class="empty">${esc(t('handoff.none'))}</li>`}</ul>
    <form class="inline-form" id="handoff-form" data-testid="handoff-form">
      <label>${esc(t('handoff.to'))} <select name="toDepartmentKey" data-testid="handoff-department">${opts}</select></label>
      <input name="note" placeholder="${esc(t('handoff.notePlaceholder'))}" aria-label="${esc(t('handoff.noteLabel'))}" data-draft="handoff-note">
      <button class="btn" type="submit" data-testid="request-handoff">${esc(t('handoff.request'))}</button>
      <p class="form-error" role="alert"></p>
    </form>`;
}

// Per-item controls name their item (hidden words), so a list of them does not read "Accept, Accept, Accept".
export function respondForm(h, title) {
  const which = esc(t('handoff.which', { title }));
  return `<div class="respond" data-respond="${esc(h.id)}">
      <input name="note" placeholder="${esc(t('handoff.replyPlaceholder'))}" aria-label="${esc(t('handoff.replyTo', { which: t('handoff.which', { title }) }))}">
      <button type="button" class="btn btn-primary" data-accept="1" data-testid="handoff-accept">${esc(t('handoff.accept'))}<span class="sr-only"> ${which}</span></button>
      <button type="button" class="btn btn-danger" data-accept="0" data-testid="handoff-decline">${esc(t('handoff.decline'))}<span class="sr-only"> ${which}</span></button>
    </div>`;
}

export function openStepFor(approval, deptKey) {
  if (approval.status !== 'PENDING') return null;
  return approval.steps.find((s) => s.status === 'PENDING' && s.openedAt && s.department.key === deptKey) || null;
}

const byPosition = (a) => a.steps.slice().sort((x, y) => x.position - y.position);
const isOpen = (s) => s.status === 'PENDING' && !!s.openedAt;
const pendingOn = (s, userId) => s.approvers.some((u) => u.id === userId) && !s.approvedBy.some((u) => u.id === userId);

/** The open step the viewer personally still has to decide (in whatever department). */
export function myOpenStep(a) {
  return byPosition(a).find((s) => isOpen(s) && pendingOn(s, store.viewer.id)) || null;
}

/** The open step the viewer acts on, as the server picks it: their own, else (admins) the first open one. */
function actingStep(a) {
  return myOpenStep(a) || (store.viewer.role === 'ADMIN' ? byPosition(a).find(isOpen) : null) || null;
}

const STEP_NAME = (s) => (s.role ? t('step.withRole', { department: s.department.name, role: t(`role.${s.role}`) }) : s.department.name);

// 会签 / 或签 are what the teams call them, in either language; the words after say what they mean.
function modeChip(s) {
  const n = s.approvers.length;
  if (s.mode === 'COUNT') return `<span class="mode" data-testid="step-mode">${esc(t('mode.count', { min: s.minApprovals, n }))}</span>`;
  const mode = s.mode === 'ALL' ? 'all' : 'any';
  return `<span class="mode" data-testid="step-mode"><span lang="zh-CN">${esc(t(`mode.${mode}Term`))}</span> ${esc(t(`mode.${mode}`))}</span>`;
}

const actionWords = (action) => (t.has(`action.${action}`) ? t(`action.${action}`) : action);

/** Who did what, oldest first; `earlier(d)` marks what happened before the step was last (re)opened. */
function decisionsMarkup(list, earlier = () => false) {
  if (!list.length) return '';
  return `<ol class="decisions">${list.map((d) => `<li data-testid="decision" data-action="${esc(d.action)}">
    ${earlier(d) ? `<span class="muted">${esc(t('decision.earlier'))}</span> ` : ''}<strong>${esc(d.user?.name || t('decision.timeout'))}</strong> ${esc(actionWords(d.action))}${d.targetUser ? ` <strong>${esc(d.targetUser.name)}</strong>` : ''}
    <span class="muted">· ${esc(when(d.at))}</span>${d.comment ? ` <q class="note">${esc(d.comment)}</q>` : ''}</li>`).join('')}</ol>`;
}

function stepWords(s, a, currency) {
  if (s.status === 'SKIPPED') {
    return s.amountAtLeast != null ? t('step.skippedBelow', { amount: money(s.amountAtLeast, currency) }) : t('step.skipped');
  }
  // Who decided, and when, is in the step's decisions when it has them.
  if (s.status !== 'PENDING') return `${statusWord(s.status)}${s.decidedBy && !s.decisions.length ? t('step.by', { name: s.decidedBy.name }) : ''}${s.decidedAt && !s.decisions.length ? ` · ${when(s.decidedAt)}` : ''}`;
  if (!s.openedAt) return t(a.status === 'RETURNED' ? 'step.waitsResubmit' : 'step.waitsBefore');
  const due = s.dueAt ? t(new Date(s.dueAt) < Date.now() ? 'step.overdueSince' : 'step.due', { when: when(s.dueAt) }) : '';
  return `${t('step.open', { time: since(s.openedAt) })}${due}${s.urgedAt ? t('step.urged', { ago: ago(s.urgedAt) }) : ''}`;
}

export function stepsMarkup(a, currency) {
  return `<ol class="steps">${byPosition(a).map((s) => {
    const state = s.status === 'PENDING' ? (s.openedAt ? 'open' : 'waiting') : s.status.toLowerCase();
    const approved = new Set(s.approvedBy.map((u) => u.id));
    const who = s.status === 'SKIPPED' ? '' : `<p class="step-who small">${esc(t('step.approvers'))} ${s.approvers.map((u) => `${esc(u.name)}${approved.has(u.id) ? ` <span class="ok-text">${esc(t('step.approved'))}</span>` : ''}`).join(esc(t('list.sep'))) || `<span class="muted">${esc(t('step.nobody'))}</span>`}</p>`;
    return `<li class="step step-${state}" data-testid="approval-step" data-department="${esc(s.department.key)}" data-status="${esc(s.status)}" data-position="${s.position}">
      <p class="step-head"><span class="step-dot" aria-hidden="true"></span><strong>${esc(STEP_NAME(s))}</strong> ${s.status === 'SKIPPED' ? '' : modeChip(s)}
        <span class="muted" data-testid="step-words">${esc(stepWords(s, a, currency))}</span></p>
      ${who}
      ${s.comment && !s.decisions.length ? `<p class="note">${esc(t('quote', { text: s.comment }))}</p>` : ''}
      ${decisionsMarkup(s.decisions, (d) => (s.openedAt ? new Date(d.at) < new Date(s.openedAt) : s.status === 'PENDING'))}</li>`;
  }).join('')}</ol>`;
}

/** Locked fields that moved since the approval was asked for (or granted). */
export function changesMarkup(a, currency) {
  if (!a.changes.length) return '';
  const value = (field, v) => (v == null || v === '' ? '—' : field === 'amount' ? money(v, currency)
    : field === 'expectedCloseDate' ? day(v) : field === 'account' ? t('changes.anotherAccount') : String(v));
  const base = ['APPROVED', 'SUPERSEDED'].includes(a.status) ? 'changes.sinceApproved' : 'changes.sinceRequested';
  return `<div class="approval-changes" data-testid="approval-changes"><p class="small"><strong>${esc(t(base))}</strong></p>
    <ul class="changes">${a.changes.map((c) => `<li><span class="muted">${esc(t('field.named', { field: fieldLabel(c.field) }))}</span>
      <del>${esc(value(c.field, c.before))}</del> → <ins>${esc(value(c.field, c.after))}</ins></li>`).join('')}</ul></div>`;
}

/** "Contract" for a heading in English; other scripts have no capitals. */
const capital = (w) => String(w).replace(/^[a-z]/, (c) => c.toUpperCase());

const colleagues = () => store.users.filter((u) => u.id !== store.viewer.id && u.role !== 'VIEWER')
  .sort((x, y) => (y.department.key === store.viewer.department.key) - (x.department.key === store.viewer.department.key) || x.name.localeCompare(y.name));
const userPicks = (blank) => `<option value="">${esc(blank)}</option>${colleagues().map((u) => `<option value="${esc(u.id)}">${esc(u.name)} · ${esc(u.department.name)}</option>`).join('')}`;

/**
 * The actions the viewer may take on approval `a`, around one comment box. In a queue, `step` is the
 * step the item is listed for: its decision buttons show only to those who decide that step.
 */
export function decideForm(a, title, step = null) {
  const whichText = t('approval.which', { kind: kindName(a.kind), title });
  const which = esc(whichText);
  const sr = `<span class="sr-only"> ${which}</span>`;
  const about = `<span class="sr-only">${esc(t('sr.about', { which: whichText }))}</span>`; // names each field after its item, keeping the visible words
  const mine = a.viewerCanDecide ? actingStep(a) : null;
  const decide = !!mine && (!step || step.position === mine.position);
  const requester = a.viewerIsRequester && ['PENDING', 'RETURNED'].includes(a.status);
  if (!decide && !a.viewerCanUrge && !requester) return '';
  const back = a.mode === 'SEQUENTIAL' && mine ? byPosition(a).filter((s) => s.position < mine.position && s.status !== 'SKIPPED') : [];
  const more = decide ? `
      <details class="more-actions" data-more="${esc(a.id)}">
        <summary>${esc(t('decide.more'))}<span class="sr-only">${esc(t('decide.moreFor', { which: whichText }))}</span></summary>
        <div class="act-row">
          <label>${about}${esc(t('decide.returnTo'))} <select name="toStep" data-draft="to-step-${esc(a.id)}">
            <option value="">${esc(t('decide.toRequester', { name: a.requestedBy.name }))}</option>
            ${back.map((s) => `<option value="${s.position}">${esc(t('decide.toStep', { n: s.position + 1, name: STEP_NAME(s) }))}</option>`).join('')}</select></label>
          <button type="button" class="btn" data-act="return" data-testid="return-approval">${esc(t('decide.return'))}${sr}</button>
        </div>
        <div class="act-row">
          <label>${about}${esc(t('decide.handTo'))} <select name="toUserId" data-draft="transfer-${esc(a.id)}">${userPicks(t('decide.choose'))}</select></label>
          <button type="button" class="btn" data-act="transfer" data-testid="transfer-approval">${esc(t('decide.transfer'))}${sr}</button>
        </div>
        <div class="act-row">
          <label>${about}${esc(t('decide.addSignerLabel'))} <select name="signerId" data-draft="signer-${esc(a.id)}">${userPicks(t('decide.choose'))}</select></label>
          <select name="placement" data-draft="placement-${esc(a.id)}" aria-label="${esc(t('decide.placement'))}">
            ${a.mode === 'SEQUENTIAL' ? `<option value="AFTER">${esc(t('decide.after'))}</option><option value="BEFORE">${esc(t('decide.before'))}</option>` : ''}
            <option value="WITH">${esc(t('decide.with'))}</option></select>
          <button type="button" class="btn" data-act="signer" data-testid="add-signer">${esc(t('decide.addSigner'))}${sr}</button>
        </div>
      </details>` : '';
  return `<div class="decide" data-decide="${esc(a.id)}">
      <textarea name="comment" rows="2" placeholder="${esc(t('decide.commentPlaceholder'))}" aria-label="${esc(t('decide.commentOn', { which: whichText }))}" data-draft="comment-${esc(a.id)}"></textarea>
      <div class="actions">
        ${decide ? `<button type="button" class="btn btn-primary" data-approve="1" data-testid="approve">${esc(t('decide.approve'))}${sr}</button>
        <button type="button" class="btn btn-danger" data-approve="0" data-testid="reject">${esc(t('decide.reject'))}${sr}</button>` : ''}
        ${a.viewerCanUrge ? `<button type="button" class="btn" data-act="urge" data-testid="urge-approval">${esc(t('decide.urge'))}${sr}</button>` : ''}
        ${requester && a.status === 'RETURNED' ? `<button type="button" class="btn btn-primary" data-act="resubmit" data-testid="resubmit-approval">${esc(t('decide.resubmit'))}${sr}</button>` : ''}
        ${requester ? `<button type="button" class="btn btn-ghost" data-act="withdraw" data-testid="withdraw-approval">${esc(t('decide.withdraw'))}${sr}</button>` : ''}
      </div>${more}
    </div>`;
}

function approvalsPane(o) {
  const rows = o.approvals.slice().reverse().map((a) => `
    <li class="approval status-${esc(a.status)}" data-approval="${esc(a.id)}" data-testid="approval" data-status="${esc(a.status)}">
      <p class="approval-head"><strong>${esc(t('approval.title', { kind: capital(kindName(a.kind)) }))}</strong> <span class="status status-${esc(a.status)}" data-testid="approval-status">${esc(statusWord(a.status))}</span>
        ${a.urgeCount ? `<span class="status status-urged" data-testid="approval-urges">${esc(t('approval.urged', { count: a.urgeCount }))}</span>` : ''}
        <span class="muted small">${esc(t(a.mode === 'SEQUENTIAL' ? 'approval.inOrder' : 'approval.inParallel'))} · ${esc(t('approval.askedBy', { name: a.requestedBy.name, ago: ago(a.createdAt) }))}</span></p>
      ${a.status === 'RETURNED' ? `<p class="small warn-text">${esc(t('approval.returnedTo', { name: a.requestedBy.name }))}</p>` : ''}
      ${a.comment ? `<p class="note">${esc(t('quote', { text: a.comment }))}</p>` : ''}
      ${changesMarkup(a, o.currency)}
      ${stepsMarkup(a, o.currency)}
      ${decisionsMarkup(a.decisions.filter((d) => ['RESUBMITTED', 'CANCELLED'].includes(d.action)))}
      ${decideForm(a, o.title)}
    </li>`).join('');
  const needed = (o.approvalsNeeded || []).map((k) => `<p class="reapproval" data-testid="reapproval-banner">${esc(t('approval.reapproval', { kind: kindName(k) }))}</p>`).join('');
  const kinds = new Set(['contract', 'discount', 'pricing']);
  store.stages.forEach((s) => (s.requiredApprovals || []).forEach((k) => kinds.add(k)));
  return `
    <h3 class="pane-title" id="approvals-title" tabindex="-1">${esc(t('approval.heading'))}</h3>
    ${needed}
    <ul class="approvals">${rows || `<li class="empty">${esc(t('approval.none'))}</li>`}</ul>
    <form class="stack" id="approval-form" data-testid="approval-form">
      <div class="inline-form">
        <label>${esc(t('approval.request'))} <input name="kind" list="approval-kinds" value="contract" size="10" aria-label="${esc(t('approval.kind'))}" data-testid="approval-kind"></label>
        <datalist id="approval-kinds">${[...kinds].map((k) => `<option value="${esc(k)}" label="${esc(kindName(k))}">`).join('')}</datalist>
        <select name="mode" aria-label="${esc(t('approval.order'))}"><option value="SEQUENTIAL">${esc(t('approval.inOrder'))}</option><option value="PARALLEL">${esc(t('approval.inParallel'))}</option></select>
      </div>
      <div class="dept-picks" role="group" aria-label="${esc(t('approval.departments'))}">${store.departments.map((d) => `<label class="check"><input type="checkbox" name="dept" value="${esc(d.key)}" ${['legal', 'finance'].includes(d.key) ? 'checked' : ''}> ${esc(d.name)}</label>`).join('')}</div>
      <p class="muted small">${esc(t('approval.ruleNote'))}</p>
      <input name="comment" placeholder="${esc(t('approval.commentPlaceholder'))}" aria-label="${esc(t('approval.commentLabel'))}" data-draft="approval-comment">
      <div class="actions"><button class="btn" type="submit" data-testid="request-approval">${esc(t('approval.requestButton'))}</button></div>
      <p class="form-error" role="alert"></p>
    </form>`;
}

/** Wire accept/decline and approve/reject buttons inside `scope`; `after(place)` runs on success, with the item's placeOf(). */
export function wireDecisions(scope, after) {
  $$('[data-respond]', scope).forEach((box) => {
    $$('button[data-accept]', box).forEach((btn) => btn.addEventListener('click', async () => {
      const accept = btn.dataset.accept === '1';
      const place = placeOf(box);
      $$('button', box).forEach((b) => { b.disabled = true; });
      try {
        const { respondHandoff: res } = await gql(RESPOND_HANDOFF, { input: { id: box.dataset.respond, accept, note: $('input', box).value.trim() || null } });
        if (res.userErrors?.length) throw new Error(describeUserErrors(res.userErrors));
        toast(t(accept ? 'handoff.accepted' : 'handoff.declined'), 'ok');
        after(place);
      } catch (err) { toast(t('handoff.failed', { message: err.message }), 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
    }));
  });
  $$('[data-decide]', scope).forEach((box) => {
    $$('button[data-approve]', box).forEach((btn) => btn.addEventListener('click', async () => {
      const approve = btn.dataset.approve === '1';
      const place = placeOf(box);
      const comment = $('textarea', box).value.trim();
      if (!approve && !comment) { toast(t('decide.whyReject'), 'warn'); $('textarea', box).focus(); return; }
      $$('button', box).forEach((b) => { b.disabled = true; });
      try {
        const { decideApproval: res } = await gql(DECIDE_APPROVAL, { input: { id: box.dataset.decide, approve, comment: comment || null } });
        if (res.userErrors?.length) throw new Error(describeUserErrors(res.userErrors));
        $('textarea', box).value = ''; // or the refresh would keep it as a draft
        toast(t(approve ? 'decide.approved' : 'decide.rejected'), 'ok');
        after(place);
      } catch (err) { toast(t('decide.failed', { message: err.message }), 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
    }));
    $$('button[data-act]', box).forEach((btn) => btn.addEventListener('click', () => act(box, ACTS[btn.dataset.act], after)));
  });
}

const picked = (box, name) => $(`select[name=${name}]`, box).value;
const pickedName = (box, name) => { const sel = $(`select[name=${name}]`, box); return sel.options[sel.selectedIndex].text.split(' · ')[0]; };

// The other approval actions (data-act): mutation, payload field, input, what a comment or a pick must say, confirmation.
const ACTS = {
  return: {
    doc: RETURN_APPROVAL, field: 'returnApproval', why: 'decide.whyReturn',
    input: (box) => ({ toStep: picked(box, 'toStep') === '' ? null : Number(picked(box, 'toStep')) }),
    done: (box) => t('decide.returned', { name: pickedName(box, 'toStep') }),
  },
  transfer: {
    doc: TRANSFER_APPROVAL, field: 'transferApprovalStep', pick: 'toUserId',
    input: (box) => ({ toUserId: picked(box, 'toUserId') }), done: (box) => t('decide.transferred', { name: pickedName(box, 'toUserId') }),
  },
  signer: {
    doc: ADD_APPROVAL_SIGNER, field: 'addApprovalSigner', pick: 'signerId',
    input: (box) => ({ userId: picked(box, 'signerId'), placement: picked(box, 'placement') }), done: (box) => t('decide.signerAdded', { name: pickedName(box, 'signerId') }),
  },
  urge: { doc: URGE_APPROVAL, field: 'urgeApproval', done: () => t('decide.urgedDone') },
  resubmit: { doc: RESUBMIT_APPROVAL, field: 'resubmitApproval', done: () => t('decide.resubmitted') },
  withdraw: { doc: CANCEL_APPROVAL, field: 'cancelApproval', noComment: true, done: () => t('decide.withdrawn') },
};

async function act(box, spec, after) {
  const area = $('textarea', box);
  const comment = area.value.trim();
  if (spec.why && !comment) { toast(t(spec.why), 'warn'); area.focus(); return; }
  if (spec.pick && !picked(box, spec.pick)) { toast(t('decide.chooseFirst'), 'warn'); $(`select[name=${spec.pick}]`, box).focus(); return; }
  const place = placeOf(box);
  const done = spec.done(box); // read now: a live refresh may replace the box meanwhile
  const input = { id: box.dataset.decide, ...(spec.input ? spec.input(box) : {}), ...(spec.noComment ? {} : { comment: comment || null }) };
  $$('button', box).forEach((b) => { b.disabled = true; });
  try {
    const res = (await gql(spec.doc, { input }))[spec.field];
    if (res.userErrors?.length) throw new Error(describeUserErrors(res.userErrors));
    area.value = '';
    toast(done, 'ok');
    after(place);
  } catch (err) { toast(t('decide.notDone', { message: err.message }), 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
}

function wireBaton() {
  // Decided: on to the next thing waiting on me here, else the approvals heading.
  wireDecisions(drawer, async () => {
    await load(current.id, true);
    focusFirst(() => $('[data-decide] textarea, [data-respond] input', drawer), () => $('#approvals-title', drawer));
  });
  const hf = $('#handoff-form', drawer);
  hf.addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = { opportunityId: current.id, toDepartmentKey: hf.toDepartmentKey.value };
    if (hf.note.value.trim()) input.note = hf.note.value.trim();
    try {
      const { requestHandoff: res } = await gql(REQUEST_HANDOFF, { input });
      if (res.userErrors?.length) { $('.form-error', hf).textContent = describeUserErrors(res.userErrors); return; }
      hf.note.value = '';
      toast(t('handoff.requested', { department: deptName(input.toDepartmentKey) }), 'ok');
      await load(current.id, true);
    } catch (err) { $('.form-error', hf).textContent = err.message; }
  });
  const af = $('#approval-form', drawer);
  af.addEventListener('submit', async (e) => {
    e.preventDefault();
    const keys = $$('input[name=dept]:checked', af).map((i) => i.value);
    const kind = af.kind.value.trim();
    if (!kind) { $('.form-error', af).textContent = t('approval.needsKind'); return; }
    const input = { opportunityId: current.id, kind, departmentKeys: keys, mode: af.mode.value };
    if (af.comment.value.trim()) input.comment = af.comment.value.trim();
    try {
      const { requestApproval: res } = await gql(REQUEST_APPROVAL, { input });
      if (res.userErrors?.length) { $('.form-error', af).textContent = describeUserErrors(res.userErrors); return; }
      af.comment.value = '';
      toast(keys.length ? t('approval.requestedFrom', { kind: kindName(kind), departments: listWords(keys.map(deptName)) }) : t('approval.requested', { kind: kindName(kind) }), 'ok');
      await load(current.id, true);
    } catch (err) { $('.form-error', af).textContent = err.message; }
  });
}

// ------------------------------------------------------------- history

function eventWords(ev) {
  const c = ev.changes || {};
  if (ev.type === 'DELIVERABLE_CHECKED' && Array.isArray(c.done) && !c.done[1]) return t('event.DELIVERABLE_UNCHECKED');
  if (ev.type === 'HANDOFF_REQUESTED' && c.automatic) return t('event.HANDOFF_AUTOMATIC');
  return t.has(`event.${ev.type}`) ? t(`event.${ev.type}`) : ev.type;
}

/** A recorded value as words: stage keys and priorities by their names, lists joined, nothing as a dash. */
function fmtValue(v, field) {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.map((x) => fmtValue(x, field)).join(t('list.sep')) || '—';
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean') return t(v ? 'value.yes' : 'value.no');
  if (field === 'amount' && typeof v !== 'boolean') return money(v, current?.currency);
  if (typeof v === 'string' && stageByKey(v)) return stageByKey(v).name;
  if (typeof v === 'string' && t.has(`value.${v}`)) return t(`value.${v}`);
  if (typeof v === 'string' && /department/i.test(field || '')) return deptName(v);
  if (field === 'priority') return priorityLabel(v);
  if (field === 'status' || field === 'action') return statusWord(v);
  return String(v);
}

// A change is [before, after]; a list of keys or ids (departmentKeys) is a value of its own.
const historyField = (k) => (t.has(`label.${k}`) ? t(`label.${k}`) : k);

function historyPane(o) {
  const items = o.history.edges.map((e) => e.node);
  return `<ol class="timeline">${items.map((ev) => {
    const changes = ev.changes && typeof ev.changes === 'object' ? Object.entries(ev.changes) : [];
    return `<li class="tl-item tl-${esc(ev.type)}">
      <span class="tl-dot" aria-hidden="true"></span>
      <p><strong>${esc(ev.actor?.name || t('brand'))}</strong> ${esc(eventWords(ev))} <span class="muted small">${esc(when(ev.occurredAt))}</span></p>
      ${changes.length ? `<ul class="changes">${changes.map(([k, v]) => `<li><span class="muted">${esc(t('field.named', { field: historyField(k) }))}</span> ${Array.isArray(v) && v.length === 2 && !/(Keys|Ids)$/.test(k) ? `${esc(fmtValue(v[0], k))} → ${esc(fmtValue(v[1], k))}` : esc(fmtValue(v, k))}</li>`).join('')}</ul>` : ''}
    </li>`;
  }).join('') || `<li class="empty">${esc(t('history.none'))}</li>`}</ol>`;
}
