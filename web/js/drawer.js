// The card drawer: details and edit, tasks, comments, handoffs, approvals, history.
import { gql, describeUserErrors } from './api.js';
import {
  DETAIL, UPDATE, CREATE_TASK, UPDATE_TASK, ADD_COMMENT, REQUEST_HANDOFF, RESPOND_HANDOFF, REQUEST_APPROVAL, DECIDE_APPROVAL,
  RETURN_APPROVAL, RESUBMIT_APPROVAL, TRANSFER_APPROVAL, ADD_APPROVAL_SIGNER, URGE_APPROVAL, CANCEL_APPROVAL, CHECK_DELIVERABLE,
} from './queries.js';
import { store, onBoardEvent, deptName, stageByKey } from './state.js';
import { esc, $, $$, money, toast, since, ago, when, day, titleCase, debounce, listWords, fieldWords, hours } from './util.js';
import { deptChip, priorityLabel, waitBadges, dataText } from './ui.js';
import { moveCard } from './board.js';
import { focusFirst, holdFocus, keepFocus, placeOf } from './focus.js';

let drawer = null;
let backdrop = null;
let currentId = null;
let current = null;
let tab = 'details';
let loadToken = 0;
let lastFocus = null;
let release = null; // undoes the drawer's hold on focus

const TABS = [
  ['details', 'Details'], ['tasks', 'Tasks'], ['comments', 'Comments'], ['baton', 'Handoffs & approvals'], ['history', 'History'],
];

export function initDrawer() {
  drawer = document.getElementById('drawer');
  backdrop = document.getElementById('drawer-backdrop');
  backdrop.addEventListener('click', closeDrawer);
  onBoardEvent((evt) => {
    if (!currentId) return;
    if (evt.type === 'RECONNECTED' || evt.opportunity?.id === currentId) refreshSoon();
  });
}

const refreshSoon = debounce(() => { if (currentId) load(currentId, true); }, 150);

export function refreshDrawerIfShowing(id) { if (id && id === currentId) refreshSoon(); }

export function openDrawer(id, openTab) {
  if (!drawer) return;
  if (drawer.hidden) {
    lastFocus = document.activeElement;
    release = holdFocus(drawer, { onEscape: closeDrawer });
  }
  currentId = id;
  current = null;
  if (openTab) tab = openTab;
  drawer.hidden = false;
  backdrop.hidden = false;
  document.body.classList.add('drawer-open');
  drawer.innerHTML = '<div class="drawer-loading">Loading the card…</div>';
  drawer.removeAttribute('aria-labelledby');
  drawer.setAttribute('aria-label', 'Card details');
  drawer.focus();
  load(id, false);
}

export function closeDrawer() {
  if (!drawer || drawer.hidden) return;
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
    const { node } = await gql(DETAIL, { id });
    if (mine !== loadToken || id !== currentId) return;
    if (!node) { drawer.innerHTML = `<div class="drawer-loading">This card no longer exists or you cannot see it.</div>`; return; }
    current = node;
    render(quiet);
  } catch (err) {
    if (mine !== loadToken) return;
    if (quiet && current) { toast(`The card could not be refreshed: ${err.message}`, 'error'); return; }
    drawer.innerHTML = `<div class="drawer-head"><h2>Card</h2><button type="button" class="icon-btn" data-close aria-label="Close">×</button></div>
      <p class="banner-error">The card could not be loaded: ${esc(err.message)}</p>`;
    $('[data-close]', drawer).addEventListener('click', closeDrawer);
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
  drawer.innerHTML = `
    <div class="drawer-head">
      <div class="drawer-title">
        <p class="muted small">${esc(o.account.name)} · ${esc(o.stage.name)}</p>
        <h2 id="drawer-title">${esc(o.title)}</h2>
        <p class="drawer-sub">${o.amount != null ? `<strong>${esc(money(o.amount, o.currency))}</strong>` : '<span class="muted">No amount</span>'}
          <span class="prio prio-${esc(o.priority)}">${esc(priorityLabel(o.priority))}</span> ${deptChip(o.department)}
          <span class="muted">Owner ${esc(o.owner.name)}</span></p>
        <div class="waits">${waitBadges(o)}</div>
      </div>
      <button type="button" class="icon-btn" data-close aria-label="Close the card">×</button>
    </div>
    <div class="tabs" role="tablist" aria-label="Card sections">
      ${TABS.map(([k, label]) => `<button type="button" role="tab" id="tab-${k}" aria-controls="pane-${k}" data-tab="${k}"
        aria-selected="${tab === k}" tabindex="${tab === k ? 0 : -1}" class="${tab === k ? 'active' : ''}">${esc(label)}${tabCount(k)}</button>`).join('')}
    </div>
    <div class="drawer-body">
      ${TABS.map(([k]) => `<section class="pane" id="pane-${k}" role="tabpanel" aria-labelledby="tab-${k}" tabindex="0" data-pane="${k}" ${tab === k ? '' : 'hidden'}>${PANES[k](o)}</section>`).join('')}
    </div>`;
  $('[data-close]', drawer).addEventListener('click', closeDrawer);
  wireTabs();
  if (drafts) restoreDrafts(drawer, drafts);
  if (detailsDirty) $('#details-note', drawer).textContent = 'Someone changed this card while you were editing; saving will tell you if your edit conflicts.';
  $('.drawer-body', drawer).scrollTop = scroll;
  wireDetails();
  wireChecklist();
  wireTasks();
  wireComments();
  wireBaton();
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
  details: detailsPane, tasks: tasksPane, comments: commentsPane, baton: (o) => handoffsPane(o) + approvalsPane(o), history: historyPane,
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
      <dt>Stage</dt><dd>${esc(o.stage.name)} <span class="muted">since ${esc(since(o.stageEnteredAt))}</span></dd>
      <dt>Holds the baton</dt><dd>${esc(o.department.name)}</dd>
      <dt>Expected close</dt><dd>${o.expectedCloseDate ? esc(day(o.expectedCloseDate)) : '<span class="muted">not set</span>'}</dd>
      <dt>Last activity</dt><dd>${esc(when(o.lastActivityAt))}</dd>
      ${o.lostReason ? `<dt>Lost because</dt><dd>${esc(o.lostReason)}</dd>` : ''}
      ${o.account.industry || o.account.region ? `<dt>Account</dt><dd>${esc([o.account.industry, o.account.region].filter(Boolean).join(' · '))}</dd>` : ''}
    </dl>
    ${checklistMarkup(o)}
    <div class="move-row">
      <label for="drawer-move">Move to</label>
      <select id="drawer-move">${store.stages.map((s) => opt(s.key, s.name, s.key === o.stage.key)).join('')}</select>
      <button type="button" class="btn" id="drawer-move-go">Move</button>
    </div>
    <form class="grid-form" id="details-form">
      <label class="wide">Title <input name="title" value="${esc(o.title)}" required maxlength="200"></label>
      <label>Amount (${esc(o.currency)}) <input name="amount" type="number" min="0" step="any" value="${esc(o.amount ?? '')}"></label>
      <label>Probability % <input name="probability" type="number" min="0" max="100" value="${esc(o.probability ?? '')}"></label>
      <label>Expected close <input name="expectedCloseDate" type="date" value="${esc(o.expectedCloseDate ?? '')}"></label>
      <label>Priority <select name="priority">${['LOW', 'MEDIUM', 'HIGH', 'URGENT'].map((p) => opt(p, priorityLabel(p), o.priority === p)).join('')}</select></label>
      <label>Owner <select name="ownerId">${store.users.map((u) => opt(u.id, `${u.name} (${u.department.name})`, u.id === o.owner.id)).join('')}</select></label>
      <label>Tags <input name="tags" value="${esc((o.tags || []).join(', '))}" placeholder="comma, separated"></label>
      <label class="wide">Next step <input name="nextStep" value="${esc(o.nextStep ?? '')}" maxlength="500"></label>
      <p class="form-note wide" id="details-note" role="status"></p>
      <div class="actions wide"><button type="submit" class="btn btn-primary">Save changes</button></div>
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
    const title = `${dataText(d.title)}<span class="sr-only"> on ${esc(o.title)}</span>`;
    const lacking = !d.done && d.field && (o[d.field] ?? '') === '' && !(o.hiddenFields || []).includes(d.field);
    const who = d.done
      ? `${esc(d.department?.name || '')} · ticked by ${esc(d.doneBy?.name || 'someone')} ${esc(when(d.doneAt))}`
      : `${esc(d.department?.name || '')} ticks it${lacking ? ` · needs ${esc(fieldWords(d.field))} first` : ''}`;
    const head = mayTick(d)
      ? `<label class="check"><input type="checkbox" id="${esc(id)}" ${d.done ? 'checked' : ''} aria-describedby="${esc(id)}-who" data-testid="deliverable-check"> <span>${title}</span></label>`
      : `<span class="tick" aria-hidden="true">${d.done ? '✓' : '○'}</span><span><span class="sr-only">${d.done ? 'Done' : 'Not done'}: </span>${title}</span>`;
    return `<li class="deliverable${d.done ? ' done' : ''}" data-deliverable="${esc(d.key)}" data-testid="deliverable" data-done="${d.done}">
      <div class="deliverable-head">${head}</div>
      <p class="muted small" id="${esc(id)}-who">${who}</p>
      <p class="form-error" role="alert"></p></li>`;
  }).join('');
  return `<section class="checklist" aria-labelledby="checklist-title" data-testid="checklist">
      <h3 class="pane-title" id="checklist-title">${esc(o.stage.name)} deliverables <span class="count-pill" data-testid="checklist-progress">${done}/${o.checklist.length}</span></h3>
      ${owner ? `<p class="small muted">${esc(o.stage.name)} is ${esc(owner.name)}’s stage; each item is ticked by the department named under it.</p>` : ''}
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
  const position = (t) => stageByKey(t.stageKey)?.position ?? 99;
  const longest = Math.max(...o.stageTimes.map((t) => t.hours), 0.01);
  const rows = o.stageTimes.slice().sort((x, y) => position(x) - position(y)).map((t) => {
    const depts = t.departments.slice().sort((x, y) => y.hours - x.hours);
    // The bar's length compares the stages; its parts are the departments' shares (the text says the same).
    const bar = depts.map((d) => `<span class="time-part dept-${esc(d.department?.key || '')}" data-share="${d.hours / longest}"></span>`).join('');
    return `<li class="stage-time" data-testid="stage-time" data-stage="${esc(t.stageKey)}">
      <strong class="stage-time-name">${esc(stageByKey(t.stageKey)?.name || t.stageKey)}</strong>
      <span class="time-bar" aria-hidden="true">${bar}</span>
      <span class="stage-time-total">${esc(hours(t.hours))}${t.stageKey === o.stage.key ? ' so far' : ''}</span>
      <span class="small muted stage-time-depts">${depts.map((d) => `${esc(d.department?.name || '?')} ${esc(hours(d.hours))}`).join(' · ')}</span></li>`;
  }).join('');
  return `<section class="stage-times" aria-labelledby="stage-times-title">
      <h3 class="pane-title" id="stage-times-title">Time in stages</h3>
      <ol class="stage-time-list">${rows}</ol>
    </section>`;
}

function wireDetails() {
  const form = $('#details-form', drawer);
  const note = $('#details-note', drawer);
  form.addEventListener('input', () => { form.dataset.dirty = '1'; });
  // A button commits the move: a select that moved the card on change would move it on every arrow key.
  $('#drawer-move-go', drawer).addEventListener('click', async () => {
    const key = $('#drawer-move', drawer).value;
    if (key === current.stage.key) { note.textContent = `The card is already in ${current.stage.name}.`; return; }
    await moveCard(current.id, key);
    refreshSoon();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const o = current;
    const input = { id: o.id, version: o.version };
    const title = form.title.value.trim();
    if (!title) { note.textContent = 'A card needs a title.'; return; }
    if (title !== o.title) input.title = title;
    if (form.amount.value !== String(o.amount ?? '')) { if (form.amount.value) input.amount = form.amount.value; }
    if (form.probability.value !== String(o.probability ?? '') && form.probability.value !== '') input.probability = Number(form.probability.value);
    if (form.expectedCloseDate.value && form.expectedCloseDate.value !== (o.expectedCloseDate ?? '')) input.expectedCloseDate = form.expectedCloseDate.value;
    if (form.priority.value !== o.priority) input.priority = form.priority.value;
    if (form.ownerId.value !== o.owner.id) input.ownerId = form.ownerId.value;
    const tags = form.tags.value.split(',').map((t) => t.trim().replace(/^#/, '')).filter(Boolean);
    if (tags.join(',') !== (o.tags || []).join(',')) input.tags = tags;
    if (form.nextStep.value.trim() !== (o.nextStep ?? '')) input.nextStep = form.nextStep.value.trim();
    if (Object.keys(input).length === 2) { note.textContent = 'Nothing to save.'; return; }
    try {
      const { updateOpportunity: res } = await gql(UPDATE, { input });
      const err = res.userErrors?.[0];
      if (err?.code === 'CONFLICT') {
        form.dataset.dirty = '';
        toast('Someone else changed this card while you were editing. It now shows their version; make your change again if it still applies.', 'warn', 8000);
        await load(o.id, false);
        return;
      }
      if (err) { note.textContent = describeUserErrors(res.userErrors); return; }
      form.dataset.dirty = '';
      toast('Saved.', 'ok', 2000);
      await load(o.id, false);
    } catch (err2) { note.textContent = err2.message; }
  });
}

// ------------------------------------------------------------- tasks

function userOptions(selectedId, blank = 'Unassigned') {
  return `<option value="">${esc(blank)}</option>` + store.users.map((u) => `<option value="${esc(u.id)}"${u.id === selectedId ? ' selected' : ''}>${esc(u.name)} · ${esc(u.department.name)}</option>`).join('');
}

function tasksPane(o) {
  const tasks = o.tasks.edges.map((e) => e.node);
  const rows = tasks.map((t) => `
    <li class="task ${t.status === 'DONE' ? 'done' : ''} ${t.overdue ? 'overdue' : ''}" data-task="${esc(t.id)}" data-version="${t.version}">
      <label class="check task-done"><input type="checkbox" ${t.status === 'DONE' ? 'checked' : ''} ${t.status === 'CANCELLED' ? 'disabled' : ''} aria-label="Done: ${esc(t.title)}">
        <span class="task-title">${esc(t.title)}</span></label>
      <span class="task-meta">${esc(t.department.name)}${t.dueAt ? ` · due ${esc(when(t.dueAt))}` : ''}${t.overdue ? ' · <strong class="overdue-text">overdue</strong>' : ''}${t.status === 'CANCELLED' ? ' · cancelled' : ''}</span>
      <select class="task-assignee" aria-label="Assignee of ${esc(t.title)}">${userOptions(t.assignee?.id)}</select>
    </li>`).join('');
  return `
    <ul class="task-list">${rows || '<li class="empty">No tasks yet.</li>'}</ul>
    <form class="inline-form" id="task-form">
      <input name="title" placeholder="New task" required aria-label="Task title" data-draft="task-title">
      <select name="assigneeId" aria-label="Assignee">${userOptions(null)}</select>
      <input name="dueAt" type="datetime-local" aria-label="Due">
      <button class="btn" type="submit">Add task</button>
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
    if (err?.code === 'CONFLICT') toast('Someone else changed that task; it now shows their version.', 'warn');
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
        <p class="comment-body">${commentBody(c.body)}</p></li>`).join('') || '<li class="empty">No comments yet.</li>'}</ol>
    <form class="comment-form" id="comment-form">
      <div class="mention-wrap">
        <textarea name="body" rows="3" placeholder="Write a comment — type @ to mention someone" aria-label="Comment" data-draft="comment" aria-autocomplete="list"></textarea>
        <ul class="mention-list" role="listbox" hidden></ul>
      </div>
      <div class="actions"><button class="btn btn-primary" type="submit">Comment</button></div>
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

const STATUS_WORD = {
  PENDING: 'Pending', ACCEPTED: 'Accepted', DECLINED: 'Declined', CANCELLED: 'Cancelled', APPROVED: 'Approved', REJECTED: 'Rejected',
  RETURNED: 'Returned', SUPERSEDED: 'No longer holds', SKIPPED: 'Skipped',
};

function handoffsPane(o) {
  const mine = store.viewer.department.key;
  const rows = o.handoffs.slice().reverse().map((h) => `
    <li class="handoff status-${esc(h.status)}" data-handoff="${esc(h.id)}" data-testid="handoff">
      <p><strong>${esc(h.fromDepartment.name)} → ${esc(h.toDepartment.name)}</strong>
        <span class="status status-${esc(h.status)}">${esc(STATUS_WORD[h.status] || h.status)}</span></p>
      <p class="muted small">Asked by ${esc(h.requestedBy.name)} ${esc(ago(h.createdAt))}${h.assignee ? ` for ${esc(h.assignee.name)}` : ''}${h.respondedAt ? ` · answered ${esc(when(h.respondedAt))}` : h.status === 'PENDING' ? ` · waiting ${esc(since(h.createdAt))}` : ''}</p>
      ${h.note ? `<p class="note">“${esc(h.note)}”</p>` : ''}
      ${h.responseNote ? `<p class="note">Reply: “${esc(h.responseNote)}”</p>` : ''}
      ${h.status === 'PENDING' && h.toDepartment.key === mine ? respondForm(h, o.title) : ''}
    </li>`).join('');
  const opts = store.departments.filter((d) => d.key !== o.department.key).map((d) => `<option value="${esc(d.key)}">${esc(d.name)}</option>`).join('');
  return `
    <h3 class="pane-title">Handoffs</h3>
    <ul class="handoffs">${rows || '<li class="empty">No handoffs yet.</li>'}</ul>
    <form class="inline-form" id="handoff-form" data-testid="handoff-form">
      <label>Hand the baton to <select name="toDepartmentKey" data-testid="handoff-department">${opts}</select></label>
      <input name="note" placeholder="Note (what you need)" aria-label="Handoff note" data-draft="handoff-note">
      <button class="btn" type="submit" data-testid="request-handoff">Request handoff</button>
      <p class="form-error" role="alert"></p>
    </form>`;
}

// Per-item controls name their item (hidden words), so a list of them does not read "Accept, Accept, Accept".
export function respondForm(h, title) {
  const which = `the handoff of ${esc(title)}`;
  return `<div class="respond" data-respond="${esc(h.id)}">
      <input name="note" placeholder="Reply (optional)" aria-label="Reply to ${which}">
      <button type="button" class="btn btn-primary" data-accept="1" data-testid="handoff-accept">Accept<span class="sr-only"> ${which}</span></button>
      <button type="button" class="btn btn-danger" data-accept="0" data-testid="handoff-decline">Decline<span class="sr-only"> ${which}</span></button>
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

const STEP_NAME = (s) => `${s.department.name}${s.role ? ` ${s.role.toLowerCase()}s` : ''}`;

// 会签 / 或签 are what the teams call them; the English says the same for everyone else.
function modeChip(s) {
  const n = s.approvers.length;
  if (s.mode === 'COUNT') return `<span class="mode" data-testid="step-mode">${esc(`${s.minApprovals} of ${n}`)}</span>`;
  const [zh, en] = s.mode === 'ALL' ? ['会签', 'all must approve'] : ['或签', 'any one decides'];
  return `<span class="mode" data-testid="step-mode"><span lang="zh">${zh}</span> ${en}</span>`;
}

const ACTION_WORDS = {
  APPROVED: 'approved', REJECTED: 'rejected', RETURNED: 'returned it', RESUBMITTED: 'resubmitted it', TRANSFERRED: 'handed their decision to',
  SIGNER_ADDED: 'added as a signer:', URGED: 'urged the approvers', CANCELLED: 'withdrew it', REMINDED: 'reminded the approvers', ESCALATED: 'escalated it',
};

/** Who did what, oldest first; `earlier(d)` marks what happened before the step was last (re)opened. */
function decisionsMarkup(list, earlier = () => false) {
  if (!list.length) return '';
  return `<ol class="decisions">${list.map((d) => `<li data-testid="decision" data-action="${esc(d.action)}">
    ${earlier(d) ? '<span class="muted">Earlier round:</span> ' : ''}<strong>${esc(d.user?.name || 'Baton (timeout)')}</strong> ${esc(ACTION_WORDS[d.action] || titleCase(d.action))}${d.targetUser ? ` <strong>${esc(d.targetUser.name)}</strong>` : ''}
    <span class="muted">· ${esc(when(d.at))}</span>${d.comment ? ` <q class="note">${esc(d.comment)}</q>` : ''}</li>`).join('')}</ol>`;
}

function stepWords(s, a, currency) {
  if (s.status === 'SKIPPED') {
    return s.amountAtLeast != null ? `skipped: applies from ${money(s.amountAtLeast, currency)}, the amount is below` : 'skipped: its condition does not hold';
  }
  // Who decided, and when, is in the step's decisions when it has them.
  if (s.status !== 'PENDING') return `${STATUS_WORD[s.status] || s.status}${s.decidedBy && !s.decisions.length ? ` by ${s.decidedBy.name}` : ''}${s.decidedAt && !s.decisions.length ? ` · ${when(s.decidedAt)}` : ''}`;
  if (!s.openedAt) return a.status === 'RETURNED' ? 'waits for the requester to resubmit' : 'waits for the step before';
  const due = s.dueAt ? (new Date(s.dueAt) < Date.now() ? ` · overdue since ${when(s.dueAt)}` : ` · due ${when(s.dueAt)}`) : '';
  return `open · waiting ${since(s.openedAt)}${due}${s.urgedAt ? ` · urged ${ago(s.urgedAt)}` : ''}`;
}

export function stepsMarkup(a, currency) {
  return `<ol class="steps">${byPosition(a).map((s) => {
    const state = s.status === 'PENDING' ? (s.openedAt ? 'open' : 'waiting') : s.status.toLowerCase();
    const approved = new Set(s.approvedBy.map((u) => u.id));
    const who = s.status === 'SKIPPED' ? '' : `<p class="step-who small">Approvers: ${s.approvers.map((u) => `${esc(u.name)}${approved.has(u.id) ? ' <span class="ok-text">(approved)</span>' : ''}`).join(', ') || '<span class="muted">none</span>'}</p>`;
    return `<li class="step step-${state}" data-testid="approval-step" data-department="${esc(s.department.key)}" data-status="${esc(s.status)}" data-position="${s.position}">
      <p class="step-head"><span class="step-dot" aria-hidden="true"></span><strong>${esc(STEP_NAME(s))}</strong> ${s.status === 'SKIPPED' ? '' : modeChip(s)}
        <span class="muted" data-testid="step-words">${esc(stepWords(s, a, currency))}</span></p>
      ${who}
      ${s.comment && !s.decisions.length ? `<p class="note">“${esc(s.comment)}”</p>` : ''}
      ${decisionsMarkup(s.decisions, (d) => (s.openedAt ? new Date(d.at) < new Date(s.openedAt) : s.status === 'PENDING'))}</li>`;
  }).join('')}</ol>`;
}

/** Locked fields that moved since the approval was asked for (or granted). */
export function changesMarkup(a, currency) {
  if (!a.changes.length) return '';
  const value = (field, v) => (v == null || v === '' ? '—' : field === 'amount' ? money(v, currency)
    : field === 'expectedCloseDate' ? day(v) : field === 'account' ? 'another account' : String(v));
  const base = ['APPROVED', 'SUPERSEDED'].includes(a.status) ? 'approved' : 'requested';
  return `<div class="approval-changes" data-testid="approval-changes"><p class="small"><strong>Changed since it was ${base}</strong></p>
    <ul class="changes">${a.changes.map((c) => `<li><span class="muted">${esc(fieldWords(c.field).replace(/^an? /, ''))}:</span>
      <del>${esc(value(c.field, c.before))}</del> → <ins>${esc(value(c.field, c.after))}</ins></li>`).join('')}</ul></div>`;
}

const colleagues = () => store.users.filter((u) => u.id !== store.viewer.id && u.role !== 'VIEWER')
  .sort((x, y) => (y.department.key === store.viewer.department.key) - (x.department.key === store.viewer.department.key) || x.name.localeCompare(y.name));
const userPicks = (blank) => `<option value="">${esc(blank)}</option>${colleagues().map((u) => `<option value="${esc(u.id)}">${esc(u.name)} · ${esc(u.department.name)}</option>`).join('')}`;

/**
 * The actions the viewer may take on approval `a`, around one comment box. In a queue, `step` is the
 * step the item is listed for: its decision buttons show only to those who decide that step.
 */
export function decideForm(a, title, step = null) {
  const which = `the ${esc(a.kind)} approval of ${esc(title)}`;
  const sr = `<span class="sr-only"> ${which}</span>`;
  const about = `<span class="sr-only">${which}: </span>`; // names each field after its item, keeping the visible words
  const mine = a.viewerCanDecide ? actingStep(a) : null;
  const decide = !!mine && (!step || step.position === mine.position);
  const requester = a.viewerIsRequester && ['PENDING', 'RETURNED'].includes(a.status);
  if (!decide && !a.viewerCanUrge && !requester) return '';
  const back = a.mode === 'SEQUENTIAL' && mine ? byPosition(a).filter((s) => s.position < mine.position && s.status !== 'SKIPPED') : [];
  const more = decide ? `
      <details class="more-actions" data-more="${esc(a.id)}">
        <summary>Return, transfer or add a signer<span class="sr-only"> for ${which}</span></summary>
        <div class="act-row">
          <label>${about}Return to <select name="toStep" data-draft="to-step-${esc(a.id)}">
            <option value="">the requester (${esc(a.requestedBy.name)})</option>
            ${back.map((s) => `<option value="${s.position}">step ${s.position + 1}: ${esc(STEP_NAME(s))}</option>`).join('')}</select></label>
          <button type="button" class="btn" data-act="return" data-testid="return-approval">Return${sr}</button>
        </div>
        <div class="act-row">
          <label>${about}Hand my decision to <select name="toUserId" data-draft="transfer-${esc(a.id)}">${userPicks('Choose a colleague')}</select></label>
          <button type="button" class="btn" data-act="transfer" data-testid="transfer-approval">Transfer${sr}</button>
        </div>
        <div class="act-row">
          <label>${about}Add signer <select name="signerId" data-draft="signer-${esc(a.id)}">${userPicks('Choose a colleague')}</select></label>
          <select name="placement" data-draft="placement-${esc(a.id)}" aria-label="Where the signer decides">
            ${a.mode === 'SEQUENTIAL' ? '<option value="AFTER">after my step</option><option value="BEFORE">before my step</option>' : ''}
            <option value="WITH">in my step, with me</option></select>
          <button type="button" class="btn" data-act="signer" data-testid="add-signer">Add signer${sr}</button>
        </div>
      </details>` : '';
  return `<div class="decide" data-decide="${esc(a.id)}">
      <textarea name="comment" rows="2" placeholder="Comment for the record" aria-label="Comment on ${which}" data-draft="comment-${esc(a.id)}"></textarea>
      <div class="actions">
        ${decide ? `<button type="button" class="btn btn-primary" data-approve="1" data-testid="approve">Approve${sr}</button>
        <button type="button" class="btn btn-danger" data-approve="0" data-testid="reject">Reject${sr}</button>` : ''}
        ${a.viewerCanUrge ? `<button type="button" class="btn" data-act="urge" data-testid="urge-approval">Urge${sr}</button>` : ''}
        ${requester && a.status === 'RETURNED' ? `<button type="button" class="btn btn-primary" data-act="resubmit" data-testid="resubmit-approval">Resubmit${sr}</button>` : ''}
        ${requester ? `<button type="button" class="btn btn-ghost" data-act="withdraw" data-testid="withdraw-approval">Withdraw${sr}</button>` : ''}
      </div>${more}
    </div>`;
}

function approvalsPane(o) {
  const rows = o.approvals.slice().reverse().map((a) => `
    <li class="approval status-${esc(a.status)}" data-approval="${esc(a.id)}" data-testid="approval" data-status="${esc(a.status)}">
      <p class="approval-head"><strong>${esc(titleCase(a.kind))} approval</strong> <span class="status status-${esc(a.status)}" data-testid="approval-status">${esc(STATUS_WORD[a.status] || a.status)}</span>
        ${a.urgeCount ? `<span class="status status-urged" data-testid="approval-urges">urged ${a.urgeCount}×</span>` : ''}
        <span class="muted small">${a.mode === 'SEQUENTIAL' ? 'in order' : 'in parallel'} · asked by ${esc(a.requestedBy.name)} ${esc(ago(a.createdAt))}</span></p>
      ${a.status === 'RETURNED' ? `<p class="small warn-text">Returned to ${esc(a.requestedBy.name)}: edit the card, then resubmit or withdraw it.</p>` : ''}
      ${a.comment ? `<p class="note">“${esc(a.comment)}”</p>` : ''}
      ${changesMarkup(a, o.currency)}
      ${stepsMarkup(a, o.currency)}
      ${decisionsMarkup(a.decisions.filter((d) => ['RESUBMITTED', 'CANCELLED'].includes(d.action)))}
      ${decideForm(a, o.title)}
    </li>`).join('');
  const needed = (o.approvalsNeeded || []).map((k) => `<p class="reapproval" data-testid="reapproval-banner">Re-approval needed: the ${esc(k)} approval no longer holds for this card’s current terms.</p>`).join('');
  const kinds = new Set(['contract', 'discount', 'pricing']);
  store.stages.forEach((s) => (s.requiredApprovals || []).forEach((k) => kinds.add(k)));
  return `
    <h3 class="pane-title" id="approvals-title" tabindex="-1">Approvals</h3>
    ${needed}
    <ul class="approvals">${rows || '<li class="empty">No approvals requested.</li>'}</ul>
    <form class="stack" id="approval-form" data-testid="approval-form">
      <div class="inline-form">
        <label>Request <input name="kind" list="approval-kinds" value="contract" size="10" aria-label="Approval kind" data-testid="approval-kind"></label>
        <datalist id="approval-kinds">${[...kinds].map((k) => `<option value="${esc(k)}">`).join('')}</datalist>
        <select name="mode" aria-label="Order"><option value="SEQUENTIAL">in order</option><option value="PARALLEL">in parallel</option></select>
      </div>
      <div class="dept-picks" aria-label="Approving departments">${store.departments.map((d) => `<label class="check"><input type="checkbox" name="dept" value="${esc(d.key)}" ${['legal', 'finance'].includes(d.key) ? 'checked' : ''}> ${esc(d.name)}</label>`).join('')}</div>
      <p class="muted small">With no department ticked, the approvers are those the pipeline’s rule for this kind names.</p>
      <input name="comment" placeholder="Comment (optional)" aria-label="Approval request comment" data-draft="approval-comment">
      <div class="actions"><button class="btn" type="submit" data-testid="request-approval">Request approval</button></div>
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
        toast(accept ? 'Handoff accepted: your department holds the baton.' : 'Handoff declined.', 'ok');
        after(place);
      } catch (err) { toast(`The handoff could not be answered: ${err.message}`, 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
    }));
  });
  $$('[data-decide]', scope).forEach((box) => {
    $$('button[data-approve]', box).forEach((btn) => btn.addEventListener('click', async () => {
      const approve = btn.dataset.approve === '1';
      const place = placeOf(box);
      const comment = $('textarea', box).value.trim();
      if (!approve && !comment) { toast('Say why you reject it, so the requester knows what to change.', 'warn'); $('textarea', box).focus(); return; }
      $$('button', box).forEach((b) => { b.disabled = true; });
      try {
        const { decideApproval: res } = await gql(DECIDE_APPROVAL, { input: { id: box.dataset.decide, approve, comment: comment || null } });
        if (res.userErrors?.length) throw new Error(describeUserErrors(res.userErrors));
        $('textarea', box).value = ''; // or the refresh would keep it as a draft
        toast(approve ? 'Approved.' : 'Rejected.', 'ok');
        after(place);
      } catch (err) { toast(`The decision was not recorded: ${err.message}`, 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
    }));
    $$('button[data-act]', box).forEach((btn) => btn.addEventListener('click', () => act(box, ACTS[btn.dataset.act], after)));
  });
}

const picked = (box, name) => $(`select[name=${name}]`, box).value;
const pickedName = (box, name) => { const sel = $(`select[name=${name}]`, box); return sel.options[sel.selectedIndex].text.split(' · ')[0]; };

// The other approval actions (data-act): mutation, payload field, input, what a comment or a pick must say, confirmation.
const ACTS = {
  return: {
    doc: RETURN_APPROVAL, field: 'returnApproval', why: 'Say why you return it, so they know what to change.',
    input: (box) => ({ toStep: picked(box, 'toStep') === '' ? null : Number(picked(box, 'toStep')) }),
    done: (box) => `Returned to ${pickedName(box, 'toStep')}.`,
  },
  transfer: {
    doc: TRANSFER_APPROVAL, field: 'transferApprovalStep', pick: 'toUserId',
    input: (box) => ({ toUserId: picked(box, 'toUserId') }), done: (box) => `Handed your decision to ${pickedName(box, 'toUserId')}.`,
  },
  signer: {
    doc: ADD_APPROVAL_SIGNER, field: 'addApprovalSigner', pick: 'signerId',
    input: (box) => ({ userId: picked(box, 'signerId'), placement: picked(box, 'placement') }), done: (box) => `Added ${pickedName(box, 'signerId')} as a signer.`,
  },
  urge: { doc: URGE_APPROVAL, field: 'urgeApproval', done: () => 'The approvers were reminded.' },
  resubmit: { doc: RESUBMIT_APPROVAL, field: 'resubmitApproval', done: () => 'Resubmitted: the approvers are asked again.' },
  withdraw: { doc: CANCEL_APPROVAL, field: 'cancelApproval', noComment: true, done: () => 'The approval was withdrawn.' },
};

async function act(box, spec, after) {
  const area = $('textarea', box);
  const comment = area.value.trim();
  if (spec.why && !comment) { toast(spec.why, 'warn'); area.focus(); return; }
  if (spec.pick && !picked(box, spec.pick)) { toast('Choose a colleague first.', 'warn'); $(`select[name=${spec.pick}]`, box).focus(); return; }
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
  } catch (err) { toast(`Not done: ${err.message}`, 'error'); $$('button', box).forEach((b) => { b.disabled = false; }); }
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
      toast(`Asked ${deptName(input.toDepartmentKey)} to take the baton.`, 'ok');
      await load(current.id, true);
    } catch (err) { $('.form-error', hf).textContent = err.message; }
  });
  const af = $('#approval-form', drawer);
  af.addEventListener('submit', async (e) => {
    e.preventDefault();
    const keys = $$('input[name=dept]:checked', af).map((i) => i.value);
    const kind = af.kind.value.trim();
    if (!kind) { $('.form-error', af).textContent = 'Name the kind of approval (e.g. contract).'; return; }
    const input = { opportunityId: current.id, kind, departmentKeys: keys, mode: af.mode.value };
    if (af.comment.value.trim()) input.comment = af.comment.value.trim();
    try {
      const { requestApproval: res } = await gql(REQUEST_APPROVAL, { input });
      if (res.userErrors?.length) { $('.form-error', af).textContent = describeUserErrors(res.userErrors); return; }
      af.comment.value = '';
      toast(`Requested ${kind} approval${keys.length ? ` from ${listWords(keys.map(deptName))}` : ''}.`, 'ok');
      await load(current.id, true);
    } catch (err) { $('.form-error', af).textContent = err.message; }
  });
}

// ------------------------------------------------------------- history

const EVENT_WORDS = {
  OPPORTUNITY_CREATED: 'created the card', OPPORTUNITY_UPDATED: 'edited the card', OPPORTUNITY_MOVED: 'moved the card',
  OPPORTUNITY_LOST: 'marked it lost', TASK_CREATED: 'added a task', TASK_UPDATED: 'updated a task', COMMENT_ADDED: 'commented',
  HANDOFF_REQUESTED: 'requested a handoff', HANDOFF_RESOLVED: 'answered a handoff', APPROVAL_REQUESTED: 'requested an approval',
  APPROVAL_DECIDED: 'decided an approval', ALERT_RAISED: 'raised an alert',
  APPROVAL_RETURNED: 'returned an approval', APPROVAL_RESUBMITTED: 'resubmitted an approval', APPROVAL_TRANSFERRED: 'handed on an approval',
  APPROVAL_SIGNER_ADDED: 'added an approver', APPROVAL_URGED: 'urged an approval', APPROVAL_SUPERSEDED: 'changed terms an approval had fixed',
  DELIVERABLE_CHECKED: 'ticked a deliverable',
};

function eventWords(ev) {
  const c = ev.changes || {};
  if (ev.type === 'DELIVERABLE_CHECKED' && Array.isArray(c.done) && !c.done[1]) return 'unticked a deliverable';
  if (ev.type === 'HANDOFF_REQUESTED' && c.automatic) return 'handed the card to the stage’s owner';
  return EVENT_WORDS[ev.type] || titleCase(ev.type);
}

function fmtValue(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.join(', ') || '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function historyPane(o) {
  const items = o.history.edges.map((e) => e.node);
  return `<ol class="timeline">${items.map((ev) => {
    const changes = ev.changes && typeof ev.changes === 'object' ? Object.entries(ev.changes) : [];
    return `<li class="tl-item tl-${esc(ev.type)}">
      <span class="tl-dot" aria-hidden="true"></span>
      <p><strong>${esc(ev.actor?.name || 'Baton')}</strong> ${esc(eventWords(ev))} <span class="muted small">${esc(when(ev.occurredAt))}</span></p>
      ${changes.length ? `<ul class="changes">${changes.map(([k, v]) => `<li><span class="muted">${esc(k)}:</span> ${Array.isArray(v) && v.length === 2 ? `${esc(fmtValue(v[0]))} → ${esc(fmtValue(v[1]))}` : esc(fmtValue(v))}</li>`).join('')}</ul>` : ''}
    </li>`;
  }).join('') || '<li class="empty">No history yet.</li>'}</ol>`;
}
