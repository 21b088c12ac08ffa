// A project: its settings, its runs (newest first, paged) and the webhook
// deliveries it received, with why each did or did not deploy.

import { ApiError, api, type Delivery, type Project, type Run } from '../api';
import { h, replace } from '../dom';
import { render } from '../router';
import { poll } from '../poll';
import { messagesSection } from './messages';
import { deployButton } from '../ui/deploy';
import { pauseButton, pausedBanner } from '../ui/pause';
import { runsTable } from '../ui/runs-table';
import { age } from '../ui/time';
import { parseTime } from '../format';

export const PAGE_SIZE = 20;

const RESULT_LABEL: Record<string, string> = {
  deployed: 'deployed',
  duplicate: 'duplicate',
  ignored: 'ignored',
  ping: 'ping',
  rejected: 'rejected',
  paused: 'paused',
};

function deliveriesTable(deliveries: Delivery[]): HTMLElement {
  return h(
    'table',
    { class: 'deliveries-table' },
    h('caption', { class: 'sr-only' }, 'Recent webhook deliveries'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, 'Received'),
        h('th', { scope: 'col' }, 'Result'),
        h('th', { scope: 'col' }, 'Event'),
        h('th', { scope: 'col' }, 'Why'),
        h('th', { scope: 'col' }, 'Run'),
        h('th', { scope: 'col' }, 'Delivery'),
      ),
    ),
    h(
      'tbody',
      null,
      deliveries.map((d) => {
        const t = Date.parse(d.received_at);
        return h(
          'tr',
          { 'data-result': d.result },
          h('td', { class: 'c-received' }, Number.isNaN(t) ? d.received_at : age(t)),
          h('td', { class: 'c-result' }, h('span', { class: `badge small r-${d.result}` }, h('span', { class: 'badge-text' }, RESULT_LABEL[d.result] ?? d.result)), h('span', { class: 'http-status', title: 'HTTP status answered' }, String(d.status))),
          h('td', { class: 'c-event' }, [d.provider, d.event].filter(Boolean).join(' · ')),
          h('td', { class: 'c-reason' }, d.reason ?? (d.result === 'deployed' ? 'matched the branch and event filters' : '—')),
          h('td', { class: 'c-run' }, d.run_id ? h('a', { href: `/runs/${d.run_id}`, class: 'run-link' }, `#${d.run_id}`) : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'c-delivery' }, d.delivery ? h('code', { title: `${d.delivery}${d.remote ? ` from ${d.remote}` : ''}` }, d.delivery.slice(0, 12)) : '—'),
        );
      }),
    ),
  );
}

function facts(p: Project): HTMLElement {
  const rows: [string, Node | string][] = [];
  if (p.source === 'recipe' || p.recipe) rows.push(['Script', h('span', null, 'recipe ', h('code', null, p.recipe ?? '?'))]);
  else if (p.script_file) rows.push(['Script', h('code', null, p.script_file)]);
  else if (p.source) rows.push(['Script', p.source === 'script' || p.source === 'inline' ? 'inline in the configuration' : p.source]);
  if (p.concurrency) rows.push(['Concurrency', p.concurrency]);
  if (p.timeout) rows.push(['Timeout', p.timeout]);
  if (p.shell) rows.push(['Shell', h('code', null, p.shell)]);
  if (p.workdir) rows.push(['Workdir', h('code', null, p.workdir)]);
  if (p.keep_runs) rows.push(['Keeps', `${p.keep_runs} runs' logs`]);
  if (p.webhook) {
    const w = p.webhook;
    rows.push([
      'Webhook',
      h(
        'span',
        null,
        w.provider,
        w.branches?.length ? ` · branches ${w.branches.join(', ')}` : ' · all branches',
        w.events?.length ? ` · events ${w.events.join(', ')}` : '',
        w.url ? h('span', { class: 'block' }, h('code', { class: 'url' }, w.url)) : null,
      ),
    ]);
  } else {
    rows.push(['Webhook', h('span', { class: 'muted' }, 'none')]);
  }
  if (p.schedule) {
    const sch = p.schedule;
    rows.push([
      'Schedule',
      h(
        'span',
        null,
        sch.next.map((n) => {
          const at = parseTime(n.at);
          return h('span', { class: 'block schedule-next' }, h('code', null, n.cron), ' · next ', at === null ? 'never' : age(at));
        }),
        h('span', { class: 'block muted' }, `${sch.timezone || 'local time'}${sch.catch_up ? ' · a fire missed while jenky was down runs at start' : ''}`),
      ),
    ]);
  }
  if (p.poll) {
    const pl = p.poll;
    rows.push([
      'Polling',
      h(
        'span',
        null,
        h('code', { class: 'url' }, pl.repo),
        h('span', { class: 'block' }, `every ${pl.interval} · ${pl.branches.length ? `branches ${pl.branches.join(', ')}` : 'the default branch'}`),
      ),
    ]);
  }
  if (p.secret_names?.length) rows.push(['Secrets', p.secret_names.join(', ')]);
  if (p.env_names?.length) rows.push(['Environment', p.env_names.join(', ')]);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function projectPage(main: HTMLElement, params: Record<string, string>, query: URLSearchParams): () => void {
  const name = params.name;
  document.title = `${name} · jenky`;
  const before = Number(query.get('before')) || undefined;
  const cursors: number[] = (history.state as { cursors?: number[] } | null)?.cursors ?? [];

  // Until the first answer: the heading, and a placeholder holding the
  // settings card's space. The answer replaces the placeholder with the
  // description, the card and the sections at once: new content, nothing that
  // was on the page moves (no layout shift). Deploy only for a project that exists.
  const placeholder = h('div', { class: 'facts-placeholder', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const desc = h('p', { class: 'description' });
  const factsBox = h('div', { class: 'facts-box' });
  const runsBox = h('div', { class: 'table-box' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Runs pages' });
  const deliveriesBox = h('div', { class: 'table-box' });
  const actions = h('div', { class: 'page-actions' });
  const bannerBox = h('div', { class: 'banner-box' });
  let current: Project | undefined;
  const runsSection = h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, before ? 'Older runs' : 'Runs'), runsBox, pager);
  const deliveriesSection = h('section', { 'aria-labelledby': 'deliveries-h' }, h('h2', { id: 'deliveries-h' }, 'Webhook deliveries'), deliveriesBox);

  main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Projects'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, name)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, name), actions),
    bannerBox,
    placeholder,
  );

  const renderPager = (runs: Run[]) => {
    const items: Node[] = [];
    if (before) {
      const prev = cursors.length ? cursors[cursors.length - 1] : undefined;
      const btn = h('button', { type: 'button', class: 'btn small' }, '← Newer');
      btn.addEventListener('click', () => {
        const rest = cursors.slice(0, -1);
        history.pushState({ cursors: rest }, '', `/projects/${encodeURIComponent(name)}${prev ? `?before=${prev}` : ''}`);
        render();
      });
      items.push(btn);
      const latest = h('a', { href: `/projects/${encodeURIComponent(name)}`, class: 'btn small' }, 'Latest');
      items.push(latest);
    }
    if (runs.length === PAGE_SIZE) {
      const oldest = runs[runs.length - 1].id;
      const btn = h('button', { type: 'button', class: 'btn small' }, 'Older →');
      btn.addEventListener('click', () => {
        history.pushState({ cursors: before ? [...cursors, before] : [] }, '', `/projects/${encodeURIComponent(name)}?before=${oldest}`);
        render();
      });
      items.push(btn);
    }
    replace(pager, ...items);
  };

  let projectLoaded = false;
  let shown = '';
  let shownPause: string | null = null;
  const notes = messagesSection({ project: name });
  const stop = poll(async (signal) => {
    const [project, runs, deliveries] = await Promise.all([
      api.project(name, signal),
      api.projectRuns(name, PAGE_SIZE, before, signal),
      api.deliveries(name, signal).catch((e) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return [] as Delivery[];
        throw e;
      }),
    ]);
    if (!projectLoaded) {
      projectLoaded = true;
      desc.textContent = project.description || '';
      placeholder.replaceWith(...(project.description ? [desc] : []), factsBox, runsSection, deliveriesSection, notes.el);
    }
    current = project;
    // Redraw only what changed, so focus and selection survive the refresh.
    const key = JSON.stringify([project, runs, deliveries]);
    if (key === shown) return;
    shown = key;
    const pauseKey = JSON.stringify(project.paused ?? null);
    if (pauseKey !== shownPause) {
      shownPause = pauseKey;
      replace(bannerBox, pausedBanner(project));
      replace(actions, pauseButton(project, () => render()), deployButton(name, { known: () => current }));
    }
    replace(factsBox, facts(project));
    // Polls and schedule fires are recorded beside the forge's deliveries.
    const heading = deliveriesSection.querySelector('h2');
    if (heading) heading.textContent = project.poll || project.schedule ? 'Deliveries, polls and schedule fires' : 'Webhook deliveries';
    replace(
      runsBox,
      runs.length
        ? runsTable(runs, { caption: `Runs of ${name}` })
        : h('p', { class: 'muted empty-note' }, before ? 'No older runs.' : 'No runs yet. Deploy it, push to its webhook, or run `jenky deploy ' + name + '`.'),
    );
    renderPager(runs);
    replace(
      deliveriesBox,
      deliveries.length
        ? deliveriesTable(deliveries)
        : h(
            'p',
            { class: 'muted empty-note' },
            project.webhook
              ? 'No deliveries received yet. Point your forge at the webhook URL above.'
              : project.poll || project.schedule
                ? 'Nothing recorded yet: each poll and schedule fire appears here.'
                : `This project has no webhook. Add [projects.${name}.webhook] to jenky.toml to deploy on push.`,
          ),
    );
  }, 5000, (e) => {
    if (e instanceof ApiError && e.status === 404) {
      // No such project (or no longer): no Deploy, no runs, no deliveries.
      document.title = `No project ${name} · jenky`;
      replace(
        main,
        h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Projects')),
        h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, name)),
        h('p', { class: 'error', role: 'alert' }, `There is no project named “${name}”. Projects are declared as [projects.NAME] in jenky.toml.`),
        h('p', null, h('a', { href: '/' }, 'Back to projects')),
      );
      return;
    }
    const msg = h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.message : String(e));
    if (projectLoaded) replace(runsBox, msg);
    else replace(placeholder, msg);
  });
  return () => {
    stop();
    notes.stop();
  };
}

export function allRunsPage(main: HTMLElement, _params: Record<string, string>, query: URLSearchParams): () => void {
  document.title = 'Runs · jenky';
  const before = Number(query.get('before')) || undefined;
  const runsBox = h('div', { class: 'table-box' }, h('p', { class: 'muted' }, 'Loading runs…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Runs pages' });
  main.append(h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'All runs')), runsBox, pager);
  let shown = '';
  return poll(async (signal) => {
    const runs = await api.allRuns(PAGE_SIZE, before, signal);
    const key = JSON.stringify(runs);
    if (key === shown) return;
    shown = key;
    replace(runsBox, runs.length ? runsTable(runs, { showProject: true, caption: 'Runs of all projects' }) : h('p', { class: 'muted empty-note' }, 'No runs yet.'));
    const items: Node[] = [];
    if (before) items.push(h('a', { href: '/runs', class: 'btn small' }, 'Latest'));
    if (runs.length === PAGE_SIZE) items.push(h('a', { href: `/runs?before=${runs[runs.length - 1].id}`, class: 'btn small' }, 'Older →'));
    replace(pager, ...items);
  }, 5000, (e) => replace(runsBox, h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? e.message : String(e))));
}
