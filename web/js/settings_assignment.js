// Settings › Assignment (admins): the ordered assignment rules — who gets a new deal without an owner —
// and, per stage, after how many days without a follow-up an open deal returns to the pool (公海).
// The rules are edited as a draft in the page (add, edit, move up/down, delete) and saved together:
// setAssignmentRules replaces the whole ordered list. Its userErrors name a rule and a field
// (["rules", "1", "amountMax"]) and are shown beside that field of that rule; the draft stays as it
// was, so nothing typed is lost. The pool days are saved per stage (setStagePoolAfterDays).
import { gql } from './api.js';
import { esc, $, $$, toast, money } from './util.js';
import { t, intlLocale } from './i18n.js';
import { store, onBoardEvent } from './state.js';
import { clearErrors } from './forms.js';
import { keepFocus, focusFirst } from './focus.js';
import { announce } from './announce.js';

const STRATEGIES = ['ROUND_ROBIN', 'CAPACITY'];
const LISTS = ['regions', 'industries', 'sources', 'tags']; // the comma-separated match fields
const MAX_POOL_DAYS = 3650; // resolvers/pool.py MAX_POOL_DAYS
const ERRORS = 'userErrors { code field message }';
const RULE = 'name strategy capacity regions industries sources tags amountMin amountMax departmentKey userIds';
const LOAD = `query AssignmentSettings {
  assignmentRules { ${RULE} }
  departments { key name }
  users { id name department { key name } }
  pipelines { id name stages { id key name kind poolAfterDays } }
}`;
const RULES = `query AssignmentRules { assignmentRules { ${RULE} } }`;
const STAGES = 'query AssignmentStages { pipelines { id name stages { id key name kind poolAfterDays } } }';
const SAVE = `mutation SetAssignmentRules($i: SetAssignmentRulesInput!) { setAssignmentRules(input: $i) { assignmentRules { ${RULE} } ${ERRORS} } }`;
const POOL_DAYS = `mutation SetStagePoolAfterDays($i: SetStagePoolAfterDaysInput!) { setStagePoolAfterDays(input: $i) { stage { id poolAfterDays } ${ERRORS} } }`;

/** Values typed into one field: commas (also ，、;) separate them. */
const splitValues = (text) => String(text || '').split(/[,，、;；\n]/).map((v) => v.trim()).filter(Boolean);
/** "100000.00" → "100000": the amount as a person would type it. */
const amountText = (v) => (v == null ? '' : String(v).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1'));
const AMOUNT = /^\d+(\.\d{1,2})?$/;
const WHOLE = /^\d+$/;

function orWords(values) {
  try { return new Intl.ListFormat(intlLocale(), { type: 'disjunction' }).format(values); } catch (err) { return values.join(' / '); }
}

/** A rule as the API gives it, made the shape the form shows (and compares to see unsaved changes). */
function draftOf(r) {
  return {
    name: r.name || '',
    strategy: r.strategy || 'ROUND_ROBIN',
    capacity: r.capacity == null ? '' : String(r.capacity),
    regions: (r.regions || []).join(', '),
    industries: (r.industries || []).join(', '),
    sources: (r.sources || []).join(', '),
    tags: (r.tags || []).join(', '),
    amountMin: amountText(r.amountMin),
    amountMax: amountText(r.amountMax),
    target: (r.userIds || []).length ? 'people' : 'department',
    departmentKey: r.departmentKey || '',
    userIds: [...(r.userIds || [])],
  };
}

/** What setAssignmentRules takes for a draft rule. */
function inputOf(d) {
  const input = {
    name: d.name.trim(),
    strategy: d.strategy,
    capacity: d.capacity.trim() === '' ? null : Number(d.capacity),
    amountMin: d.amountMin.trim() === '' ? null : d.amountMin.trim(),
    amountMax: d.amountMax.trim() === '' ? null : d.amountMax.trim(),
    departmentKey: d.target === 'department' ? (d.departmentKey || null) : null,
    userIds: d.target === 'people' ? d.userIds : null,
  };
  LISTS.forEach((k) => { input[k] = splitValues(d[k]); });
  return input;
}

export function mountAssignmentSettings(el) {
  let alive = true;
  let loads = 0;
  let seq = 0; // local ids of the rules in the page
  let departments = [];
  let users = [];
  let pipelines = [];
  let saved = '[]'; // the rules as last read or saved (JSON of their drafts): the page differs → unsaved changes
  let savedDays = new Map(); // stage id -> poolAfterDays as last read
  let saving = false;

  el.innerHTML = `
    <div class="assignment-settings" data-testid="assignment-settings">
      <section class="panel" aria-labelledby="assign-heading" data-testid="assign-rules">
        <h2 id="assign-heading" tabindex="-1">${esc(t('assign.title'))}</h2>
        <p class="muted small" data-testid="assign-intro">${esc(t('assign.intro'))}</p>
        <p class="form-error" role="alert" data-testid="assign-list-error"></p>
        <ol class="assign-list" data-testid="assign-list" aria-labelledby="assign-heading" aria-busy="true"><li class="muted">${esc(t('loading'))}</li></ol>
        <p class="muted" data-testid="assign-empty" hidden>${esc(t('assign.none'))}</p>
        <p class="assign-note" data-testid="assign-elsewhere" role="status"></p>
        <div class="assign-bar">
          <button type="button" class="btn" data-testid="assign-add">${esc(t('assign.add'))}</button>
          <span class="assign-status muted small" data-testid="assign-status" role="status"></span>
          <button type="button" class="btn" data-testid="assign-discard" hidden>${esc(t('assign.discard'))}</button>
          <button type="button" class="btn btn-primary" data-testid="assign-save">${esc(t('assign.save'))}</button>
        </div>
      </section>
      <section class="panel" aria-labelledby="assign-pool-heading" data-testid="assign-pool">
        <h2 id="assign-pool-heading">${esc(t('assign.poolTitle'))}</h2>
        <p class="muted small" id="assign-pool-intro">${esc(t('assign.poolIntro'))}</p>
        <form class="pool-days-form" data-testid="pool-days-form" novalidate>
          <ul class="pool-days" data-testid="pool-days" aria-busy="true"><li class="muted">${esc(t('loading'))}</li></ul>
          <p class="form-error" role="alert" data-testid="pool-days-error"></p>
          <div class="actions"><button type="submit" class="btn btn-primary" data-testid="pool-days-save">${esc(t('assign.poolSave'))}</button></div>
        </form>
      </section>
    </div>`;
  const list = $('.assign-list', el);
  const listError = $('[data-testid=assign-list-error]', el);
  const empty = $('[data-testid=assign-empty]', el);
  const status = $('[data-testid=assign-status]', el);
  const discard = $('[data-testid=assign-discard]', el);
  const saveButton = $('[data-testid=assign-save]', el);
  const elsewhere = $('[data-testid=assign-elsewhere]', el);
  const poolForm = $('.pool-days-form', el);
  const poolList = $('.pool-days', el);

  const deptName = (key) => departments.find((d) => d.key === key)?.name || key;
  const userName = (id) => users.find((u) => u.id === id)?.name;
  const items = () => $$('.assign-rule', list);

  // ------------------------------------------------------------------ one rule: its sentence and form

  function sentence(d) {
    const parts = LISTS.map((k) => [k, splitValues(d[k])]).filter(([, v]) => v.length)
      .map(([k, v]) => t(`assign.s.${k}`, { values: orWords(v) }));
    const base = store.baseCurrency;
    const low = AMOUNT.test(d.amountMin.trim()) ? money(d.amountMin.trim(), base, true) : '';
    const high = AMOUNT.test(d.amountMax.trim()) ? money(d.amountMax.trim(), base, true) : '';
    if (low && high) parts.push(`${low}–${high}`);
    else if (low) parts.push(t('assign.s.from', { min: low }));
    else if (high) parts.push(t('assign.s.upTo', { max: high }));
    const names = d.userIds.map(userName).filter(Boolean);
    let target;
    if (d.target === 'department') target = d.departmentKey ? deptName(d.departmentKey) : t('assign.s.nobody');
    else target = names.length ? orWords(names) : t('assign.s.nobody');
    const capacity = d.capacity.trim();
    let how;
    if (d.strategy === 'CAPACITY') how = t('assign.s.capacity', { capacity: capacity || '?' });
    else how = capacity ? t('assign.s.roundRobinCapped', { capacity }) : t('assign.s.roundRobin');
    return t('assign.s.sentence', { match: parts.length ? parts.join(' · ') : t('assign.s.any'), target, how });
  }

  function ruleItem(d, open) {
    const k = `ar${++seq}`;
    const li = document.createElement('li');
    li.className = 'assign-rule';
    li.dataset.key = k;
    li.setAttribute('data-testid', 'assign-rule');
    const field = (name, label, input, hint = '') => `
      <div class="assign-field" data-field="${name}">
        <label for="${k}-${name}">${esc(label)}</label>
        ${input}
        ${hint}
        <p class="form-error field-error" id="${k}-${name}-error" data-testid="assign-error-${name}"></p>
      </div>`;
    const text = (name, extra = '') => `<input id="${k}-${name}" name="${name}" autocomplete="off" data-testid="assign-${name}"
      aria-describedby="${k}-${name}-error"${extra}>`;
    const deptOptions = [`<option value="">${esc(t('assign.pickDepartment'))}</option>`,
      ...departments.map((x) => `<option value="${esc(x.key)}">${esc(x.name)}</option>`),
      ...(d.departmentKey && !departments.some((x) => x.key === d.departmentKey) ? [`<option value="${esc(d.departmentKey)}">${esc(d.departmentKey)}</option>`] : []),
    ].join('');
    const people = users.map((u) => `<label class="check"><input type="checkbox" name="userIds" value="${esc(u.id)}" data-testid="assign-person"
      data-name="${esc(u.name)}"> <span>${esc(u.name)} <span class="muted small">${esc(u.department?.name || '')}</span></span></label>`).join('');
    li.innerHTML = `
      <div class="stage-line">
        <span class="stage-pos" aria-hidden="true"></span>
        <div class="stage-title">
          <h3 class="assign-rule-name" data-testid="assign-rule-name"></h3>
          <p class="small assign-sentence" data-testid="assign-rule-sentence"></p>
        </div>
        <div class="stage-actions">
          <button type="button" class="btn stage-move" data-testid="assign-up" data-dir="-1" title="${esc(t('assign.moveUpTitle'))}"><span aria-hidden="true">↑</span></button>
          <button type="button" class="btn stage-move" data-testid="assign-down" data-dir="1" title="${esc(t('assign.moveDownTitle'))}"><span aria-hidden="true">↓</span></button>
          <button type="button" class="btn" data-testid="assign-edit" aria-expanded="false" aria-controls="${k}-form">${esc(t('assign.edit'))}<span class="sr-only assign-which"></span></button>
          <button type="button" class="btn btn-danger" data-testid="assign-delete">${esc(t('assign.delete'))}<span class="sr-only assign-which"></span></button>
        </div>
      </div>
      <p class="form-error" role="alert" data-testid="assign-rule-error"></p>
      <form class="assign-form" id="${k}-form" data-testid="assign-form" novalidate hidden>
        <div class="assign-grid">
          ${field('name', t('assign.name'), text('name', ' maxlength="100" required'))}
          <fieldset class="assign-field" data-field="strategy">
            <legend>${esc(t('assign.strategy'))}</legend>
            ${STRATEGIES.map((s) => `<label class="check"><input type="radio" name="strategy" value="${s}" data-testid="assign-strategy-${s}"
              aria-describedby="${k}-hint-${s}"> ${esc(t(`assign.strategy.${s}`))}</label>
              <p class="form-hint" id="${k}-hint-${s}">${esc(t(`assign.strategyHint.${s}`))}</p>`).join('')}
            <p class="form-error field-error" id="${k}-strategy-error" data-testid="assign-error-strategy"></p>
          </fieldset>
          ${field('capacity', t('assign.capacity'), text('capacity', ' inputmode="numeric"'))}
        </div>
        <fieldset class="assign-match">
          <legend>${esc(t('assign.match'))}</legend>
          <p class="form-hint">${esc(t('assign.matchHint'))}</p>
          <div class="assign-grid">
            ${LISTS.map((name) => field(name, t(`assign.${name}`), text(name))).join('')}
            ${field('amountMin', t('assign.amountMin', { currency: store.baseCurrency }), text('amountMin', ' inputmode="decimal"'))}
            ${field('amountMax', t('assign.amountMax', { currency: store.baseCurrency }), text('amountMax', ' inputmode="decimal"'))}
          </div>
          <p class="form-hint">${esc(t('assign.amountHint', { currency: store.baseCurrency }))}</p>
        </fieldset>
        <fieldset class="assign-target assign-field" data-field="departmentKey userIds target">
          <legend>${esc(t('assign.target'))}</legend>
          <div class="assign-choice">
            <label class="check"><input type="radio" name="target" value="department" data-testid="assign-target-department"> ${esc(t('assign.targetDepartment'))}</label>
            <label class="check"><input type="radio" name="target" value="people" data-testid="assign-target-people"> ${esc(t('assign.targetPeople'))}</label>
          </div>
          <div class="assign-department">
            <label for="${k}-departmentKey">${esc(t('assign.department'))}</label>
            <select id="${k}-departmentKey" name="departmentKey" data-testid="assign-department" aria-describedby="${k}-target-error">${deptOptions}</select>
          </div>
          <fieldset class="assign-people" data-testid="assign-people">
            <legend>${esc(t('assign.people'))}</legend>
            <div class="assign-people-list">${people}</div>
          </fieldset>
          <p class="form-error field-error" id="${k}-target-error" data-testid="assign-error-target"></p>
        </fieldset>
        <div class="actions"><button type="button" class="btn" data-testid="assign-done">${esc(t('assign.done'))}</button></div>
      </form>`;
    const form = $('form', li);
    fill(form, d);
    if (open) toggle(li, true);
    return li;
  }

  function fill(form, d) {
    form.elements.namedItem('name').value = d.name;
    $$('[name=strategy]', form).forEach((r) => { r.checked = r.value === d.strategy; });
    form.capacity.value = d.capacity;
    LISTS.forEach((k) => { form.elements.namedItem(k).value = d[k]; });
    form.amountMin.value = d.amountMin;
    form.amountMax.value = d.amountMax;
    $$('[name=target]', form).forEach((r) => { r.checked = r.value === d.target; });
    form.departmentKey.value = d.departmentKey;
    $$('[name=userIds]', form).forEach((box) => { box.checked = d.userIds.includes(box.value); });
    form.dataset.order = JSON.stringify(d.userIds); // the people's order (the round-robin's) is kept
  }

  /** The draft rule a form holds. */
  function read(form) {
    const order = JSON.parse(form.dataset.order || '[]');
    const checked = $$('[name=userIds]:checked', form).map((b) => b.value);
    const d = {
      name: form.elements.namedItem('name').value,
      strategy: $('[name=strategy]:checked', form)?.value || 'ROUND_ROBIN',
      capacity: form.capacity.value,
      amountMin: form.amountMin.value,
      amountMax: form.amountMax.value,
      target: $('[name=target]:checked', form)?.value || 'department',
      departmentKey: form.departmentKey.value,
      userIds: [...order.filter((id) => checked.includes(id)), ...checked.filter((id) => !order.includes(id))],
    };
    LISTS.forEach((k) => { d[k] = form.elements.namedItem(k).value; });
    return d;
  }

  /** The rule's heading, sentence, labels and the parts of its form that depend on its choices. */
  function refresh(li) {
    const form = $('form', li);
    const d = read(form);
    const all = items();
    const i = all.indexOf(li);
    const name = d.name.trim() || t('assign.unnamed');
    $('.stage-pos', li).textContent = String(i + 1);
    $('.assign-rule-name', li).textContent = name;
    $('.assign-sentence', li).textContent = sentence(d);
    $$('.assign-which', li).forEach((s) => { s.textContent = ' ' + name; });
    const up = $('[data-testid=assign-up]', li);
    const down = $('[data-testid=assign-down]', li);
    up.disabled = i === 0;
    down.disabled = i === all.length - 1;
    up.setAttribute('aria-label', t('assign.moveUp', { rule: name }));
    down.setAttribute('aria-label', t('assign.moveDown', { rule: name }));
    $('label[for$="-capacity"]', form).textContent = t(d.strategy === 'CAPACITY' ? 'assign.capacity' : 'assign.capacityOptional');
    $('.assign-department', form).hidden = d.target !== 'department';
    $('.assign-people', form).hidden = d.target !== 'people';
  }

  function toggle(li, open) {
    const form = $('form', li);
    form.hidden = !open;
    $('[data-testid=assign-edit]', li).setAttribute('aria-expanded', String(open));
  }

  // ------------------------------------------------------------------ the list

  function drafts() { return items().map((li) => read($('form', li))); }

  function changed() {
    const dirty = JSON.stringify(drafts()) !== saved;
    status.textContent = dirty ? t('assign.unsaved') : '';
    discard.hidden = !dirty;
    empty.hidden = items().length > 0;
    return dirty;
  }

  function renderRules(rules) {
    keepFocus(el, () => {
      list.innerHTML = '';
      rules.map(draftOf).forEach((d) => list.append(ruleItem(d, false)));
      items().forEach(refresh);
    });
    saved = JSON.stringify(drafts());
    elsewhere.textContent = '';
    changed();
  }

  function renderStages() {
    const many = pipelines.length > 1;
    const stages = pipelines.flatMap((p) => p.stages.filter((s) => s.kind === 'OPEN').map((s) => ({ ...s, pipeline: p.name })));
    savedDays = new Map(stages.map((s) => [s.id, s.poolAfterDays]));
    keepFocus(poolForm, () => {
      poolList.innerHTML = stages.length ? stages.map((s) => `
        <li class="pool-day" data-testid="pool-days-${esc(s.key)}" data-stage-id="${esc(s.id)}">
          <label for="pool-days-${esc(s.id)}">${esc(many ? `${s.pipeline} › ${s.name}` : s.name)}</label>
          <span class="pool-day-input">
            <input id="pool-days-${esc(s.id)}" name="days" inputmode="numeric" autocomplete="off" value="${esc(s.poolAfterDays ?? '')}"
              placeholder="${esc(t('assign.poolNever'))}" data-testid="pool-days-input" aria-describedby="pool-days-${esc(s.id)}-unit assign-pool-intro pool-days-${esc(s.id)}-error">
            <span class="muted small" id="pool-days-${esc(s.id)}-unit">${esc(t('assign.poolDays'))}</span>
          </span>
          <p class="form-error field-error" id="pool-days-${esc(s.id)}-error" data-testid="pool-days-field-error"></p>
        </li>`).join('') : `<li class="muted">${esc(t('assign.poolNoStages'))}</li>`;
    });
  }

  async function load() {
    const n = ++loads;
    try {
      const data = await gql(LOAD);
      if (!alive || n !== loads) return;
      departments = data.departments;
      users = data.users;
      pipelines = data.pipelines;
      renderRules(data.assignmentRules);
      renderStages();
    } catch (err) {
      if (!alive || n !== loads) return;
      list.innerHTML = '';
      listError.textContent = t('settings.loadFailed', { message: err.message });
    }
    list.removeAttribute('aria-busy');
    poolList.removeAttribute('aria-busy');
  }

  function move(li, dir, button) {
    const all = items();
    const at = all.indexOf(li);
    const to = at + dir;
    if (to < 0 || to >= all.length) return;
    if (dir < 0) list.insertBefore(li, all[to]); else list.insertBefore(li, all[to].nextSibling);
    items().forEach(refresh);
    changed();
    const name = read($('form', li)).name.trim() || t('assign.unnamed');
    announce(t('assign.moved', { rule: name, position: to + 1, count: all.length }));
    // The keyboard stays on the moved rule: the same arrow while it can go on, else the other one.
    focusFirst(button.disabled ? null : button, $('.stage-move:not(:disabled)', li));
  }

  function remove(li) {
    const all = items();
    const at = all.indexOf(li);
    const name = read($('form', li)).name.trim() || t('assign.unnamed');
    li.remove();
    items().forEach(refresh);
    changed();
    announce(t('assign.deleted', { rule: name }));
    const next = items()[Math.min(at, items().length - 1)];
    focusFirst(next && $('[data-testid=assign-delete]', next), $('[data-testid=assign-add]', el));
  }

  list.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    const li = b?.closest('.assign-rule');
    if (!li) return;
    const id = b.dataset.testid;
    if (id === 'assign-up' || id === 'assign-down') move(li, Number(b.dataset.dir), b);
    else if (id === 'assign-delete') remove(li);
    else if (id === 'assign-edit') {
      const open = $('form', li).hidden;
      toggle(li, open);
      if (open) focusFirst($('[name=name]', li));
    } else if (id === 'assign-done') {
      toggle(li, false);
      $('[data-testid=assign-edit]', li).focus();
    }
  });
  const edited = (e) => {
    const li = e.target.closest('.assign-rule');
    if (!li) return;
    const box = e.target.closest('.assign-field');
    if (box && e.type === 'input') {
      // The field's own error goes once it is being corrected.
      $$('.field-error', box).forEach((p) => { p.textContent = ''; });
      $$('[aria-invalid]', box).forEach((x) => x.removeAttribute('aria-invalid'));
    }
    refresh(li);
    changed();
  };
  list.addEventListener('input', edited);
  list.addEventListener('change', edited);
  // Enter in a rule's field saves the list, as the Save button does.
  list.addEventListener('submit', (e) => { e.preventDefault(); save(); });

  $('[data-testid=assign-add]', el).addEventListener('click', () => {
    const d = draftOf({ strategy: 'ROUND_ROBIN' });
    const li = ruleItem(d, true);
    list.append(li);
    items().forEach(refresh);
    changed();
    $('[name=name]', li).focus();
  });

  discard.addEventListener('click', async () => {
    clearErrors(el);
    await reloadRules(true);
    focusFirst($('[data-testid=assign-add]', el));
  });

  /** Mark `message` beside `name` of the rule `li` (else in the rule's own error line); returns the field. */
  function markField(li, name, message) {
    const box = $(`.assign-field[data-field~="${CSS.escape(name)}"]`, li);
    const line = box ? $$('.field-error', box).pop() : $('[data-testid=assign-rule-error]', li);
    line.textContent = line.textContent ? `${line.textContent}\n${message}` : message;
    if (!box) return null;
    const shown = (sel) => $$(sel, box).find((x) => x.getClientRects().length > 0);
    const input = shown(`[name="${CSS.escape(name)}"]:not([type=radio])`) || shown('[name=strategy]:checked, [name=target]:checked') || shown('input, select');
    if (input && input.type !== 'checkbox' && input.type !== 'radio') input.setAttribute('aria-invalid', 'true');
    return input;
  }

  /** Errors found before asking the server: amounts and numbers that are not. */
  function localErrors(all) {
    const errors = [];
    all.forEach((d, i) => {
      for (const k of ['amountMin', 'amountMax']) {
        if (d[k].trim() && !AMOUNT.test(d[k].trim())) errors.push({ field: ['rules', String(i), k], message: t('assign.amountNumber') });
      }
      const c = d.capacity.trim();
      if (c && (!WHOLE.test(c) || Number(c) < 1)) errors.push({ field: ['rules', String(i), 'capacity'], message: t('assign.capacityNumber') });
    });
    return errors;
  }

  function showRuleErrors(errors) {
    const all = items();
    const candidates = [];
    for (const e of errors) {
      const path = (e.field || []).map(String);
      const li = path[0] === 'rules' && path.length > 1 ? all[Number(path[1])] : null;
      if (!li) { listError.textContent = listError.textContent ? `${listError.textContent}\n${e.message}` : e.message; continue; }
      toggle(li, true);
      candidates.push(markField(li, path[2] || '', e.message), $('[data-testid=assign-edit]', li));
    }
    status.textContent = t('assign.problems', { count: errors.length });
    focusFirst(...candidates, $('#assign-heading', el));
  }

  async function save() {
    if (saving) return;
    clearErrors($('[data-testid=assign-rules]', el));
    const all = drafts();
    const local = localErrors(all);
    if (local.length) { showRuleErrors(local); return; }
    saving = true;
    saveButton.disabled = true;
    try {
      const { setAssignmentRules: res } = await gql(SAVE, { i: { rules: all.map(inputOf) } });
      if (!alive) return;
      if (res.userErrors.length) { showRuleErrors(res.userErrors); return; }
      renderRules(res.assignmentRules);
      toast(res.assignmentRules.length ? t('assign.saved', { count: res.assignmentRules.length }) : t('assign.savedNone'), 'ok');
    } catch (err) {
      listError.textContent = t('settings.failed', { message: err.message });
    } finally {
      saving = false;
      if (saveButton.isConnected) {
        saveButton.disabled = false;
        if (!document.activeElement || document.activeElement === document.body) saveButton.focus();
      }
    }
  }
  saveButton.addEventListener('click', save);

  /** Read the rules again; a draft with unsaved changes is kept (and told of) unless `force`. */
  async function reloadRules(force) {
    try {
      const { assignmentRules } = await gql(RULES);
      if (!alive) return;
      const theirs = JSON.stringify(assignmentRules.map(draftOf));
      if (!force && theirs === saved) return;
      if (!force && changed()) { elsewhere.textContent = t('assign.changedElsewhere'); return; }
      renderRules(assignmentRules);
    } catch (err) {
      if (alive) listError.textContent = t('settings.loadFailed', { message: err.message });
    }
  }

  // ------------------------------------------------------------------ per stage: back to the pool

  const poolDirty = () => $$('.pool-day', poolList).some((li) => {
    const v = $('input', li).value.trim();
    return v !== String(savedDays.get(li.dataset.stageId) ?? '');
  });

  async function reloadStages() {
    if (poolDirty()) return;
    try {
      const data = await gql(STAGES);
      if (!alive || poolDirty()) return;
      pipelines = data.pipelines;
      renderStages();
    } catch (err) { /* the next change or a reload tries again */ }
  }

  poolForm.addEventListener('input', (e) => {
    const li = e.target.closest('.pool-day');
    if (!li) return;
    $('.field-error', li).textContent = '';
    e.target.removeAttribute('aria-invalid');
  });

  poolForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(poolForm);
    const box = $('[data-testid=pool-days-error]', poolForm);
    const button = $('[type=submit]', poolForm);
    const rows = $$('.pool-day', poolList);
    const bad = [];
    const changes = [];
    for (const li of rows) {
      const input = $('input', li);
      const v = input.value.trim();
      if (v && (!WHOLE.test(v) || Number(v) < 1 || Number(v) > MAX_POOL_DAYS)) { bad.push(li); continue; }
      const days = v ? Number(v) : null;
      if (days !== (savedDays.get(li.dataset.stageId) ?? null)) changes.push([li, days]);
    }
    if (bad.length) {
      bad.forEach((li) => { $('.field-error', li).textContent = t('assign.poolNumber', { limit: MAX_POOL_DAYS }); $('input', li).setAttribute('aria-invalid', 'true'); });
      box.textContent = t('assign.problems', { count: bad.length });
      $('input', bad[0]).focus();
      return;
    }
    if (!changes.length) { box.textContent = ''; toast(t('assign.poolUnchanged')); return; }
    button.disabled = true;
    let failed = 0;
    try {
      for (const [li, days] of changes) {
        const { setStagePoolAfterDays: res } = await gql(POOL_DAYS, { i: { stageId: li.dataset.stageId, days } });
        if (res.userErrors.length) {
          failed += 1;
          $('.field-error', li).textContent = res.userErrors.map((x) => x.message).join('\n');
          $('input', li).setAttribute('aria-invalid', 'true');
        } else savedDays.set(li.dataset.stageId, res.stage.poolAfterDays);
      }
      if (failed) {
        box.textContent = t('assign.problems', { count: failed });
        focusFirst($('[aria-invalid=true]', poolForm));
      } else toast(t('assign.poolSaved'), 'ok');
    } catch (err) {
      box.textContent = t('settings.failed', { message: err.message });
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        if (!document.activeElement || document.activeElement === document.body) button.focus();
      }
    }
  });

  // Another admin's change: the rules (CONFIGURATION_CHANGED, subject assignmentRules) and stages (PIPELINE_UPDATED).
  let timer = null;
  const off = onBoardEvent((evt) => {
    const subject = [].concat(evt.changes?.subject ?? []).pop();
    const rules = evt.type === 'RECONNECTED' || (evt.type === 'CONFIGURATION_CHANGED' && subject === 'assignmentRules');
    const stages = evt.type === 'RECONNECTED' || evt.type === 'PIPELINE_UPDATED';
    if (!rules && !stages) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (rules && !saving) reloadRules(false);
      if (stages) reloadStages();
    }, 300);
  });
  load();
  return () => { alive = false; off(); clearTimeout(timer); };
}
