// Settings › Log (admins): the configuration log, newest first — who changed what, when, and the values
// before and after. Pages load on demand; new entries arrive live from the board's event stream.
import { gql } from './api.js';
import { esc, $, $$, ago, dateTime, fieldLabel, listWords } from './util.js';
import { t, kindName } from './i18n.js';
import { store, onBoardEvent, deptName } from './state.js';

const PAGE = 30;
const SUBJECTS = ['people', 'departments', 'pipeline', 'access', 'money', 'tokens', 'webhooks', 'channels'];
const LIVE_TYPES = ['CONFIGURATION_CHANGED', 'PIPELINE_UPDATED', 'ACCESS_RULES_UPDATED', 'MONEY_SETTINGS_UPDATED'];
// CONFIGURATION_CHANGED's `subject` (resolvers/audit.py record_change) -> the filter it is listed under.
const FILTER_OF = { user: 'people', invite: 'people', department: 'departments', apiToken: 'tokens', webhook: 'webhooks', channel: 'channels' };
// What an entry says in its sentence rather than in its list of values.
const META = new Set(['subject', 'target', 'action', 'stage']);
// The filter -> the `subject` configurationLog takes (resolvers/events.py SUBJECT_TYPES, else audit's subjects).
const SERVER_SUBJECT = { people: 'user', departments: 'department', pipeline: 'pipeline', access: 'accessRules', money: 'money', tokens: 'apiToken', webhooks: 'webhook', channels: 'channel' };
// Values that are a person's id.
const PERSON_FIELDS = ['user', 'actsAs', 'admin'];
// Stage keys -> names (archived stages too), for events that name a stage by its key only.
const stageNames = new Map();
const STAGE_NAMES = 'query ConfigurationStages { pipelines { stages { key name } archivedStages { key name } } }';

const LOG = `query ConfigurationLog($first: Int, $after: String, $subject: String) {
  configurationLog(first: $first, after: $after, subject: $subject) {
    edges { node { seq type occurredAt changes actor { id name } } }
    pageInfo { hasNextPage endCursor } } }`;

const pair = (c, k) => (Array.isArray(c?.[k]) && c[k].length === 2 ? c[k] : [undefined, c?.[k]]);
const afterOf = (c, k) => pair(c, k)[1];
const present = (v) => v !== undefined && v !== null && v !== '';

/** The filter an event is listed under. */
function filterOf(evt) {
  if (evt.type === 'PIPELINE_UPDATED') return 'pipeline';
  if (evt.type === 'ACCESS_RULES_UPDATED') return 'access';
  if (evt.type === 'MONEY_SETTINGS_UPDATED') return 'money';
  return FILTER_OF[afterOf(evt.changes, 'subject')] || 'other';
}

/** The names of what entries changed (users by email, departments, tokens, webhooks), read once per id. */
const names = new Map();
const people = new Map(); // user id -> name
async function learnNames(events) {
  // The entry's target, and the people its values name by id (who joined, whom a token acts as).
  const ids = [...new Set(events.filter((e) => e.type === 'CONFIGURATION_CHANGED')
    .flatMap((e) => [afterOf(e.changes, 'target'), ...PERSON_FIELDS.map((k) => afterOf(e.changes, k))])
    .filter((id) => typeof id === 'string' && id && !names.has(id)))].slice(0, 50);
  if (!ids.length) return;
  const fields = ids.map((id, i) => `n${i}: node(id: ${JSON.stringify(id)}) { ... on User { name email } ... on Invite { email } ... on Department { name } ... on ApiToken { name } ... on Webhook { url } }`);
  try {
    const data = await gql(`query ConfigurationTargets { ${fields.join(' ')} }`);
    ids.forEach((id, i) => {
      const n = data[`n${i}`];
      names.set(id, n ? (n.email || n.name || n.url || '') : '');
      if (n?.email && n.name) people.set(id, n.name); // a user: named by their name where a value is them
    });
  } catch (err) {
    ids.forEach((id) => names.set(id, '')); // gone or not readable: the entry's own values name it
  }
}

function targetName(c) {
  const known = names.get(afterOf(c, 'target'));
  if (known) return known;
  for (const k of ['email', 'name', 'url', 'key']) {
    const [before, after] = pair(c, k);
    if (present(after)) return after;
    if (present(before)) return before;
  }
  return t('configlog.unknownTarget');
}

function stageName(c) {
  const [before, after] = pair(c, 'name');
  const key = afterOf(c, 'stage');
  return (present(before) ? before : null) || (present(after) ? after : null) || stageNames.get(key) || key || '';
}

/** One readable sentence: "Wang Fang renamed stage Proposal → 方案报价". */
export function sentence(evt) {
  const who = evt.actor?.name || t('configlog.system');
  const c = evt.changes || {};
  if (evt.type === 'PIPELINE_UPDATED') {
    const stage = stageName(c);
    const [, archived] = pair(c, 'archived');
    if (archived === true) return t('configlog.stage.archived', { who, stage });
    if (archived === false) return t('configlog.stage.restored', { who, stage });
    const [from, to] = pair(c, 'name');
    if (present(from) && present(to)) return t('configlog.stage.renamed', { who, from, to });
    if ('position' in c && pair(c, 'position')[0] == null) return t('configlog.stage.created', { who, stage: to || stage });
    if ('order' in c) return t('configlog.stage.reordered', { who });
    if ('autoApproval' in c) return t(afterOf(c, 'autoApproval') ? 'configlog.stage.rule' : 'configlog.stage.ruleRemoved', { who, stage });
    if (['requiredFields', 'requiredApprovals', 'staleAfterHours'].some((k) => k in c)) return t('configlog.stage.gate', { who, stage });
    return t('configlog.stage.changed', { who, stage });
  }
  if (evt.type === 'ACCESS_RULES_UPDATED') {
    const role = t.has(`configlog.role.${c.role}`) ? t(`configlog.role.${c.role}`) : String(c.role || '');
    return c.departmentKey ? t('configlog.access.department', { who, role, department: deptName(c.departmentKey) }) : t('configlog.access.all', { who, role });
  }
  if (evt.type === 'MONEY_SETTINGS_UPDATED') {
    if ('rate' in c) return t('configlog.money.rate', { who, currency: c.currency, rate: afterOf(c, 'rate'), base: c.baseCurrency });
    const [from, to] = pair(c, 'baseCurrency');
    return t('configlog.money.base', { who, from, to });
  }
  const subject = afterOf(c, 'subject');
  const action = afterOf(c, 'action');
  const key = `configlog.${subject}.${action}`;
  if (t.has(key)) return t(key, { who, target: targetName(c) });
  const what = t.has(`configlog.subject.${subject}`) ? t(`configlog.subject.${subject}`) : t('configlog.subject.other');
  return t('configlog.changed', { who, what, target: targetName(c) });
}

function fieldName(field) {
  return t.has(`configlog.field.${field}`) ? t(`configlog.field.${field}`) : fieldLabel(field);
}

/** A value as words: lists, yes/no, approval rules, departments, gate fields. */
function valueText(field, v) {
  if (!present(v) || (Array.isArray(v) && !v.length)) return t('configlog.none');
  if (typeof v === 'boolean') return t(v ? 'configlog.yes' : 'configlog.no');
  if (Array.isArray(v)) return field === 'order' ? v.map((x) => valueText(field, x)).join(' · ') : listWords(v.map((x) => valueText(field, x)));
  if (typeof v === 'object') {
    if (v.kind && Array.isArray(v.steps || v.departmentKeys)) return t('stages.ruleSummary', { kind: kindName(v.kind), count: (v.steps || v.departmentKeys).length });
    return JSON.stringify(v);
  }
  if (field === 'requiredFields' || field === 'hiddenFields' || field === 'locks') return fieldLabel(String(v));
  if (field === 'requiredApprovals') return kindName(String(v));
  if (field === 'order' || field === 'movedTo') return stageNames.get(v) || String(v);
  if (field === 'department' || field === 'departmentKey' || field === 'departmentKeys') return deptName(String(v));
  if (field === 'role' && t.has(`configlog.role.${v}`)) return t(`configlog.role.${v}`);
  if (field === 'status' && t.has(`configlog.status.${v}`)) return t(`configlog.status.${v}`);
  if (PERSON_FIELDS.includes(field)) return people.get(v) || store.users.find((u) => u.id === v)?.name || String(v);
  return String(v);
}

function changesList(evt) {
  const rows = Object.entries(evt.changes || {})
    .filter(([k, v]) => !META.has(k) && Array.isArray(v) && v.length === 2)
    .map(([k, [before, after]]) => `
      <div class="log-change" data-field="${esc(k)}"><dt>${esc(fieldName(k))}</dt>
        <dd><span class="log-before" data-testid="log-before">${esc(valueText(k, before))}</span>
          <span aria-hidden="true">→</span><span class="sr-only">${esc(t('configlog.becomes'))}</span>
          <span class="log-after" data-testid="log-after">${esc(valueText(k, after))}</span></dd></div>`);
  return rows.length ? `<dl class="log-changes">${rows.join('')}</dl>` : '';
}

function entry(evt, fresh = false) {
  return `
    <li class="log-entry${fresh ? ' is-new' : ''}" data-testid="log-entry" data-seq="${esc(evt.seq)}" data-type="${esc(evt.type)}" data-filter="${esc(filterOf(evt))}">
      <p class="log-what" data-testid="log-what">${esc(sentence(evt))}</p>
      <p class="log-when muted small"><time datetime="${esc(evt.occurredAt)}" data-testid="log-when" title="${esc(dateTime(evt.occurredAt))}">${esc(ago(evt.occurredAt))}</time>
        · <span>${esc(dateTime(evt.occurredAt))}</span></p>
      ${changesList(evt)}
    </li>`;
}

export function mountConfigLog(el) {
  let alive = true;
  let loads = 0;
  let cursor = null;
  const seen = new Set();
  el.innerHTML = `
    <section class="panel config-log-panel" aria-labelledby="configlog-heading" data-testid="config-log">
      <h2 id="configlog-heading">${esc(t('configlog.title'))}</h2>
      <p class="muted small">${esc(t('configlog.intro'))}</p>
      <form class="configlog-filter" role="search" aria-label="${esc(t('configlog.filterLabel'))}">
        <label>${esc(t('configlog.filter'))} <select name="subject" data-testid="configlog-subject">
          <option value="">${esc(t('configlog.subject.all'))}</option>
          ${SUBJECTS.map((s) => `<option value="${s}">${esc(t(`configlog.filter.${s}`))}</option>`).join('')}</select></label>
      </form>
      <p class="form-error" role="alert" data-testid="configlog-error"></p>
      <ol class="config-log" data-testid="configlog-list" aria-busy="true"></ol>
      <p class="muted configlog-empty" data-testid="configlog-empty" hidden>${esc(t('configlog.empty'))}</p>
      <div><button type="button" class="btn" data-testid="configlog-more" hidden>${esc(t('configlog.more'))}</button></div>
    </section>`;
  const list = $('.config-log', el);
  const more = $('[data-testid="configlog-more"]', el);
  const error = $('[data-testid="configlog-error"]', el);
  const subject = $('[name=subject]', el);

  async function learnStages() {
    try {
      const { pipelines } = await gql(STAGE_NAMES);
      pipelines.forEach((p) => [...p.stages, ...(p.archivedStages || [])].forEach((st) => stageNames.set(st.key, st.name)));
    } catch (err) { /* entries then name stages by their keys */ }
  }

  async function load(next = false) {
    const seq = ++loads;
    error.textContent = '';
    more.disabled = true;
    try {
      const { configurationLog: page } = await gql(LOG, { first: PAGE, after: next ? cursor : null, subject: SERVER_SUBJECT[subject.value] || null });
      const events = page.edges.map((e) => e.node);
      await Promise.all([learnNames(events), stageNames.size ? null : learnStages()]);
      if (!alive || seq !== loads) return;
      if (!next) { list.innerHTML = ''; seen.clear(); }
      const firstNew = list.children.length;
      list.insertAdjacentHTML('beforeend', events.filter((e) => !seen.has(e.seq)).map((e) => entry(e)).join(''));
      events.forEach((e) => seen.add(e.seq));
      cursor = page.pageInfo.endCursor;
      more.hidden = !page.pageInfo.hasNextPage;
      $('.configlog-empty', el).hidden = list.children.length > 0;
      // After "load more", the keyboard continues at the first entry just added.
      if (next) list.children[firstNew]?.setAttribute('tabindex', '-1');
      if (next) list.children[firstNew]?.focus();
    } catch (err) {
      if (!alive || seq !== loads) return;
      error.textContent = t('configlog.loadFailed', { message: err.message });
    } finally {
      if (seq === loads) { more.disabled = false; list.removeAttribute('aria-busy'); }
    }
  }

  /** A change made just now (here or by another admin): on top, if the filter lists it. */
  async function prepend(evt) {
    if (seen.has(evt.seq) || (subject.value && filterOf(evt) !== subject.value)) return;
    await Promise.all([learnNames([evt]), evt.type === 'PIPELINE_UPDATED' ? learnStages() : null]);
    if (!alive || seen.has(evt.seq)) return;
    seen.add(evt.seq);
    list.insertAdjacentHTML('afterbegin', entry({ occurredAt: new Date().toISOString(), ...evt }, true));
    $('.configlog-empty', el).hidden = true;
  }

  subject.addEventListener('change', () => load());
  more.addEventListener('click', () => load(true));
  const off = onBoardEvent((evt) => {
    if (LIVE_TYPES.includes(evt.type)) prepend(evt);
    else if (evt.type === 'RECONNECTED') load();
  });
  // "5 minutes ago" goes on counting.
  const tick = setInterval(() => $$('time[datetime]', list).forEach((tm) => { tm.textContent = ago(tm.getAttribute('datetime')); }), 60000);
  load();
  return () => { alive = false; off(); clearInterval(tick); };
}
