import { gql } from '@apollo/client';

const CARD = gql`fragment Card on Opportunity {
  id title version amount currency tags stage { id key } owner { id name } }`;
const COLUMN = gql`fragment Column on BoardColumn {
  id stage { id key name } totalCount totalAmount totals { amount currency }
  opportunities(first: 25) { pageInfo { hasNextPage endCursor } edges { cursor node { ...Card } } } }
  ${CARD}`;

export const BOARD = gql`query Board($filter: OpportunityFilter) {
  board(filter: $filter) { pipeline { id name } columns { ...Column } } } ${COLUMN}`;

// A move: the payload's `columns` (under the board's filter) are the column left and the one entered.
export const MOVE = gql`mutation Move($input: MoveOpportunityInput!, $filter: OpportunityFilter) {
  moveOpportunity(input: $input) {
    opportunity { ...Card } previousStage { id key } columns(filter: $filter) { ...Column }
    current { ...Card } userErrors { field code message } } } ${COLUMN}`;

const EVENTS = gql`subscription Events($after: Int) {
  boardEvents(after: $after) { seq type fromStage { key } toStage { key } opportunity { id stage { id key } } } }`;

// A live event: the card and the columns it touched, in one small read.
const CHANGED = gql`query Changed($id: ID!, $filter: OpportunityFilter, $stageKeys: [String!]) {
  node(id: $id) { ...Card } board(filter: $filter) { columns(stageKeys: $stageKeys) { ...Column } } } ${COLUMN}`;

export async function applyEvent(client, event, filter) {
  const card = event.opportunity;
  if (!card) return client.refetchQueries({ include: [BOARD] }); // pipeline, rates, access rules
  const stageKeys = [...new Set([event.fromStage?.key, event.toStage?.key, card.stage.key].filter(Boolean))];
  await client.query({ query: CHANGED, variables: { id: card.id, filter, stageKeys }, fetchPolicy: 'network-only' });
}

// Subscribe before reading the board. The websocket client is made with `retryAttempts: 0`: a closed
// socket ends the subscription and this resubscribes from the last seq applied, so nothing is lost.
export function followBoard(client, filter, { onApplied = () => {}, onError = () => {} } = {}) {
  let lastSeq = null, subscription, stopped = false, queue = Promise.resolve();
  const start = () => {
    subscription = client.subscribe({ query: EVENTS, variables: { after: lastSeq } }).subscribe(({ data, error }) => {
      if (error) { // 4403 is a sign-in to renew: do not retry that one blindly
        onError(error);
        if (!stopped) setTimeout(() => {
          start();
          if (lastSeq === null) client.refetchQueries({ include: [BOARD] }); // nothing to resume from
        }, 500);
        return;
      }
      const event = data.boardEvents;
      queue = queue.then(async () => {
        if (lastSeq !== null && event.seq <= lastSeq) return; // already applied
        await applyEvent(client, event, filter);
        lastSeq = event.seq;
        onApplied(event);
      });
    });
  };
  start();
  return { stop: () => { stopped = true; subscription.unsubscribe(); }, lastSeq: () => lastSeq, settled: () => queue };
}
