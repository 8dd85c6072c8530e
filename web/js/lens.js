// Department lens: what waits on one department — handoffs to it, its open approval steps, its tasks.
import { gql } from './api.js';
import { LENS, LENS_APPROVALS_MAX, lensApprovals, UPDATE_TASK, CHECK_DELIVERABLE } from './queries.js';
import { store, onBoardEvent, deptName } from './state.js';
import { esc, $, $$, since, when, money, debounce, toast } from './util.js';
import { t, kindName } from './i18n.js';
import { dataText } from './ui.js';
import { openDrawer, respondForm, decideForm, stepsMarkup, changesMarkup, openStepFor, myOpenStep, wireDecisions, saveDrafts, restoreDrafts } from './drawer.js';
import { focusItemAt, keepFocus, placeOf } from './focus.js';

export function mountLens(view, deptKey) {
  let alive = true;
  const mine = deptKey === store.viewer.department.key;
  const mayTick = store.viewer.role === 'ADMIN' || (mine && store.viewer.role !== 'VIEWER'); // as the server allows
  view.innerHTML = `
    <div class="lens-head">
      <nav class="dept-tabs" aria-label="${esc(t('lens.nav'))}">
        ${store.departments.map((d) => `<a href="#/lens/${esc(d.key)}" class="dept-tab dept-${esc(d.key)} ${d.key === deptKey ? 'active' : ''}" data-testid="lens-${esc(d.key)}"${d.key === deptKey ? ' aria-current="page"' : ''}>${esc(d.name)}${d.key === store.viewer.department.key ? `<span class="muted">${esc(t('lens.you'))}</span>` : ''}</a>`).join('')}
      </nav>
      <h1 class="lens-title" tabindex="-1">${esc(t('lens.title', { department: deptName(deptKey) }))}</h1>
    </div>
    <div class="lens" id="lens" data-testid="lens" data-department="${esc(deptKey)}" aria-busy="true">
      <section class="lens-col"><h2 tabindex="-1">${esc(t('lens.handoffs'))} <span class="count-pill" id="n-handoffs">…</span></h2><ul id="lens-handoffs" class="lens-list"></ul></section>
      <section class="lens-col"><h2 tabindex="-1">${esc(t('lens.approvals'))} <span class="count-pill" id="n-approvals">…</span></h2><ul id="lens-approvals" class="lens-list"></ul></section>
      <section class="lens-col"><h2 tabindex="-1">${esc(t('lens.deliverables'))} <span class="count-pill" id="n-deliverables">…</span></h2><ul id="lens-deliverables" class="lens-list"></ul></section>
      <section class="lens-col"><h2 tabindex="-1">${esc(t('lens.tasks'))} <span class="count-pill" id="n-tasks">…</span></h2><ul id="lens-tasks" class="lens-list"></ul></section>
    </div>`;
  const lens = $('#lens', view);
  let loads = 0;

  // Approvals that wait on this queue: an open step of the department, a step of one's own (in one's own
  // queue), or one returned to a requester of the department.
  const stepFor = (a) => openStepFor(a, deptKey) || (mine && a.viewerCanDecide ? myOpenStep(a) : null);
  const returnedHere = (a) => a.status === 'RETURNED' && a.requestedBy.department.key === deptKey;

  /** The queue's approvals in full, by id (LENS lists them only in brief). */
  async function fullApprovals(data) {
    const ids = data.opportunities.edges.flatMap((e) => e.node.approvals)
      .filter((a) => openStepFor(a, deptKey) || (mine && a.viewerCanDecide) || returnedHere(a)).map((a) => a.id);
    const pages = [];
    for (let i = 0; i < ids.length; i += LENS_APPROVALS_MAX) pages.push(ids.slice(i, i + LENS_APPROVALS_MAX));
    const found = await Promise.all(pages.map((page) => gql(lensApprovals(page.length), Object.fromEntries(page.map((id, i) => [`a${i}`, id])))));
    return new Map(found.flatMap((d) => Object.values(d)).filter(Boolean).map((a) => [a.id, a]));
  }

  let latest = null; // the newest load: an older one that finishes late settles with it
  function load() {
    latest = loadOnce();
    return latest;
  }

  async function loadOnce() {
    const mineLoad = ++loads;
    try {
      const data = await gql(LENS, { dept: deptKey });
      const full = await fullApprovals(data);
      if (!alive) return;
      // A live refresh started meanwhile: wait for it, so reloadAfter() focuses in the list as it is shown.
      if (mineLoad !== loads) { await latest; return; }
      // Live refreshes must not throw a keyboard user out of the queue, nor lose what they are typing.
      keepFocus(lens, () => { const kept = saveDrafts(lens); render(data, full); restoreDrafts(lens, kept); });
      lens.removeAttribute('aria-busy');
      $('.banner-error', view)?.remove();
    } catch (err) {
      if (!alive) return;
      lens.removeAttribute('aria-busy');
      let b = $('.banner-error', view);
      if (!b) { b = document.createElement('p'); b.className = 'banner-error'; lens.before(b); }
      b.textContent = t('lens.loadFailed', { message: err.message });
    }
  }

  function cardLine(o) {
    return `<button type="button" class="link open-card" data-open="${esc(o.id)}">${esc(o.title)}</button>
      <span class="muted small">${esc(o.account?.name || '')}${o.amount != null ? ` · ${esc(money(o.amount, o.currency))}` : ''}${o.stage ? ` · ${esc(o.stage.name)}` : ''}</span>`;
  }

  function render(data, full) {
    const opps = data.opportunities.edges.map((e) => e.node);
    const handoffs = [];
    const approvals = [];
    for (const o of opps) {
      for (const h of o.handoffs) if (h.status === 'PENDING' && h.toDepartment.key === deptKey) handoffs.push({ o, h });
      for (const { id } of o.approvals) {
        const a = full.get(id);
        const step = a && stepFor(a);
        if (step || (a && returnedHere(a))) approvals.push({ o, a, step, at: step?.openedAt || a.createdAt });
      }
    }
    // Deliverables of the cards' current stages that this department has yet to tick, oldest stage entry first.
    const deliverables = opps.flatMap((o) => (o.checklist || []).filter((d) => !d.done && d.departmentKey === deptKey).map((d) => ({ o, d })))
      .sort((x, y) => x.o.stageEnteredAt.localeCompare(y.o.stageEnteredAt));
    handoffs.sort((x, y) => x.h.createdAt.localeCompare(y.h.createdAt));
    approvals.sort((x, y) => x.at.localeCompare(y.at));
    const tasks = data.tasks.edges.map((e) => e.node).sort((x, y) => (y.overdue - x.overdue) || String(x.dueAt || '9').localeCompare(String(y.dueAt || '9')));
    $('#n-handoffs', view).textContent = handoffs.length;
    $('#n-approvals', view).textContent = approvals.length;
    $('#n-deliverables', view).textContent = deliverables.length;
    $('#n-tasks', view).textContent = tasks.length;
    $('#lens-handoffs', view).innerHTML = handoffs.map(({ o, h }) => `
      <li class="lens-item" data-testid="lens-handoff" data-id="${esc(o.id)}">
        ${cardLine(o)}
        <p class="small">${esc(t('lens.from'))}<strong>${esc(h.fromDepartment.name)}</strong>${esc(t('lens.fromWho', { name: h.requestedBy.name }))} · <span class="age">${esc(t('lens.waiting', { time: since(h.createdAt) }))}</span></p>
        ${h.note ? `<p class="note">${esc(t('quote', { text: h.note }))}</p>` : ''}
        ${mine ? respondForm(h, o.title) : ''}
      </li>`).join('') || `<li class="empty">${esc(t('lens.noHandoffs', { department: deptName(deptKey) }))}</li>`;
    $('#lens-approvals', view).innerHTML = approvals.map(({ o, a, step }) => `
      <li class="lens-item" data-testid="lens-approval" data-id="${esc(o.id)}" data-approval="${esc(a.id)}" data-status="${esc(a.status)}">
        ${cardLine(o)}
        <p class="small"><strong>${esc(t('approval.title', { kind: kindName(a.kind).replace(/^[a-z]/, (c) => c.toUpperCase()) }))}</strong> ${step
          ? `${esc(t('lens.askedBy', { name: a.requestedBy.name }))} · <span class="age">${esc(t('lens.openFor', { time: since(step.openedAt) }))}</span>`
          : `<span class="age">${esc(t('lens.returnedTo', { name: a.requestedBy.name }))}</span>`}
          ${a.urgeCount ? ` · <span class="status status-urged" data-testid="approval-urges">${esc(t('approval.urged', { count: a.urgeCount }))}</span>` : ''}</p>
        ${changesMarkup(a, o.currency)}
        ${stepsMarkup(a, o.currency)}
        ${decideForm(a, o.title, step)}
      </li>`).join('') || `<li class="empty">${esc(t('lens.noApprovals', { department: deptName(deptKey) }))}</li>`;
    $('#lens-deliverables', view).innerHTML = deliverables.map(({ o, d }) => `
      <li class="lens-item lens-deliverable" data-testid="lens-deliverable" data-id="${esc(o.id)}" data-deliverable="${esc(d.key)}" data-stage="${esc(o.stage.key)}">
        ${mayTick ? `<label class="check"><input type="checkbox" data-testid="lens-deliverable-check"> <span class="task-title">${dataText(d.title)}<span class="sr-only">${esc(t('sr.onCard', { title: o.title }))}</span></span></label>`
          : `<p class="task-title">${dataText(d.title)}</p>`}
        ${cardLine(o)}
        <p class="small">${esc(t('lens.inStage', { stage: o.stage.name }))} <span class="age">${esc(t('details.for', { time: since(o.stageEnteredAt) }))}</span></p>
      </li>`).join('') || `<li class="empty">${esc(t('lens.noDeliverables', { department: deptName(deptKey) }))}</li>`;
    $('#lens-tasks', view).innerHTML = tasks.map((task) => `
      <li class="lens-item task ${task.overdue ? 'overdue' : ''}" data-testid="lens-task" data-task="${esc(task.id)}" data-version="${task.version}">
        <label class="check"><input type="checkbox" aria-label="${esc(t('tasks.done', { title: task.title }))}"> <span class="task-title">${esc(task.title)}</span></label>
        <p class="small">${task.opportunity ? `<button type="button" class="link open-card" data-open="${esc(task.opportunity.id)}">${esc(task.opportunity.title)}</button> · ` : ''}
          ${task.assignee ? esc(task.assignee.name) : `<span class="muted">${esc(t('lens.unassigned'))}</span>`}${task.dueAt ? esc(t('tasks.due', { when: when(task.dueAt) })) : ''}${task.overdue ? ` · <strong class="overdue-text">${esc(t('tasks.overdue'))}</strong>` : ''}</p>
      </li>`).join('') || `<li class="empty">${esc(t('lens.noTasks', { department: deptName(deptKey) }))}</li>`;
    wireDecisions(lens, reloadAfter);
    $$('#lens-deliverables .lens-deliverable', view).forEach((li) => $('input', li)?.addEventListener('change', async () => {
      const place = placeOf(li);
      const input = { opportunityId: li.dataset.id, stageKey: li.dataset.stage, key: li.dataset.deliverable, done: true };
      try {
        const { checkDeliverable: res } = await gql(CHECK_DELIVERABLE, { input });
        if (res.userErrors?.length) toast(res.userErrors.map((e) => e.message).join(' '), 'error');
      } catch (err) { toast(err.message, 'error'); }
      reloadAfter(place);
    }));
    $$('#lens-tasks .task', view).forEach((li) => $('input', li).addEventListener('change', async () => {
      const place = placeOf(li);
      try {
        const { updateTask: res } = await gql(UPDATE_TASK, { input: { id: li.dataset.task, version: Number(li.dataset.version), status: 'DONE' } });
        if (res.userErrors?.length) toast(res.userErrors.map((e) => e.message).join(' '), 'error');
      } catch (err) { toast(err.message, 'error'); }
      reloadAfter(place);
    }));
  }

  // The item just answered (or task done) leaves its list: focus goes on to the item that takes its place.
  async function reloadAfter(place) {
    await load();
    focusItemAt(place, place.list.previousElementSibling);
  }

  lens.addEventListener('click', (e) => {
    const b = e.target.closest('[data-open]');
    if (b) openDrawer(b.dataset.open, 'baton');
  });
  const refresh = debounce(load, 200);
  const off = onBoardEvent(() => refresh());
  load();
  return () => { alive = false; off(); };
}
