// Settings → Integrations (admins): API tokens (scope, department, the user they act as; the value shown
// once; revoke), outgoing webhooks (events, departments, the signing secret shown once, a delivery log with
// Redeliver, delete), the departments' notification channels (飞书/钉钉/企业微信 bots and email, with their
// disabled state and why) and a link to the exchange rates (#/rates, their own screen). Every change goes
// through the GraphQL API; its userErrors are shown beside the form that asked. Other admins' changes
// arrive live (CONFIGURATION_CHANGED) and the lists refresh.
import { gql } from './api.js';
import { esc, $, $$, when, toast } from './util.js';
import { t } from './i18n.js';
import { onBoardEvent } from './state.js';
import { openModal } from './ui.js';
import { keepFocus, focusFirst } from './focus.js';
import { showErrors, onSubmit, wireCopy, options, confirmDialog } from './forms.js';

const ERR = 'userErrors { code field message }';
const TOKEN = 'id name scope createdAt lastUsedAt revokedAt expiresAt department { key name } user { id name }';
const HOOK = 'id url eventTypes departmentKeys enabled failingSince disabledAt disabledReason createdAt actsAs { id name }';
export const CHANNEL = 'id type name enabled failingSince consecutiveFailures disabledAt disabledReason target hasSecret department { key name } user { id }';
const DELIVERY = 'id eventType eventSeq status attempts lastStatusCode lastError lastAttemptAt createdAt deliveredAt nextAttemptAt redeliveryOf';
const LOAD = `query SettingsIntegrations {
  apiTokens(includeRevoked: true) { ${TOKEN} }
  webhooks { ${HOOK} }
  notificationChannels(first: 100) { edges { node { ${CHANNEL} } } }
  departments { id key name }
  users { id name department { name } }
}`;
const EVENT_TYPES = 'query WebhookEventTypes { __type(name: "BoardEventType") { enumValues { name } } }';
const DELIVERIES = `query WebhookDeliveries { webhooks { id deliveries(first: 25) { edges { node { ${DELIVERY} } } } } }`;
const CREATE_TOKEN = `mutation CreateApiToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { ${TOKEN} } ${ERR} } }`;
const REVOKE_TOKEN = `mutation RevokeApiToken($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiToken { ${TOKEN} } ${ERR} } }`;
const CREATE_HOOK = `mutation CreateWebhook($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { ${HOOK} } ${ERR} } }`;
const UPDATE_HOOK = `mutation UpdateWebhook($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { ${HOOK} } ${ERR} } }`;
const DELETE_HOOK = `mutation DeleteWebhook($input: DeleteWebhookInput!) { deleteWebhook(input: $input) { deletedId ${ERR} } }`;
const REDELIVER = `mutation RedeliverWebhook($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) { delivery { ${DELIVERY} } ${ERR} } }`;
export const SET_CHANNEL = `mutation SetNotificationChannel($input: SetNotificationChannelInput!) { setNotificationChannel(input: $input) { channel { ${CHANNEL} } ${ERR} } }`;
export const DELETE_CHANNEL = `mutation DeleteNotificationChannel($input: NotificationChannelIdInput!) { deleteNotificationChannel(input: $input) { deletedId ${ERR} } }`;

export const CHANNEL_TYPES = ['FEISHU', 'DINGTALK', 'WECOM', 'EMAIL'];
// Used when introspection is switched off on the server (BATON_INTROSPECTION=false).
const FALLBACK_EVENTS = ['OPPORTUNITY_CREATED', 'OPPORTUNITY_UPDATED', 'OPPORTUNITY_MOVED', 'OPPORTUNITY_LOST', 'TASK_CREATED', 'TASK_UPDATED',
  'COMMENT_ADDED', 'HANDOFF_REQUESTED', 'HANDOFF_RESOLVED', 'APPROVAL_REQUESTED', 'APPROVAL_DECIDED'];

const sr = (name) => `<span class="sr-only"> ${esc(t('people.srOf', { name }))}</span>`;
const chip = (on, text, title = '') => `<span class="state-chip ${on ? 'is-active' : 'is-inactive'}"${title ? ` title="${esc(title)}"` : ''}>${esc(text)}</span>`;

/** A secret shown once: read-only, a Copy button, what copying did, and the warning that it is not shown again. */
function secretBox(label, value, testid) {
  return `<div class="integration-secret" data-testid="${esc(testid)}">
    <p class="integration-warning" role="status">${esc(t('integrations.shownOnce'))}</p>
    <div class="link-box">
      <label>${esc(label)} <input type="text" readonly value="${esc(value)}" class="link-value" data-testid="${esc(testid)}-value" spellcheck="false" autocomplete="off"></label>
      <button type="button" class="btn" data-copy data-testid="${esc(testid)}-copy">${esc(t('people.copy'))}</button>
      <p class="muted small link-copied" role="status" data-testid="${esc(testid)}-copied"></p>
    </div></div>`;
}

// ------------------------------------------------------------- API tokens

function tokenRow(k) {
  const status = k.revokedAt
    ? chip(false, t('integrations.revokedAt', { when: when(k.revokedAt) }))
    : chip(true, t('integrations.tokenActive'));
  return `<tr data-id="${esc(k.id)}" data-testid="token-row" data-name="${esc(k.name)}" data-revoked="${!!k.revokedAt}" class="${k.revokedAt ? 'is-inactive' : ''}">
    <th scope="row" data-label="${esc(t('integrations.colName'))}">${esc(k.name)}</th>
    <td data-label="${esc(t('integrations.colScope'))}" data-testid="token-scope">${esc(t(`integrations.scope.${k.scope}`))}</td>
    <td data-label="${esc(t('integrations.colDepartment'))}">${k.department ? esc(k.department.name) : `<span class="muted">${esc(t('integrations.everyDepartment'))}</span>`}</td>
    <td data-label="${esc(t('integrations.colActsAs'))}">${esc(k.user.name)}</td>
    <td data-label="${esc(t('integrations.colCreated'))}">${esc(when(k.createdAt))}</td>
    <td data-label="${esc(t('integrations.colLastUsed'))}" data-testid="token-last-used">${k.lastUsedAt ? esc(when(k.lastUsedAt)) : `<span class="muted">${esc(t('integrations.never'))}</span>`}</td>
    <td data-label="${esc(t('label.status'))}" data-testid="token-status">${status}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">${k.revokedAt ? '' : `<button type="button" class="btn btn-danger" data-testid="token-revoke">${esc(t('integrations.revoke'))}${sr(k.name)}</button>`}</td>
  </tr>`;
}

function tokensTable(tokens, showRevoked) {
  const shown = tokens.filter((k) => showRevoked || !k.revokedAt);
  if (!shown.length) return `<p class="muted" data-testid="tokens-empty">${esc(t('integrations.noTokens'))}</p>`;
  return `<table class="settings-table" data-testid="tokens-table">
    <thead><tr><th scope="col">${esc(t('integrations.colName'))}</th><th scope="col">${esc(t('integrations.colScope'))}</th>
      <th scope="col">${esc(t('integrations.colDepartment'))}</th><th scope="col">${esc(t('integrations.colActsAs'))}</th>
      <th scope="col">${esc(t('integrations.colCreated'))}</th><th scope="col">${esc(t('integrations.colLastUsed'))}</th>
      <th scope="col">${esc(t('label.status'))}</th><th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${shown.map(tokenRow).join('')}</tbody></table>`;
}

// ------------------------------------------------------------- webhooks

function hookStatus(w) {
  if (w.enabled) return w.failingSince ? chip(false, t('integrations.failingSince', { when: when(w.failingSince) })) : chip(true, t('integrations.enabled'));
  return `${chip(false, t('integrations.disabled'))}${w.disabledReason ? ` <span class="muted small integration-reason">${esc(w.disabledReason)}</span>` : ''}`;
}

function hookRow(w, deptName) {
  return `<tr data-id="${esc(w.id)}" data-testid="webhook-row" data-url="${esc(w.url)}" class="${w.enabled ? '' : 'is-inactive'}">
    <th scope="row" data-label="${esc(t('integrations.colUrl'))}"><span class="code integration-url">${esc(w.url)}</span>
      ${w.actsAs ? `<span class="muted small">${esc(t('integrations.actsAs', { name: w.actsAs.name }))}</span>` : ''}</th>
    <td data-label="${esc(t('integrations.colEvents'))}" class="integration-events">${w.eventTypes.length ? w.eventTypes.map((e) => `<span class="code">${esc(e)}</span>`).join(' ') : `<span class="muted">${esc(t('integrations.allEvents'))}</span>`}</td>
    <td data-label="${esc(t('integrations.colDepartments'))}">${w.departmentKeys.length ? esc(w.departmentKeys.map(deptName).join(t('list.sep'))) : `<span class="muted">${esc(t('integrations.everyDepartment'))}</span>`}</td>
    <td data-label="${esc(t('label.status'))}" data-testid="webhook-status">${hookStatus(w)}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      <button type="button" class="btn" data-testid="webhook-deliveries">${esc(t('integrations.deliveries'))}${sr(w.url)}</button>
      <button type="button" class="btn" data-testid="webhook-toggle">${esc(t(w.enabled ? 'integrations.disable' : 'integrations.enable'))}${sr(w.url)}</button>
      <button type="button" class="btn btn-danger" data-testid="webhook-delete">${esc(t('integrations.delete'))}${sr(w.url)}</button>
    </td>
  </tr>`;
}

function hooksTable(hooks, deptName) {
  if (!hooks.length) return `<p class="muted" data-testid="webhooks-empty">${esc(t('integrations.noWebhooks'))}</p>`;
  return `<table class="settings-table" data-testid="webhooks-table">
    <thead><tr><th scope="col">${esc(t('integrations.colUrl'))}</th><th scope="col">${esc(t('integrations.colEvents'))}</th>
      <th scope="col">${esc(t('integrations.colDepartments'))}</th><th scope="col">${esc(t('label.status'))}</th>
      <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${hooks.map((w) => hookRow(w, deptName)).join('')}</tbody></table>`;
}

function deliveryRow(d, hookEnabled) {
  const code = d.lastStatusCode ? String(d.lastStatusCode) : '—';
  return `<tr data-id="${esc(d.id)}" data-testid="delivery-row" data-status="${esc(d.status)}" data-attempts="${d.attempts}">
    <th scope="row" data-label="${esc(t('integrations.colEvent'))}"><span class="code">${esc(d.eventType)}</span> <span class="muted small">#${esc(d.eventSeq)}</span>
      ${d.redeliveryOf ? `<span class="muted small">${esc(t('integrations.redelivery'))}</span>` : ''}</th>
    <td data-label="${esc(t('label.status'))}" data-testid="delivery-status">${chip(d.status === 'DELIVERED', t(`integrations.delivery.${d.status}`), d.lastError || '')}
      ${d.lastError ? `<span class="muted small integration-reason">${esc(d.lastError)}</span>` : ''}</td>
    <td data-label="${esc(t('integrations.colAttempts'))}" data-testid="delivery-attempts">${esc(d.attempts)}</td>
    <td data-label="${esc(t('integrations.colResponse'))}" data-testid="delivery-code">${esc(code)}</td>
    <td data-label="${esc(t('integrations.colTime'))}">${esc(when(d.lastAttemptAt || d.createdAt))}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">${hookEnabled ? `<button type="button" class="btn" data-testid="delivery-redeliver">${esc(t('integrations.redeliver'))}<span class="sr-only"> ${esc(t('integrations.deliveryOf', { type: d.eventType, seq: d.eventSeq }))}</span></button>` : ''}</td>
  </tr>`;
}

/** The delivery log of one webhook in a dialog: newest first, with Redeliver on each. */
function openDeliveries(hook, { el, load }) {
  const modal = openModal({ title: t('integrations.deliveriesTitle', { url: hook.url }), testid: 'deliveries-dialog', className: 'settings-modal integration-log-modal',
    returnTo: () => $(`tr[data-id="${CSS.escape(hook.id)}"] [data-testid=webhook-deliveries]`, el) });
  modal.body.innerHTML = `<div class="stack">
    <div class="panel-head"><button type="button" class="btn" data-testid="deliveries-refresh">${esc(t('integrations.refresh'))}</button></div>
    <p class="form-error" role="alert" data-testid="deliveries-error"></p>
    <div class="deliveries-body" aria-live="polite"><p class="muted">${esc(t('loading'))}</p></div>
    <div class="actions"><button type="button" class="btn" data-cancel>${esc(t('dialog.close'))}</button></div></div>`;
  const body = $('.deliveries-body', modal.body);
  const errorBox = $('[data-testid=deliveries-error]', modal.body);
  let list = [];
  async function refresh() {
    try {
      const { webhooks } = await gql(DELIVERIES);
      const found = webhooks.find((w) => w.id === hook.id);
      list = (found?.deliveries.edges || []).map((e) => e.node).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
      keepFocus(body, () => {
        body.innerHTML = list.length
          ? `<table class="settings-table" data-testid="deliveries-table"><thead><tr><th scope="col">${esc(t('integrations.colEvent'))}</th><th scope="col">${esc(t('label.status'))}</th>
              <th scope="col">${esc(t('integrations.colAttempts'))}</th><th scope="col">${esc(t('integrations.colResponse'))}</th><th scope="col">${esc(t('integrations.colTime'))}</th>
              <th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
              <tbody>${list.map((d) => deliveryRow(d, hook.enabled)).join('')}</tbody></table>`
          : `<p class="muted" data-testid="deliveries-empty">${esc(t('integrations.noDeliveries'))}</p>`;
      });
    } catch (err) {
      errorBox.textContent = t('settings.loadFailed', { message: err.message });
    }
  }
  $('[data-cancel]', modal.body).addEventListener('click', modal.close);
  $('[data-testid=deliveries-refresh]', modal.body).addEventListener('click', refresh);
  body.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-testid=delivery-redeliver]');
    const row = button?.closest('tr[data-id]');
    if (!row) return;
    errorBox.textContent = '';
    button.disabled = true;
    try {
      const { redeliverWebhook: res } = await gql(REDELIVER, { input: { deliveryId: row.dataset.id } });
      if (res.userErrors.length) { errorBox.textContent = res.userErrors.map((x) => x.message).join('\n'); return; }
      toast(t('integrations.redelivered'), 'ok');
      await refresh();
      load();
    } catch (err) {
      errorBox.textContent = t('settings.failed', { message: err.message });
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  });
  refresh();
  return modal;
}

// ------------------------------------------------------------- channels

export function channelStatus(c) {
  if (!c.enabled) {
    return `${chip(false, c.disabledAt ? t('integrations.disabledAt', { when: when(c.disabledAt) }) : t('integrations.disabled'))}${c.disabledReason
      ? ` <span class="muted small integration-reason" data-testid="channel-reason">${esc(c.disabledReason)}</span>` : ''}`;
  }
  if (c.failingSince) return chip(false, t('integrations.channelFailing', { count: c.consecutiveFailures, when: when(c.failingSince) }));
  return chip(true, t('integrations.enabled'));
}

function channelRow(c) {
  return `<tr data-id="${esc(c.id)}" data-testid="channel-row" data-type="${esc(c.type)}" data-enabled="${c.enabled}" class="${c.enabled ? '' : 'is-inactive'}">
    <th scope="row" data-label="${esc(t('integrations.colDepartment'))}">${esc(c.department.name)}</th>
    <td data-label="${esc(t('integrations.colChannel'))}">${esc(t(`integrations.channel.${c.type}`))} · ${esc(c.name)}
      <span class="muted small code integration-url">${esc(c.target)}</span></td>
    <td data-label="${esc(t('label.status'))}" data-testid="channel-status">${channelStatus(c)}</td>
    <td class="row-actions" data-label="${esc(t('people.colActions'))}">
      ${c.enabled ? '' : `<button type="button" class="btn" data-testid="channel-enable">${esc(t('integrations.enable'))}${sr(c.name)}</button>`}
      <button type="button" class="btn btn-danger" data-testid="channel-remove">${esc(t('integrations.remove'))}${sr(c.name)}</button>
    </td>
  </tr>`;
}

function channelsTable(channels) {
  if (!channels.length) return `<p class="muted" data-testid="channels-empty">${esc(t('integrations.noChannels'))}</p>`;
  return `<table class="settings-table" data-testid="channels-table">
    <thead><tr><th scope="col">${esc(t('integrations.colDepartment'))}</th><th scope="col">${esc(t('integrations.colChannel'))}</th>
      <th scope="col">${esc(t('label.status'))}</th><th scope="col"><span class="sr-only">${esc(t('people.colActions'))}</span></th></tr></thead>
    <tbody>${channels.map(channelRow).join('')}</tbody></table>`;
}

/** Fit a channel form (type, target, secret) to its type: which target it takes, said in `hint`; a secret only for the bots that sign. */
export function fitChannelForm(form, hint, emailHint = t('integrations.targetEmail')) {
  const email = form.type.value === 'EMAIL';
  hint.textContent = email ? emailHint : t('integrations.targetBot');
  form.target.type = email ? 'email' : 'url';
  form.secret.disabled = email || form.type.value === 'WECOM'; // only Feishu and DingTalk sign
  form.secret.closest('label').hidden = form.secret.disabled;
}

// ------------------------------------------------------------- the tab

export function mountIntegrationsSettings(el) {
  let alive = true;
  let loads = 0;
  let showRevoked = false;
  let data = { apiTokens: [], webhooks: [], channels: [], departments: [], users: [] };
  let events = FALLBACK_EVENTS;
  el.innerHTML = `
    <div class="settings-grid integrations-settings">
      <section class="panel settings-wide" aria-labelledby="tokens-heading" data-testid="tokens" aria-busy="true">
        <div class="panel-head"><h2 id="tokens-heading" tabindex="-1">${esc(t('integrations.tokensTitle'))}</h2>
          <label class="check"><input type="checkbox" data-testid="show-revoked"> ${esc(t('integrations.showRevoked'))}</label></div>
        <p class="muted small">${esc(t('integrations.tokensIntro'))}</p>
        <p class="form-error" role="alert" id="tokens-error" data-testid="tokens-error"></p>
        <div class="tokens-body"><p class="muted">${esc(t('loading'))}</p></div>
        <h3 id="token-new-heading">${esc(t('integrations.tokenCreateTitle'))}</h3>
        <form class="settings-form" id="token-form" data-testid="token-form" aria-labelledby="token-new-heading" novalidate>
          <label>${esc(t('integrations.colName'))} <input name="name" required maxlength="100" autocomplete="off" data-testid="token-name"></label>
          <label>${esc(t('integrations.colScope'))} <select name="scope" data-testid="token-scope-select">${options([['READ', t('integrations.scope.READ')], ['WRITE', t('integrations.scope.WRITE')]], 'READ')}</select></label>
          <label>${esc(t('integrations.colDepartment'))} <select name="departmentKey" data-testid="token-department"></select></label>
          <label>${esc(t('integrations.colActsAs'))} <select name="userId" data-testid="token-user" aria-describedby="token-user-hint"></select></label>
          <p class="form-hint" id="token-user-hint">${esc(t('integrations.actsAsHint'))}</p>
          <p class="form-error" role="alert" data-testid="token-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="token-create">${esc(t('integrations.tokenCreate'))}</button></div>
        </form>
        <div class="token-result"></div>
      </section>
      <section class="panel settings-wide" aria-labelledby="webhooks-heading" data-testid="webhooks">
        <h2 id="webhooks-heading" tabindex="-1">${esc(t('integrations.webhooksTitle'))}</h2>
        <p class="muted small">${esc(t('integrations.webhooksIntro'))}</p>
        <p class="form-error" role="alert" id="webhooks-error" data-testid="webhooks-error"></p>
        <div class="webhooks-body"><p class="muted">${esc(t('loading'))}</p></div>
        <h3 id="webhook-new-heading">${esc(t('integrations.webhookCreateTitle'))}</h3>
        <form class="settings-form" id="webhook-form" data-testid="webhook-form" aria-labelledby="webhook-new-heading" novalidate>
          <label class="integration-wide">${esc(t('integrations.colUrl'))} <input name="url" type="url" required inputmode="url" spellcheck="false" autocomplete="off" data-testid="webhook-url"></label>
          <fieldset class="integration-choices" data-testid="webhook-events"><legend>${esc(t('integrations.colEvents'))}</legend>
            <p class="form-hint">${esc(t('integrations.eventsHint'))}</p><div class="choices events-choices"></div></fieldset>
          <fieldset class="integration-choices" data-testid="webhook-departments"><legend>${esc(t('integrations.colDepartments'))}</legend>
            <p class="form-hint">${esc(t('integrations.departmentsHint'))}</p><div class="choices dept-choices"></div></fieldset>
          <p class="form-error" role="alert" data-testid="webhook-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="webhook-create">${esc(t('integrations.webhookCreate'))}</button></div>
        </form>
        <div class="webhook-result"></div>
      </section>
      <section class="panel settings-wide" aria-labelledby="channels-heading" data-testid="channels">
        <h2 id="channels-heading" tabindex="-1">${esc(t('integrations.channelsTitle'))}</h2>
        <p class="muted small">${esc(t('integrations.channelsIntro'))}</p>
        <p class="form-error" role="alert" id="channels-error" data-testid="channels-error"></p>
        <div class="channels-body"><p class="muted">${esc(t('loading'))}</p></div>
        <h3 id="channel-new-heading">${esc(t('integrations.channelCreateTitle'))}</h3>
        <form class="settings-form" id="channel-form" data-testid="channel-form" aria-labelledby="channel-new-heading" novalidate>
          <label>${esc(t('integrations.colDepartment'))} <select name="departmentKey" required data-testid="channel-department"></select></label>
          <label>${esc(t('integrations.channelType'))} <select name="type" data-testid="channel-type">${options(CHANNEL_TYPES.map((x) => [x, t(`integrations.channel.${x}`)]), 'FEISHU')}</select></label>
          <label>${esc(t('integrations.channelName'))} <input name="name" required maxlength="100" autocomplete="off" data-testid="channel-name"></label>
          <label>${esc(t('integrations.channelTarget'))} <input name="target" required spellcheck="false" autocomplete="off" data-testid="channel-target" aria-describedby="channel-target-hint"></label>
          <label>${esc(t('integrations.channelSecret'))} <input name="secret" type="password" autocomplete="new-password" spellcheck="false" data-testid="channel-secret" aria-describedby="channel-target-hint"></label>
          <p class="form-hint" id="channel-target-hint"></p>
          <p class="form-error" role="alert" data-testid="channel-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="channel-create">${esc(t('integrations.channelCreate'))}</button></div>
        </form>
      </section>
      <section class="panel settings-wide" aria-labelledby="rates-link-heading" data-testid="rates-link-panel">
        <h2 id="rates-link-heading">${esc(t('integrations.ratesTitle'))}</h2>
        <p class="muted small">${esc(t('integrations.ratesIntro'))}</p>
        <p><a href="#/rates" class="btn" data-testid="rates-link">${esc(t('integrations.ratesLink'))}</a></p>
      </section>
    </div>`;
  const tokenForm = $('#token-form', el);
  const hookForm = $('#webhook-form', el);
  const channelForm = $('#channel-form', el);
  const deptName = (key) => data.departments.find((d) => d.key === key)?.name || key;

  function fillForms() {
    const keep = (select, html) => { const v = select.value; select.innerHTML = html; if ([...select.options].some((o) => o.value === v)) select.value = v; };
    keep(tokenForm.departmentKey, `<option value="">${esc(t('integrations.everyDepartment'))}</option>${options(data.departments.map((d) => [d.key, d.name]))}`);
    keep(tokenForm.userId, `<option value="">${esc(t('integrations.actsAsDefault'))}</option>${options(data.users.map((u) => [u.id, t('integrations.userOption', { name: u.name, department: u.department.name })]))}`);
    keep(channelForm.departmentKey, options(data.departments.map((d) => [d.key, d.name])));
    const checked = new Set($$('.dept-choices input:checked', hookForm).map((b) => b.value));
    $('.dept-choices', hookForm).innerHTML = data.departments.map((d) => `<label class="check"><input type="checkbox" name="departmentKeys" value="${esc(d.key)}"${checked.has(d.key) ? ' checked' : ''}> ${esc(d.name)}</label>`).join('');
  }

  function fillEvents() {
    const checked = new Set($$('.events-choices input:checked', hookForm).map((b) => b.value));
    $('.events-choices', hookForm).innerHTML = events.map((e) => `<label class="check"><input type="checkbox" name="eventTypes" value="${esc(e)}" data-testid="webhook-event-${esc(e)}"${checked.has(e) ? ' checked' : ''}> <span class="code">${esc(e)}</span></label>`).join('');
  }

  function render() {
    keepFocus($('[data-testid=tokens]', el), () => { $('.tokens-body', el).innerHTML = tokensTable(data.apiTokens, showRevoked); });
    keepFocus($('[data-testid=webhooks]', el), () => { $('.webhooks-body', el).innerHTML = hooksTable(data.webhooks, deptName); });
    keepFocus($('[data-testid=channels]', el), () => { $('.channels-body', el).innerHTML = channelsTable(data.channels); });
  }

  async function load() {
    const seq = ++loads;
    try {
      const got = await gql(LOAD);
      if (!alive || seq !== loads) return;
      data = { ...got, channels: got.notificationChannels.edges.map((e) => e.node).filter((c) => c.department) };
      render();
      fillForms();
    } catch (err) {
      if (!alive || seq !== loads) return;
      $('.tokens-body', el).innerHTML = `<p class="banner-error" role="alert">${esc(t('settings.loadFailed', { message: err.message }))}</p>`;
    }
    $('[data-testid=tokens]', el).removeAttribute('aria-busy');
  }

  gql(EVENT_TYPES).then((d) => {
    const names = d.__type?.enumValues?.map((v) => v.name).filter((n) => n !== 'CONFIGURATION_CHANGED');
    if (names?.length) events = names;
  }).catch(() => {}).finally(() => { if (alive) fillEvents(); });
  fillEvents();

  const targetHint = () => fitChannelForm(channelForm, $('#channel-target-hint', el));
  channelForm.type.addEventListener('change', targetHint);
  targetHint();

  $('[data-testid=show-revoked]', el).addEventListener('change', (e) => { showRevoked = e.target.checked; render(); });

  onSubmit(tokenForm, async () => {
    const input = { name: tokenForm.elements.namedItem('name').value.trim(), scope: tokenForm.scope.value };
    if (!input.name) { showErrors(tokenForm, [{ field: ['name'], message: t('integrations.nameMissing') }]); return; }
    if (tokenForm.departmentKey.value) input.departmentKey = tokenForm.departmentKey.value;
    if (tokenForm.userId.value) input.userId = tokenForm.userId.value;
    const { createApiToken: res } = await gql(CREATE_TOKEN, { input });
    if (res.userErrors.length) { showErrors(tokenForm, res.userErrors); return; }
    const result = $('.token-result', el);
    result.innerHTML = secretBox(t('integrations.tokenValue', { name: res.apiToken.name }), res.token, 'token-secret');
    wireCopy(result);
    toast(t('integrations.tokenCreated', { name: res.apiToken.name }), 'ok');
    tokenForm.reset();
    await load();
    focusFirst($('[data-testid=token-secret-copy]', result));
  });

  onSubmit(hookForm, async () => {
    const input = {
      url: hookForm.url.value.trim(),
      eventTypes: $$('input[name=eventTypes]:checked', hookForm).map((b) => b.value),
      departmentKeys: $$('input[name=departmentKeys]:checked', hookForm).map((b) => b.value),
    };
    if (!input.url) { showErrors(hookForm, [{ field: ['url'], message: t('integrations.urlMissing') }]); return; }
    const { createWebhook: res } = await gql(CREATE_HOOK, { input });
    if (res.userErrors.length) { showErrors(hookForm, res.userErrors); return; }
    const result = $('.webhook-result', el);
    result.innerHTML = secretBox(t('integrations.webhookSecret'), res.secret, 'webhook-secret');
    wireCopy(result);
    toast(t('integrations.webhookCreated', { url: res.webhook.url }), 'ok');
    hookForm.reset();
    await load();
    focusFirst($('[data-testid=webhook-secret-copy]', result));
  });

  onSubmit(channelForm, async () => {
    const input = {
      departmentKey: channelForm.departmentKey.value, type: channelForm.type.value,
      name: channelForm.elements.namedItem('name').value.trim(), target: channelForm.target.value.trim(),
    };
    const missing = [!input.name && { field: ['name'], message: t('integrations.nameMissing') }, !input.target && { field: ['target'], message: t('integrations.targetMissing') }].filter(Boolean);
    if (missing.length) { showErrors(channelForm, missing); return; }
    if (!channelForm.secret.disabled && channelForm.secret.value) input.secret = channelForm.secret.value;
    const { setNotificationChannel: res } = await gql(SET_CHANNEL, { input });
    if (res.userErrors.length) { showErrors(channelForm, res.userErrors); return; }
    toast(t('integrations.channelAdded', { name: res.channel.name }), 'ok');
    const type = channelForm.type.value;
    channelForm.reset();
    channelForm.type.value = type;
    targetHint();
    await load();
  });

  const rowAction = async (box, button, run) => {
    box.textContent = '';
    try {
      const errors = await run();
      if (errors?.length) { box.textContent = errors.map((x) => x.message).join('\n'); button.focus(); }
    } catch (err) {
      box.textContent = t('settings.failed', { message: err.message });
    }
  };

  el.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-testid]');
    const row = button?.closest('tr[data-id]');
    if (!row || !el.contains(row)) return;
    const id = row.dataset.id;
    const ctl = (testid, heading) => () => $(`tr[data-id="${CSS.escape(id)}"] [data-testid=${testid}]`, el) || $(heading, el);
    switch (button.dataset.testid) {
      case 'token-revoke': {
        const k = data.apiTokens.find((x) => x.id === id);
        confirmDialog({
          title: t('integrations.revokeTitle', { name: k.name }), text: t('integrations.revokeText', { name: k.name }), action: t('integrations.revoke'),
          returnTo: () => $('#tokens-heading', el),
          act: async () => {
            const { revokeApiToken: res } = await gql(REVOKE_TOKEN, { input: { id } });
            if (res.userErrors.length) return res.userErrors;
            toast(t('integrations.revoked', { name: k.name }), 'ok');
            $('.token-result', el).innerHTML = ''; // its value, if still shown, no longer works
            await load();
            return null;
          },
        });
        break;
      }
      case 'webhook-deliveries':
        openDeliveries(data.webhooks.find((x) => x.id === id), { el, load });
        break;
      case 'webhook-toggle': {
        const w = data.webhooks.find((x) => x.id === id);
        rowAction($('#webhooks-error', el), button, async () => {
          const { updateWebhook: res } = await gql(UPDATE_HOOK, { input: { id, enabled: !w.enabled } });
          if (res.userErrors.length) return res.userErrors;
          toast(t(w.enabled ? 'integrations.webhookDisabled' : 'integrations.webhookEnabled', { url: w.url }), 'ok');
          await load();
          focusFirst(ctl('webhook-toggle', '#webhooks-heading'));
          return null;
        });
        break;
      }
      case 'webhook-delete': {
        const w = data.webhooks.find((x) => x.id === id);
        confirmDialog({
          title: t('integrations.deleteTitle'), text: t('integrations.deleteText', { url: w.url }), action: t('integrations.delete'),
          returnTo: () => $('#webhooks-heading', el),
          act: async () => {
            const { deleteWebhook: res } = await gql(DELETE_HOOK, { input: { id } });
            if (res.userErrors.length) return res.userErrors;
            toast(t('integrations.webhookDeleted', { url: w.url }), 'ok');
            $('.webhook-result', el).innerHTML = '';
            await load();
            return null;
          },
        });
        break;
      }
      case 'channel-enable':
        rowAction($('#channels-error', el), button, async () => {
          const { setNotificationChannel: res } = await gql(SET_CHANNEL, { input: { id, enabled: true } });
          if (res.userErrors.length) return res.userErrors;
          await load();
          focusFirst(ctl('channel-remove', '#channels-heading'));
          return null;
        });
        break;
      case 'channel-remove': {
        const c = data.channels.find((x) => x.id === id);
        confirmDialog({
          title: t('integrations.removeTitle', { name: c.name }), text: t('integrations.removeText', { name: c.name, department: c.department.name }), action: t('integrations.remove'),
          returnTo: () => $('#channels-heading', el),
          act: async () => {
            const { deleteNotificationChannel: res } = await gql(DELETE_CHANNEL, { input: { id } });
            if (res.userErrors.length) return res.userErrors;
            toast(t('integrations.channelRemoved', { name: c.name }), 'ok');
            await load();
            return null;
          },
        });
        break;
      }
      default:
    }
  });

  let timer = null;
  const off = onBoardEvent((evt) => {
    if (evt.type !== 'CONFIGURATION_CHANGED' && evt.type !== 'RECONNECTED') return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}
