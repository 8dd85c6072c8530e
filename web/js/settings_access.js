// Settings → Access (admins): who may see what. The access rules per role and department (a data scope
// and withheld fields: what setAccessRule takes), a form to set one, and "view as": what one user sees
// under the rules as they stand (accessPreview, computed by the server with the same lookup and predicate
// as that user's own reads). Saving a rule refreshes the table and the preview; other admins' changes
// arrive live (ACCESS_RULES_UPDATED) and refresh them too.
import { gql } from './api.js';
import { esc, $, $$, toast, fieldLabel, listWords } from './util.js';
import { t } from './i18n.js';
import { onBoardEvent } from './state.js';
import { keepFocus } from './focus.js';
import { showErrors, onSubmit } from './forms.js';
import { roleName } from './settings_people.js';

const RULE = 'role departmentKey scope hiddenFields';
const ACCESS = `query SettingsAccess {
  accessRules { ${RULE} }
  departments { id key name }
  users { id name role department { key name } }
}`;
const SET_RULE = `mutation SetAccessRule($input: SetAccessRuleInput!) { setAccessRule(input: $input) { accessRule { ${RULE} } userErrors { code field message } } }`;
const PREVIEW = `query AccessPreview($userId: ID!) { accessPreview(userId: $userId) {
  user { id name role department { name } } rule { ${RULE} } visibleCards totalCards hiddenFields sampleTitles } }`;

const RULE_ROLES = ['MANAGER', 'MEMBER', 'VIEWER']; // admins always see everything
const SCOPES = ['OWN', 'DEPARTMENT', 'ALL'];
const HIDEABLE = ['amount', 'probability', 'expectedCloseDate', 'lostReason', 'nextStep', 'account'];

const scopeName = (scope) => t(`access.scope.${scope}`);
const fieldNames = (fields) => listWords(fields.map((f) => fieldLabel(f)));

function ruleRow(r, deptName) {
  const key = `${r.role}:${r.departmentKey || ''}`;
  const who = t('access.ruleOf', { role: roleName(r.role), department: r.departmentKey ? deptName(r.departmentKey) : t('access.everyDepartment') });
  return `<tr data-id="${esc(key)}" data-testid="access-rule-row" data-role="${esc(r.role)}" data-department="${esc(r.departmentKey || '')}">
    <th scope="row" data-label="${esc(t('access.colRole'))}">${esc(roleName(r.role))}</th>
    <td data-label="${esc(t('access.colDepartment'))}">${r.departmentKey ? esc(deptName(r.departmentKey)) : `<span class="muted">${esc(t('access.everyDepartment'))}</span>`}</td>
    <td data-label="${esc(t('access.colScope'))}" data-testid="access-rule-scope" data-scope="${esc(r.scope)}">${esc(scopeName(r.scope))}</td>
    <td data-label="${esc(t('access.colHidden'))}" data-testid="access-rule-hidden">${r.hiddenFields.length ? esc(fieldNames(r.hiddenFields)) : `<span class="muted">${esc(t('access.nothingHidden'))}</span>`}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      <button type="button" class="btn" data-testid="access-rule-edit">${esc(t('access.edit'))}<span class="sr-only"> ${esc(who)}</span></button>
    </td>
  </tr>`;
}

function rulesTable(rules, deptName) {
  if (!rules.length) return `<p class="muted" data-testid="access-rules-empty">${esc(t('access.none'))}</p>`;
  return `<table class="settings-table" data-testid="access-rules-table">
    <thead><tr><th scope="col">${esc(t('access.colRole'))}</th><th scope="col">${esc(t('access.colDepartment'))}</th>
      <th scope="col">${esc(t('access.colScope'))}</th><th scope="col">${esc(t('access.colHidden'))}</th>
      <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${rules.map((r) => ruleRow(r, deptName)).join('')}</tbody></table>`;
}

function previewBody(p) {
  const name = p.user.name;
  const hidden = p.hiddenFields.length
    ? t('access.previewHidden', { count: p.hiddenFields.length, fields: fieldNames(p.hiddenFields) })
    : t('access.previewNothingHidden');
  let rule;
  if (p.user.role === 'ADMIN') rule = t('access.previewAdmin');
  else if (!p.rule) rule = t('access.previewNoRule', { role: roleName(p.user.role) });
  else rule = t('access.previewRule', { role: roleName(p.rule.role), department: p.rule.departmentKey ? p.user.department.name : t('access.everyDepartment'), scope: scopeName(p.rule.scope) });
  const titles = p.sampleTitles.length
    ? `<p class="small muted">${esc(t('access.previewSamples'))}</p><ul class="access-samples" data-testid="access-preview-samples">${p.sampleTitles.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`
    : '';
  return `<p class="access-preview-count" data-testid="access-preview-count" data-visible="${p.visibleCards}" data-total="${p.totalCards}">
      ${esc(t('access.previewSees', { name, count: p.visibleCards, total: p.totalCards }))}</p>
    <p data-testid="access-preview-hidden">${esc(hidden)}</p>
    <p class="muted small" data-testid="access-preview-rule">${esc(rule)}</p>
    ${titles}`;
}

export function mountAccessSettings(el) {
  let alive = true;
  let loads = 0;
  let previews = 0;
  let data = { accessRules: [], departments: [], users: [] };
  const fieldChecks = HIDEABLE.map((f) => `<label class="check"><input type="checkbox" name="hiddenFields" value="${esc(f)}" data-testid="access-hide-${esc(f)}"> ${esc(fieldLabel(f))}</label>`).join('');
  el.innerHTML = `
    <div class="settings-grid access-settings">
      <section class="panel settings-wide" aria-labelledby="access-rules-heading" data-testid="access-rules" aria-busy="true">
        <h2 id="access-rules-heading" tabindex="-1">${esc(t('access.title'))}</h2>
        <p class="muted small">${esc(t('access.intro'))}</p>
        <div class="access-rules-body"><p class="muted">${esc(t('loading'))}</p></div>
      </section>
      <section class="panel" aria-labelledby="access-form-heading">
        <h2 id="access-form-heading" tabindex="-1">${esc(t('access.formTitle'))}</h2>
        <form class="settings-form" id="access-form" data-testid="access-form" novalidate>
          <label>${esc(t('access.colRole'))} <select name="role" data-testid="access-role">${RULE_ROLES.map((r) => `<option value="${r}"${r === 'MEMBER' ? ' selected' : ''}>${esc(roleName(r))}</option>`).join('')}</select></label>
          <label>${esc(t('access.colDepartment'))} <select name="departmentKey" data-testid="access-department"><option value="">${esc(t('access.everyDepartment'))}</option></select></label>
          <label>${esc(t('access.colScope'))} <select name="scope" data-testid="access-scope" aria-describedby="access-scope-hint">${SCOPES.map((s) => `<option value="${s}"${s === 'ALL' ? ' selected' : ''}>${esc(scopeName(s))}</option>`).join('')}</select></label>
          <p class="form-hint" id="access-scope-hint">${esc(t('access.scopeHint'))}</p>
          <fieldset class="access-fields" data-testid="access-hidden-fields">
            <legend>${esc(t('access.colHidden'))}</legend>
            ${fieldChecks}
          </fieldset>
          <p class="form-error" role="alert" id="access-error" data-testid="access-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="access-save">${esc(t('access.save'))}</button></div>
        </form>
      </section>
      <section class="panel" aria-labelledby="access-view-heading" data-testid="access-view-as">
        <h2 id="access-view-heading">${esc(t('access.viewAsTitle'))}</h2>
        <p class="muted small">${esc(t('access.viewAsIntro'))}</p>
        <label class="access-user">${esc(t('access.viewAs'))} <select name="user" data-testid="access-view-user"><option value="">${esc(t('access.pickUser'))}</option></select></label>
        <div class="access-preview" aria-live="polite" data-testid="access-preview"></div>
      </section>
    </div>`;
  const form = $('#access-form', el);
  const panel = $('[data-testid=access-rules]', el);
  const picker = $('[data-testid=access-view-user]', el);
  const out = $('[data-testid=access-preview]', el);
  const deptName = (key) => data.departments.find((d) => d.key === key)?.name || key;

  function fillPickers() {
    const dept = form.departmentKey.value;
    form.departmentKey.innerHTML = `<option value="">${esc(t('access.everyDepartment'))}</option>${data.departments.map((d) => `<option value="${esc(d.key)}"${d.key === dept ? ' selected' : ''}>${esc(d.name)}</option>`).join('')}`;
    const chosen = picker.value;
    picker.innerHTML = `<option value="">${esc(t('access.pickUser'))}</option>${data.users.map((u) => `<option value="${esc(u.id)}"${u.id === chosen ? ' selected' : ''}>${esc(t('access.userOption', { name: u.name, department: u.department.name, role: roleName(u.role) }))}</option>`).join('')}`;
  }

  async function load() {
    const seq = ++loads;
    try {
      const got = await gql(ACCESS);
      if (!alive || seq !== loads) return;
      data = got;
      keepFocus(panel, () => { $('.access-rules-body', el).innerHTML = rulesTable(data.accessRules, deptName); });
      fillPickers();
    } catch (err) {
      if (!alive || seq !== loads) return;
      $('.access-rules-body', el).innerHTML = `<p class="banner-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    panel.removeAttribute('aria-busy');
  }

  async function preview() {
    const seq = ++previews;
    const userId = picker.value;
    if (!userId) { out.innerHTML = ''; return; }
    out.setAttribute('aria-busy', 'true');
    try {
      const { accessPreview: p } = await gql(PREVIEW, { userId });
      if (!alive || seq !== previews) return;
      out.innerHTML = previewBody(p);
    } catch (err) {
      if (!alive || seq !== previews) return;
      out.innerHTML = `<p class="form-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    out.removeAttribute('aria-busy');
  }
  picker.addEventListener('change', preview);

  /** The form shows the rule for the chosen role and department (or the defaults: every card, nothing hidden). */
  function showRule() {
    const r = data.accessRules.find((x) => x.role === form.elements.namedItem('role').value && (x.departmentKey || '') === form.departmentKey.value);
    form.scope.value = r ? r.scope : 'ALL';
    $$('input[name=hiddenFields]', form).forEach((box) => { box.checked = !!r && r.hiddenFields.includes(box.value); });
  }
  form.elements.namedItem('role').addEventListener('change', showRule);
  form.departmentKey.addEventListener('change', showRule);

  onSubmit(form, async () => {
    const input = {
      role: form.elements.namedItem('role').value,
      departmentKey: form.departmentKey.value || null,
      scope: form.scope.value,
      hiddenFields: $$('input[name=hiddenFields]:checked', form).map((box) => box.value),
    };
    const { setAccessRule: res } = await gql(SET_RULE, { input });
    if (res.userErrors.length) { showErrors(form, res.userErrors); return; }
    const r = res.accessRule;
    toast(t('access.saved', { role: roleName(r.role), department: r.departmentKey ? deptName(r.departmentKey) : t('access.everyDepartment') }), 'ok');
    await load();
    await preview();
  });

  el.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-testid=access-rule-edit]');
    const row = button?.closest('tr[data-id]');
    if (!row) return;
    form.elements.namedItem('role').value = row.dataset.role;
    form.departmentKey.value = row.dataset.department;
    showRule();
    form.elements.namedItem('role').focus();
    form.scrollIntoView({ block: 'nearest' });
  });

  // Another admin's rule (or a change to people and departments) refreshes the table and the preview.
  let timer = null;
  const off = onBoardEvent((evt) => {
    if (!['ACCESS_RULES_UPDATED', 'CONFIGURATION_CHANGED', 'RECONNECTED'].includes(evt.type)) return;
    clearTimeout(timer);
    timer = setTimeout(() => { load().then(preview); }, 300);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}
