// Settings (#/settings/<tab>): the shell with its tabs. Admins see People, Departments, Pipeline,
// Assignment, Access, Integrations, Log and Profile; everyone else only Profile. Each tab has its own address; changing tab keeps
// the shell (and focus on the tab), main.js hands the new address to settingsRoute().
import { esc, $, $$ } from './util.js';
import { t } from './i18n.js';
import { store } from './state.js';
import { mountPeople, mountDepartments } from './settings_people.js';
import { mountProfile } from './settings_profile.js';

// The pipeline and log tabs are another module's; loaded when opened, so the rest works without them.
const LAZY = {
  pipeline: () => import('./settings_pipeline.js').then((m) => m.mountPipelineSettings),
  log: () => import('./settings_log.js').then((m) => m.mountConfigLog),
  access: () => import('./settings_access.js').then((m) => m.mountAccessSettings),
  integrations: () => import('./settings_integrations.js').then((m) => m.mountIntegrationsSettings),
  assignment: () => import('./settings_assignment.js').then((m) => m.mountAssignmentSettings),
};
const MOUNT = { people: mountPeople, departments: mountDepartments, profile: mountProfile };
const ADMIN_TABS = ['people', 'departments', 'pipeline', 'assignment', 'access', 'integrations', 'log', 'profile'];

let shell = null; // the mounted shell: { show(tab) }

export const settingsTabs = () => (store.viewer?.role === 'ADMIN' ? ADMIN_TABS : ['profile']);

/** Show `tab` in the mounted settings view; false when none is mounted (main.js then mounts one). */
export function settingsRoute(tab) {
  if (!shell) return false;
  shell.show(tab);
  return true;
}

export function mountSettings(view, wanted) {
  const tabs = settingsTabs();
  view.innerHTML = `
    <h1 tabindex="-1">${esc(t('settings.title'))}</h1>
    <div class="settings-tabs" role="tablist" aria-label="${esc(t('settings.sections'))}" data-testid="settings-tabs">
      ${tabs.map((k) => `<a role="tab" href="#/settings/${k}" id="settings-tab-${k}" aria-controls="settings-panel" data-tab="${k}"
        data-testid="settings-tab-${k}" aria-selected="false" tabindex="-1">${esc(t(`settings.tab.${k}`))}</a>`).join('')}
    </div>
    <section class="settings-panel" id="settings-panel" role="tabpanel" tabindex="-1" data-testid="settings-panel"></section>`;
  const panel = $('#settings-panel', view);
  const links = $$('[role=tab]', view);
  let current = null;
  let unmountTab = null;
  let loads = 0;

  function show(tab) {
    const k = tabs.includes(tab) ? tab : tabs[0];
    if (k === current) return;
    current = k;
    const seq = ++loads;
    links.forEach((a) => {
      const on = a.dataset.tab === k;
      a.classList.toggle('active', on);
      a.setAttribute('aria-selected', String(on));
      a.tabIndex = on ? 0 : -1;
    });
    panel.setAttribute('aria-labelledby', `settings-tab-${k}`);
    panel.dataset.tab = k;
    if (unmountTab) { try { unmountTab(); } catch (err) { console.error(err); } unmountTab = null; }
    panel.innerHTML = '';
    document.title = t('title.view', { view: `${t(`settings.tab.${k}`)} · ${t('settings.title')}` });
    const mount = (fn) => {
      if (seq !== loads || !view.isConnected) return;
      try { unmountTab = fn(panel) || null; } catch (err) {
        panel.innerHTML = `<p class="banner-error" role="alert">${esc(t('view.failed', { message: err.message }))}</p>`;
      }
    };
    if (MOUNT[k]) { mount(MOUNT[k]); return; }
    panel.innerHTML = `<p class="muted">${esc(t('loading'))}</p>`;
    LAZY[k]().then((fn) => { if (seq === loads) panel.innerHTML = ''; mount(fn); }).catch((err) => {
      if (seq !== loads) return;
      console.warn(`settings: the ${k} tab could not be loaded:`, err.message);
      panel.innerHTML = `<p class="banner-error" role="alert" data-testid="settings-tab-missing">${esc(t('settings.tabMissing'))}</p>`;
    });
  }

  // The WAI-ARIA tabs pattern: one tab in the Tab order; arrows, Home and End move along and open the tab.
  $('[role=tablist]', view).addEventListener('keydown', (e) => {
    const i = links.indexOf(document.activeElement);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: links.length - 1 }[e.key];
    if (i < 0 || next === undefined) return;
    e.preventDefault();
    const a = links[(next + links.length) % links.length];
    a.focus();
    location.hash = a.getAttribute('href');
  });
  // Space opens a tab too, as on a button.
  links.forEach((a) => a.addEventListener('keydown', (e) => { if (e.key === ' ') { e.preventDefault(); a.click(); } }));

  show(wanted);
  if (wanted !== current) history.replaceState(null, '', `#/settings/${current}`);
  const me = { show };
  shell = me;
  return () => {
    if (shell === me) shell = null;
    loads += 1;
    if (unmountTab) { try { unmountTab(); } catch (err) { console.error(err); } unmountTab = null; }
  };
}
