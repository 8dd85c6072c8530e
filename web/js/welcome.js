// The signed-out pages of one-time links: first-run setup (#/setup/TOKEN), an invitation
// (#/join/TOKEN) and a password reset (#/reset/TOKEN). Each signs in on success with the token
// the server returns, as the sign-in page does; a link that is unknown, used, revoked or expired says so.
import { gql } from './api.js';
import { esc, $ } from './util.js';
import { showErrors, clearErrors } from './forms.js';
import { t, setLocale, getLocale, rememberChoice, intlLocale } from './i18n.js';

const SETUP_STATUS = 'query SetupStatus { setupStatus { needed } }';
const LINK_INFO = 'query LinkInfo($token: String!) { linkInfo(token: $token) { kind email name organizationName expiresAt } }';
const ERR = 'userErrors { code field message }';
const COMPLETE_SETUP = `mutation CompleteSetup($input: CompleteSetupInput!) { completeSetup(input: $input) { token ${ERR} } }`;
const ACCEPT_INVITE = `mutation AcceptInvite($input: AcceptInviteInput!) { acceptInvite(input: $input) { token ${ERR} } }`;
const RESET_PASSWORD = `mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) { token ${ERR} } }`;

const ROUTE = /^#?\/?(setup|join|reset)\/([^/?#]+)$/;
const KIND = { setup: 'SETUP', join: 'INVITE', reset: 'RESET' };
const MIN_PASSWORD = 8;
const CURRENCIES = ['CNY', 'USD', 'EUR', 'HKD', 'JPY', 'GBP', 'SGD', 'KRW', 'AUD', 'CAD', 'CHF', 'TWD', 'MOP'];

/** { page, token } when `hash` is a one-time link's address, else null. */
export function welcomeRoute(hash) {
  const m = ROUTE.exec(hash || '');
  return m ? { page: m[1], token: decodeURIComponent(m[2]) } : null;
}

/** On the sign-in page: while the database holds no organization, say where the setup link is. */
export async function setupNeededNote(el) {
  if (!el) return;
  try {
    const { setupStatus } = await gql(SETUP_STATUS);
    if (!setupStatus?.needed || !el.isConnected) return;
    el.textContent = t('setup.neededNote');
    el.hidden = false;
  } catch (err) { /* an older server without setupStatus: nothing to say */ }
}

/** The languages Baton speaks, each named in itself. */
export function languageOptions(selected) {
  return [['en', t('setup.lang.en')], ['zh-CN', t('setup.lang.zh')]]
    .map(([code, name]) => `<option value="${code}" lang="${code}"${code === selected ? ' selected' : ''}>${esc(name)}</option>`).join('');
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (err) { return 'UTC'; }
}

function zoneOptions(selected) {
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch (err) { zones = []; }
  zones = Array.from(new Set(['UTC', ...zones, selected]));
  return zones.map((z) => `<option value="${esc(z)}"${z === selected ? ' selected' : ''}>${esc(z.replace(/_/g, ' '))}</option>`).join('');
}

function currencyName(code) {
  try {
    const name = new Intl.DisplayNames([intlLocale()], { type: 'currency' }).of(code);
    return name && name !== code ? name : '';
  } catch (err) { return ''; }
}

/** Render `link`'s page into `root`; `signedIn(token, hash)` starts the app. `langSwitch()` is main.js's button. */
export function mountWelcome(root, link, { signedIn, langSwitch }) {
  const state = { values: {}, info: undefined };
  const draw = () => {
    const page = PAGES[link.page];
    root.innerHTML = `
      <main class="login welcome" data-testid="welcome-${link.page}">
        <div class="login-card welcome-card" id="welcome-card">
          <div class="welcome-top"><p class="brand-big"><span class="brand-mark" aria-hidden="true"></span>${esc(t('brand'))}</p>${langSwitch()}</div>
          <div id="welcome-body"><h1 tabindex="-1">${esc(t(`${link.page}.title`))}</h1><p class="muted" role="status">${esc(t('loading'))}</p></div>
        </div>
      </main>`;
    document.title = t('setup.docTitle', { title: t(`${link.page}.title`) });
    $('#lang-switch', root).addEventListener('click', (e) => {
      const form = $('#welcome-form', root);
      if (form) state.values = Object.fromEntries(new FormData(form));
      rememberChoice(e.currentTarget.dataset.locale);
      setLocale(e.currentTarget.dataset.locale);
      draw();
      $('#lang-switch', root).focus();
    });
    page(link, state, $('#welcome-body', root), signedIn);
  };
  draw();
  $('#welcome-body h1', root)?.focus();
}

const PAGES = { setup: setupPage, join: joinPage, reset: resetPage };

/** Fetch the link's LinkInfo once (null: unusable); false when the server could not be asked. */
async function linkInfo(link, state) {
  if (state.info !== undefined) return state.info;
  try {
    const { linkInfo: info } = await gql(LINK_INFO, { token: link.token });
    state.info = info && info.kind === KIND[link.page] ? info : null;
  } catch (err) {
    state.error = err.message;
    return false;
  }
  return state.info;
}

/** Expired, used, revoked or unknown: say so, and the way to the sign-in page. */
function deadLink(body, page, reason) {
  body.innerHTML = `
    <h1 tabindex="-1">${esc(t(`${page}.title`))}</h1>
    <p class="banner-error" role="alert" data-testid="link-dead">${esc(reason)}</p>
    <p><a href="#/" class="btn btn-primary" data-testid="to-sign-in">${esc(t('setup.toSignIn'))}</a></p>`;
}

function refocusHeading(body) {
  // The page was drawn after its data arrived: start a keyboard or screen-reader user at its heading.
  if (!body.contains(document.activeElement) && document.activeElement?.id !== 'lang-switch') $('h1', body)?.focus();
}

function field(name, label, attrs = '', hint = '') {
  const hintId = hint ? `hint-${name}` : '';
  return `<label>${esc(label)} <input name="${name}" ${attrs} data-testid="${name}-input" aria-describedby="${['welcome-error', hintId].filter(Boolean).join(' ')}">
    ${hint ? `<span class="form-hint" id="${hintId}">${esc(hint)}</span>` : ''}</label>`;
}

function restore(form, values) {
  for (const [name, value] of Object.entries(values || {})) {
    const el = form.elements.namedItem(name);
    if (!el || el.type === 'password') continue;
    if (el.type === 'checkbox') el.checked = value === 'on'; else el.value = value;
  }
}


/** The new password, typed twice: the page's own checks before anything is sent. */
function passwordProblems(form, name, repeat = 'repeat') {
  const pw = form.elements.namedItem(name).value;
  if (pw.length < MIN_PASSWORD) return [{ field: [name], message: t('setup.passwordShort', { count: MIN_PASSWORD }) }];
  if (pw !== form.elements.namedItem(repeat).value) return [{ field: [repeat], message: t('setup.passwordMismatch') }];
  return [];
}

/** Submit through `send` (returns a payload with token + userErrors); signs in on success. */
function onSubmit(form, { check, send, signedIn, hash, busy }) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const problems = check();
    if (problems.length) { showErrors(form, problems); return; }
    const button = $('button[type=submit]', form);
    const label = button.textContent;
    button.disabled = true;
    button.textContent = busy;
    try {
      const payload = await send();
      if (payload.userErrors?.length || !payload.token) {
        showErrors(form, payload.userErrors?.length ? payload.userErrors : [{ message: t('setup.failed', { message: '' }).trim() }]);
        return;
      }
      rememberChoice(null);
      await signedIn(payload.token, hash);
    } catch (err) {
      $('#welcome-error', form).textContent = t('setup.failed', { message: err.message });
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = label;
        if (!form.contains(document.activeElement)) button.focus();
      }
    }
  });
}

// ------------------------------------------------------------- first run

async function setupPage(link, state, body, signedIn) {
  if (state.needed === undefined) {
    try {
      state.needed = (await gql(SETUP_STATUS)).setupStatus.needed;
    } catch (err) {
      deadLink(body, 'setup', t('setup.unreachable', { message: err.message }));
      return;
    }
  }
  if (!state.needed) { deadLink(body, 'setup', t('setup.done')); refocusHeading(body); return; }
  const locale = getLocale();
  body.innerHTML = `
    <h1 tabindex="-1">${esc(t('setup.title'))}</h1>
    <p class="muted">${esc(t('setup.intro'))}</p>
    <form id="welcome-form" class="welcome-form" novalidate data-testid="setup-form">
      <fieldset><legend>${esc(t('setup.organization'))}</legend>
        ${field('organizationName', t('setup.orgName'), 'required maxlength="200" autocomplete="organization"')}
        <label>${esc(t('setup.language'))} <select name="locale" data-testid="locale-input" aria-describedby="hint-locale">${languageOptions(locale)}</select>
          <span class="form-hint" id="hint-locale">${esc(t('setup.languageHint'))}</span></label>
        <label>${esc(t('setup.timeZone'))} <select name="timeZone" data-testid="timeZone-input" aria-describedby="hint-zone">${zoneOptions(browserZone())}</select>
          <span class="form-hint" id="hint-zone">${esc(t('setup.timeZoneHint'))}</span></label>
        ${field('baseCurrency', t('setup.currency'), `required maxlength="3" autocomplete="off" spellcheck="false" autocapitalize="characters" list="setup-currencies" value="${locale === 'zh-CN' ? 'CNY' : 'USD'}"`, t('setup.currencyHint'))}
        <label class="check"><input type="checkbox" name="defaultPipeline" checked data-testid="defaultPipeline-input" aria-describedby="hint-pipeline"> ${esc(t('setup.defaultPipeline'))}</label>
        <span class="form-hint" id="hint-pipeline">${esc(t('setup.defaultPipelineHint'))}</span>
      </fieldset>
      <fieldset><legend>${esc(t('setup.admin'))}</legend>
        ${field('adminName', t('setup.adminName'), 'required maxlength="200" autocomplete="name"')}
        ${field('adminEmail', t('setup.adminEmail'), 'type="email" required autocomplete="email" spellcheck="false"')}
        ${field('adminPassword', t('setup.password'), 'type="password" required autocomplete="new-password"', t('setup.passwordHint', { count: MIN_PASSWORD }))}
        ${field('repeat', t('setup.repeat'), 'type="password" required autocomplete="new-password"')}
      </fieldset>
      <p class="form-error" id="welcome-error" role="alert" data-testid="welcome-error"></p>
      <button type="submit" class="btn btn-primary" data-testid="setup-submit">${esc(t('setup.submit'))}</button>
    </form>
    <datalist id="setup-currencies">${CURRENCIES.map((c) => `<option value="${c}">${esc(currencyName(c))}</option>`).join('')}</datalist>`;
  const form = $('#welcome-form', body);
  restore(form, state.values);
  form.defaultPipeline.checked = state.values.organizationName === undefined || state.values.defaultPipeline === 'on';
  onSubmit(form, {
    busy: t('setup.busy'),
    hash: '#/board',
    signedIn,
    check: () => {
      const missing = ['organizationName', 'adminName', 'adminEmail', 'baseCurrency'].filter((n) => !form.elements.namedItem(n).value.trim());
      if (missing.length) return missing.map((n) => ({ field: [n], message: t('setup.missing', { field: t(`setup.field.${n}`) }) }));
      return passwordProblems(form, 'adminPassword');
    },
    send: async () => (await gql(COMPLETE_SETUP, { input: {
      token: link.token,
      organizationName: form.organizationName.value.trim(),
      locale: form.locale.value,
      timeZone: form.timeZone.value,
      baseCurrency: form.baseCurrency.value.trim().toUpperCase(),
      adminName: form.adminName.value.trim(),
      adminEmail: form.adminEmail.value.trim(),
      adminPassword: form.adminPassword.value,
      defaultPipeline: form.defaultPipeline.checked,
    } })).completeSetup,
  });
  refocusHeading(body);
}

// ------------------------------------------------------------- invitation

async function joinPage(link, state, body, signedIn) {
  const info = await linkInfo(link, state);
  if (info === false) { deadLink(body, 'join', t('setup.unreachable', { message: state.error })); return; }
  if (!info) { deadLink(body, 'join', t('join.dead')); refocusHeading(body); return; }
  body.innerHTML = `
    <h1 tabindex="-1">${esc(t('join.title'))}</h1>
    <p data-testid="join-intro">${esc(info.organizationName ? t('join.intro', { organization: info.organizationName }) : t('join.introPlain'))}</p>
    <form id="welcome-form" class="welcome-form" novalidate data-testid="join-form">
      <p class="welcome-email"><span class="muted">${esc(t('join.email'))}</span> <strong data-testid="join-email">${esc(info.email)}</strong></p>
      ${field('name', t('join.name'), `required maxlength="200" autocomplete="name" value="${esc(info.name || '')}"`)}
      <label>${esc(t('join.language'))} <select name="locale" data-testid="locale-input">${languageOptions(getLocale())}</select></label>
      ${field('password', t('setup.password'), 'type="password" required autocomplete="new-password"', t('setup.passwordHint', { count: MIN_PASSWORD }))}
      ${field('repeat', t('setup.repeat'), 'type="password" required autocomplete="new-password"')}
      <p class="form-error" id="welcome-error" role="alert" data-testid="welcome-error"></p>
      <button type="submit" class="btn btn-primary" data-testid="join-submit">${esc(t('join.submit'))}</button>
      <p class="muted small">${esc(t('join.expires', { when: expiry(info.expiresAt) }))}</p>
    </form>`;
  const form = $('#welcome-form', body);
  restore(form, state.values);
  onSubmit(form, {
    busy: t('setup.busy'),
    signedIn: (token, hash) => { rememberChoice(form.locale.value); setLocale(form.locale.value); return signedIn(token, hash); },
    check: () => (form.elements.namedItem('name').value.trim() ? passwordProblems(form, 'password') : [{ field: ['name'], message: t('join.nameMissing') }]),
    send: async () => (await gql(ACCEPT_INVITE, { input: {
      token: link.token, name: form.elements.namedItem('name').value.trim(), password: form.password.value, locale: form.locale.value,
    } })).acceptInvite,
  });
  refocusHeading(body);
}

// ------------------------------------------------------------- password reset

async function resetPage(link, state, body, signedIn) {
  const info = await linkInfo(link, state);
  if (info === false) { deadLink(body, 'reset', t('setup.unreachable', { message: state.error })); return; }
  if (!info) { deadLink(body, 'reset', t('reset.dead')); refocusHeading(body); return; }
  body.innerHTML = `
    <h1 tabindex="-1">${esc(t('reset.title'))}</h1>
    <p>${esc(info.email ? t('reset.intro', { email: info.email }) : t('reset.introPlain'))}</p>
    <form id="welcome-form" class="welcome-form" novalidate data-testid="reset-form">
      ${field('newPassword', t('reset.password'), 'type="password" required autocomplete="new-password"', t('setup.passwordHint', { count: MIN_PASSWORD }))}
      ${field('repeat', t('setup.repeat'), 'type="password" required autocomplete="new-password"')}
      <p class="form-error" id="welcome-error" role="alert" data-testid="welcome-error"></p>
      <button type="submit" class="btn btn-primary" data-testid="reset-submit">${esc(t('reset.submit'))}</button>
      <p class="muted small">${esc(t('reset.others'))}</p>
    </form>`;
  const form = $('#welcome-form', body);
  onSubmit(form, {
    busy: t('setup.busy'),
    signedIn,
    check: () => passwordProblems(form, 'newPassword'),
    send: async () => (await gql(RESET_PASSWORD, { input: { token: link.token, newPassword: form.newPassword.value } })).resetPassword,
  });
  refocusHeading(body);
}

function expiry(iso) {
  try {
    return new Intl.DateTimeFormat(intlLocale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
  } catch (err) { return iso; }
}
