// The polite live region (#announcer in index.html): what other people change, and the connection.
// Screen reader users hear one short sentence; a burst of changes becomes one summary, not a queue.
import { listWords } from './util.js';

const BATCH_MS = 1000;
let changes = [];
let batchTimer = null;
let pending = [];
let speakTimer = null;

/** Say `text` politely; messages given within a moment of each other are read together. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region || !text) return;
  if (!pending.length) region.textContent = ''; // so the same words are read again
  pending.push(text);
  clearTimeout(speakTimer);
  speakTimer = setTimeout(() => { region.textContent = pending.join(' '); pending = []; }, 100);
}

/** Queue a board event made by someone else; the batch is announced a second after the first. */
export function announceChange(evt) {
  changes.push(evt);
  if (!batchTimer) batchTimer = setTimeout(() => { announce(describeChanges(changes)); changes = []; batchTimer = null; }, BATCH_MS);
}

const DID = {
  OPPORTUNITY_CREATED: 'added', OPPORTUNITY_UPDATED: 'edited', OPPORTUNITY_LOST: 'marked lost',
  TASK_CREATED: 'added a task to', TASK_UPDATED: 'updated a task on', COMMENT_ADDED: 'commented on',
  HANDOFF_REQUESTED: 'asked for a handoff of', HANDOFF_RESOLVED: 'answered the handoff of',
  APPROVAL_REQUESTED: 'requested an approval of', APPROVAL_DECIDED: 'decided an approval of',
  APPROVAL_RETURNED: 'returned an approval of', APPROVAL_RESUBMITTED: 'resubmitted an approval of',
  APPROVAL_TRANSFERRED: 'handed on an approval of', APPROVAL_SIGNER_ADDED: 'added an approver to',
  APPROVAL_URGED: 'urged an approval of', APPROVAL_SUPERSEDED: 'changed the approved terms of',
  DELIVERABLE_CHECKED: 'ticked a deliverable on',
};

export function describeChanges(events) {
  if (events.length === 1) return describeChange(events[0]);
  const people = [...new Set(events.map((e) => e.actor?.name || 'Baton'))];
  const who = people.length <= 2 ? listWords(people) : `${people[0]}, ${people[1]} and ${people.length - 2} more`;
  const cards = [...new Set(events.map((e) => e.opportunity?.title).filter(Boolean))];
  const what = cards.length === 1 ? `“${cards[0]}”` : `${cards.length} cards`;
  return `${who} made ${events.length} changes to ${what}.`;
}

function describeChange(evt) {
  const who = evt.actor?.name || 'Baton';
  const card = evt.opportunity?.title ? `“${evt.opportunity.title}”` : 'a card';
  if (evt.type === 'OPPORTUNITY_MOVED' && evt.opportunity?.stage) return `${who} moved ${card} to ${evt.opportunity.stage.name}.`;
  if (evt.type === 'DELIVERABLE_CHECKED' && evt.changes?.title) {
    return `${who} ${evt.changes.done?.[1] === false ? 'unticked' : 'ticked'} “${evt.changes.title}” on ${card}.`;
  }
  return `${who} ${DID[evt.type] || 'changed'} ${card}.`;
}

const CONNECTION = {
  live: 'Live updates are back: the board is up to date.',
  reconnecting: 'Connection lost. Reconnecting…',
  offline: 'Live updates are not available; the board refreshes when you act.',
};
let wasLive = false;
let said = 'live'; // the connection state last announced; the first connection goes unsaid

/** Announce a change of what the live-status pill says, once the board has been live. */
export function announceConnection(state) {
  if (state === 'live') wasLive = true;
  if (!wasLive || !CONNECTION[state] || state === said) return;
  said = state;
  announce(CONNECTION[state]);
}

/** Signed out: the next session starts unannounced again. */
export function forgetConnection() {
  wasLive = false;
  said = 'live';
}
