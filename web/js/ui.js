// Shared UI pieces: modal dialogs, card badges, department chips.
import { esc, money, since, titleCase } from './util.js';
import { waits } from './state.js';

const PRIORITY_LABEL = { LOW: 'Low', MEDIUM: 'Medium', HIGH: 'High', URGENT: 'Urgent' };
export const priorityLabel = (p) => PRIORITY_LABEL[p] || titleCase(p);

export function deptChip(dept) {
  if (!dept) return '';
  return `<span class="dept dept-${esc(dept.key)}" title="Holds the baton: ${esc(dept.name)}">${esc(dept.name)}</span>`;
}

export function waitBadges(card, now = Date.now()) {
  return waits(card).map((w) => `<span class="wait wait-${w.kind}" data-testid="wait-${w.kind}" title="Waiting on ${esc(w.dept?.name || 'approvers')} since ${esc(new Date(w.since).toLocaleString())}">
      <span class="wait-icon" aria-hidden="true">${w.kind === 'handoff' ? '⇄' : '✓'}</span>${esc(w.label)} · ${esc(since(w.since, now))}</span>`).join('');
}

export function cardInner(card) {
  const tags = (card.tags || []).map((t) => `<span class="tag">#${esc(t)}</span>`).join('');
  const tasks = card.openTaskCount ? `<span class="tasks" title="Open tasks">☐ ${card.openTaskCount} open</span>` : '';
  const overdue = card.overdueTaskCount ? `<span class="overdue" title="Overdue tasks">⚠ ${card.overdueTaskCount} overdue</span>` : '';
  return `
    <div class="card-top">
      <span class="prio prio-${esc(card.priority)}">${esc(priorityLabel(card.priority))}</span>
      ${deptChip(card.department)}
      <button type="button" class="move-btn" aria-haspopup="menu" title="Move to another stage">Move to…</button>
    </div>
    <h3 class="card-title">${esc(card.title)}</h3>
    <div class="card-account">${esc(card.account?.name)}</div>
    <div class="card-row">
      <span class="amount">${card.amount != null ? esc(money(card.amount, card.currency)) : '<span class="muted">No amount</span>'}</span>
      <span class="owner" title="Owner">${esc(card.owner?.name)}</span>
    </div>
    ${tags || tasks || overdue ? `<div class="card-meta">${tasks}${overdue}${tags}</div>` : ''}
    <div class="waits">${waitBadges(card)}</div>`;
}

/** A modal dialog. Returns { el, body, close }. Escape and the backdrop close it. */
export function openModal({ title, className = '', testid = 'modal', onClose }) {
  const layer = document.createElement('div');
  layer.className = 'modal-layer';
  layer.innerHTML = `
    <div class="modal ${esc(className)}" role="dialog" aria-modal="true" aria-labelledby="modal-title" data-testid="${esc(testid)}">
      <header class="modal-head"><h2 id="modal-title">${esc(title)}</h2>
        <button type="button" class="icon-btn modal-close" aria-label="Close">×</button></header>
      <div class="modal-body"></div>
    </div>`;
  const previous = document.activeElement;
  const close = () => {
    layer.remove();
    document.removeEventListener('keydown', onKey, true);
    if (previous && previous.focus) previous.focus();
    if (onClose) onClose();
  };
  const onKey = (e) => { if (e.key === 'Escape') { e.stopPropagation(); close(); } };
  document.addEventListener('keydown', onKey, true);
  layer.addEventListener('mousedown', (e) => { if (e.target === layer) close(); });
  layer.querySelector('.modal-close').addEventListener('click', close);
  document.body.append(layer);
  const body = layer.querySelector('.modal-body');
  return { el: layer.querySelector('.modal'), body, close };
}
