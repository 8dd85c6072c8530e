// GraphQL over HTTP (queries, mutations) and graphql-ws (subscriptions).
import { createClient } from '../vendor/graphql-ws/client.js';
import { backoff } from './util.js';
import { t } from './i18n.js';

const TOKEN_KEY = 'baton.token';

export function getToken() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
}

export class AuthError extends Error {}

/** Run a query or mutation; resolves with `data`, rejects with a readable Error. */
export async function gql(query, variables = {}) {
  return post(JSON.stringify({ query, variables }), { 'content-type': 'application/json' });
}

/**
 * A mutation carrying `file`, as the GraphQL multipart request spec sends it: the operation with
 * `variables.input.file` null, a map naming that path, and the file as part "0".
 */
export async function upload(query, variables, file) {
  const body = new FormData();
  body.append('operations', JSON.stringify({ query, variables: { ...variables, input: { ...variables.input, file: null } } }));
  body.append('map', JSON.stringify({ 0: ['variables.input.file'] }));
  body.append('0', file, file.name);
  return post(body, {}); // the browser writes the multipart content type with its boundary
}

async function post(body, extraHeaders) {
  const headers = { ...extraHeaders, accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch('/graphql', { method: 'POST', headers, body });
  } catch (err) {
    throw new Error(t('api.unreachable'));
  }
  let data;
  try { data = await response.json(); } catch (err) {
    throw new Error(t('api.notData', { status: `${response.status} ${response.statusText}`.trim() }));
  }
  if (data.errors && data.errors.length) {
    const messages = data.errors.map((e) => e.message);
    const unauth = data.errors.some((e) => /auth|sign in|token|not logged/i.test(e.message) || e.extensions?.code === 'UNAUTHENTICATED');
    const err = unauth && !data.data ? new AuthError(messages.join('; ')) : new Error(messages.join('; '));
    err.graphQLErrors = data.errors;
    err.data = data.data;
    throw err;
  }
  if (!response.ok) throw new Error(t('api.status', { status: `${response.status} ${response.statusText}`.trim() }));
  return data.data;
}

/** Format a payload's userErrors as one sentence. */
export function describeUserErrors(errors) {
  return (errors || []).map((e) => e.message).join(' ');
}

let wsClient = null;
const statusListeners = new Set();
let wsStatus = 'offline';

function setWsStatus(status) {
  wsStatus = status;
  statusListeners.forEach((fn) => fn(status));
}
export function onWsStatus(fn) { statusListeners.add(fn); fn(wsStatus); return () => statusListeners.delete(fn); }

/** The shared graphql-ws client; reconnects forever with a short back-off. */
export function ws() {
  if (wsClient) return wsClient;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  let everConnected = false;
  wsClient = createClient({
    url,
    lazy: false,
    keepAlive: 10000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await new Promise((r) => setTimeout(r, 250 + backoff(retries)));
    },
    connectionParams: () => ({ authorization: `Bearer ${getToken()}` }),
    on: {
      connecting: () => setWsStatus(everConnected ? 'reconnecting' : 'connecting'),
      connected: () => { everConnected = true; setWsStatus('connected'); },
      closed: () => setWsStatus(everConnected ? 'reconnecting' : 'connecting'),
      error: () => setWsStatus(everConnected ? 'reconnecting' : 'connecting'),
    },
  });
  return wsClient;
}

export function closeWs() {
  // dispose() rejects with the CloseEvent of a socket the server already closed (a revoked
  // session signing out): nothing left to clean up, nothing for the person to read.
  if (wsClient) { Promise.resolve(wsClient.dispose()).catch(() => {}); wsClient = null; }
  setWsStatus('offline');
}

/**
 * Subscribe; `payload` is kept by graphql-ws and re-sent on every reconnect,
 * so callers may update payload.variables (e.g. `after`) as events arrive.
 */
export function subscribe(payload, sink) {
  return ws().subscribe(payload, sink);
}
