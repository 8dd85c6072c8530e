// Settings › Pipeline (admins): the stages in order — rename, reorder, archive, restore, add — and each
// stage's gate (required fields and approvals, staleness) and approval rule. Every change is a mutation
// whose userErrors are shown beside its control; another admin's change arrives as PIPELINE_UPDATED.
import { gql } from './api.js';
import { esc, $, $$, toast, debounce, fieldLabel, fieldWords, listWords } from './util.js';
import { t, kindName } from './i18n.js';
import { onBoardEvent } from './state.js';
import { openModal } from './ui.js';
import { showErrors, clearErrors } from './forms.js';
import { keepFocus, focusFirst } from './focus.js';
import { announce } from './announce.js';

// resolvers/gates.py GATE_FIELDS, which no query lists (tests/browser/test_pipeline_settings.py keeps the two equal).
export const GATE_FIELDS = ['amount', 'expectedCloseDate', 'probability', 'nextStep', 'lostReason'];
// resolvers/approval_rules.py LOCKABLE and DEFAULT_LOCKS (checked by the same test).
export const LOCKABLE = ['amount', 'currency', 'account', 'expectedCloseDate', 'probability', 'title'];
const DEFAULT_LOCKS = ['amount', 'currency', 'account', 'expectedCloseDate'];
const STAGE_KINDS = ['OPEN', 'WON', 'LOST'];
const SIGN_MODES = ['ANY', 'ALL', 'COUNT'];
const ROLES = ['MANAGER', 'MEMBER', 'ADMIN'];
const KNOWN_KINDS = ['contract', 'discount', 'pricing'];

const ERRORS = 'userErrors { field code message }';
const STAGE = `id key name position kind archived requiredFields requiredApprovals staleAfterHours
  approvalRule { kind mode locks steps { departmentKey role mode minApprovals amountAtLeast
    remindAfterHours escalateAfterHours finalAfterHours finalAction approvers { id name } } }`;
const LOAD = `query PipelineSettings { departments { key name }
  pipelines { id name stages { ${STAGE} } archivedStages { ${STAGE} } }
  board { columns { stage { id } totalCount } } }`;
const REORDER = `mutation ReorderStages($i: ReorderStagesInput!) { reorderStages(input: $i) { stages { id } ${ERRORS} } }`;
const ARCHIVE = `mutation ArchiveStage($i: ArchiveStageInput!) { archiveStage(input: $i) { stage { id } movedCount ${ERRORS} } }`;
const RESTORE = `mutation RestoreStage($i: StageIdInput!) { restoreStage(input: $i) { stage { id } ${ERRORS} } }`;
const CREATE = `mutation CreateStage($i: CreateStageInput!) { createStage(input: $i) { stage { id key name } ${ERRORS} } }`;
const UPDATE = `mutation UpdateStage($i: UpdateStageInput!) { updateStage(input: $i) { stage { id name } ${ERRORS} } }`;
const SET_RULE = `mutation SetStageApprovalRule($i: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $i) { stage { id } ${ERRORS} } }`;
const PREVIEW = `query PreviewStageChange($i: UpdateStageInput!) { previewStageChange(input: $i) { cardsInStage cardsFailingGate cardsNewlyFailing summary } }`;

const opt = (value, label, selected) => `<option value="${esc(value)}"${selected ? ' selected' : ''}>${esc(label)}</option>`;
const hoursValue = (v) => (v == null ? '' : String(v));
const intOrNull = (v) => (String(v).trim() === '' ? null : Number(v));

/** Run `send` for a button or form: errors cleared, the button disabled meanwhile, a failed request said in `box`. */
async function busy(button, box, send) {
  button.disabled = true;
  try { await send(); } catch (err) { box.textContent = t('stages.failed', { message: err.message }); } finally {
    button.disabled = false;
  }
}

export function mountPipelineSettings(el) {
  let alive = true;
  let loads = 0;
  let pipeline = null;
  let stages = []; // every stage, archived too, by position
  let counts = new Map(); // stage id -> cards in it
  let departments = [];
  const openRename = new Set();
  const openEditor = new Set();

  el.innerHTML = `
    <div class="pipeline-settings" data-testid="pipeline-settings">
      <section class="panel" aria-labelledby="stages-heading">
        <h2 id="stages-heading">${esc(t('stages.title'))}</h2>
        <p class="muted small">${esc(t('stages.intro'))}</p>
        <p class="form-error" role="alert" data-testid="stages-error"></p>
        <ol class="stage-list" data-testid="stage-list" aria-busy="true"><li class="muted">${esc(t('stages.loading'))}</li></ol>
      </section>
      <section class="panel" aria-labelledby="add-stage-heading">
        <h2 id="add-stage-heading">${esc(t('stages.addTitle'))}</h2>
        <form class="add-stage-form" data-testid="add-stage-form" novalidate>
          <label>${esc(t('stages.key'))} <input name="key" required maxlength="40" autocomplete="off" spellcheck="false" autocapitalize="off"
            data-testid="add-stage-key" aria-describedby="add-stage-key-note add-stage-error"></label>
          <label>${esc(t('stages.name'))} <input name="name" required maxlength="100" autocomplete="off" data-testid="add-stage-name" aria-describedby="add-stage-error"></label>
          <label>${esc(t('stages.kind'))} <select name="kind" data-testid="add-stage-kind">${STAGE_KINDS.map((k) => opt(k, t(`stages.kind.${k}`))).join('')}</select></label>
          <label>${esc(t('stages.position'))} <select name="position" data-testid="add-stage-position"></select></label>
          <p class="form-note muted small" id="add-stage-key-note">${esc(t('stages.keyNote'))}</p>
          <p class="form-error" id="add-stage-error" role="alert" data-testid="add-stage-error"></p>
          <div class="actions"><button class="btn btn-primary" type="submit" data-testid="add-stage-submit">${esc(t('stages.add'))}</button></div>
        </form>
      </section>
      <section class="panel" aria-labelledby="archived-heading" data-testid="archived-stages">
        <h2 id="archived-heading">${esc(t('stages.archivedTitle'))}</h2>
        <ul class="archived-list"></ul>
      </section>
      <datalist id="approval-kinds"></datalist>
    </div>`;
  const list = $('.stage-list', el);
  const listError = $('[data-testid="stages-error"]', el);
  const addForm = $('.add-stage-form', el);

  const active = () => stages.filter((s) => !s.archived);
  const byId = (id) => stages.find((s) => s.id === id);

  let newest = Promise.resolve(); // the latest read: only it draws the page
  /** Read and draw the pipeline. Resolves once the page shows the newest read: a live reload
   * started meanwhile supersedes this one, and a caller that focuses a row afterwards must find
   * the row that read drew (not the one it is about to replace). */
  async function load() {
    const seq = ++loads;
    newest = (async () => {
      try {
        const data = await gql(LOAD);
        if (!alive || seq !== loads) return;
        departments = data.departments;
        pipeline = data.pipelines[0] || null;
        stages = [...(pipeline?.stages || []), ...(pipeline?.archivedStages || [])].sort((a, b) => a.position - b.position);
        counts = new Map((data.board?.columns || []).map((c) => [c.stage.id, c.totalCount]));
        render();
      } catch (err) {
        if (!alive || seq !== loads) return;
        listError.textContent = t('stages.loadFailed', { message: err.message });
      }
      list.removeAttribute('aria-busy');
    })();
    let read;
    do { read = newest; await read; } while (read !== newest);
  }

  function render() {
    keepFocus(el, () => {
      const kinds = new Set(KNOWN_KINDS);
      stages.forEach((s) => { (s.requiredApprovals || []).forEach((k) => kinds.add(k)); if (s.approvalRule) kinds.add(s.approvalRule.kind); });
      $('#approval-kinds', el).innerHTML = [...kinds].map((k) => `<option value="${esc(k)}">${esc(kindName(k))}</option>`).join('');
      // An editor being filled in stays as it is; the rest are drawn from the new data.
      const kept = new Map($$('.stage-item', list).map((li) => [li.dataset.id, li]));
      const rows = active();
      list.innerHTML = rows.length ? '' : `<li class="muted">${esc(t('stages.none'))}</li>`;
      rows.forEach((s, i) => {
        // A row whose stage, place and count are unchanged stays as it is (open editors, focus, half-typed input).
        const sig = JSON.stringify([s, counts.get(s.id) || 0, i, rows.length, departments, [...kinds]]);
        const old = kept.get(s.id);
        if (old?.dataset.sig === sig) { list.append(old); return; }
        const li = document.createElement('li');
        li.dataset.sig = sig;
        li.className = 'stage-item';
        li.dataset.id = s.id;
        li.dataset.key = s.key;
        li.dataset.testid = `stage-${s.key}`;
        li.setAttribute('data-testid', `stage-${s.key}`);
        li.innerHTML = stageRow(s, i, rows.length);
        for (const part of ['.rename-form', '.stage-editor']) {
          const previous = old && $(part, old);
          if (previous?.dataset.dirty === '1') $(part, li).replaceWith(previous);
        }
        list.append(li);
        wireRow(li, s);
      });
      const archived = stages.filter((s) => s.archived);
      $('.archived-list', el).innerHTML = archived.length ? archived.map((s) => `
        <li class="archived-item" data-id="${esc(s.id)}" data-testid="archived-${esc(s.key)}">
          <span><strong>${esc(s.name)}</strong> <span class="muted small">${esc(s.key)}</span></span>
          <button type="button" class="btn" data-testid="stage-restore" aria-label="${esc(t('stages.restoreNamed', { stage: s.name }))}">${esc(t('stages.restore'))}</button>
          <p class="form-error" role="alert"></p>
        </li>`).join('') : `<li class="muted">${esc(t('stages.noneArchived'))}</li>`;
      $('[name=position]', addForm).innerHTML = opt('', t('stages.atEnd'))
        + rows.map((s) => opt(s.position, t('stages.before', { stage: s.name }))).join('');
    });
  }

  function stageRow(s, i, total) {
    const n = counts.get(s.id) || 0;
    const needs = [...(s.requiredFields || []).map(fieldWords), ...(s.requiredApprovals || []).map((k) => t('gate.approval', { kind: kindName(k) }))];
    const rule = s.approvalRule ? t('stages.ruleSummary', { kind: kindName(s.approvalRule.kind), count: s.approvalRule.steps.length }) : '';
    return `
      <div class="stage-line">
        <span class="stage-pos" aria-hidden="true">${i + 1}</span>
        <div class="stage-title">
          <h3 class="stage-name" data-testid="stage-name">${esc(s.name)}</h3>
          <p class="muted small">${esc([s.key, t(`stages.kind.${s.kind}`), t('stages.cards', { count: n })].join(' · '))}</p>
          ${needs.length ? `<p class="small stage-needs">${esc(t('gate.hint', { needs: listWords(needs) }))}</p>` : ''}
          ${rule ? `<p class="small stage-needs">${esc(rule)}</p>` : ''}
        </div>
        <div class="stage-actions">
          <button type="button" class="btn stage-move" data-testid="stage-up" data-dir="-1" aria-label="${esc(t('stages.moveUp', { stage: s.name }))}"
            title="${esc(t('stages.moveUpTitle'))}"${i === 0 ? ' disabled' : ''}><span aria-hidden="true">↑</span></button>
          <button type="button" class="btn stage-move" data-testid="stage-down" data-dir="1" aria-label="${esc(t('stages.moveDown', { stage: s.name }))}"
            title="${esc(t('stages.moveDownTitle'))}"${i === total - 1 ? ' disabled' : ''}><span aria-hidden="true">↓</span></button>
          <button type="button" class="btn" data-testid="stage-rename" aria-expanded="${openRename.has(s.id)}" aria-controls="rename-${esc(s.id)}">${esc(t('stages.rename'))}<span class="sr-only"> ${esc(s.name)}</span></button>
          <button type="button" class="btn" data-testid="stage-edit" aria-expanded="${openEditor.has(s.id)}" aria-controls="editor-${esc(s.id)}">${esc(t('stages.edit'))}<span class="sr-only"> ${esc(s.name)}</span></button>
          <button type="button" class="btn btn-danger" data-testid="stage-archive">${esc(t('stages.archive'))}<span class="sr-only"> ${esc(s.name)}</span></button>
        </div>
      </div>
      <p class="form-error" role="alert" data-testid="stage-error"></p>
      <form class="rename-form inline-form" id="rename-${esc(s.id)}" data-testid="rename-form" novalidate${openRename.has(s.id) ? '' : ' hidden'}>
        <label>${esc(t('stages.newName'))} <input name="name" required maxlength="100" value="${esc(s.name)}" autocomplete="off" data-testid="rename-input"></label>
        <button class="btn btn-primary" type="submit" data-testid="rename-save">${esc(t('stages.save'))}</button>
        <button class="btn btn-ghost" type="button" data-testid="rename-cancel">${esc(t('stages.cancel'))}</button>
        <p class="form-error" role="alert" data-testid="rename-error"></p>
      </form>
      <div class="stage-editor" id="editor-${esc(s.id)}" data-testid="stage-editor"${openEditor.has(s.id) ? '' : ' hidden'}>
        ${gateForm(s)}
        ${ruleForm(s)}
      </div>`;
  }

  function gateForm(s) {
    const kinds = new Set([...KNOWN_KINDS, ...stages.flatMap((x) => x.requiredApprovals || [])]);
    const checked = (list, v) => (list || []).includes(v) ? ' checked' : '';
    return `
      <form class="gate-form" data-testid="gate-form" novalidate>
        <h4>${esc(t('stages.gateTitle'))}</h4>
        <fieldset><legend>${esc(t('stages.requiredFields'))}</legend>
          <div class="check-grid">${GATE_FIELDS.map((f) => `<label class="check"><input type="checkbox" name="requiredFields" value="${esc(f)}"${checked(s.requiredFields, f)} data-testid="gate-field-${esc(f)}"> ${esc(fieldLabel(f))}</label>`).join('')}</div>
        </fieldset>
        <fieldset><legend>${esc(t('stages.requiredApprovals'))}</legend>
          <div class="check-grid">${[...kinds].map((k) => `<label class="check"><input type="checkbox" name="requiredApprovals" value="${esc(k)}"${checked(s.requiredApprovals, k)}> ${esc(kindName(k))}</label>`).join('')}</div>
          <label class="field">${esc(t('stages.otherKinds'))} <input name="otherKinds" autocomplete="off" aria-describedby="other-kinds-${esc(s.id)}"></label>
          <p class="muted small" id="other-kinds-${esc(s.id)}">${esc(t('stages.otherKindsNote'))}</p>
        </fieldset>
        <label class="field">${esc(t('stages.staleAfter'))} <input name="staleAfterHours" type="number" min="1" max="8760" step="1" inputmode="numeric"
          value="${esc(hoursValue(s.staleAfterHours))}" data-testid="gate-stale" aria-describedby="stale-note-${esc(s.id)}"></label>
        <p class="muted small" id="stale-note-${esc(s.id)}">${esc(t('stages.staleNote'))}</p>
        <p class="form-error" role="alert" data-testid="gate-error"></p>
        ${confirmBox('gate')}
        <div class="actions form-actions"><button class="btn btn-primary" type="submit" data-testid="gate-review">${esc(t('stages.review'))}</button></div>
      </form>`;
  }

  function ruleForm(s) {
    const rule = s.approvalRule;
    const locks = rule ? rule.locks : DEFAULT_LOCKS;
    return `
      <form class="rule-form" data-testid="rule-form" novalidate>
        <h4>${esc(t('rule.title'))}</h4>
        <p class="muted small">${esc(t('rule.intro'))}</p>
        <div class="rule-head">
          <label class="field">${esc(t('rule.kind'))} <input name="kind" list="approval-kinds" maxlength="40" autocomplete="off" value="${esc(rule?.kind || '')}" data-testid="rule-kind"></label>
          <label class="field">${esc(t('rule.mode'))} <select name="mode" data-testid="rule-mode">${['SEQUENTIAL', 'PARALLEL'].map((m) => opt(m, t(`rule.mode.${m}`), (rule?.mode || 'SEQUENTIAL') === m)).join('')}</select></label>
        </div>
        <ol class="rule-steps" data-testid="rule-steps"></ol>
        <div><button type="button" class="btn" data-testid="rule-add-step">${esc(t('rule.addStep'))}</button></div>
        <fieldset><legend>${esc(t('rule.locks'))}</legend>
          <div class="check-grid">${LOCKABLE.map((f) => `<label class="check"><input type="checkbox" name="locks" value="${esc(f)}"${locks.includes(f) ? ' checked' : ''}> ${esc(fieldLabel(f))}</label>`).join('')}</div>
        </fieldset>
        <p class="form-error" role="alert" data-testid="rule-error"></p>
        ${confirmBox('rule')}
        <div class="actions form-actions">
          <button class="btn btn-primary" type="submit" data-testid="rule-review">${esc(t('stages.review'))}</button>
          ${rule ? `<button class="btn btn-danger" type="button" data-testid="rule-remove">${esc(t('rule.remove'))}</button>` : ''}
        </div>
      </form>`;
  }

  function confirmBox(what) {
    return `<div class="confirm-box" data-testid="${what}-confirm" hidden>
      <p class="confirm-summary" data-testid="${what}-preview"></p>
      <div class="actions">
        <button class="btn btn-primary" type="button" data-testid="${what}-confirm-save">${esc(t('stages.confirmSave'))}</button>
        <button class="btn btn-ghost" type="button" data-testid="${what}-confirm-back">${esc(t('stages.confirmBack'))}</button>
      </div></div>`;
  }

  // ------------------------------------------------------------- approval-rule steps

  function stepMarkup(step, i, total) {
    const n = i + 1;
    const named = !step.departmentKey && step.approvers?.length;
    const hasAmount = step.amountAtLeast != null && step.amountAtLeast !== '';
    const id = `${Math.random().toString(36).slice(2, 8)}`;
    const timeouts = step.remindAfterHours || step.escalateAfterHours || step.finalAfterHours;
    return `
      <li class="rule-step" data-testid="rule-step" data-user-ids="${esc((named ? step.approvers.map((u) => u.id) : []).join(','))}">
        <fieldset>
          <legend>${esc(t('rule.step', { n }))}</legend>
          <div class="step-grid">
            <label class="field">${esc(t('rule.department'))} <select name="departmentKey" data-testid="step-department">
              ${named ? opt('', t('rule.namedPeople', { names: listWords(step.approvers.map((u) => u.name)) }), true) : ''}
              ${departments.map((d) => opt(d.key, d.name, d.key === step.departmentKey)).join('')}</select></label>
            <label class="field">${esc(t('rule.role'))} <select name="role" data-testid="step-role">${opt('', t('rule.anyone'))}${ROLES.map((r) => opt(r, t(`rule.role.${r}`), step.role === r)).join('')}</select></label>
            <label class="field">${esc(t('rule.signMode'))} <select name="signMode" data-testid="step-sign-mode">${SIGN_MODES.map((m) => opt(m, t(`rule.sign.${m}`), (step.mode || 'ANY') === m)).join('')}</select></label>
            <label class="field step-count"${step.mode === 'COUNT' ? '' : ' hidden'}>${esc(t('rule.minApprovals'))} <input name="minApprovals" type="number" min="1" step="1" inputmode="numeric" value="${esc(hoursValue(step.minApprovals))}" data-testid="step-min"></label>
          </div>
          <div class="step-amount">
            <label class="check"><input type="checkbox" name="hasAmount" data-testid="step-has-amount"${hasAmount ? ' checked' : ''} aria-controls="amount-${id}"> ${esc(t('rule.onlyFrom'))}</label>
            <label class="field" id="amount-${id}"${hasAmount ? '' : ' hidden'}>${esc(t('rule.amountAtLeast'))} <input name="amountAtLeast" inputmode="decimal" autocomplete="off" value="${esc(hasAmount ? step.amountAtLeast : '')}" data-testid="step-amount"></label>
          </div>
          <details class="step-timeouts"${timeouts ? ' open' : ''}>
            <summary>${esc(t('rule.timeouts'))}</summary>
            <div class="step-grid">
              <label class="field">${esc(t('rule.remindAfter'))} <input name="remindAfterHours" type="number" min="1" step="1" inputmode="numeric" value="${esc(hoursValue(step.remindAfterHours))}"></label>
              <label class="field">${esc(t('rule.escalateAfter'))} <input name="escalateAfterHours" type="number" min="1" step="1" inputmode="numeric" value="${esc(hoursValue(step.escalateAfterHours))}"></label>
              <label class="field">${esc(t('rule.finalAfter'))} <input name="finalAfterHours" type="number" min="1" step="1" inputmode="numeric" value="${esc(hoursValue(step.finalAfterHours))}"></label>
              <label class="field">${esc(t('rule.finalAction'))} <select name="finalAction">${opt('', t('rule.final.none'))}${['RETURN', 'APPROVE'].map((a) => opt(a, t(`rule.final.${a}`), step.finalAction === a)).join('')}</select></label>
            </div>
          </details>
          <div class="actions step-actions">
            <button type="button" class="btn" data-step-move="-1" aria-label="${esc(t('rule.stepUp', { n }))}"${i === 0 ? ' disabled' : ''}><span aria-hidden="true">↑</span></button>
            <button type="button" class="btn" data-step-move="1" aria-label="${esc(t('rule.stepDown', { n }))}"${i === total - 1 ? ' disabled' : ''}><span aria-hidden="true">↓</span></button>
            <button type="button" class="btn btn-ghost" data-step-remove aria-label="${esc(t('rule.stepRemove', { n }))}"${total === 1 ? ' disabled' : ''}>${esc(t('rule.removeStep'))}</button>
          </div>
        </fieldset>
      </li>`;
  }

  /** The steps as the form holds them (also what re-drawing them starts from). */
  function readSteps(form) {
    return $$('.rule-step', form).map((li) => {
      const v = (name) => $(`[name="${name}"]`, li).value.trim();
      const ids = li.dataset.userIds ? li.dataset.userIds.split(',') : [];
      return {
        departmentKey: v('departmentKey') || null, role: v('role') || null, mode: v('signMode'),
        minApprovals: v('signMode') === 'COUNT' ? intOrNull(v('minApprovals')) : null,
        amountAtLeast: $('[name=hasAmount]', li).checked ? v('amountAtLeast').replace(/[\s,，]/g, '') : null,
        remindAfterHours: intOrNull(v('remindAfterHours')), escalateAfterHours: intOrNull(v('escalateAfterHours')),
        finalAfterHours: intOrNull(v('finalAfterHours')), finalAction: v('finalAction') || null,
        approvers: ids.map((id) => ({ id, name: '' })),
      };
    });
  }

  function drawSteps(form, steps) {
    const ol = $('.rule-steps', form);
    ol.innerHTML = steps.map((s, i) => stepMarkup(s, i, steps.length)).join('');
  }

  function stepInput(step) {
    const out = { mode: step.mode || 'ANY' };
    if (step.departmentKey) { out.departmentKey = step.departmentKey; if (step.role) out.role = step.role; } else out.userIds = step.approvers.map((u) => u.id);
    if (out.mode === 'COUNT') out.minApprovals = step.minApprovals;
    if (step.amountAtLeast) out.amountAtLeast = step.amountAtLeast;
    for (const k of ['remindAfterHours', 'escalateAfterHours', 'finalAfterHours', 'finalAction']) if (step[k] != null) out[k] = step[k];
    return out;
  }

  // ------------------------------------------------------------- wiring a stage's row

  function wireRow(li, s) {
    const rename = $('.rename-form', li);
    const editor = $('.stage-editor', li);
    const gate = $('.gate-form', editor);
    const rule = $('.rule-form', editor);
    if (!$('.rule-step', rule)) drawSteps(rule, s.approvalRule?.steps?.length ? s.approvalRule.steps : [{ mode: 'ANY', departmentKey: departments[0]?.key }]);

    $$('.stage-move', li).forEach((b) => b.addEventListener('click', () => move(s.id, Number(b.dataset.dir), b)));
    $('[data-testid="stage-rename"]', li).addEventListener('click', (e) => {
      const open = rename.hidden;
      rename.hidden = !open;
      e.currentTarget.setAttribute('aria-expanded', String(open));
      if (open) { openRename.add(s.id); rename.name.select(); rename.name.focus(); } else { openRename.delete(s.id); delete rename.dataset.dirty; }
    });
    $('[data-testid="stage-edit"]', li).addEventListener('click', (e) => {
      const open = editor.hidden;
      editor.hidden = !open;
      e.currentTarget.setAttribute('aria-expanded', String(open));
      if (open) { openEditor.add(s.id); focusFirst($('input', gate)); } else { openEditor.delete(s.id); delete editor.dataset.dirty; }
    });
    $('[data-testid="stage-archive"]', li).addEventListener('click', (e) => archiveDialog(s, e.currentTarget));
    // A form carried over from the previous drawing (being filled in) keeps its own listeners.
    if (!rename.dataset.wired) wireRename(s, rename);
    if (!editor.dataset.wired) wireEditor(s, editor);
  }

  function wireRename(s, rename) {
    rename.dataset.wired = '1';
    rename.addEventListener('input', () => { rename.dataset.dirty = '1'; });
    $('[data-testid="rename-cancel"]', rename).addEventListener('click', () => closeRename(s.id));
    rename.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(rename);
      const box = $('.form-error', rename);
      busy($('[type=submit]', rename), box, async () => {
        const { updateStage: res } = await gql(UPDATE, { i: { id: s.id, name: rename.name.value.trim() } });
        if (res.userErrors.length) { showErrors(rename, res.userErrors, box); return; }
        toast(t('stages.renamed', { from: s.name, to: res.stage.name }), 'ok');
        openRename.delete(s.id);
        delete rename.dataset.dirty;
        await load();
        focusFirst(() => $(`.stage-item[data-id="${CSS.escape(s.id)}"] [data-testid="stage-rename"]`, list));
      });
    });
  }

  function wireEditor(s, editor) {
    editor.dataset.wired = '1';
    editor.addEventListener('input', (e) => { editor.dataset.dirty = '1'; hideConfirm(e.target.closest('form')); });
    editor.addEventListener('change', (e) => { editor.dataset.dirty = '1'; hideConfirm(e.target.closest('form')); });
    wireGate(s, $('.gate-form', editor));
    wireRule(s, $('.rule-form', editor));
  }

  function closeRename(id) {
    openRename.delete(id);
    const li = $(`.stage-item[data-id="${CSS.escape(id)}"]`, list);
    const form = li && $('.rename-form', li);
    if (!form) return;
    form.hidden = true;
    delete form.dataset.dirty;
    form.name.value = byId(id)?.name || '';
    const toggle = $('[data-testid="stage-rename"]', li);
    toggle.setAttribute('aria-expanded', 'false');
    toggle.focus();
  }

  function hideConfirm(form) {
    const box = form && $('.confirm-box', form);
    if (box && !box.hidden) { box.hidden = true; $('.form-actions', form).hidden = false; }
  }

  /** Preview what `change` would do to the stage's cards, then ask; `save` runs on confirmation. */
  async function confirmThenSave(form, stage, change, save) {
    const box = $('.form-error', form);
    const confirm = $('.confirm-box', form);
    const { previewStageChange: p } = await gql(PREVIEW, { i: { id: stage.id, ...change } });
    $('.confirm-summary', confirm).textContent = p.summary;
    confirm.dataset.failing = p.cardsNewlyFailing;
    confirm.hidden = false;
    $('.form-actions', form).hidden = true;
    const yes = $('[data-testid$="-confirm-save"]', confirm);
    const back = $('[data-testid$="-confirm-back"]', confirm);
    yes.focus();
    yes.onclick = () => busy(yes, box, async () => {
      const errors = await save();
      if (errors?.length) { confirm.hidden = true; $('.form-actions', form).hidden = false; showErrors(form, errors, box); return; }
      delete form.closest('.stage-editor').dataset.dirty;
      await load();
      focusFirst(() => $(`.stage-item[data-id="${CSS.escape(stage.id)}"] [data-testid="${form.dataset.testid}"] [type=submit]`, list));
    });
    back.onclick = () => { confirm.hidden = true; $('.form-actions', form).hidden = false; focusFirst($('input, select', form)); };
  }

  function wireGate(s, form) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      const box = $('.form-error', form);
      const stale = form.staleAfterHours.value.trim();
      if (stale && !/^\d+$/.test(stale)) { showErrors(form, [{ field: ['staleAfterHours'], message: t('stages.staleNumber') }], box); return; }
      const other = form.otherKinds.value.split(/[,，、\s]+/).map((k) => k.trim().toLowerCase()).filter(Boolean);
      const change = {
        requiredFields: $$('[name=requiredFields]:checked', form).map((c) => c.value),
        requiredApprovals: [...new Set([...$$('[name=requiredApprovals]:checked', form).map((c) => c.value), ...other])],
        staleAfterHours: stale ? Number(stale) : null,
      };
      busy($('[type=submit]', form), box, () => confirmThenSave(form, s, change, async () => {
        const { updateStage: res } = await gql(UPDATE, { i: { id: s.id, ...change } });
        if (!res.userErrors.length) toast(t('stages.gateSaved', { stage: s.name }), 'ok');
        return res.userErrors;
      }));
    });
  }

  function wireRule(s, form) {
    form.addEventListener('change', (e) => {
      const li = e.target.closest('.rule-step');
      if (!li) return;
      if (e.target.name === 'signMode') $('.step-count', li).hidden = e.target.value !== 'COUNT';
      if (e.target.name === 'hasAmount') {
        const field = $('[name=amountAtLeast]', li).closest('label');
        field.hidden = !e.target.checked;
        if (e.target.checked) $('[name=amountAtLeast]', li).focus();
      }
      if (e.target.name === 'departmentKey' && e.target.value) li.dataset.userIds = '';
    });
    form.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      const steps = readSteps(form);
      if (b.dataset.testid === 'rule-add-step') {
        steps.push({ mode: 'ANY', departmentKey: departments[0]?.key });
        drawSteps(form, steps);
        focusFirst($$('.rule-step', form).pop()?.querySelector('select'));
      } else if (b.hasAttribute('data-step-move') || b.hasAttribute('data-step-remove')) {
        const at = $$('.rule-step', form).indexOf(b.closest('.rule-step'));
        let focusAt = at;
        if (b.hasAttribute('data-step-remove')) { steps.splice(at, 1); focusAt = Math.min(at, steps.length - 1); } else {
          const to = at + Number(b.dataset.stepMove);
          [steps[at], steps[to]] = [steps[to], steps[at]];
          focusAt = to;
          announce(t('rule.stepMoved', { n: to + 1, count: steps.length }));
        }
        drawSteps(form, steps);
        const li = $$('.rule-step', form)[focusAt];
        const same = li && $(b.hasAttribute('data-step-remove') ? 'select' : `[data-step-move="${b.dataset.stepMove}"]:not(:disabled)`, li);
        focusFirst(same, li && $('[data-step-move]:not(:disabled)', li), li && $('select', li));
      } else return;
      form.closest('.stage-editor').dataset.dirty = '1';
      hideConfirm(form);
    });
    $('[data-testid="rule-remove"]', form)?.addEventListener('click', (e) => {
      const box = $('.form-error', form);
      clearErrors(form);
      busy(e.currentTarget, box, async () => {
        const { setStageApprovalRule: res } = await gql(SET_RULE, { i: { stageId: s.id, rule: null } });
        if (res.userErrors.length) { showErrors(form, res.userErrors, box); return; }
        toast(t('rule.removed', { stage: s.name }), 'ok');
        delete form.closest('.stage-editor').dataset.dirty;
        await load();
        focusFirst(() => $(`.stage-item[data-id="${CSS.escape(s.id)}"] [data-testid="rule-review"]`, list));
      });
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      const box = $('.form-error', form);
      const kind = form.kind.value.trim().toLowerCase();
      const steps = readSteps(form);
      const bad = steps.findIndex((st) => st.amountAtLeast !== null && !/^\d+(\.\d+)?$/.test(st.amountAtLeast));
      if (!kind) { showErrors(form, [{ field: ['kind'], message: t('rule.kindMissing') }], box); return; }
      if (bad >= 0) {
        box.textContent = t('rule.amountNumber', { n: bad + 1 });
        const input = $$('[name=amountAtLeast]', form)[bad];
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      const ruleInput = { kind, mode: form.mode.value, steps: steps.map(stepInput), locks: $$('[name=locks]:checked', form).map((c) => c.value) };
      // Setting a rule makes its kind required to enter: the preview counts the cards that lack it.
      const change = { requiredApprovals: [...new Set([...(s.requiredApprovals || []), kind])] };
      busy($('[type=submit]', form), box, () => confirmThenSave(form, s, change, async () => {
        const { setStageApprovalRule: res } = await gql(SET_RULE, { i: { stageId: s.id, rule: ruleInput } });
        if (!res.userErrors.length) toast(t('rule.saved', { stage: s.name }), 'ok');
        return res.userErrors;
      }));
    });
  }

  // ------------------------------------------------------------- reorder, archive, restore, add

  async function move(id, dir, button) {
    const rows = active();
    const at = rows.findIndex((s) => s.id === id);
    const to = at + dir;
    if (at < 0 || to < 0 || to >= rows.length) return;
    const order = rows.map((s) => s.id);
    [order[at], order[to]] = [order[to], order[at]];
    const li = button.closest('.stage-item');
    const box = $('[data-testid="stage-error"]', li);
    clearErrors(li);
    await busy(button, box, async () => {
      const { reorderStages: res } = await gql(REORDER, { i: { pipelineId: pipeline.id, stageIds: order } });
      if (res.userErrors.length) { box.textContent = res.userErrors.map((e) => e.message).join(' '); return; }
      const stage = byId(id);
      await load();
      announce(t('stages.movedTo', { stage: stage.name, position: to + 1, count: rows.length }));
      // Keep the keyboard on the moved stage: the same arrow while it can go on, else the other one.
      const row = $(`.stage-item[data-id="${CSS.escape(id)}"]`, list);
      focusFirst(row && $(`.stage-move[data-dir="${dir}"]:not(:disabled)`, row), row && $('.stage-move:not(:disabled)', row));
    });
  }

  function archiveDialog(s, opener) {
    const n = counts.get(s.id) || 0;
    const others = active().filter((x) => x.id !== s.id);
    const dialog = openModal({ title: t('stages.archiveTitle', { stage: s.name }), testid: 'archive-dialog', className: 'archive-dialog', returnTo: () => opener.isConnected ? opener : $('#stages-heading', el) });
    dialog.body.innerHTML = `
      <form class="stack" novalidate>
        <p>${esc(n ? t('stages.archiveHolds', { count: n, stage: s.name }) : t('stages.archiveEmpty', { stage: s.name }))}</p>
        ${n ? `<label>${esc(t('stages.moveCardsTo'))} <select name="target" data-testid="archive-target">${others.map((x) => opt(x.id, x.name)).join('')}</select></label>` : ''}
        <p class="muted small">${esc(t('stages.archiveNote'))}</p>
        <p class="form-error" role="alert" data-testid="archive-error"></p>
        <div class="actions">
          <button class="btn btn-primary" type="submit" data-testid="archive-confirm">${esc(t('stages.archiveConfirm'))}</button>
          <button class="btn btn-ghost" type="button" data-testid="archive-cancel">${esc(t('stages.cancel'))}</button>
        </div>
      </form>`;
    const form = $('form', dialog.body);
    focusFirst(form.target, $('[type=submit]', form));
    $('[data-testid="archive-cancel"]', form).addEventListener('click', dialog.close);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      const box = $('.form-error', form);
      busy($('[type=submit]', form), box, async () => {
        const input = { stageId: s.id };
        if (form.target) input.moveCardsToStageId = form.target.value;
        const { archiveStage: res } = await gql(ARCHIVE, { i: input });
        if (res.userErrors.length) {
          showErrors(form, res.userErrors.map((x) => ({ ...x, field: x.field?.includes?.('moveCardsToStageId') ? ['target'] : x.field })), box);
          return;
        }
        const target = form.target ? byId(form.target.value)?.name : '';
        toast(res.movedCount ? t('stages.archivedMoved', { stage: s.name, count: res.movedCount, target }) : t('stages.archived', { stage: s.name }), 'ok');
        const next = active()[active().findIndex((x) => x.id === s.id) + 1]?.id;
        dialog.close();
        await load();
        focusFirst(() => next && $(`.stage-item[data-id="${CSS.escape(next)}"] [data-testid="stage-archive"]`, list), () => $('#stages-heading', el));
      });
    });
  }

  $('.archived-list', el).addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="stage-restore"]');
    if (!b) return;
    const li = b.closest('li');
    const s = byId(li.dataset.id);
    busy(b, $('.form-error', li), async () => {
      const { restoreStage: res } = await gql(RESTORE, { i: { id: s.id } });
      if (res.userErrors.length) { $('.form-error', li).textContent = res.userErrors.map((x) => x.message).join(' '); return; }
      toast(t('stages.restored', { stage: s.name }), 'ok');
      await load();
      focusFirst(() => $(`.stage-item[data-id="${CSS.escape(s.id)}"] [data-testid="stage-rename"]`, list), () => $('#archived-heading', el));
    });
  });

  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(addForm);
    const box = $('.form-error', addForm);
    const input = { pipelineId: pipeline?.id, key: addForm.key.value.trim(), kind: addForm.kind.value };
    if (addForm.name.value.trim()) input.name = addForm.name.value.trim();
    if (addForm.position.value !== '') input.position = Number(addForm.position.value);
    busy($('[type=submit]', addForm), box, async () => {
      const { createStage: res } = await gql(CREATE, { i: input });
      if (res.userErrors.length) { showErrors(addForm, res.userErrors, box); return; }
      toast(t('stages.added', { stage: res.stage.name }), 'ok');
      addForm.reset();
      await load();
    });
  });

  // Another admin's change (or this admin's, from another tab) and cards moving in or out of a stage.
  const reload = debounce(load, 300);
  const off = onBoardEvent((evt) => {
    if (['PIPELINE_UPDATED', 'RECONNECTED', 'OPPORTUNITY_CREATED', 'OPPORTUNITY_MOVED', 'OPPORTUNITY_LOST'].includes(evt.type)) reload();
  });
  load();
  return () => { alive = false; off(); };
}
