// The drawer's customer tab: the customer, follow-ups (跟进记录) with their quick form, contacts and
// files; and the card's last-contact line. drawer.js loads it with the card and redraws it on live events.
import { gql, upload } from './api.js';
import {
  RECORDS, FILES, LOG_FOLLOW_UP, CREATE_CONTACT, LINK_CONTACT, ATTACH_FILE, REMOVE_ATTACHMENT,
} from './queries.js';
import { esc, $, $$, toast, ago, when, day } from './util.js';
import { t, formatNumber } from './i18n.js';
import { showErrors, clearErrors, onSubmit, options, confirmDialog } from './forms.js';
import { announce } from './announce.js';
import { store } from './state.js';
import { locked } from './ui.js';

export const FOLLOW_UP_KINDS = ['CALL', 'VISIT', 'MEETING', 'WECHAT', 'EMAIL', 'OTHER'];
const ROLES = ['DECISION_MAKER', 'INFLUENCER', 'USER', 'GATEKEEPER'];
export const FILE_KINDS = ['quote', 'contract', 'signed_contract', 'other'];
const PAGE = 10;
const MAX_SHOWN = 100; // the API's largest page

// Per open card: how many follow-ups are shown (a refresh asks for as many), the kind pressed in the form,
// and each form's refusal (and a duplicate contact offered), so a live redraw does not wipe what the server said.
let state = { id: null, shown: PAGE, kind: null, refused: {}, offer: null };

export const kindWord = (kind) => t(`followUp.kind.${kind}`);
export const fileKindWord = (kind) => (t.has(`file.kind.${kind}`) ? t(`file.kind.${kind}`) : kind);

/** The tab's data for card `id`; each part fails on its own (files come from a newer API). */
export async function fetchRecords(id) {
  if (state.id !== id) state = { id, shown: PAGE, kind: null, refused: {}, offer: null };
  const [records, files] = await Promise.all([
    gql(RECORDS, { id, first: state.shown }).then((d) => d.node, (err) => ({ error: err.message })),
    gql(FILES, { id }).then((d) => d.node?.attachments || [], (err) => ({ error: err.message })),
  ]);
  return { records, files };
}

// ------------------------------------------------------------- the card's line

/** "Last contact 3d ago · Call", the next planned follow-up, and a silence warning in words (not colour alone). */
export function contactLine(card) {
  const parts = [];
  if (card.lastContactAt) {
    const said = card.lastContactKind
      ? t('contact.lastKind', { ago: ago(card.lastContactAt), kind: t(`followUp.kind.${card.lastContactKind}`) })
      : t('contact.last', { ago: ago(card.lastContactAt) });
    parts.push(`<span data-testid="last-contact">${esc(said)}</span>`);
  }
  if (card.nextFollowUpAt) {
    const late = new Date(card.nextFollowUpAt) < Date.now();
    parts.push(`<span data-testid="next-follow-up" class="${late ? 'overdue-text' : ''}">${esc(t(late ? 'contact.nextLate' : 'contact.next', { when: when(card.nextFollowUpAt) }))}</span>`);
  }
  const silent = card.customerSilent
    ? `<span class="wait wait-silent" data-testid="customer-silent"><span class="wait-icon" aria-hidden="true">⚠</span>${esc(t('contact.silent'))}</span>` : '';
  if (!parts.length && !silent) return '';
  return `<div class="card-contact">${parts.join('')}${silent}</div>`;
}

// ------------------------------------------------------------- markup

// Viewers read; only writers are offered the forms (the server refuses VIEWER too).
const writes = () => store.viewer?.role !== 'VIEWER';

export function recordsPane(o, data) {
  const r = data?.records;
  if (!r || r.error) return `<p class="banner-error">${esc(t('records.failed', { message: r?.error || '' }))}</p>`;
  // A customer the viewer's access rule withholds: a lock, and no contacts to add to it.
  const hidden = (o.hiddenFields || []).includes('account');
  return `${followUpsMarkup(r)}${hidden ? `<section class="records-part"><h3 class="pane-title">${esc(t('customer.title'))}</h3>${locked(t('label.account'))}</section>`
    : customerMarkup(r.account) + contactsMarkup(r)}${filesMarkup(data.files)}`;
}

function customerMarkup(a) {
  const site = safeUrl(a.website);
  const row = (label, value) => (value ? `<dt>${esc(t(label))}</dt><dd>${value}</dd>` : '');
  return `<section class="records-part" aria-labelledby="customer-title" data-testid="customer">
    <h3 class="pane-title" id="customer-title">${esc(t('customer.title'))}</h3>
    <dl class="facts">
      ${row('customer.name', `<strong>${esc(a.name)}</strong>`)}
      ${row('customer.industry', esc(a.industry || ''))}
      ${row('customer.region', esc(a.region || ''))}
      ${row('customer.website', a.website ? (site ? `<a href="${esc(site)}" target="_blank" rel="noopener noreferrer">${esc(a.website)}</a>` : esc(a.website)) : '')}
      ${row('customer.tags', (a.tags || []).map((x) => `<span class="tag">#${esc(x)}</span>`).join(' '))}
      ${row('customer.owner', esc(a.owner?.name || ''))}
    </dl></section>`;
}

/** Only web addresses become links; "example.com" gets its https://. */
function safeUrl(value) {
  if (!value) return null;
  try {
    const url = new URL(/^[a-z][\w+.-]*:/i.test(value) ? value : `https://${value}`);
    return ['http:', 'https:'].includes(url.protocol) ? url.href : null;
  } catch (err) { return null; }
}

function followUpsMarkup(r) {
  const items = r.followUps.edges.map((e) => e.node);
  const linked = r.contacts.map((c) => c.contact);
  const others = r.account.contacts.filter((c) => !linked.some((l) => l.id === c.id));
  const contactOptions = `<option value="">${esc(t('followUp.noContact'))}</option>${options([...linked, ...others].map((c) => [c.id, c.name]))}`;
  const rows = items.map((f) => `<li class="follow-up" data-testid="follow-up" data-kind="${esc(f.kind)}">
      <p class="follow-up-head"><span class="kind-chip">${esc(kindWord(f.kind))}</span>
        <span class="muted small">${esc(t('followUp.byAt', { name: f.author.name, when: when(f.at) }))}${f.contact ? esc(t('followUp.with', { name: f.contact.name })) : ''}</span></p>
      <p class="follow-up-summary">${esc(f.summary)}</p>
      ${f.outcome || f.nextStep || f.nextFollowUpAt ? `<dl class="facts small">
        ${f.outcome ? `<dt>${esc(t('followUp.outcome'))}</dt><dd data-testid="follow-up-outcome">${esc(f.outcome)}</dd>` : ''}
        ${f.nextStep ? `<dt>${esc(t('followUp.nextStep'))}</dt><dd data-testid="follow-up-next-step">${esc(f.nextStep)}</dd>` : ''}
        ${f.nextFollowUpAt ? `<dt>${esc(t('followUp.nextAt'))}</dt><dd>${esc(when(f.nextFollowUpAt))}</dd>` : ''}</dl>` : ''}
    </li>`).join('');
  return `<section class="records-part" aria-labelledby="follow-ups-title" data-testid="follow-ups">
    <h3 class="pane-title" id="follow-ups-title" tabindex="-1">${esc(t('followUp.title'))}</h3>
    ${writes() ? `<form class="follow-form" id="follow-up-form" data-testid="follow-up-form" novalidate>
      <fieldset class="kind-picks"><legend>${esc(t('followUp.kind'))}</legend>
        <div class="kind-buttons">${FOLLOW_UP_KINDS.map((k) => `<button type="button" class="kind-btn" data-kind="${k}" aria-pressed="${state.kind === k}" data-testid="kind-${k}">${esc(kindWord(k))}</button>`).join('')}</div>
      </fieldset>
      <label>${esc(t('followUp.summary'))} <textarea name="summary" rows="3" required data-draft="follow-summary"></textarea></label>
      <label>${esc(t('followUp.outcome'))} <input name="outcome" maxlength="1000" data-draft="follow-outcome"></label>
      <label>${esc(t('followUp.nextStep'))} <input name="nextStep" maxlength="500" data-draft="follow-next"></label>
      <div class="follow-form-row">
        <label>${esc(t('followUp.nextAt'))} <input name="nextFollowUpAt" type="datetime-local" data-draft="follow-next-at"></label>
        <label>${esc(t('followUp.contact'))} <select name="contactId" data-draft="follow-contact">${contactOptions}</select></label>
      </div>
      <p class="form-error" role="alert"></p>
      <div class="actions"><button type="submit" class="btn btn-primary" data-testid="log-follow-up">${esc(t('followUp.log'))}</button></div>
    </form>` : ''}
    <ol class="follow-ups">${rows || `<li class="empty">${esc(t('followUp.none'))}</li>`}</ol>
    ${r.followUps.pageInfo.hasNextPage && state.shown < MAX_SHOWN ? `<button type="button" class="btn" id="follow-ups-more" data-testid="follow-ups-more">${esc(t('followUp.more'))}</button>` : ''}
  </section>`;
}

const roleWord = (role) => t(`contact.role.${role}`);

function contactsMarkup(r) {
  const rows = r.contacts.map(({ contact: c, role }) => `<li class="contact" data-testid="contact" data-contact="${esc(c.id)}">
      <p><strong>${esc(c.name)}</strong>${c.title ? ` <span class="muted">${esc(c.title)}</span>` : ''} <span class="kind-chip">${esc(roleWord(role))}</span></p>
      <p class="contact-ways small">
        ${c.phone ? `<a href="tel:${esc(c.phone.replace(/[^\d+]/g, ''))}">${esc(c.phone)}</a>` : ''}
        ${c.email ? `<a href="mailto:${esc(c.email)}">${esc(c.email)}</a>` : ''}
        ${c.wechat ? `<span>${esc(t('contact.wechatId', { id: c.wechat }))}</span>` : ''}</p>
    </li>`).join('');
  const field = (name, label, attrs = '') => `<label>${esc(t(label))} <input name="${name}" ${attrs} data-draft="contact-${name}"></label>`;
  return `<section class="records-part" aria-labelledby="contacts-title" data-testid="contacts">
    <h3 class="pane-title" id="contacts-title" tabindex="-1">${esc(t('contact.title'))}</h3>
    <ul class="contacts">${rows || `<li class="empty">${esc(t('contact.none'))}</li>`}</ul>
    ${writes() ? `<details class="more-actions" data-more="add-contact">
      <summary>${esc(t('contact.add'))}</summary>
      <form class="grid-form" id="contact-form" data-testid="contact-form" novalidate>
        ${field('name', 'contact.name', 'required maxlength="100"')}
        ${field('title', 'contact.jobTitle', 'maxlength="100"')}
        ${field('phone', 'contact.phone', 'type="tel" inputmode="tel"')}
        ${field('email', 'contact.email', 'type="email"')}
        ${field('wechat', 'contact.wechat')}
        <label>${esc(t('contact.roleLabel'))} <select name="role" data-draft="contact-role">${options(ROLES.map((k) => [k, roleWord(k)]), 'DECISION_MAKER')}</select></label>
        <div class="wide form-error-box"><p class="form-error" role="alert"></p><div class="duplicate-offer"></div></div>
        <div class="actions wide"><button type="submit" class="btn btn-primary" data-testid="add-contact">${esc(t('contact.addButton'))}</button></div>
      </form>
    </details>` : ''}
  </section>`;
}

/** "12 KB" / "1.5 MB" in the reader's language. */
function fileSize(bytes) {
  const [n, unit] = bytes >= 1048576 ? [bytes / 1048576, 'megabyte'] : bytes >= 1024 ? [bytes / 1024, 'kilobyte'] : [bytes, 'byte'];
  return formatNumber(n, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: n < 10 && unit !== 'byte' ? 1 : 0 });
}

/** The board's kinds, and `selected` first when a stage asks for one of its own. */
export function fileKindOptions(selected) {
  const kinds = !selected || FILE_KINDS.includes(selected) ? FILE_KINDS : [selected, ...FILE_KINDS];
  return options(kinds.map((k) => [k, fileKindWord(k)]), selected);
}

function filesMarkup(files) {
  const body = files?.error ? `<p class="banner-error">${esc(t('file.failed', { message: files.error }))}</p>`
    : `<ul class="files">${files.map((f) => `<li class="file" data-testid="file" data-file="${esc(f.id)}" data-kind="${esc(f.kind)}">
        <span class="kind-chip">${esc(fileKindWord(f.kind))}</span>
        <a href="${esc(f.downloadUrl)}" class="file-name" data-download="${esc(f.id)}" download="${esc(f.name)}">${esc(f.name)}</a>
        <span class="muted small">${esc([fileSize(f.size), f.uploadedBy?.name, day(f.createdAt)].filter(Boolean).join(' · '))}</span>
        ${writes() ? `<button type="button" class="btn btn-ghost" data-remove-file="${esc(f.id)}" data-name="${esc(f.name)}" data-testid="remove-file">${esc(t('file.remove'))}<span class="sr-only"> ${esc(f.name)}</span></button>` : ''}
      </li>`).join('') || `<li class="empty">${esc(t('file.none'))}</li>`}</ul>`;
  return `<section class="records-part" aria-labelledby="files-title" data-testid="files">
    <h3 class="pane-title" id="files-title" tabindex="-1">${esc(t('file.title'))}</h3>
    ${body}
    ${files?.error || !writes() ? '' : uploadForm('file-form')}
  </section>`;
}

/**
 * A kind select, a file input and an Upload button. In the drawer a form of its own; inside another
 * form (the gate dialog's) a group whose button has `data-upload`, since forms do not nest.
 */
export function uploadForm(id, kind = 'quote', { nested = false } = {}) {
  const [open, close] = nested ? [`<div role="group" aria-label="${esc(t('file.uploadKind', { kind: fileKindWord(kind) }))}"`, '</div>'] : ['<form novalidate', '</form>'];
  return `${open} class="inline-form upload-form" id="${esc(id)}" data-testid="${esc(id)}">
      <label>${esc(t('file.kind'))} <select name="kind">${fileKindOptions(kind)}</select></label>
      <label class="btn file-pick"><input type="file" name="file" class="sr-only file-input" data-testid="${esc(id)}-input">${esc(t('file.choose'))}</label>
      <span class="file-chosen muted small" aria-live="polite">${esc(t('file.noneChosen'))}</span>
      <button type="${nested ? 'button' : 'submit'}" class="btn"${nested ? ' data-upload' : ''}>${esc(t('file.upload'))}</button>
      <p class="form-error" role="alert"></p>
    ${close}`;
}

// ------------------------------------------------------------- wiring

/** The native file input's own words follow the browser's language, not the board's: it is hidden behind a
 * button-like label, and the chosen file's name is said beside it. */
export function wireFilePicks(root) {
  $$('.upload-form', root).forEach((box) => {
    const input = $('input[type=file]', box);
    const say = () => { $('.file-chosen', box).textContent = input.files[0]?.name || t('file.noneChosen'); };
    input.addEventListener('change', say);
    if (input.files?.length) say();
  });
}

/** A chosen file survives a live redraw: hand back a function that puts the old input in the new markup. */
export function keepChosenFile(root) {
  const old = $('#file-form input[type=file]', root);
  if (!old?.files?.length) return () => {};
  return () => {
    const fresh = $('#file-form input[type=file]', root);
    if (fresh) fresh.replaceWith(old); // wireFilePicks() then says its name
  };
}

/** `card` is the drawer's card; `reload()` redraws the drawer (the board follows from the live event). */
export function wireRecords(root, card, data, reload) {
  if (!data?.records || data.records.error) return;
  wireFollowUpForm(root, card, reload);
  wireMore(root, card, reload);
  wireContactForm(root, card, data.records, reload);
  wireFiles(root, card, reload);
  wireFilePicks(root);
  // What the server refused before this redraw, said again without moving focus.
  for (const [id, errors] of Object.entries(state.refused)) {
    const form = $(`#${id}`, root);
    if (!form) continue;
    $('.form-error', form).textContent = errors.map((e) => e.message).join('\n');
    errors.forEach((e) => { const name = e.field?.length ? String(e.field[e.field.length - 1]) : null; if (name) $(`[name="${CSS.escape(name)}"]`, form)?.setAttribute('aria-invalid', 'true'); });
  }
}

/** Say `errors` in `form` (showErrors) and keep them for the next redraw. */
function refuse(form, errors) {
  state.refused[form.id] = errors;
  showErrors(form, errors);
}
const accepted = (form) => { delete state.refused[form.id]; };

function wireFollowUpForm(root, card, reload) {
  const form = $('#follow-up-form', root);
  if (!form) return;
  const buttons = $$('.kind-btn', form);
  buttons.forEach((b) => b.addEventListener('click', () => {
    state.kind = b.dataset.kind;
    buttons.forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
    if (state.refused[form.id]?.[0]?.kindMissing) { accepted(form); clearErrors(form); } // answered
  }));
  onSubmit(form, async () => {
    accepted(form);
    if (!state.kind) { refuse(form, [{ message: t('followUp.pickKind'), kindMissing: true }]); buttons[0].focus(); return; }
    const summary = form.summary.value.trim();
    if (!summary) { refuse(form, [{ message: t('followUp.needsSummary'), field: ['summary'] }]); return; }
    const input = { opportunityId: card.id, kind: state.kind, at: new Date().toISOString(), summary };
    if (form.outcome.value.trim()) input.outcome = form.outcome.value.trim();
    if (form.nextStep.value.trim()) input.nextStep = form.nextStep.value.trim();
    if (form.nextFollowUpAt.value) input.nextFollowUpAt = new Date(form.nextFollowUpAt.value).toISOString();
    if (form.contactId.value) input.contactId = form.contactId.value;
    const { logFollowUp: res } = await gql(LOG_FOLLOW_UP, { input });
    if (res.userErrors?.length) { refuse(form, res.userErrors); return; }
    form.reset(); // or the redraw would keep the words as a draft
    state.kind = null;
    toast(t('followUp.logged'), 'ok');
    await reload();
    $('#follow-ups-title', root)?.focus();
  });
}

function wireMore(root, card, reload) {
  $('#follow-ups-more', root)?.addEventListener('click', async (e) => {
    e.currentTarget.disabled = true;
    const before = $$('[data-testid=follow-up]', root).length;
    state.shown = Math.min(state.shown + PAGE, MAX_SHOWN);
    await reload();
    const items = $$('[data-testid=follow-up]', root);
    announce(t('followUp.moreShown', { count: items.length - before }));
    // The redraw replaced the button: focus goes to the first item it brought.
    const first = items[before] || $('#follow-ups-title', root);
    if (first) { first.tabIndex = -1; first.focus(); }
  });
}

function wireContactForm(root, card, r, reload) {
  const form = $('#contact-form', root);
  if (!form) return;
  const offer = $('.duplicate-offer', form);
  const link = async (contactId, role) => {
    const { linkContact: res } = await gql(LINK_CONTACT, { input: { opportunityId: card.id, contactId, role } });
    if (res.userErrors?.length) { refuse(form, res.userErrors); return false; }
    return true;
  };
  const done = async (name) => {
    form.reset();
    state.offer = null;
    form.closest('details').open = false; // the redraw keeps it as it finds it: the list shows the new contact
    toast(t('contact.added', { name }), 'ok');
    await reload();
    $('#contacts-title', root)?.focus();
  };
  // DUPLICATE names the contact that has this phone or email; when it is this customer's and not on the deal, offer it.
  const existing = state.offer && r.account.contacts.find((c) => c.id === state.offer && !r.contacts.some((l) => l.contact.id === c.id));
  if (existing) {
    offer.innerHTML = `<button type="button" class="btn" data-testid="link-existing">${esc(t('contact.linkExisting', { name: existing.name }))}</button>`;
    $('button', offer).addEventListener('click', async () => {
      accepted(form);
      clearErrors(form);
      try { if (await link(existing.id, form.role.value)) await done(existing.name); } catch (err) { refuse(form, [{ message: err.message }]); }
    });
  }
  onSubmit(form, async () => {
    accepted(form);
    state.offer = null;
    offer.innerHTML = '';
    const name = form.name.value.trim();
    if (!name) { refuse(form, [{ message: t('contact.needsName'), field: ['name'] }]); return; }
    const input = { accountId: r.account.id, name };
    for (const key of ['title', 'phone', 'email', 'wechat']) if (form[key].value.trim()) input[key] = form[key].value.trim();
    const { createContact: res } = await gql(CREATE_CONTACT, { input });
    if (res.userErrors?.length) {
      const dup = res.userErrors.find((e) => e.code === 'DUPLICATE');
      state.offer = dup ? r.account.contacts.find((c) => dup.message.includes(c.name))?.id || null : null;
      state.refused[form.id] = res.userErrors;
      if (state.offer) await reload(); // draws the offer beside the error
      showErrors($('#contact-form', root), res.userErrors);
      return;
    }
    if (await link(res.contact.id, form.role.value)) await done(res.contact.name);
  });
}

/** Upload the file chosen in uploadForm() `box` to card `cardId`; resolves true once attached, showing refusals in the box. */
export async function attachFrom(box, cardId) {
  clearErrors(box);
  const file = $('[name=file]', box).files[0];
  if (!file) { showErrors(box, [{ message: t('file.pickFirst'), field: ['file'] }]); return false; }
  const { attachFile: res } = await upload(ATTACH_FILE, { input: { opportunityId: cardId, kind: $('[name=kind]', box).value } }, file);
  if (res.userErrors?.length) { showErrors(box, res.userErrors); return false; }
  toast(t('file.uploaded', { name: file.name }), 'ok');
  return true;
}

function wireFiles(root, card, reload) {
  const form = $('#file-form', root);
  if (form) {
    onSubmit(form, async () => {
      if (!(await attachFrom(form, card.id))) return;
      form.reset();
      await reload();
      $('#files-title', root)?.focus();
    });
  }
  // Download links expire within minutes: ask for a fresh one at the click.
  $$('[data-download]', root).forEach((a) => a.addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const { node } = await gql(FILES, { id: card.id });
      const fresh = node?.attachments?.find((f) => f.id === a.dataset.download);
      if (!fresh) { toast(t('file.gone'), 'warn'); await reload(); return; }
      a.href = fresh.downloadUrl;
      const go = document.createElement('a');
      go.href = fresh.downloadUrl;
      go.download = fresh.name;
      go.hidden = true;
      document.body.append(go);
      go.click();
      go.remove();
    } catch (err) { toast(t('file.failed', { message: err.message }), 'error'); }
  }));
  $$('[data-remove-file]', root).forEach((b) => b.addEventListener('click', () => confirmDialog({
    title: t('file.removeTitle', { name: b.dataset.name }),
    text: t('file.removeText'),
    action: t('file.remove'),
    returnTo: () => $('#files-title', root),
    act: async () => {
      const { removeAttachment: res } = await gql(REMOVE_ATTACHMENT, { input: { id: b.dataset.removeFile } });
      if (res.userErrors?.length) return res.userErrors;
      toast(t('file.removed', { name: b.dataset.name }), 'ok');
      await reload();
      return null;
    },
  })));
}
