// Baton browser board: sign-in, app shell, routing, live connection.
import { gql, getToken, setToken, AuthError, closeWs, onWsStatus, subscribe, describeUserErrors, ws } from './api.js';
import { BOOT, LOGIN, LOG_HEAD, BOARD_EVENTS, LOCALE, SET_LOCALE } from './queries.js';
import { store, emitBoardEvent } from './state.js';
import { esc, $, toast, backoff } from './util.js';
import { focusFirst } from './focus.js';
import { mountBoard } from './board.js';
import { mountLens } from './lens.js';
import { mountInbox, startInbox, stopInbox, showInboxCount } from './inbox.js';
import { mountAnalytics } from './analytics.js';
import { mountPool } from './pool.js';
import { mountRates } from './rates.js';
import { mountSettings, settingsRoute } from './settings.js';
import { welcomeRoute, mountWelcome, setupNeededNote } from './welcome.js';
import { initDrawer, closeDrawer, openDrawer, drawerCardId, setViewAddress } from './drawer.js';
import { announce, announceChange, announceConnection, forgetConnection } from './announce.js';
import { t, setLocale, browserLocale, rememberChoice, chosenOnSignIn, getLocale, matchLocale } from './i18n.js';

const app = document.getElementById('app');
let unmountView = null;
let boardSub = null;
let subState = 'idle';
let wsState = 'offline';
let resubscribeTimer = null;
let everConnected = false;

window.addEventListener('error', (e) => toast(t('error.generic', { message: e.message }), 'error'));
window.addEventListener('unhandledrejection', (e) => {
  const err = e.reason;
  if (err instanceof AuthError) { signOut(t('session.ended')); return; }
  toast(err?.message || String(err), 'error');
});

// ------------------------------------------------------------- sign in

function renderLogin(message = '') {
  teardown();
  mountedRoute = null;
  app.innerHTML = `
    <main class="login">
      <form class="login-card" id="login-form" novalidate>
        <h1 class="brand-big"><span class="brand-mark" aria-hidden="true"></span>${esc(t('brand'))}</h1>
        <p class="muted">${esc(t('login.intro'))}</p>
        <p class="setup-note" id="setup-note" data-testid="setup-note" hidden></p>
        <label>${esc(t('login.email'))} <input type="email" name="email" autocomplete="username" required data-testid="login-email" autofocus></label>
        <label>${esc(t('login.password'))} <input type="password" name="password" autocomplete="current-password" required data-testid="login-password"></label>
        <p class="form-error" id="login-error" role="alert">${esc(message)}</p>
        <button type="submit" class="btn btn-primary" data-testid="login-submit">${esc(t('login.submit'))}</button>
        ${langSwitch()}
      </form>
    </main>`;
  document.title = t('title.signIn');
  const form = $('#login-form');
  setupNeededNote($('#setup-note'));
  // Before sign-in the choice is only this tab's; signing in stores it on the user.
  $('#lang-switch', form).addEventListener('click', (e) => {
    rememberChoice(e.currentTarget.dataset.locale);
    setLocale(e.currentTarget.dataset.locale);
    renderLogin(message);
    $('#lang-switch').focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = form.email.value.trim();
    const password = form.password.value;
    const errorEl = $('#login-error');
    if (!email || !password) { errorEl.textContent = t('login.missing'); return; }
    const button = form.querySelector('button');
    button.disabled = true;
    button.textContent = t('login.busy');
    try {
      const { login } = await gql(LOGIN, { input: { email, password } });
      if (!login.token) {
        errorEl.textContent = describeUserErrors(login.userErrors) || t('login.failed');
        return;
      }
      setToken(login.token);
      await start({ signedIn: true });
    } catch (err) {
      errorEl.textContent = err.message;
    } finally {
      button.disabled = false;
      button.textContent = t('login.submit');
    }
  });
}

function signOut(message = '') {
  setToken(null);
  store.viewer = null;
  renderLogin(message);
}

// ------------------------------------------------------------- shell

function renderShell() {
  const v = store.viewer;
  app.innerHTML = `
    <a class="skip-link" href="#main" id="skip-link">${esc(t('shell.skip'))}</a>
    <header class="topbar">
      <a class="brand" href="#/board"><span class="brand-mark" aria-hidden="true"></span>${esc(t('brand'))}</a>
      <nav class="nav" aria-label="${esc(t('shell.nav'))}">
        <a href="#/board" data-route="board">${esc(t('nav.board'))}</a>
        <a href="#/lens/${esc(v.department.key)}" data-route="lens">${esc(t('nav.queues'))}</a>
        <a href="#/pool" data-route="pool" data-testid="nav-pool">${esc(t('nav.pool'))}</a>
        <a href="#/analytics" data-route="analytics">${esc(t('nav.analytics'))}</a>
        <a href="#/settings" data-route="settings" data-testid="nav-settings">${esc(t('nav.settings'))}</a>
      </nav>
      <span class="spacer"></span>
      <span class="live-status" id="live-status" data-testid="live-status" data-state="connecting" title="${esc(t('live.title'))}">${esc(t('live.connecting'))}</span>
      <a class="inbox-btn" href="#/inbox" data-route="inbox" aria-label="${esc(t('nav.inbox'))}">
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"/></svg>
        <span class="badge-count" data-testid="inbox-count" data-count="0">0</span>
      </a>
      <span class="who" title="${esc(v.email)}"><span class="who-name">${esc(v.name)}</span> <span class="muted">· ${esc(v.department.name)}</span></span>
      ${langSwitch()}
      <button type="button" class="btn btn-ghost" id="sign-out">${esc(t('shell.signOut'))}</button>
    </header>
    <main id="main" tabindex="-1">
      <div id="view" class="view"></div>
      <div id="menu-layer"></div>
    </main>
    <div id="drawer-backdrop" class="drawer-backdrop" hidden data-keep-active></div>
    <div id="drawer" class="drawer" data-testid="drawer" role="dialog" aria-modal="true" aria-label="${esc(t('drawer.label'))}" tabindex="-1" hidden></div>`;
  $('#sign-out').addEventListener('click', () => signOut());
  $('#lang-switch').addEventListener('click', (e) => switchLocale(e.currentTarget.dataset.locale));
  // The views route on the hash, so the skip link moves focus itself instead of changing the hash.
  $('#skip-link').addEventListener('click', (e) => { e.preventDefault(); focusView(); });
  initDrawer();
}

function renderLiveStatus() {
  const el = document.getElementById('live-status');
  if (!el) return;
  let state;
  if (wsState === 'connected' && subState === 'live') state = 'live';
  else if (wsState === 'connected' && subState === 'unavailable') state = 'offline';
  else if (wsState === 'reconnecting') state = 'reconnecting';
  else if (wsState === 'connected') state = 'connecting';
  else state = wsState === 'offline' ? 'offline' : 'connecting';
  el.textContent = t(`live.${state}`);
  el.dataset.state = state;
  announceConnection(state);
  el.title = t(state === 'live' ? 'live.titleLive' : state === 'offline' ? 'live.titleOffline' : 'live.titleTrying');
}

// ------------------------------------------------------------- live

async function lastSeq() {
  // Where the log stands now: a view loaded after this read misses nothing the subscription then replays.
  const { events } = await gql(LOG_HEAD);
  return events.headSeq;
}

/** The server no longer keeps every event since `store.lastSeq` (retention): read the head again,
 * have every view reload what it shows, and listen from there. */
async function resync() {
  stopLive();
  try { store.lastSeq = await lastSeq(); } catch (err) { store.lastSeq = null; }
  emitBoardEvent({ type: 'RECONNECTED' });
  announce(t('announce.resynced'));
  startLive();
  if (wsState === 'connected') { subState = 'live'; renderLiveStatus(); } // the socket stayed open: no new 'connected'
}

const needsResync = (errors) => Array.isArray(errors) && errors.some((e) => e?.extensions?.code === 'RESYNC_REQUIRED');

let resubscribes = 0; // failed subscriptions in a row (jittered exponential back-off)

function startLive() {
  stopLive();
  const payload = { query: BOARD_EVENTS, variables: { after: store.lastSeq } };
  subState = 'subscribing';
  let cancelled = false;
  const dispose = subscribe(payload, {
    next(result) {
      if (needsResync(result.errors)) { resync(); return; }
      if (result.errors?.length) { toast(t('live.error', { message: result.errors.map((e) => e.message).join('; ') }), 'error'); return; }
      const evt = result.data?.boardEvents;
      if (!evt) return;
      if (store.lastSeq != null && evt.seq <= store.lastSeq) return; // already applied
      resubscribes = 0; // delivering again: the next failure starts the back-off afresh
      store.lastSeq = evt.seq;
      payload.variables.after = evt.seq; // graphql-ws re-sends this payload when it reconnects
      if (!evt.opportunity) evt.opportunity = evt.approval?.opportunity || evt.handoff?.opportunity || evt.task?.opportunity || evt.comment?.opportunity || null;
      emitBoardEvent(evt);
      if (evt.actor && evt.actor.id !== store.viewer?.id) announceChange(evt);
    },
    error(err) {
      if (cancelled) return;
      if (needsResync(err)) { resync(); return; }
      const message = Array.isArray(err) ? err.map((e) => e.message).join('; ') : (err?.reason || err?.message || 'closed');
      if (err?.code === 4403 || err?.code === 4401) { signOut(t('session.ended')); return; }
      subState = 'unavailable';
      renderLiveStatus();
      console.warn('boardEvents subscription failed:', message);
      resubscribeTimer = setTimeout(startLive, 1000 + backoff(resubscribes++));
    },
    complete() { if (!cancelled) { subState = 'unavailable'; renderLiveStatus(); resubscribeTimer = setTimeout(startLive, 1000 + backoff(resubscribes++)); } },
  });
  // The server closes a revoked session's socket (4403: signed out elsewhere, deactivated, password
  // reset); graphql-ws would retry it for ever, so ask over HTTP whether the session still holds.
  const offClosed = ws().on('closed', (event) => {
    if (event?.code !== 4403 && event?.code !== 4401) return;
    gql('query SessionCheck { viewer { id } }').catch((err) => { if (err instanceof AuthError && store.viewer) signOut(t('session.ended')); });
  });
  boardSub = () => { cancelled = true; offClosed(); dispose(); };
  renderLiveStatus();
}

function stopLive() {
  clearTimeout(resubscribeTimer);
  if (boardSub) { boardSub(); boardSub = null; }
}

onWsStatus((status) => {
  const wasLive = wsState === 'connected';
  const first = !everConnected;
  if (status === 'connected') everConnected = true;
  wsState = status;
  if (status === 'connected' && subState !== 'unavailable') subState = 'live';
  if (status !== 'connected' && subState === 'live') subState = 'subscribing';
  renderLiveStatus();
  if (status === 'connected' && !wasLive && !first && store.viewer) {
    // Back online: the subscription replays from `after`; also refresh views for anything not in events.
    emitBoardEvent({ type: 'RECONNECTED' });
  }
});

// ------------------------------------------------------------- routing

const VIEWS = ['board', 'lens', 'inbox', 'pool', 'analytics', 'rates', 'settings'];

/** Focus the view's heading (or the view): where a keyboard or screen reader user starts on a new page. */
function focusView() {
  focusFirst(() => document.querySelector('#view h1'), () => document.getElementById('main'));
}

// A card's own address, as links in emails and bot messages carry it (`/#board/<id>`) and as the drawer sets it.
const CARD_ROUTE = /^\/?(?:opportunity|board)\/([^/]+)$/;
let mountedRoute = null; // the view's hash, without '#/'

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const card = CARD_ROUTE.exec(hash);
  return card ? { card: decodeURIComponent(card[1]) } : { view: hash || defaultRoute() };
}

function route() {
  if (!store.viewer) return;
  const { card, view: wanted } = parseHash();
  // A card's link opens on the view already showing, or on the board when it is the first page.
  const hash = card ? (mountedRoute || 'board') : wanted;
  if (hash !== mountedRoute || !card) mountView(hash);
  if (card && drawerCardId() !== card) openDrawer(card, undefined, { fromAddress: true });
}

function mountView(hash) {
  mountedRoute = hash;
  setViewAddress(hash);
  const [name, arg] = hash.split('/');
  if (unmountView) { try { unmountView(); } catch (err) { console.error(err); } unmountView = null; }
  const view = document.getElementById('view');
  view.innerHTML = '';
  view.className = `view view-${name}`;
  // The rates screen is reached from Settings › Integrations: the header marks Settings.
  const section = name === 'rates' ? 'settings' : name;
  document.querySelectorAll('[data-route]').forEach((a) => {
    a.classList.toggle('active', a.dataset.route === section);
    if (a.dataset.route === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  document.title = t('title.view', { view: t(`nav.${VIEWS.includes(name) ? name : 'board'}`) });
  try {
    if (name === 'lens') unmountView = mountLens(view, arg || store.viewer.department.key);
    else if (name === 'inbox') unmountView = mountInbox(view);
    else if (name === 'pool') unmountView = mountPool(view);
    else if (name === 'analytics') unmountView = mountAnalytics(view);
    else if (name === 'rates') unmountView = mountRates(view);
    else if (name === 'settings') unmountView = mountSettings(view, arg);
    else unmountView = mountBoard(view);
  } catch (err) {
    view.innerHTML = `<div class="empty error">${esc(t('view.failed', { message: err.message }))}</div>`;
  }
}

// ------------------------------------------------------------- language

function langSwitch() {
  const other = getLocale() === 'zh-CN' ? 'en' : 'zh-CN';
  // The other language, named in itself (and marked as such, for screen readers' voices).
  return `<button type="button" class="btn btn-ghost lang-switch" id="lang-switch" data-testid="lang-switch" data-locale="${other}"
    lang="${other}">${esc(t('lang.other'))}</button>`;
}

/** The user's locale and the organization's time zone, as the server resolves them (choice, Accept-Language, organization). */
async function loadLocale(signedIn) {
  const chosen = chosenOnSignIn();
  if (signedIn && chosen) {
    // Picked on the sign-in page: that is the user's choice, kept for their next sign-in too.
    try { await gql(SET_LOCALE, { locale: chosen }); } catch (err) { console.warn('setMyLocale:', err.message); }
  }
  rememberChoice(null);
  try {
    const { localeSettings: s } = await gql(LOCALE);
    setLocale(matchLocale(s.locale) || browserLocale(), s.timeZone);
  } catch (err) {
    console.warn('localeSettings unavailable:', err.message);
    setLocale(chosen || browserLocale());
  }
}

/** Store the user's language, then draw the page again in it (no reload: the live connection stays);
 * `refocus` puts focus back where the choice was made (the top bar's switch, or the profile's field). */
async function switchLocale(next, refocus = () => $('#lang-switch')?.focus()) {
  try {
    const { setMyLocale: res } = await gql(SET_LOCALE, { locale: next });
    if (res.userErrors?.length) { toast(describeUserErrors(res.userErrors), 'error'); return; }
  } catch (err) {
    toast(t('lang.failed', { message: err.message }), 'error');
    return;
  }
  await loadLocale(false);
  closeDrawer({ keepAddress: true });
  renderShell();
  mountedRoute = null;
  route();
  renderLiveStatus();
  showInboxCount();
  refocus();
}

// The profile (settings_profile.js) changes the language or the name through these events.
window.addEventListener('baton:locale', (e) => { if (store.viewer) switchLocale(e.detail.locale, e.detail.refocus); });
window.addEventListener('baton:viewer', () => {
  const el = document.querySelector('.who-name');
  if (el && store.viewer) el.textContent = store.viewer.name;
});

function defaultRoute() {
  // Sales lives on the board; other departments land on what waits on them.
  const key = store.viewer.department.key;
  return key === 'sales' ? 'board' : `lens/${key}`;
}

function teardown() {
  everConnected = false;
  forgetConnection();
  stopLive();
  stopInbox();
  closeWs();
  if (unmountView) { try { unmountView(); } catch (err) { /* ignore */ } unmountView = null; }
}

// ------------------------------------------------------------- start

async function start({ signedIn = false } = {}) {
  const bootMsg = document.getElementById('boot-message');
  try {
    const data = await gql(BOOT);
    store.viewer = data.viewer;
    store.baseCurrency = data.baseCurrency || 'USD';
    store.departments = data.departments;
    store.users = data.users;
    store.pipeline = data.pipelines[0] || null;
    store.stages = (store.pipeline?.stages || []).slice().sort((a, b) => a.position - b.position);
  } catch (err) {
    if (err instanceof AuthError) { signOut(getToken() ? t('session.ended') : ''); return; }
    if (bootMsg) bootMsg.textContent = t('boot.failed', { message: err.message });
    else app.innerHTML = `<div class="boot"><p class="boot-title">${esc(t('brand'))}</p><p>${esc(t('boot.failed', { message: err.message }))}</p></div>`;
    setTimeout(start, 5000);
    return;
  }
  await loadLocale(signedIn);
  try { store.lastSeq = await lastSeq(); } catch (err) { store.lastSeq = null; }
  renderShell();
  route();
  if (signedIn) focusView();
  startLive();
  startInbox();
}

/** A one-time link's page (first-run setup, invitation, password reset), shown signed out. */
function renderWelcome(link) {
  teardown();
  store.viewer = null;
  mountedRoute = null;
  mountWelcome(app, link, {
    langSwitch,
    signedIn: async (token, hash = '#/') => {
      setToken(token);
      history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
      await start({ signedIn: true });
    },
  });
}

window.addEventListener('hashchange', (e) => {
  const link = welcomeRoute(location.hash);
  if (link) { renderWelcome(link); return; }
  if (!store.viewer) {
    // Leaving a one-time link's page: to the sign-in page, or back into the app with the tab's session.
    if (welcomeRoute(e.oldURL.slice(e.oldURL.indexOf('#')))) { if (getToken()) start(); else renderLogin(); }
    return;
  }
  const { card, view } = parseHash();
  if (card) { route(); return; }
  // Another settings tab: the settings view stays, only its panel changes (focus stays on the tab).
  if (mountedRoute?.split('/')[0] === 'settings' && view.split('/')[0] === 'settings' && settingsRoute(view.split('/')[1])) {
    mountedRoute = view;
    return;
  }
  // Back from a card's address to the view beneath it: only the drawer closes.
  const same = view === mountedRoute && CARD_ROUTE.test(new URL(e.oldURL).hash.replace(/^#\/?/, ''));
  closeDrawer({ keepAddress: true });
  if (same) return;
  route();
  focusView();
});

setLocale(browserLocale());
if (welcomeRoute(location.hash)) renderWelcome(welcomeRoute(location.hash));
else if (getToken()) start(); else renderLogin();
