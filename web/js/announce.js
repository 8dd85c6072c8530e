// The polite live region (#announcer in index.html): what other people change, and the connection.
// Screen reader users hear one short sentence; a burst of changes becomes one summary, not a queue.
import { t, listWords } from './i18n.js';

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

export function describeChanges(events) {
  if (events.length === 1) return describeChange(events[0]);
  const people = [...new Set(events.map((e) => e.actor?.name || t('brand')))];
  const who = people.length <= 2 ? listWords(people) : t('announce.andMore', { a: people[0], b: people[1], count: people.length - 2 });
  const cards = [...new Set(events.map((e) => e.opportunity?.title).filter(Boolean))];
  const what = cards.length === 1 ? t('announce.card', { title: cards[0] }) : t('announce.cards', { count: cards.length });
  return t('announce.burst', { who, count: events.length, what });
}

function describeChange(evt) {
  const who = evt.actor?.name || t('brand');
  const card = evt.opportunity?.title ? t('announce.card', { title: evt.opportunity.title }) : t('announce.aCard');
  if (evt.type === 'OPPORTUNITY_MOVED' && evt.opportunity?.stage) return t('announce.moved', { who, card, stage: evt.opportunity.stage.name });
  if (evt.type === 'DELIVERABLE_CHECKED' && evt.changes?.title) {
    return t(evt.changes.done?.[1] === false ? 'announce.unticked' : 'announce.ticked', { who, item: evt.changes.title, card });
  }
  return t(t.has(`announce.${evt.type}`) ? `announce.${evt.type}` : 'announce.changed', { who, card });
}

const CONNECTION = { live: 'announce.live', reconnecting: 'announce.reconnecting', offline: 'announce.offline' };
let wasLive = false;
let said = 'live'; // the connection state last announced; the first connection goes unsaid

/** Announce a change of what the live-status pill says, once the board has been live. */
export function announceConnection(state) {
  if (state === 'live') wasLive = true;
  if (!wasLive || !CONNECTION[state] || state === said) return;
  said = state;
  announce(t(CONNECTION[state]));
}

/** Signed out: the next session starts unannounced again. */
export function forgetConnection() {
  wasLive = false;
  said = 'live';
}
