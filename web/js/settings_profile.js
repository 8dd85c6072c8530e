// Settings → Profile (everyone): one's name, language (main.js's switchLocale stores it with
// setMyLocale and draws the page again in it), password (current, new, repeated) and notifications:
// one's own channels (email, 飞书/钉钉/企业微信 bots; a test message, remove), which kinds go to which
// of them, quiet hours and the daily digest (docs/notifications.md).
import { gql } from './api.js';
import { esc, $, $$, toast } from './util.js';
import { t, getLocale } from './i18n.js';
import { store } from './state.js';
import { showErrors, onSubmit, options, confirmDialog } from './forms.js';
import { roleName } from './settings_people.js';
import { languageOptions } from './welcome.js';
import { focusFirst } from './focus.js';
import { CHANNEL, SET_CHANNEL, DELETE_CHANNEL, CHANNEL_TYPES, channelStatus, fitChannelForm } from './settings_integrations.js';

const ERR = 'userErrors { code field message }';
const UPDATE_PROFILE = `mutation UpdateMyProfile($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { user { id name } ${ERR} } }`;
const CHANGE_PASSWORD = `mutation ChangeMyPassword($input: ChangeMyPasswordInput!) { changeMyPassword(input: $input) { changed ${ERR} } }`;
const MIN_PASSWORD = 8;
const PREFS = 'timeZone quietHoursStart quietHoursEnd digestTime routes { kind channelIds }';
const LOAD_NOTIFY = `query MyNotificationSettings { notificationChannels(first: 100) { edges { node { ${CHANNEL} } } } notificationPreferences { ${PREFS} } }`;
const TEST_CHANNEL = `mutation TestNotificationChannel($input: NotificationChannelIdInput!) { testNotificationChannel(input: $input) { delivery { id status } ${ERR} } }`;
const SET_PREFS = `mutation SetNotificationPreferences($input: SetNotificationPreferencesInput!) { setNotificationPreferences(input: $input) { preferences { ${PREFS} } ${ERR} } }`;
// The kinds a route may name: resolvers/channels.py KINDS (no query lists them; a test keeps the two equal).
export const KINDS = ['mention', 'assigned', 'handoff', 'approval', 'alert', 'escalation', 'deliverable', 'digest'];

export function mountProfile(el) {
  const v = store.viewer;
  el.innerHTML = `
    <div class="settings-grid">
      <section class="panel" aria-labelledby="profile-heading" data-testid="profile">
        <h2 id="profile-heading">${esc(t('profile.title'))}</h2>
        <dl class="profile-facts">
          <dt>${esc(t('people.email'))}</dt><dd data-testid="profile-email">${esc(v.email)}</dd>
          <dt>${esc(t('people.department'))}</dt><dd>${esc(v.department.name)}</dd>
          <dt>${esc(t('people.role'))}</dt><dd>${esc(roleName(v.role))}</dd>
        </dl>
        <form class="settings-form narrow" id="profile-name-form" data-testid="profile-name-form" novalidate>
          <label>${esc(t('people.name'))} <input name="name" required maxlength="200" autocomplete="name" value="${esc(v.name)}" data-testid="profile-name" aria-describedby="profile-name-error"></label>
          <p class="form-error" id="profile-name-error" role="alert" data-testid="profile-name-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="profile-name-save">${esc(t('profile.saveName'))}</button></div>
        </form>
        <form class="settings-form narrow" id="profile-locale-form" data-testid="profile-locale-form" novalidate>
          <label>${esc(t('profile.language'))} <select name="locale" data-testid="profile-locale" aria-describedby="profile-locale-hint profile-locale-error">${languageOptions(getLocale())}</select>
            <span class="form-hint" id="profile-locale-hint">${esc(t('profile.languageHint'))}</span></label>
          <p class="form-error" id="profile-locale-error" role="alert"></p>
          <div class="actions"><button type="submit" class="btn" data-testid="profile-locale-save">${esc(t('profile.saveLanguage'))}</button></div>
        </form>
      </section>
      <section class="panel" aria-labelledby="password-heading" data-testid="password">
        <h2 id="password-heading">${esc(t('profile.passwordTitle'))}</h2>
        <form class="settings-form narrow" id="password-form" data-testid="password-form" novalidate>
          <input type="text" name="username" autocomplete="username" value="${esc(v.email)}" hidden>
          <label>${esc(t('profile.current'))} <input type="password" name="currentPassword" required autocomplete="current-password" data-testid="password-current" aria-describedby="password-error"></label>
          <label>${esc(t('profile.new'))} <input type="password" name="newPassword" required autocomplete="new-password" data-testid="password-new" aria-describedby="password-hint password-error">
            <span class="form-hint" id="password-hint">${esc(t('setup.passwordHint', { count: MIN_PASSWORD }))}</span></label>
          <label>${esc(t('setup.repeat'))} <input type="password" name="repeat" required autocomplete="new-password" data-testid="password-repeat" aria-describedby="password-error"></label>
          <p class="form-error" id="password-error" role="alert" data-testid="password-error"></p>
          <p class="muted small">${esc(t('profile.othersSignedOut'))}</p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="password-submit">${esc(t('profile.changePassword'))}</button></div>
        </form>
      </section>
      <section class="panel settings-wide" aria-labelledby="notify-heading" data-testid="notify" aria-busy="true">
        <h2 id="notify-heading" tabindex="-1">${esc(t('notify.title'))}</h2>
        <p class="muted small">${esc(t('notify.intro'))}</p>
        <h3 id="notify-channels-heading" tabindex="-1">${esc(t('notify.channelsTitle'))}</h3>
        <p class="form-error" role="alert" id="notify-channels-error" data-testid="notify-channels-error"></p>
        <p class="notify-status" role="status" data-testid="notify-test-status"></p>
        <div class="notify-channels"><p class="muted">${esc(t('loading'))}</p></div>
        <h3 id="notify-new-heading">${esc(t('notify.addTitle'))}</h3>
        <form class="settings-form" id="notify-channel-form" data-testid="notify-channel-form" aria-labelledby="notify-new-heading" novalidate>
          <label>${esc(t('integrations.channelType'))} <select name="type" data-testid="notify-channel-type">${options(CHANNEL_TYPES.map((x) => [x, t(`integrations.channel.${x}`)]), 'EMAIL')}</select></label>
          <label>${esc(t('notify.name'))} <input name="name" maxlength="100" autocomplete="off" data-testid="notify-channel-name"></label>
          <label>${esc(t('integrations.channelTarget'))} <input name="target" spellcheck="false" autocomplete="off" data-testid="notify-channel-target" aria-describedby="notify-target-hint"></label>
          <label>${esc(t('integrations.channelSecret'))} <input name="secret" type="password" autocomplete="new-password" spellcheck="false" data-testid="notify-channel-secret" aria-describedby="notify-target-hint"></label>
          <p class="form-hint" id="notify-target-hint"></p>
          <p class="form-error" role="alert" data-testid="notify-channel-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="notify-channel-add">${esc(t('integrations.channelCreate'))}</button></div>
        </form>
        <h3 id="notify-prefs-heading">${esc(t('notify.prefsTitle'))}</h3>
        <form class="settings-form notify-prefs" id="notify-prefs-form" data-testid="notify-prefs-form" aria-labelledby="notify-prefs-heading" novalidate>
          <div class="notify-routes" data-testid="notify-routes"></div>
          <fieldset class="integration-choices notify-times"><legend>${esc(t('notify.quietTitle'))}</legend>
            <p class="form-hint" id="notify-quiet-hint">${esc(t('notify.quietHint'))}</p>
            <label>${esc(t('notify.quietStart'))} <input name="quietHoursStart" inputmode="numeric" maxlength="5" size="5" autocomplete="off" data-testid="notify-quiet-start" aria-describedby="notify-quiet-hint notify-time-zone notify-prefs-error"></label>
            <label>${esc(t('notify.quietEnd'))} <input name="quietHoursEnd" inputmode="numeric" maxlength="5" size="5" autocomplete="off" data-testid="notify-quiet-end" aria-describedby="notify-quiet-hint notify-time-zone notify-prefs-error"></label>
          </fieldset>
          <fieldset class="integration-choices notify-times"><legend>${esc(t('notify.digestTitle'))}</legend>
            <p class="form-hint" id="notify-digest-hint">${esc(t('notify.digestHint'))}</p>
            <label>${esc(t('notify.digestTime'))} <input name="digestTime" inputmode="numeric" maxlength="5" size="5" autocomplete="off" data-testid="notify-digest" aria-describedby="notify-digest-hint notify-time-zone notify-prefs-error"></label>
          </fieldset>
          <p class="form-hint" id="notify-time-zone" data-testid="notify-time-zone"></p>
          <p class="form-error" role="alert" id="notify-prefs-error" data-testid="notify-prefs-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="notify-save">${esc(t('notify.save'))}</button></div>
        </form>
      </section>
    </div>`;

  const nameForm = $('#profile-name-form', el);
  onSubmit(nameForm, async () => {
    const name = nameForm.elements.namedItem('name').value.trim();
    if (!name) { showErrors(nameForm, [{ field: ['name'], message: t('join.nameMissing') }]); return; }
    const { updateMyProfile: res } = await gql(UPDATE_PROFILE, { input: { name } });
    if (res.userErrors.length) { showErrors(nameForm, res.userErrors); return; }
    store.viewer.name = res.user.name;
    const me = store.users.find((u) => u.id === res.user.id);
    if (me) me.name = res.user.name;
    window.dispatchEvent(new CustomEvent('baton:viewer'));
    toast(t('profile.nameSaved', { name: res.user.name }), 'ok');
  });

  const localeForm = $('#profile-locale-form', el);
  localeForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const locale = localeForm.locale.value;
    if (locale === getLocale()) { toast(t('profile.languageKept'), 'ok'); return; }
    // main.js stores the choice (setMyLocale) and draws everything again in it; focus comes back here.
    window.dispatchEvent(new CustomEvent('baton:locale', {
      detail: { locale, refocus: () => document.querySelector('[data-testid=profile-locale]')?.focus() },
    }));
  });

  const pwForm = $('#password-form', el);
  onSubmit(pwForm, async () => {
    const current = pwForm.currentPassword.value;
    const next = pwForm.newPassword.value;
    const problems = [];
    if (!current) problems.push({ field: ['currentPassword'], message: t('profile.currentMissing') });
    else if (next.length < MIN_PASSWORD) problems.push({ field: ['newPassword'], message: t('setup.passwordShort', { count: MIN_PASSWORD }) });
    else if (next !== pwForm.repeat.value) problems.push({ field: ['repeat'], message: t('setup.passwordMismatch') });
    if (problems.length) { showErrors(pwForm, problems); return; }
    const { changeMyPassword: res } = await gql(CHANGE_PASSWORD, { input: { currentPassword: current, newPassword: next } });
    if (res.userErrors.length || !res.changed) { showErrors(pwForm, res.userErrors); return; }
    pwForm.reset();
    toast(t('profile.passwordChanged'), 'ok');
  });

  return mountNotifications($('[data-testid=notify]', el));
}

// ------------------------------------------------------------- notifications

const sr = (name) => `<span class="sr-only"> ${esc(t('people.srOf', { name }))}</span>`;
// A channel's own name, when it says more than its type (left empty, the server names it "Email", "Feishu" ...).
const channelName = (c) => ([t(`integrations.channel.${c.type}`), c.type[0] + c.type.slice(1).toLowerCase()].includes(c.name) ? '' : c.name);
const channelLabel = (c) => [t(`integrations.channel.${c.type}`), channelName(c)].filter(Boolean).join(' · ');

function myChannelRow(c) {
  return `<tr data-id="${esc(c.id)}" data-testid="notify-channel-row" data-type="${esc(c.type)}" data-enabled="${c.enabled}" class="${c.enabled ? '' : 'is-inactive'}">
    <th scope="row" data-label="${esc(t('integrations.colChannel'))}">${esc(channelLabel(c))}
      <span class="muted small code integration-url" data-testid="notify-channel-target">${esc(c.target)}</span></th>
    <td data-label="${esc(t('label.status'))}" data-testid="notify-channel-status">${channelStatus(c)}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      ${c.enabled ? `<button type="button" class="btn" data-testid="notify-channel-test">${esc(t('notify.sendTest'))}${sr(channelLabel(c))}</button>`
    : `<button type="button" class="btn" data-testid="notify-channel-enable">${esc(t('integrations.enable'))}${sr(channelLabel(c))}</button>`}
      <button type="button" class="btn btn-danger" data-testid="notify-channel-remove">${esc(t('integrations.remove'))}${sr(channelLabel(c))}</button>
    </td>
  </tr>`;
}

function myChannelsTable(channels) {
  if (!channels.length) return `<p class="muted" data-testid="notify-channels-empty">${esc(t('notify.noChannels'))}</p>`;
  return `<table class="settings-table" data-testid="notify-channels-table">
    <thead><tr><th scope="col">${esc(t('integrations.colChannel'))}</th><th scope="col">${esc(t('label.status'))}</th>
      <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${channels.map(myChannelRow).join('')}</tbody></table>`;
}

/** Per kind, which channels it goes to: `checked(kind)` is a Set of channel ids. */
function routesTable(channels, checked) {
  if (!channels.length) return `<p class="muted small" data-testid="notify-routes-empty">${esc(t('notify.routesEmpty'))}</p>`;
  return `<p class="form-hint" id="notify-routes-hint">${esc(t('notify.routesHint'))}</p>
    <table class="settings-table notify-routes-table" aria-describedby="notify-routes-hint">
    <thead><tr><th scope="col">${esc(t('notify.colKind'))}</th><th scope="col">${esc(t('notify.colChannels'))}</th></tr></thead>
    <tbody>${KINDS.map((kind) => {
    const on = checked(kind);
    return `<tr data-testid="notify-route" data-kind="${esc(kind)}">
      <th scope="row" id="notify-kind-${esc(kind)}">${esc(t(`notify.kind.${kind}`))}</th>
      <td><div class="notify-route-choices" role="group" aria-labelledby="notify-kind-${esc(kind)}">${channels.map((c) => `<label class="check"><input type="checkbox" name="route" data-kind="${esc(kind)}" value="${esc(c.id)}"${on.has(c.id) ? ' checked' : ''}> ${esc(channelLabel(c))}</label>`).join('')}</div></td>
    </tr>`;
  }).join('')}</tbody></table>`;
}

/** "7:30" → "07:30"; anything else as typed (the server says what is wrong with it); empty → null. */
const hhmm = (value) => {
  const v = value.trim();
  return /^\d:\d\d$/.test(v) ? `0${v}` : v || null;
};

function mountNotifications(section) {
  let alive = true;
  let channels = [];
  let prefs = null;
  let dirty = false; // routes ticked but not saved yet: kept when the list of channels is drawn again
  const channelForm = $('#notify-channel-form', section);
  const prefsForm = $('#notify-prefs-form', section);
  const list = $('.notify-channels', section);
  const errorBox = $('#notify-channels-error', section);
  const status = $('[data-testid=notify-test-status]', section);
  const routesBox = $('.notify-routes', prefsForm);

  const shownRoutes = () => {
    const out = new Map();
    $$('input[name=route]', routesBox).forEach((b) => {
      if (!out.has(b.dataset.kind)) out.set(b.dataset.kind, { shown: new Set(), on: new Set() });
      out.get(b.dataset.kind).shown.add(b.value);
      if (b.checked) out.get(b.dataset.kind).on.add(b.value);
    });
    return out;
  };
  // A kind the server has no route for goes to every channel.
  const savedRoute = (kind) => {
    const route = prefs?.routes.find((r) => r.kind === kind);
    return new Set(route ? route.channelIds : channels.map((c) => c.id));
  };

  function renderRoutes() {
    const before = dirty ? shownRoutes() : new Map();
    routesBox.innerHTML = routesTable(channels, (kind) => {
      const saved = savedRoute(kind);
      const kept = before.get(kind);
      return kept ? new Set(channels.map((c) => c.id).filter((id) => (kept.shown.has(id) ? kept.on.has(id) : saved.has(id)))) : saved;
    });
  }

  function fillTimes() {
    prefsForm.quietHoursStart.value = prefs.quietHoursStart || '';
    prefsForm.quietHoursEnd.value = prefs.quietHoursEnd || '';
    prefsForm.digestTime.value = prefs.digestTime || '';
    $('#notify-time-zone', section).textContent = t('notify.timeZone', { zone: prefs.timeZone });
  }

  async function load({ times = false } = {}) {
    try {
      const got = await gql(LOAD_NOTIFY);
      if (!alive) return;
      // Admins read every channel of the organization: here only their own.
      channels = got.notificationChannels.edges.map((e) => e.node).filter((c) => c.user?.id === store.viewer.id);
      const first = !prefs;
      prefs = got.notificationPreferences;
      list.innerHTML = myChannelsTable(channels);
      renderRoutes();
      if (first || times) fillTimes();
    } catch (err) {
      if (!alive) return;
      list.innerHTML = `<p class="banner-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    section.removeAttribute('aria-busy');
  }

  const targetHint = () => fitChannelForm(channelForm, $('#notify-target-hint', section), t('notify.targetEmail', { email: store.viewer.email }));
  channelForm.type.addEventListener('change', targetHint);
  targetHint();

  onSubmit(channelForm, async () => {
    const type = channelForm.type.value;
    const input = { type };
    const name = channelForm.elements.namedItem('name').value.trim();
    if (name) input.name = name;
    const target = channelForm.target.value.trim();
    if (target) input.target = target;
    else if (type !== 'EMAIL') { showErrors(channelForm, [{ field: ['target'], message: t('notify.botMissing') }]); return; }
    if (!channelForm.secret.disabled && channelForm.secret.value) input.secret = channelForm.secret.value;
    const { setNotificationChannel: res } = await gql(SET_CHANNEL, { input });
    if (res.userErrors.length) { showErrors(channelForm, res.userErrors); return; }
    toast(t('integrations.channelAdded', { name: channelLabel(res.channel) }), 'ok');
    channelForm.reset();
    channelForm.type.value = type;
    targetHint();
    await load();
  });

  routesBox.addEventListener('change', () => { dirty = true; });

  onSubmit(prefsForm, async () => {
    const input = {
      quietHoursStart: hhmm(prefsForm.quietHoursStart.value),
      quietHoursEnd: hhmm(prefsForm.quietHoursEnd.value),
      digestTime: hhmm(prefsForm.digestTime.value),
    };
    if (channels.length) {
      // A kind going to every channel is left out: it goes to the channels added later too.
      input.routes = [...shownRoutes()].filter(([, r]) => r.on.size < channels.length).map(([kind, r]) => ({ kind, channelIds: [...r.on] }));
    }
    const { setNotificationPreferences: res } = await gql(SET_PREFS, { input });
    if (res.userErrors.length) { showErrors(prefsForm, res.userErrors); return; }
    prefs = res.preferences;
    dirty = false;
    renderRoutes();
    fillTimes();
    toast(t('notify.saved'), 'ok');
  });

  const rowAction = async (button, run) => {
    errorBox.textContent = '';
    button.disabled = true;
    try {
      const errors = await run();
      if (errors?.length) { errorBox.textContent = errors.map((x) => x.message).join('\n'); button.focus(); }
    } catch (err) {
      errorBox.textContent = t('settings.failed', { message: err.message });
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  };

  list.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-testid]');
    const row = button?.closest('tr[data-id]');
    if (!row) return;
    const id = row.dataset.id;
    const c = channels.find((x) => x.id === id);
    const ctl = (testid) => () => $(`tr[data-id="${CSS.escape(id)}"] [data-testid=${testid}]`, list) || $('#notify-channels-heading', section);
    switch (button.dataset.testid) {
      case 'notify-channel-test':
        status.textContent = '';
        rowAction(button, async () => {
          const { testNotificationChannel: res } = await gql(TEST_CHANNEL, { input: { id } });
          if (res.userErrors.length) return res.userErrors;
          status.textContent = t('notify.testQueued', { name: channelLabel(c) });
          toast(t('notify.testQueued', { name: channelLabel(c) }), 'ok');
          return null;
        });
        break;
      case 'notify-channel-enable':
        rowAction(button, async () => {
          const { setNotificationChannel: res } = await gql(SET_CHANNEL, { input: { id, enabled: true } });
          if (res.userErrors.length) return res.userErrors;
          await load();
          focusFirst(ctl('notify-channel-test'));
          return null;
        });
        break;
      case 'notify-channel-remove':
        confirmDialog({
          title: t('integrations.removeTitle', { name: channelLabel(c) }), text: t('notify.removeText', { name: channelLabel(c) }), action: t('integrations.remove'),
          returnTo: () => $('#notify-channels-heading', section),
          act: async () => {
            const { deleteNotificationChannel: res } = await gql(DELETE_CHANNEL, { input: { id } });
            if (res.userErrors.length) return res.userErrors;
            toast(t('integrations.channelRemoved', { name: channelLabel(c) }), 'ok');
            status.textContent = '';
            await load();
            return null;
          },
        });
        break;
      default:
    }
  });

  load();
  return () => { alive = false; };
}
