// Settings → Profile (everyone): one's name, language (main.js's switchLocale stores it with
// setMyLocale and draws the page again in it) and password (current, new, repeated).
import { gql } from './api.js';
import { esc, $, toast } from './util.js';
import { t, getLocale } from './i18n.js';
import { store } from './state.js';
import { showErrors, onSubmit } from './forms.js';
import { roleName } from './settings_people.js';
import { languageOptions } from './welcome.js';

const ERR = 'userErrors { code field message }';
const UPDATE_PROFILE = `mutation UpdateMyProfile($input: UpdateMyProfileInput!) { updateMyProfile(input: $input) { user { id name } ${ERR} } }`;
const CHANGE_PASSWORD = `mutation ChangeMyPassword($input: ChangeMyPasswordInput!) { changeMyPassword(input: $input) { changed ${ERR} } }`;
const MIN_PASSWORD = 8;

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

  return () => {};
}
