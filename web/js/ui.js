// Shared UI pieces: modal dialogs, card badges, department chips.
import { esc, money, since, dateTime } from './util.js';
import { t, kindName, isZh } from './i18n.js';
import { waits } from './state.js';
import { focusedSelector, holdFocus } from './focus.js';

export const priorityLabel = (p) => (t.has(`priority.${p}`) ? t(`priority.${p}`) : p);

export function deptChip(dept) {
  if (!dept) return '';
  return `<span class="dept dept-${esc(dept.key)}" title="${esc(t('card.holds', { department: dept.name }))}">${esc(dept.name)}</span>`;
}

export function waitBadges(card, now = Date.now()) {
  // A pending approval shows a clock, not a check mark: a check would read as "approved".
  return waits(card).map((w) => `<span class="wait wait-${w.kind}" data-testid="wait-${w.kind}" title="${esc(t('wait.title', { who: w.dept?.name || t('wait.approvers'), since: dateTime(w.since) }))}">
      <span class="wait-icon" aria-hidden="true">${w.kind === 'handoff' ? '⇄' : '◷'}</span>${esc(w.label)} · ${esc(since(w.since, now))}</span>`).join('')
    + approvalChips(card);
}

/** Urges (催办) on pending approvals, approvals returned to the requester, and kinds that need approving again. */
export function approvalChips(card) {
  const chips = (card.approvals || []).map((a) => {
    if (a.status === 'RETURNED') return `<span class="wait wait-returned" data-testid="approval-returned"><span class="wait-icon" aria-hidden="true">↩</span>${esc(t('chip.returned', { kind: kindName(a.kind) }))}</span>`;
    if (a.status === 'PENDING' && a.urgeCount) return `<span class="wait wait-urged" data-testid="urge-count"><span class="wait-icon" aria-hidden="true">!</span>${esc(t('chip.urged', { kind: kindName(a.kind), count: a.urgeCount }))}</span>`;
    return '';
  });
  for (const kind of card.approvalsNeeded || []) {
    chips.push(`<span class="wait wait-reapproval" data-testid="reapproval-needed"><span class="wait-icon" aria-hidden="true">⟳</span>${esc(t('chip.reapproval', { kind: kindName(kind) }))}</span>`);
  }
  return chips.join('');
}

/** The current stage's owner and how much of its checklist is ticked: "Deliverables 1/2 · Legal". */
export function stageWorkChip(card) {
  const owner = card.stage?.owner?.department;
  const items = card.checklist || [];
  if (!owner && !items.length) return '';
  const done = items.filter((d) => d.done).length;
  const complete = items.length && done === items.length;
  const text = [items.length ? t('chip.deliverables', { done, total: items.length }) : t('chip.stageOwner'), owner?.name].filter(Boolean).join(' · ');
  const title = t('chip.stageTitle', { stage: card.stage.name, progress: items.length ? t('chip.ticked', { done, count: items.length }) : t('chip.noDeliverables') })
    + (owner ? t('chip.ownedBy', { department: owner.name }) : '');
  return `<span class="wait wait-stage${complete ? ' is-complete' : ''}" data-testid="stage-work" data-done="${done}" data-total="${items.length}" title="${esc(title)}">
    <span class="wait-icon" aria-hidden="true">${complete ? '✓' : '▤'}</span>${esc(text)}</span>`;
}

// Deliverable titles are often Chinese while the board may be English: say so, for screen readers' voices.
export function dataText(text) {
  return !isZh() && /[\u3400-\u9fff]/.test(text || '') ? `<span lang="zh-CN">${esc(text)}</span>` : esc(text);
}

// A field the viewer's access rule withholds: a lock instead of an empty value.
export function locked(label) {
  return `<span class="locked" data-testid="locked" title="${esc(t('locked.title', { field: label }))}">🔒<span class="sr-only"> ${esc(t('locked.sr', { field: label }))}</span></span>`;
}

export function cardInner(card) {
  const hidden = new Set(card.hiddenFields || []);
  const tags = (card.tags || []).map((t) => `<span class="tag">#${esc(t)}</span>`).join('');
  const tasks = card.openTaskCount ? `<span class="tasks" title="${esc(t('card.openTasks'))}">☐ ${esc(t('card.open', { count: card.openTaskCount }))}</span>` : '';
  const overdue = card.overdueTaskCount ? `<span class="overdue" title="${esc(t('card.overdueTasks'))}">⚠ ${esc(t('card.overdue', { count: card.overdueTaskCount }))}</span>` : '';
  return `
    <div class="card-top">
      <span class="prio prio-${esc(card.priority)}">${esc(priorityLabel(card.priority))}</span>
      ${deptChip(card.department)}
      ${card.viewerCanMove === false ? '' : `<button type="button" class="move-btn" aria-haspopup="menu" aria-expanded="false" title="${esc(t('card.moveTitle'))}"><span>${esc(t('card.moveBefore'))}<span class="sr-only">${esc(t('card.moveSr', { title: card.title }))}</span>${esc(t('card.moveAfter'))}</span><kbd class="key-hint" aria-hidden="true">M</kbd></button>`}
    </div>
    <h3 class="card-title">${esc(card.title)}</h3>
    <div class="card-account">${hidden.has('account') ? locked(t('label.account')) : esc(card.account?.name)}</div>
    <div class="card-row">
      <span class="amount">${hidden.has('amount') ? locked(t('label.amount')) : card.amount != null ? esc(money(card.amount, card.currency)) : `<span class="muted">${esc(t('card.noAmount'))}</span>`}</span>
      <span class="owner" title="${esc(t('label.owner'))}">${esc(card.owner?.name)}</span>
    </div>
    ${tags || tasks || overdue ? `<div class="card-meta">${tasks}${overdue}${tags}</div>` : ''}
    <div class="waits">${stageWorkChip(card)}${waitBadges(card)}</div>`;
}

let modals = 0;

/**
 * A modal dialog. Returns { el, body, close }. The page behind is inert, Tab stays inside, Escape, the
 * close button and the backdrop close it; focus then goes back to what opened it, or its twin if a
 * refresh replaced it, or `returnTo()`, or the drawer when the dialog was opened over it.
 */
export function openModal({ title, className = '', testid = 'modal', onClose, returnTo }) {
  const layer = document.createElement('div');
  layer.className = 'modal-layer';
  const titleId = `modal-title-${++modals}`;
  // The head is a div, not a <header>: inside a dialog a header would count as a second banner landmark.
  layer.innerHTML = `
    <div class="modal ${esc(className)}" role="dialog" aria-modal="true" aria-labelledby="${titleId}" data-testid="${esc(testid)}" tabindex="-1">
      <div class="modal-head"><h2 id="${titleId}">${esc(title)}</h2>
        <button type="button" class="icon-btn modal-close" aria-label="${esc(t('modal.close'))}">×</button></div>
      <div class="modal-body"></div>
    </div>`;
  const opener = document.activeElement;
  const twin = focusedSelector(document.body);
  const dialog = layer.querySelector('.modal');
  document.body.append(layer);
  let release = null;
  const close = () => {
    if (!layer.isConnected) return;
    layer.remove();
    release(opener, () => twin && document.querySelector(twin), returnTo, () => document.querySelector('#drawer:not([hidden])'));
    if (onClose) onClose();
  };
  release = holdFocus(layer, { onEscape: close });
  layer.addEventListener('mousedown', (e) => { if (e.target === layer) close(); });
  layer.querySelector('.modal-close').addEventListener('click', close);
  dialog.focus();
  return { el: dialog, body: layer.querySelector('.modal-body'), close };
}
