// Projects: each one's last run at a glance, and a Deploy button.

import { ApiError, api, type Project } from '../api';
import { h, replace } from '../dom';
import { formatDuration, parseTime, refLabel, runDuration, shortCommit, triggerLabel } from '../format';
import { poll } from '../poll';
import { statusBadge } from '../ui/badge';
import { deployButton } from '../ui/deploy';
import { age, duration } from '../ui/time';

function lastRunLine(p: Project): HTMLElement {
  const run = p.last_run;
  if (!run) return h('p', { class: 'meta muted' }, 'Never deployed.');
  const start = parseTime(run.started_at) ?? parseTime(run.created_at);
  const t = run.trigger;
  const items: (Node | string | null)[] = [
    h('a', { href: `/runs/${run.id}`, class: 'run-link' }, `#${run.id}`),
    t.commit ? h('code', { class: 'commit', title: t.commit }, shortCommit(t.commit)) : null,
    refLabel(t) ? h('span', { class: 'ref' }, refLabel(t)) : null,
    h('span', null, triggerLabel(t)),
    t.actor ? h('span', null, 'by ', h('strong', null, t.actor)) : null,
    start ? age(start) : null,
    run.status === 'running'
      ? h('span', null, 'running for ', duration(null, start, true))
      : runDuration(run) !== null
        ? h('span', { title: 'duration' }, 'took ', formatDuration(runDuration(run) ?? 0))
        : null,
  ];
  return h('p', { class: 'meta' }, ...items.filter(Boolean).flatMap((x, i) => (i ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, '·'), x] : [x])));
}

function projectCard(p: Project): HTMLElement {
  const status = p.last_run?.status;
  return h(
    'li',
    { class: 'card project-card', 'data-project': p.name },
    h(
      'div',
      { class: 'card-head' },
      status ? statusBadge(status) : h('span', { class: 'badge s-none' }, h('span', { class: 'badge-text' }, 'no runs')),
      h('h2', { class: 'card-title' }, h('a', { href: `/projects/${encodeURIComponent(p.name)}` }, p.name)),
      h('div', { class: 'card-actions' }, deployButton(p.name)),
    ),
    p.description ? h('p', { class: 'description' }, p.description) : null,
    lastRunLine(p),
  );
}

export function projectsPage(main: HTMLElement): () => void {
  document.title = 'Projects · jenky';
  const list = h('ul', { class: 'project-list', 'aria-label': 'Projects' });
  const status = h('p', { class: 'muted loading' }, 'Loading projects…');
  main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Projects')), status, list);

  let shown = '';
  return poll(async (signal) => {
    const projects = await api.projects(signal);
    status.remove();
    // Redraw only what changed, so focus and selection survive the refresh.
    const key = JSON.stringify(projects);
    if (key === shown) return;
    shown = key;
    if (projects.length === 0) {
      replace(
        list,
        h(
          'li',
          { class: 'card empty' },
          h('h2', null, 'No projects yet'),
          h('p', null, 'Add a project to jenky.toml and restart jenky:'),
          h('pre', { class: 'snippet' }, '[projects.myapp]\ndescription = "my web app"\nworkdir = "/srv/myapp"\nscript = """\ngit pull --ff-only\nmake deploy\n"""'),
        ),
      );
      return;
    }
    projects.sort((a, b) => a.name.localeCompare(b.name));
    const active = document.activeElement;
    const focusedProject = active?.closest?.('[data-project]')?.getAttribute('data-project');
    const focusedAction = active?.getAttribute('data-action') ?? (active instanceof HTMLAnchorElement ? 'link' : null);
    replace(list, projects.map(projectCard));
    // Keep keyboard focus where it was across refreshes.
    if (focusedProject && focusedAction) {
      const card = list.querySelector(`[data-project="${CSS.escape(focusedProject)}"]`);
      const target = focusedAction === 'link' ? card?.querySelector('h2 a') : card?.querySelector(`[data-action="${focusedAction}"]`);
      (target as HTMLElement | null)?.focus();
    }
  }, 5000, (e) => {
    status.textContent = e instanceof ApiError ? `Could not load projects: ${e.message}` : String(e);
    status.className = 'error';
  });
}
