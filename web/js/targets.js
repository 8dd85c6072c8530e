// The board's targets strip: the viewer's own target and their department's for this month,
// e.g. "本月赢单 ¥120万 / ¥200万 · 60% · 新增合格 7/10". Hidden when neither is set.
// The live feed carries no target event, so the strip re-reads targets when a deal is won,
// lost, created or qualified, and when someone sets a target (docs/api.md, "Planning").
import { gql } from './api.js';
import { TARGETS } from './queries.js';
import { store, onBoardEvent } from './state.js';
import { esc, money } from './util.js';
import { t, formatNumber } from './i18n.js';

const REREAD = new Set(['OPPORTUNITY_MOVED', 'OPPORTUNITY_LOST', 'OPPORTUNITY_CREATED', 'RECONNECTED']);

/** This month as the server's periods name it (UTC). */
export const thisMonth = () => new Date().toISOString().slice(0, 7);

export const pct = (x) => (x === null || x === undefined ? '' : formatNumber(x, { style: 'percent', maximumFractionDigits: 0 }));

/** One target's figures in a line: "Won ¥120万 / ¥200万 · 60% · New qualified 7/10". */
export function targetText(target, base) {
  const parts = [];
  if (target.wonAmountTarget != null) {
    const won = target.wonAmount == null ? t('targets.withheld') : money(target.wonAmount, base, true);
    parts.push(t('targets.won', { won, target: money(target.wonAmountTarget, base, true) }));
    if (target.wonAttainment != null) parts.push(pct(target.wonAttainment));
  }
  if (target.newQualifiedTarget != null) {
    parts.push(t('targets.qualified', { count: target.newQualifiedCount, target: target.newQualifiedTarget }));
  }
  return parts.join(' · ');
}

function bar(x) {
  if (x === null || x === undefined) return '';
  const w = Math.max(0, Math.min(100, Math.round(x * 100)));
  return `<span class="target-bar" aria-hidden="true"><span style="width:${w}%"></span></span>`;
}

export function mountTargetsStrip(el) {
  let alive = true;
  let seq = 0;
  el.hidden = true;
  async function load() {
    const mine = ++seq;
    try {
      const { targets, baseCurrency } = await gql(TARGETS, { period: thisMonth() });
      if (!alive || mine !== seq) return;
      const v = store.viewer;
      const own = targets.find((x) => x.scope === 'OWNER' && x.owner?.id === v.id);
      const dept = targets.find((x) => x.scope === 'DEPARTMENT' && x.department?.key === v.department.key);
      const items = [
        own && { key: 'own', who: t('targets.me'), target: own },
        dept && { key: 'department', who: dept.department.name, target: dept },
      ].filter(Boolean);
      el.hidden = !items.length;
      el.innerHTML = items.length ? `<h2 class="sr-only">${esc(t('targets.heading'))}</h2>${items.map((i) => `
        <p class="target" data-testid="target-${i.key}"><span class="target-who">${esc(i.who)}</span>
          <span class="target-figures" data-testid="target-${i.key}-text">${esc(targetText(i.target, baseCurrency))}</span>${bar(i.target.wonAttainment ?? i.target.qualifiedAttainment)}</p>`).join('')}` : '';
    } catch (err) {
      // The strip is a summary: without it the board still works.
      console.warn('targets unavailable:', err.message);
    }
  }
  let timer = null;
  const off = onBoardEvent((evt) => {
    // The configuration log's changes are [before, after] pairs: {subject: [null, 'target'], ...}.
    const target = evt.type === 'CONFIGURATION_CHANGED' && evt.changes?.subject?.[1] === 'target';
    if (!REREAD.has(evt.type) && !target) return;
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  // Only admins are sent the configuration log's events: others see a target someone set on this re-read.
  const every = setInterval(load, 5 * 60 * 1000);
  load();
  return () => { alive = false; off(); clearTimeout(timer); clearInterval(every); };
}
