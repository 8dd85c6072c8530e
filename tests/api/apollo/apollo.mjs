// Apollo Client 4 against a running Baton, with the cache set up as docs/api.md says:
// node --conditions=development apollo.mjs <http url>   (env BATON_TOKEN, BATON_OTHER_TOKEN)
// Prints one JSON report; exits 1 when the cached board differs from a fresh read or Apollo warned.
import { isDeepStrictEqual } from 'node:util';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { loadDevMessages, loadErrorMessages } from '@apollo/client/dev';
import { createClient } from 'graphql-ws';
import { OperationTypeNode } from 'graphql';
import WebSocket from 'ws';
import { typePolicies } from './type_policies.mjs';
import { BOARD, MOVE, applyEvent, followBoard } from './recipe.mjs';

loadDevMessages();
loadErrorMessages();
const warnings = [];
for (const level of ['warn', 'error', 'info', 'debug']) {
  console[level] = (...args) => warnings.push(`${level}: ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`);
}

const url = process.argv[2];
const token = process.env.BATON_TOKEN, otherToken = process.env.BATON_OTHER_TOKEN;
const FILTER = { tags: ['apollo'] };
const report = { checks: {}, diffs: {}, warnings, resumedFrom: null, canaryWarned: false };

async function plain(tok, query, variables = {}) {
  const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
    body: JSON.stringify({ query, variables }) });
  const body = await answer.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
const CREATE = `mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) { opportunity { id version } userErrors { code message } } }`;
const create = async (tok, input) => (await plain(tok, CREATE, { input })).createOpportunity.opportunity;

function makeClient(cache) {
  const ws = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` } });
  const link = ApolloLink.split(({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws), new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` } }));
  return { client: new ApolloClient({ link, cache }), ws };
}

function firstDifference(a, b, path = '') {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference(a[key], b[key], `${path}.${key}`);
      if (found) return found;
    }
  }
  return { path, cached: a, fresh: b };
}

async function compare(client, name) {
  const cached = client.readQuery({ query: BOARD, variables: { filter: FILTER } });
  const { data: fresh } = await client.query({ query: BOARD, variables: { filter: FILTER }, fetchPolicy: 'no-cache' });
  const difference = firstDifference(JSON.parse(JSON.stringify(cached)), fresh);
  report.checks[name] = difference === null;
  if (difference) report.diffs[name] = difference;
}

const cardIn = (board, title) => board.board.columns.flatMap((c) => c.opportunities.edges.map((e) => ({ ...e.node, column: c.stage.key })))
  .find((card) => card.title === title);

async function main() {
  // Cards: two of the viewer's, one of the other user's, one outside the board's filter.
  const alpha = await create(token, { title: 'Alpha', accountName: 'Acme', amount: '1000', currency: 'USD', tags: ['apollo'] });
  await create(token, { title: 'Beta', accountName: 'Acme', amount: '500', currency: 'EUR', tags: ['apollo'] });
  const gamma = await create(otherToken, { title: 'Gamma', accountName: 'Globex', amount: '200', currency: 'USD', tags: ['apollo'] });
  await create(token, { title: 'Outside', accountName: 'Acme', amount: '7', currency: 'USD', tags: ['other'] });

  const { client, ws } = makeClient(new InMemoryCache({ typePolicies }));
  const applied = [];
  const waiters = [];
  const follower = followBoard(client, FILTER, {
    onApplied: (event) => { applied.push(event); waiters.splice(0).forEach((w) => w()); },
    onError: (error) => report.resumedFrom ??= { error: String(error.message ?? error) },
  });
  const until = async (test, what) => {
    const deadline = Date.now() + 15000;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Promise.race([new Promise((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 200))]);
    }
  };
  const { data: board } = await client.query({ query: BOARD, variables: { filter: FILTER } });
  report.initial = board.board.columns.map((c) => [c.stage.key, c.totalCount]);

  // (a) The viewer moves a card: the mutation's answer alone updates the board.
  const moved = await client.mutate({ mutation: MOVE, variables: {
    filter: FILTER, input: { id: alpha.id, version: alpha.version, stageKey: 'qualified' } } });
  report.moveUserErrors = moved.data.moveOpportunity.userErrors;
  report.moveColumns = moved.data.moveOpportunity.columns.map((c) => c.stage.key);
  await compare(client, 'afterOwnMove');
  report.cardAfterOwnMove = cardIn(client.readQuery({ query: BOARD, variables: { filter: FILTER } }), 'Alpha')?.column;
  await until(() => applied.some((e) => e.opportunity?.id === alpha.id && e.type === 'OPPORTUNITY_MOVED'), 'the move event');
  await compare(client, 'afterOwnMoveEvent');

  // (b) Another user moves their card and changes an amount: live events update the board.
  const g = (await plain(otherToken, `mutation($input: MoveOpportunityInput!) { moveOpportunity(input: $input) {
    opportunity { id version } userErrors { code message } } }`, { input: { id: gamma.id, version: gamma.version, stageKey: 'qualified' } }))
    .moveOpportunity.opportunity;
  const u = await plain(otherToken, `mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
    opportunity { id version amount } userErrors { code message } } }`, { input: { id: g.id, version: g.version, amount: '250' } });
  report.otherUserErrors = u.updateOpportunity.userErrors;
  await until(() => applied.some((e) => e.opportunity?.id === gamma.id && e.type === 'OPPORTUNITY_UPDATED'), 'the other user\'s events');
  await compare(client, 'afterOtherUsersEvents');
  const afterOther = client.readQuery({ query: BOARD, variables: { filter: FILTER } });
  report.gammaAfterOtherUser = (({ column, amount }) => ({ column, amount }))(cardIn(afterOther, 'Gamma'));

  // (c) The socket drops; a change made meanwhile arrives after the resubscription (`after`).
  const lastBefore = follower.lastSeq();
  ws.terminate();
  await until(() => report.resumedFrom, 'the subscription to end');
  const back = (await plain(otherToken, `mutation($input: MoveOpportunityInput!) { moveOpportunity(input: $input) {
    opportunity { id version } userErrors { code message } } }`, { input: { id: gamma.id, version: g.version + 1, stageKey: 'lead' } }))
    .moveOpportunity;
  report.backUserErrors = back.userErrors;
  await until(() => applied.some((e) => e.seq > lastBefore && e.opportunity?.id === gamma.id), 'the replayed move');
  report.resumedFrom.lastSeq = lastBefore;
  report.resumedFrom.firstSeq = applied.find((e) => e.seq > lastBefore).seq;
  await compare(client, 'afterResume');
  report.gammaAfterResume = cardIn(client.readQuery({ query: BOARD, variables: { filter: FILTER } }), 'Gamma')?.column;
  report.appliedTypes = applied.map((e) => e.type);
  follower.stop();
  ws.dispose();

  // Canary: the same reads on a cache without the type policies do warn, so the capture works.
  const seen = warnings.length;
  const bare = makeClient(new InMemoryCache());
  await bare.client.query({ query: BOARD, variables: { filter: FILTER } });
  await applyEvent(bare.client, { opportunity: { id: gamma.id, stage: { key: 'lead' } } }, FILTER);
  report.canaryWarned = warnings.slice(seen).some((w) => w.includes('Cache data may be lost'));
  warnings.splice(seen);
  bare.ws.dispose();
}

let failed = false;
try {
  await main();
} catch (error) {
  report.error = String(error.stack ?? error);
  failed = true;
}
process.stdout.write(JSON.stringify(report) + '\n');
const ok = !failed && warnings.length === 0 && report.canaryWarned && Object.values(report.checks).length === 4
  && Object.values(report.checks).every(Boolean);
process.exit(ok ? 0 : 1);
