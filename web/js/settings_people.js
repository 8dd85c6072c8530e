// Settings → People and Departments (admins): the organization's users with their department, role and
// status; invitations by a one-time link; edit, deactivate, reactivate, a password-reset link; departments
// with their managers, created, renamed, archived and restored. Every change goes through the GraphQL
// API; its userErrors are shown beside the form or list that asked. Other admins' changes arrive live
// (CONFIGURATION_CHANGED) and the lists refresh.
import { gql } from './api.js';
import { esc, $, when, toast } from './util.js';
import { showErrors, onSubmit, linkBox, wireCopy, options, confirmDialog } from './forms.js';
import { t } from './i18n.js';
import { store, onBoardEvent } from './state.js';
import { openModal } from './ui.js';
import { keepFocus, focusFirst } from './focus.js';

const ERR = 'userErrors { code field message }';
const USER = 'id name email role active deactivatedAt department { id key name }';
const DEPT = 'id key name archived managers { id name }';
const INVITE = 'id email name role status createdAt expiresAt department { id key name } invitedBy { id name }';
const PEOPLE = `query SettingsPeople {
  users(includeInactive: true) { ${USER} }
  departments { id key name }
  invites(status: PENDING) { ${INVITE} }
}`;
const DEPARTMENTS = `query SettingsDepartments { departments(includeArchived: true) { ${DEPT} } }`;
const INVITE_USER = `mutation InviteUser($input: InviteUserInput!) { inviteUser(input: $input) { invite { ${INVITE} } link emailed ${ERR} } }`;
const REVOKE_INVITE = `mutation RevokeInvite($input: InviteIdInput!) { revokeInvite(input: $input) { invite { id status } ${ERR} } }`;
const UPDATE_USER = `mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { user { ${USER} } ${ERR} } }`;
const DEACTIVATE = `mutation DeactivateUser($input: UserIdInput!) { deactivateUser(input: $input) { user { ${USER} } ${ERR} } }`;
const REACTIVATE = `mutation ReactivateUser($input: UserIdInput!) { reactivateUser(input: $input) { user { ${USER} } ${ERR} } }`;
const RESET_LINK = `mutation CreatePasswordReset($input: UserIdInput!) { createPasswordReset(input: $input) { link expiresAt ${ERR} } }`;
const CREATE_DEPT = `mutation CreateDepartment($input: CreateDepartmentInput!) { createDepartment(input: $input) { department { ${DEPT} } ${ERR} } }`;
const UPDATE_DEPT = `mutation UpdateDepartment($input: UpdateDepartmentInput!) { updateDepartment(input: $input) { department { ${DEPT} } ${ERR} } }`;
const ARCHIVE_DEPT = `mutation ArchiveDepartment($input: DepartmentIdInput!) { archiveDepartment(input: $input) { department { ${DEPT} } ${ERR} } }`;
const RESTORE_DEPT = `mutation RestoreDepartment($input: DepartmentIdInput!) { restoreDepartment(input: $input) { department { ${DEPT} } ${ERR} } }`;

export const ROLES = ['ADMIN', 'MANAGER', 'MEMBER', 'VIEWER'];
export const roleName = (role) => (t.has(`people.role.${role}`) ? t(`people.role.${role}`) : role);

const deptOptions = (depts, key) => options(depts.map((d) => [d.key, d.name]), key);
const roleOptions = (role) => options(ROLES.map((r) => [r, roleName(r)]), role);

/** Refresh `load` when another admin (or this one, elsewhere) changes the configuration. */
function followChanges(load) {
  let timer = null;
  const off = onBoardEvent((evt) => {
    if (evt.type !== 'CONFIGURATION_CHANGED' && evt.type !== 'RECONNECTED') return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  return () => { off(); clearTimeout(timer); };
}

// ------------------------------------------------------------- people

function statusChip(u) {
  return u.active
    ? `<span class="state-chip is-active">${esc(t('people.active'))}</span>`
    : `<span class="state-chip is-inactive" title="${esc(u.deactivatedAt ? t('people.deactivatedAt', { when: when(u.deactivatedAt) }) : '')}">${esc(t('people.inactive'))}</span>`;
}

function userRow(u) {
  const me = u.id === store.viewer.id;
  const sr = `<span class="sr-only">${esc(t('people.srOf', { name: u.name }))}</span>`;
  return `<tr data-id="${esc(u.id)}" data-testid="user-row" data-email="${esc(u.email)}" data-active="${u.active}" class="${u.active ? '' : 'is-inactive'}">
    <th scope="row" data-label="${esc(t('people.colName'))}"><span class="person-name">${esc(u.name)}</span>${me ? ` <span class="muted small">${esc(t('people.you'))}</span>` : ''}
      <span class="muted small person-email">${esc(u.email)}</span></th>
    <td data-label="${esc(t('people.colDepartment'))}">${esc(u.department.name)}</td>
    <td data-label="${esc(t('people.colRole'))}" data-testid="user-role">${esc(roleName(u.role))}</td>
    <td data-label="${esc(t('people.colStatus'))}" data-testid="user-status">${statusChip(u)}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      <button type="button" class="btn" data-testid="user-edit">${esc(t('people.edit'))}${sr}</button>
      ${u.active ? `<button type="button" class="btn" data-testid="user-reset">${esc(t('people.resetLink'))}${sr}</button>` : ''}
      ${me ? '' : u.active
    ? `<button type="button" class="btn btn-danger" data-testid="user-deactivate">${esc(t('people.deactivate'))}${sr}</button>`
    : `<button type="button" class="btn" data-testid="user-reactivate">${esc(t('people.reactivate'))}${sr}</button>`}
    </td>
  </tr>`;
}

function usersTable(users, showInactive) {
  const shown = users.filter((u) => showInactive || u.active);
  if (!shown.length) return `<p class="muted">${esc(t('people.none'))}</p>`;
  return `<table class="settings-table" data-testid="users-table">
    <thead><tr><th scope="col">${esc(t('people.colName'))}</th><th scope="col">${esc(t('people.colDepartment'))}</th>
      <th scope="col">${esc(t('people.colRole'))}</th><th scope="col">${esc(t('people.colStatus'))}</th>
      <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${shown.map(userRow).join('')}</tbody></table>`;
}

function inviteRow(i) {
  const sr = `<span class="sr-only">${esc(t('people.srOf', { name: i.email }))}</span>`;
  return `<tr data-id="${esc(i.id)}" data-testid="invite-row" data-email="${esc(i.email)}">
    <th scope="row" data-label="${esc(t('people.colEmail'))}">${esc(i.email)}${i.name ? ` <span class="muted small person-email">${esc(i.name)}</span>` : ''}</th>
    <td data-label="${esc(t('people.colDepartment'))}">${esc(i.department.name)}</td>
    <td data-label="${esc(t('people.colRole'))}">${esc(roleName(i.role))}</td>
    <td data-label="${esc(t('people.colExpires'))}">${esc(when(i.expiresAt))}${i.invitedBy ? ` <span class="muted small">${esc(t('people.invitedBy', { name: i.invitedBy.name }))}</span>` : ''}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}"><button type="button" class="btn btn-danger" data-testid="invite-revoke">${esc(t('people.revoke'))}${sr}</button></td>
  </tr>`;
}

function invitesTable(invites) {
  if (!invites.length) return `<p class="muted" data-testid="invites-none">${esc(t('people.noInvites'))}</p>`;
  return `<table class="settings-table" data-testid="invites-table">
    <thead><tr><th scope="col">${esc(t('people.colEmail'))}</th><th scope="col">${esc(t('people.colDepartment'))}</th>
      <th scope="col">${esc(t('people.colRole'))}</th><th scope="col">${esc(t('people.colExpires'))}</th>
      <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${invites.map(inviteRow).join('')}</tbody></table>`;
}

function inviteForm() {
  return `<form class="settings-form" id="invite-form" data-testid="invite-form" novalidate>
    <label>${esc(t('people.email'))} <input name="email" type="email" required autocomplete="off" spellcheck="false" data-testid="invite-email" aria-describedby="invite-error"></label>
    <label>${esc(t('people.nameOptional'))} <input name="name" maxlength="200" autocomplete="off" data-testid="invite-name" aria-describedby="invite-error"></label>
    <label>${esc(t('people.department'))} <select name="departmentKey" data-testid="invite-department" aria-describedby="invite-error"></select></label>
    <label>${esc(t('people.role'))} <select name="role" data-testid="invite-role" aria-describedby="invite-error">${roleOptions('MEMBER')}</select></label>
    <p class="form-error" id="invite-error" role="alert" data-testid="invite-error"></p>
    <div class="actions"><button type="submit" class="btn btn-primary" data-testid="invite-submit">${esc(t('people.invite'))}</button></div>
  </form>
  <div class="invite-result" data-testid="invite-result" role="status"></div>`;
}

function inviteResult(res, email) {
  return `<p><strong>${esc(t('people.invited', { email }))}</strong></p>
    <p class="${res.emailed ? 'ok-note' : 'muted'}" data-testid="invite-emailed" data-emailed="${res.emailed}">${esc(t(res.emailed ? 'people.emailed' : 'people.notEmailed', { email }))}</p>
    ${res.link ? linkBox(res.link, 'invite-link') : ''}`;
}

export function mountPeople(el) {
  let alive = true;
  let loads = 0;
  let data = { users: [], departments: [], invites: [] };
  let showInactive = false;
  el.innerHTML = `
    <div class="settings-grid">
      <section class="panel" aria-labelledby="invite-heading">
        <h2 id="invite-heading">${esc(t('people.inviteTitle'))}</h2>
        <p class="muted small">${esc(t('people.inviteIntro'))}</p>
        ${inviteForm()}
      </section>
      <section class="panel" aria-labelledby="invites-heading" data-testid="invites">
        <h2 id="invites-heading" tabindex="-1">${esc(t('people.invitesTitle'))}</h2>
        <p class="form-error" role="alert" id="invites-error" data-testid="invites-error"></p>
        <div class="invites-body"><p class="muted">${esc(t('loading'))}</p></div>
      </section>
      <section class="panel settings-wide" aria-labelledby="people-heading" data-testid="people" aria-busy="true">
        <div class="panel-head"><h2 id="people-heading" tabindex="-1">${esc(t('people.title'))}</h2>
          <span class="muted small" data-testid="people-count"></span><span class="spacer"></span>
          <label class="check"><input type="checkbox" data-testid="show-inactive"> ${esc(t('people.showInactive'))}</label></div>
        <p class="form-error" role="alert" id="people-error" data-testid="people-error"></p>
        <div class="people-body"><p class="muted">${esc(t('loading'))}</p></div>
      </section>
    </div>`;
  const form = $('#invite-form', el);
  const peoplePanel = $('[data-testid=people]', el);

  function render() {
    const active = data.users.filter((u) => u.active).length;
    $('[data-testid=people-count]', el).textContent = t('people.count', { count: active, inactive: data.users.length - active });
    keepFocus(peoplePanel, () => { $('.people-body', el).innerHTML = usersTable(data.users, showInactive); });
    const invites = $('[data-testid=invites]', el);
    keepFocus(invites, () => { $('.invites-body', el).innerHTML = invitesTable(data.invites); });
    const select = form.departmentKey;
    const chosen = select.value || store.viewer.department.key;
    select.innerHTML = deptOptions(data.departments, chosen);
  }

  async function load() {
    const seq = ++loads;
    try {
      const fresh = await gql(PEOPLE);
      if (!alive || seq !== loads) return;
      data = fresh;
      render();
    } catch (err) {
      if (!alive || seq !== loads) return;
      $('.people-body', el).innerHTML = `<p class="banner-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    peoplePanel.removeAttribute('aria-busy');
  }

  onSubmit(form, async () => {
    const email = form.email.value.trim();
    const input = { email, departmentKey: form.departmentKey.value, role: form.elements.namedItem('role').value };
    const name = form.elements.namedItem('name').value.trim();
    if (name) input.name = name;
    if (!email) { showErrors(form, [{ field: ['email'], message: t('people.emailMissing') }]); return; }
    const { inviteUser: res } = await gql(INVITE_USER, { input });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    const result = $('.invite-result', el);
    result.innerHTML = inviteResult(res, email);
    wireCopy(result);
    form.reset();
    form.departmentKey.value = input.departmentKey; // the next invitation is likely for the same department
    render();
    await load();
    focusFirst($('[data-testid=invite-link-copy]', result), form.email);
  });

  $('[data-testid=show-inactive]', el).addEventListener('change', (e) => { showInactive = e.target.checked; render(); });

  // One listener for every row's buttons (the rows are redrawn on each refresh).
  el.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-testid]');
    const row = button?.closest('tr[data-id]');
    if (!row) return;
    const act = USER_ACTIONS[button.dataset.testid];
    if (act) act(data.users.find((u) => u.id === row.dataset.id) || data.invites.find((i) => i.id === row.dataset.id), { el, load, data });
  });

  const stop = followChanges(load);
  load();
  return () => { alive = false; stop(); };
}

/** After a row's action: its first control again (the row was redrawn), else the list's heading. */
const rowControl = (el, id, heading, which = 'button') => () => $(`tr[data-id="${CSS.escape(id)}"] .row-actions ${which}`, el)
  || $(`tr[data-id="${CSS.escape(id)}"] .row-actions button`, el) || $(heading, el);

const USER_ACTIONS = {
  'user-edit': editUser,
  'user-reset': resetLink,
  'user-deactivate': (u, ctx) => setActive(u, false, ctx),
  'user-reactivate': (u, ctx) => setActive(u, true, ctx),
  'invite-revoke': revokeInvite,
};

function editUser(u, { el, load, data }) {
  const modal = openModal({ title: t('people.editTitle', { name: u.name }), testid: 'user-dialog', className: 'settings-modal', returnTo: rowControl(el, u.id, '#people-heading') });
  modal.body.innerHTML = `<form class="stack" novalidate data-testid="user-form">
    <label>${esc(t('people.name'))} <input name="name" required maxlength="200" value="${esc(u.name)}" data-testid="user-name"></label>
    <label>${esc(t('people.email'))} <input name="email" type="email" required value="${esc(u.email)}" spellcheck="false" data-testid="user-email"></label>
    <label>${esc(t('people.department'))} <select name="departmentKey" data-testid="user-department">${deptOptions(data.departments, u.department.key)}</select></label>
    <label>${esc(t('people.role'))} <select name="role" data-testid="user-role-select" aria-describedby="role-hint">${roleOptions(u.role)}</select></label>
    <p class="muted small" id="role-hint">${esc(t('people.roleHint'))}</p>
    <p class="form-error" role="alert" data-testid="user-error"></p>
    <div class="actions"><button type="submit" class="btn btn-primary" data-testid="user-save">${esc(t('settings.save'))}</button>
      <button type="button" class="btn" data-cancel>${esc(t('dialog.cancel'))}</button></div>
  </form>`;
  const form = $('form', modal.body);
  $('[data-cancel]', form).addEventListener('click', modal.close);
  onSubmit(form, async () => {
    const input = { id: u.id };
    const name = form.elements.namedItem('name').value.trim();
    const email = form.email.value.trim();
    if (name !== u.name) input.name = name;
    if (email !== u.email) input.email = email;
    if (form.departmentKey.value !== u.department.key) input.departmentKey = form.departmentKey.value;
    if (form.elements.namedItem('role').value !== u.role) input.role = form.elements.namedItem('role').value;
    if (Object.keys(input).length === 1) { modal.close(); return; }
    const { updateUser: res } = await gql(UPDATE_USER, { input });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    toast(t('people.saved', { name: res.user.name }), 'ok');
    if (res.user.id === store.viewer.id) {
      Object.assign(store.viewer, { name: res.user.name, email: res.user.email, role: res.user.role });
      window.dispatchEvent(new CustomEvent('baton:viewer'));
    }
    await load();
    modal.close();
  });
  form.elements.namedItem('name').focus();
}

function setActive(u, active, { el, load }) {
  confirmDialog({
    title: t(active ? 'people.reactivateTitle' : 'people.deactivateTitle', { name: u.name }),
    text: t(active ? 'people.reactivateText' : 'people.deactivateText', { name: u.name }),
    action: t(active ? 'people.reactivate' : 'people.deactivate'),
    danger: !active,
    returnTo: rowControl(el, u.id, '#people-heading', `[data-testid=${active ? 'user-deactivate' : 'user-reactivate'}]`),
    act: async () => {
      const { [active ? 'reactivateUser' : 'deactivateUser']: res } = await gql(active ? REACTIVATE : DEACTIVATE, { input: { id: u.id } });
      if (res.userErrors.length) return res.userErrors;
      toast(t(active ? 'people.reactivated' : 'people.deactivated', { name: u.name }), 'ok');
      if (!active) { const box = $('[data-testid=show-inactive]', el); if (box && !box.checked) box.click(); }
      await load();
      return null;
    },
  });
}

async function resetLink(u, { el }) {
  const modal = openModal({ title: t('people.resetTitle', { name: u.name }), testid: 'reset-dialog', className: 'settings-modal', returnTo: rowControl(el, u.id, '#people-heading') });
  modal.body.innerHTML = `<div class="stack" data-testid="reset-body"><p class="muted" role="status">${esc(t('loading'))}</p></div>`;
  const body = $('[data-testid=reset-body]', modal.body);
  try {
    const { createPasswordReset: res } = await gql(RESET_LINK, { input: { id: u.id } });
    if (res.userErrors.length || !res.link) {
      body.innerHTML = `<p class="form-error" role="alert">${esc(res.userErrors.map((e) => e.message).join('\n'))}</p>`;
      return;
    }
    body.innerHTML = `<p>${esc(t('people.resetText', { name: u.name, when: when(res.expiresAt) }))}</p>${linkBox(res.link, 'reset-link')}
      <div class="actions"><button type="button" class="btn" data-cancel>${esc(t('dialog.close'))}</button></div>`;
    wireCopy(body);
    $('[data-cancel]', body).addEventListener('click', modal.close);
    $('[data-copy]', body).focus();
  } catch (err) {
    body.innerHTML = `<p class="form-error" role="alert">${esc(t('settings.failed', { message: err.message }))}</p>`;
  }
}

async function revokeInvite(invite, { el, load }) {
  const box = $('#invites-error', el);
  box.textContent = '';
  try {
    const { revokeInvite: res } = await gql(REVOKE_INVITE, { input: { id: invite.id } });
    if (res.userErrors.length) { box.textContent = res.userErrors.map((e) => e.message).join('\n'); return; }
    toast(t('people.revoked', { email: invite.email }), 'ok');
    await load();
    focusFirst($('[data-testid=invite-revoke]', el), $('#invites-heading', el));
  } catch (err) {
    box.textContent = t('settings.failed', { message: err.message });
  }
}

// ------------------------------------------------------------- departments

function deptRow(d) {
  const sr = `<span class="sr-only">${esc(t('people.srOf', { name: d.name }))}</span>`;
  const managers = d.managers?.length ? d.managers.map((m) => esc(m.name)).join(esc(t('list.sep'))) : `<span class="muted">${esc(t('depts.noManagers'))}</span>`;
  return `<tr data-id="${esc(d.id)}" data-testid="dept-row" data-key="${esc(d.key)}" data-archived="${d.archived}" class="${d.archived ? 'is-inactive' : ''}">
    <th scope="row" data-label="${esc(t('depts.colName'))}"><span data-testid="dept-name">${esc(d.name)}</span> <span class="muted small code">${esc(d.key)}</span></th>
    <td data-label="${esc(t('depts.colManagers'))}">${managers}</td>
    <td data-label="${esc(t('people.colStatus'))}">${d.archived
    ? `<span class="state-chip is-inactive">${esc(t('depts.archived'))}</span>`
    : `<span class="state-chip is-active">${esc(t('people.active'))}</span>`}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      <button type="button" class="btn" data-testid="dept-rename">${esc(t('depts.rename'))}${sr}</button>
      ${d.archived
    ? `<button type="button" class="btn" data-testid="dept-restore">${esc(t('depts.restore'))}${sr}</button>`
    : `<button type="button" class="btn btn-danger" data-testid="dept-archive">${esc(t('depts.archive'))}${sr}</button>`}
    </td>
  </tr>`;
}

function deptsTable(depts) {
  if (!depts.length) return `<p class="muted">${esc(t('depts.none'))}</p>`;
  return `<table class="settings-table" data-testid="depts-table">
    <thead><tr><th scope="col">${esc(t('depts.colName'))}</th><th scope="col">${esc(t('depts.colManagers'))}</th>
      <th scope="col">${esc(t('people.colStatus'))}</th><th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${depts.map(deptRow).join('')}</tbody></table>`;
}

export function mountDepartments(el) {
  let alive = true;
  let loads = 0;
  let depts = [];
  el.innerHTML = `
    <div class="settings-grid">
      <section class="panel" aria-labelledby="dept-new-heading">
        <h2 id="dept-new-heading">${esc(t('depts.createTitle'))}</h2>
        <form class="settings-form" id="dept-form" data-testid="dept-form" novalidate>
          <label>${esc(t('depts.name'))} <input name="name" required maxlength="100" autocomplete="off" data-testid="dept-name-input" aria-describedby="dept-error"></label>
          <label>${esc(t('depts.key'))} <input name="key" required maxlength="40" autocomplete="off" spellcheck="false" data-testid="dept-key-input" aria-describedby="dept-key-hint dept-error">
            <span class="form-hint" id="dept-key-hint">${esc(t('depts.keyHint'))}</span></label>
          <p class="form-error" id="dept-error" role="alert" data-testid="dept-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="dept-submit">${esc(t('depts.create'))}</button></div>
        </form>
      </section>
      <section class="panel" aria-labelledby="dept-managers-heading">
        <h2 id="dept-managers-heading">${esc(t('depts.managersTitle'))}</h2>
        <p class="muted small">${esc(t('depts.managersHint'))}</p>
      </section>
      <section class="panel settings-wide" aria-labelledby="depts-heading" data-testid="depts" aria-busy="true">
        <h2 id="depts-heading" tabindex="-1">${esc(t('depts.title'))}</h2>
        <p class="form-error" role="alert" id="depts-error" data-testid="depts-error"></p>
        <div class="depts-body"><p class="muted">${esc(t('loading'))}</p></div>
      </section>
    </div>`;
  const form = $('#dept-form', el);
  const panel = $('[data-testid=depts]', el);
  const errorBox = $('#depts-error', el);

  async function load() {
    const seq = ++loads;
    try {
      const data = await gql(DEPARTMENTS);
      if (!alive || seq !== loads) return;
      depts = data.departments;
      keepFocus(panel, () => { $('.depts-body', el).innerHTML = deptsTable(depts); });
    } catch (err) {
      if (!alive || seq !== loads) return;
      $('.depts-body', el).innerHTML = `<p class="banner-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    panel.removeAttribute('aria-busy');
  }

  // A key from the name while the key was not typed by hand: "Customer Success" → customer_success.
  let keyTyped = false;
  form.key.addEventListener('input', () => { keyTyped = !!form.key.value; });
  form.elements.namedItem('name').addEventListener('input', (e) => {
    if (!keyTyped) form.key.value = e.target.value.toLowerCase().trim().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  });

  onSubmit(form, async () => {
    const input = { name: form.elements.namedItem('name').value.trim(), key: form.key.value.trim() };
    const missing = [!input.name && { field: ['name'], message: t('depts.nameMissing') }, !input.key && { field: ['key'], message: t('depts.keyMissing') }].filter(Boolean);
    if (missing.length) { showErrors(form, missing); return; }
    const { createDepartment: res } = await gql(CREATE_DEPT, { input });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    toast(t('depts.created', { name: res.department.name }), 'ok');
    if (!store.departments.some((x) => x.key === res.department.key)) store.departments.push({ id: res.department.id, key: res.department.key, name: res.department.name });
    form.reset();
    keyTyped = false;
    await load();
  });

  el.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-testid^="dept-"]');
    const row = button?.closest('tr[data-id]');
    if (!row) return;
    const d = depts.find((x) => x.id === row.dataset.id);
    if (!d) return;
    errorBox.textContent = '';
    if (button.dataset.testid === 'dept-rename') { renameDept(d, { el, load }); return; }
    const archive = button.dataset.testid === 'dept-archive';
    try {
      const { [archive ? 'archiveDepartment' : 'restoreDepartment']: res } = await gql(archive ? ARCHIVE_DEPT : RESTORE_DEPT, { input: { id: d.id } });
      if (res.userErrors.length) { errorBox.textContent = res.userErrors.map((x) => x.message).join('\n'); button.focus(); return; }
      toast(t(archive ? 'depts.archivedToast' : 'depts.restored', { name: d.name }), 'ok');
      await load();
      focusFirst(rowControl(el, d.id, '#depts-heading'));
    } catch (err) {
      errorBox.textContent = t('settings.failed', { message: err.message });
    }
  });

  const stop = followChanges(load);
  load();
  return () => { alive = false; stop(); };
}

function renameDept(d, { el, load }) {
  const modal = openModal({ title: t('depts.renameTitle', { name: d.name }), testid: 'dept-dialog', className: 'settings-modal', returnTo: rowControl(el, d.id, '#depts-heading') });
  modal.body.innerHTML = `<form class="stack" novalidate>
    <label>${esc(t('depts.name'))} <input name="name" required maxlength="100" value="${esc(d.name)}" data-testid="dept-rename-input"></label>
    <p class="form-error" role="alert" data-testid="dept-rename-error"></p>
    <div class="actions"><button type="submit" class="btn btn-primary" data-testid="dept-rename-save">${esc(t('settings.save'))}</button>
      <button type="button" class="btn" data-cancel>${esc(t('dialog.cancel'))}</button></div>
  </form>`;
  const form = $('form', modal.body);
  $('[data-cancel]', form).addEventListener('click', modal.close);
  onSubmit(form, async () => {
    const { updateDepartment: res } = await gql(UPDATE_DEPT, { input: { id: d.id, name: form.elements.namedItem('name').value.trim() } });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    toast(t('depts.renamed', { name: res.department.name }), 'ok');
    const known = store.departments.find((x) => x.key === res.department.key);
    if (known) known.name = res.department.name;
    await load();
    modal.close();
  });
  form.elements.namedItem('name').select();
}
