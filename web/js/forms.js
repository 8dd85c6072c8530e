// Forms of the admin screens (settings, rates) and the signed-out pages: userErrors beside the
// form that asked (its .form-error, role=alert), the fields they name marked invalid; a submit
// that disables its button meanwhile; one-time links to hand on with a Copy button.
import { esc, $, $$ } from './util.js';
import { t } from './i18n.js';
import { openModal } from './ui.js';

/** <option>s of [value, label] pairs, `selected` chosen. */
export const options = (items, selected) => items.map(([v, label]) => `<option value="${esc(v)}"${v === selected ? ' selected' : ''}>${esc(label)}</option>`).join('');

/** userErrors in `box` (by default the .form-error, role=alert, of `scope`: a form or any part
 * of a page), the fields they name marked invalid (by the last part of their path, e.g.
 * "owner.userId" → userId), the first focused. */
export function showErrors(scope, errors, box = $('.form-error', scope)) {
  box.textContent = errors.map((e) => e.message).join('\n');
  let first = null;
  for (const e of errors) {
    const name = e.field?.length ? String(e.field[e.field.length - 1]).split('.').pop() : null;
    const input = name && $(`[name="${CSS.escape(name)}"]`, scope);
    if (input) { input.setAttribute('aria-invalid', 'true'); first = first || input; }
  }
  first?.focus();
}

export function clearErrors(scope) {
  $$('.form-error', scope).forEach((box) => { box.textContent = ''; });
  $$('[aria-invalid]', scope).forEach((el) => el.removeAttribute('aria-invalid'));
}

/** Submit `form` through `send`: errors cleared first, the button disabled meanwhile, a failed request said in the form. */
export function onSubmit(form, send) {
  form?.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const button = $('button[type=submit]', form);
    button.disabled = true;
    try {
      await send();
    } catch (err) {
      $('.form-error', form).textContent = t('settings.failed', { message: err.message });
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        // Disabling it dropped focus to the page: back to the button (unless the action moved focus on purpose).
        const lost = !document.activeElement || document.activeElement === document.body;
        if (form.isConnected && lost && !document.querySelector('.modal-layer')) button.focus();
      }
    }
  });
}

/** A one-time link to hand on: the address in a read-only field, a Copy button and what copying did. */
export function linkBox(link, testid) {
  try { link = new URL(link, location.origin).href; } catch (err) { /* shown as the server wrote it */ }
  return `<div class="link-box" data-testid="${esc(testid)}">
    <label>${esc(t('people.link'))} <input type="text" readonly value="${esc(link)}" class="link-value" data-testid="${esc(testid)}-value" spellcheck="false"></label>
    <button type="button" class="btn" data-copy data-testid="${esc(testid)}-copy">${esc(t('people.copy'))}</button>
    <p class="muted small link-copied" role="status" data-testid="${esc(testid)}-copied"></p>
  </div>`;
}

/** Wire the Copy buttons of linkBox()es inside `root`. */
export function wireCopy(root) {
  $$('[data-copy]', root).forEach((button) => button.addEventListener('click', async () => {
    const box = button.closest('.link-box');
    const input = $('.link-value', box);
    const said = $('.link-copied', box);
    let done = false;
    try { await navigator.clipboard.writeText(input.value); done = true; } catch (err) {
      input.focus();
      input.select();
      try { done = document.execCommand('copy'); } catch (e) { done = false; }
    }
    said.textContent = t(done ? 'people.copied' : 'people.copyByHand');
    if (!done) { input.focus(); input.select(); }
  }));
}

/** A confirmation dialog; `act()` returns userErrors (shown in it) or nothing (then it closes).
 * `danger`: the action removes or revokes something (a red button). */
export function confirmDialog({ title, text, action, danger = true, act, returnTo }) {
  const modal = openModal({ title, testid: 'confirm-dialog', className: 'settings-modal', returnTo });
  modal.body.innerHTML = `<form class="stack" novalidate>
    <p>${esc(text)}</p>
    <p class="form-error" role="alert"></p>
    <div class="actions"><button type="submit" class="btn ${danger ? 'btn-danger' : 'btn-primary'}" data-testid="confirm-ok">${esc(action)}</button>
      <button type="button" class="btn" data-cancel>${esc(t('dialog.cancel'))}</button></div>
  </form>`;
  const form = $('form', modal.body);
  $('[data-cancel]', form).addEventListener('click', modal.close);
  onSubmit(form, async () => {
    const errors = await act();
    if (errors?.length) { showErrors(form, errors); return; }
    modal.close();
  });
  $('[data-testid=confirm-ok]', form).focus();
  return modal;
}
