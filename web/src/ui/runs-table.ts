// A table of runs (project page, all-runs page). At phone width each row
// becomes a small card (see .runs-table in style.css).

import type { Run } from '../api';
import { h } from '../dom';
import { parseTime, refLabel, runDuration, shortCommit, triggerLabel } from '../format';
import { statusBadge } from './badge';
import { age, duration } from './time';

export function commitCell(run: Run): HTMLElement | string {
  const t = run.trigger;
  const ref = refLabel(t);
  const parts: (HTMLElement | string)[] = [];
  if (t.commit) parts.push(h('code', { class: 'commit', title: t.commit }, shortCommit(t.commit)));
  if (ref) parts.push(h('span', { class: 'ref', title: t.ref ?? ref }, ref));
  if (parts.length === 0) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'commit-ref' }, ...parts);
}

export function runsTable(runs: Run[], opts: { showProject?: boolean; caption: string }): HTMLElement {
  const head = h(
    'tr',
    null,
    h('th', { scope: 'col' }, 'Status'),
    h('th', { scope: 'col' }, 'Run'),
    opts.showProject ? h('th', { scope: 'col' }, 'Project') : null,
    h('th', { scope: 'col' }, 'Trigger'),
    h('th', { scope: 'col' }, 'Commit'),
    h('th', { scope: 'col' }, 'Actor'),
    h('th', { scope: 'col' }, 'Started'),
    h('th', { scope: 'col', class: 'num' }, 'Duration'),
  );
  const rows = runs.map((run) => {
    const start = parseTime(run.started_at);
    const created = parseTime(run.created_at);
    return h(
      'tr',
      { 'data-run': run.id, 'data-status': run.status },
      h('td', { class: 'c-status' }, statusBadge(run.status, true)),
      h('td', { class: 'c-run' }, h('a', { href: `/runs/${run.id}`, class: 'run-link', 'aria-label': `Run ${run.id} of ${run.project}, ${run.status}` }, `#${run.id}`)),
      opts.showProject ? h('td', { class: 'c-project' }, h('a', { href: `/projects/${encodeURIComponent(run.project)}` }, run.project)) : null,
      h('td', { class: 'c-trigger' }, triggerLabel(run.trigger)),
      h('td', { class: 'c-commit' }, commitCell(run)),
      h('td', { class: 'c-actor' }, run.trigger.actor ?? h('span', { class: 'muted' }, '—')),
      h('td', { class: 'c-started' }, start ? age(start) : created ? age(created) : '—'),
      h('td', { class: 'c-duration num' }, duration(runDuration(run), start, run.status === 'running')),
    );
  });
  return h(
    'table',
    { class: 'runs-table' },
    h('caption', { class: 'sr-only' }, opts.caption),
    h('thead', null, head),
    h('tbody', null, rows),
  );
}
