// Inbox: unread badge (live via notificationAdded), list, mark read.
import { gql, subscribe, describeUserErrors } from './api.js';
import { NOTIFICATIONS, UNREAD, MARK_READ, NOTIFICATION_ADDED } from './queries.js';
import { esc, $, $$, when, toast } from './util.js';
import { t } from './i18n.js';
import { openDrawer } from './drawer.js';
import { focusFirst, keepFocus } from './focus.js';

let unread = 0;
let dispose = null;
let retry = null;
let listRefresh = null;
// Notifications arriving together (the alerts job raises a dozen in one round) make one toast.
const BURST_MS = 600;
let burst = [];
let burstTimer = null;
let summary = null; // { count, alerts, el }: the summary toast on screen

function setCount(n) {
  unread = Math.max(0, n);
  const el = document.querySelector('[data-testid="inbox-count"]');
  if (el) {
    el.textContent = unread > 99 ? '99+' : String(unread);
    el.dataset.count = String(unread);
    el.closest('a')?.setAttribute('aria-label', t('inbox.label', { count: unread }));
  }
}

export async function startInbox() {
  stopInbox();
  try {
    const { notifications } = await gql(UNREAD);
    setCount(notifications.unreadCount);
  } catch (err) { console.warn('Inbox unavailable:', err.message); }
  const go = () => {
    dispose = subscribe({ query: NOTIFICATION_ADDED }, {
      next(result) {
        const n = result.data?.notificationAdded;
        if (!n) return;
        if (!n.read) setCount(unread + 1);
        arrived(n);
        if (listRefresh) listRefresh();
      },
      error(err) { console.warn('notificationAdded failed', err); retry = setTimeout(go, 5000); },
      complete() {},
    });
  };
  go();
}

/** One notification says itself; a burst, or more while a summary shows, counts into the summary ("15 new alerts"). */
function arrived(n) {
  burst.push(n);
  if (!burstTimer) burstTimer = setTimeout(sayBurst, BURST_MS);
}

function sayBurst() {
  const notes = burst;
  burst = [];
  burstTimer = null;
  const alerts = notes.every((n) => n.kind === 'alert');
  if (summary?.el?.isConnected) {
    summary.count += notes.length;
    summary.alerts = summary.alerts && alerts;
  } else if (notes.length === 1) {
    toast(notes[0].message, 'info');
    return;
  } else {
    summary = { count: notes.length, alerts };
  }
  summary.el = toast(t(summary.alerts ? 'inbox.newAlerts' : 'inbox.newNotifications', { count: summary.count }), 'info', 6000, 'inbox-summary');
}

/** Draw the unread count again (the shell was redrawn, in another language). */
export function showInboxCount() { setCount(unread); }

export function stopInbox() {
  clearTimeout(retry);
  clearTimeout(burstTimer);
  burst = [];
  burstTimer = null;
  if (dispose) { dispose(); dispose = null; }
}

export function mountInbox(view) {
  let alive = true;
  view.innerHTML = `
    <div class="inbox-head"><h1 tabindex="-1">${esc(t('nav.inbox'))}</h1><button type="button" class="btn" id="mark-all" data-testid="mark-all-read">${esc(t('inbox.markAll'))}</button></div>
    <ul class="inbox" id="inbox-list" aria-busy="true"><li class="empty">${esc(t('loading'))}</li></ul>`;
  const list = $('#inbox-list', view);
  async function load() {
    try {
      const { notifications } = await gql(NOTIFICATIONS);
      if (!alive) return;
      setCount(notifications.unreadCount);
      list.removeAttribute('aria-busy');
      keepFocus(list, () => { list.innerHTML = notifications.edges.map(({ node: n }) => `
        <li class="note-item ${n.read ? 'read' : 'unread'}" data-testid="notification" data-id="${esc(n.id)}">
          <span class="kind kind-${esc(n.kind)}">${esc(t.has(`notificationKind.${n.kind}`) ? t(`notificationKind.${n.kind}`) : n.kind)}</span>
          <div class="note-main"><p>${esc(n.message)}</p>
            <p class="muted small">${esc(when(n.createdAt))}${n.opportunity ? ` · <button type="button" class="link" data-open="${esc(n.opportunity.id)}">${esc(n.opportunity.title)}</button>` : ''}</p></div>
          ${n.read ? '' : `<button type="button" class="btn btn-ghost" data-read="${esc(n.id)}">${esc(t('inbox.markRead'))}<span class="sr-only">${esc(t('inbox.markReadOf', { message: n.message }))}</span></button>`}
        </li>`).join('') || `<li class="empty">${esc(t('inbox.empty'))}</li>`; });
    } catch (err) {
      if (!alive) return;
      list.removeAttribute('aria-busy');
      list.innerHTML = `<li class="banner-error">${esc(t('inbox.loadFailed', { message: err.message }))}</li>`;
    }
  }
  async function mark(ids) {
    try {
      const { markNotificationsRead: res } = await gql(MARK_READ, { input: ids ? { ids } : {} });
      if (res.userErrors?.length) { toast(describeUserErrors(res.userErrors), 'error'); return; }
      setCount(res.unreadCount);
      await load();
    } catch (err) { toast(t('inbox.markFailed', { message: err.message }), 'error'); }
  }
  list.addEventListener('click', async (e) => {
    const r = e.target.closest('[data-read]');
    if (r) {
      // Its button goes away once read: on to the next unread one, else the heading.
      const index = Array.from(list.querySelectorAll('[data-read]')).indexOf(r);
      await mark([r.dataset.read]);
      const rest = list.querySelectorAll('[data-read]');
      focusFirst(rest[Math.min(index, rest.length - 1)], () => $('h1', view));
      return;
    }
    const o = e.target.closest('[data-open]');
    if (o) {
      const item = o.closest('[data-id]');
      if (item?.classList.contains('unread')) mark([item.dataset.id]);
      openDrawer(o.dataset.open);
    }
  });
  $('#mark-all', view).addEventListener('click', () => mark(null));
  listRefresh = load;
  load();
  return () => { alive = false; listRefresh = null; };
}
