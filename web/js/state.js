// Shared, in-memory state of the signed-in tab.
import { t, kindName } from './i18n.js';

export const store = {
  viewer: null,
  baseCurrency: 'USD', // new deals default to it; column totals are converted into it
  departments: [],
  users: [],
  pipeline: null,
  stages: [],
  lastSeq: null,
  listeners: new Set(),
};

export function stageByKey(key) { return store.stages.find((s) => s.key === key); }
export function deptName(key) { return store.departments.find((d) => d.key === key)?.name || key; }
export function userById(id) { return store.users.find((u) => u.id === id); }

/** Board-event fan-out to whichever views are mounted. */
export function onBoardEvent(fn) { store.listeners.add(fn); return () => store.listeners.delete(fn); }
export function emitBoardEvent(evt) { store.listeners.forEach((fn) => { try { fn(evt); } catch (err) { console.error(err); } }); }

/** What the card waits on: pending handoffs and open approval steps, with how long. */
export function waits(card) {
  const out = [];
  for (const h of card.handoffs || []) {
    if (h.status === 'PENDING') out.push({ kind: 'handoff', dept: h.toDepartment, since: h.createdAt, label: t('wait.handoff', { department: h.toDepartment.name }) });
  }
  for (const a of card.approvals || []) {
    if (a.status !== 'PENDING') continue;
    const open = (a.steps || []).filter((s) => s.status === 'PENDING' && s.openedAt);
    if (open.length === 0) out.push({ kind: 'approval', dept: null, since: a.createdAt, label: t('wait.approval', { kind: kindName(a.kind) }) });
    for (const s of open) out.push({ kind: 'approval', dept: s.department, since: s.openedAt, label: t('wait.approvalStep', { kind: kindName(a.kind), department: s.department.name }) });
  }
  return out;
}
