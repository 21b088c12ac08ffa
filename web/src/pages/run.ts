// A run: live header, Cancel, the exact script, and the log.

import { ApiError, api, isFinished, serverNow, type Project, type Run } from '../api';
import { h, icon, ICONS, replace } from '../dom';
import { explainExitCode, formatAbsolute, formatBytes, parseTime, runDuration, triggerLabel } from '../format';
import { HttpLogStream } from '../log/http-stream';
import { LogSocket, backoffDelay, type LogChunk, type SocketState } from '../log/socket';
import { LineStore, UNKNOWN_TIME, type SearchMatch } from '../log/store';
import { LogView } from '../log/view';
import { Sections } from '../log/sections';
import { navigate } from '../router';
import { can } from '../session';
import { statusBadge } from '../ui/badge';
import { confirmDialog } from '../ui/dialog';
import { setConnectionProblem, toast } from '../ui/notice';
import { age, duration } from '../ui/time';
import { resourcesLabel } from '../ui/resources';
import { commitInfo, finishedActions, inputsLabel, queuedNote } from './run-context';
import { HostGrid } from './run-hosts';
import { messagesSection } from './messages';

const PRUNED = 'This run’s log was pruned (the project keeps only its newest runs’ logs).';

/** Matches found at most (each costs a small object). */
const SEARCH_LIMIT = 200000;

/**
 * Whether a log WebSocket has opened in this tab (on any run page since it
 * loaded): then no proxy blocks them, and a refusal is an outage.
 */
let webSocketWorked = false;

/** Parses #L12 or #L12-L20 (1-based, inclusive). */
export function parseLineHash(hash: string): [number, number] | null {
  const m = /^#L(\d+)(?:-L?(\d+))?$/.exec(hash);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  if (a < 1 || b < 1) return null;
  return [Math.min(a, b), Math.max(a, b)];
}

export function runPage(main: HTMLElement, params: Record<string, string>, query: URLSearchParams): () => void {
  const id = Number(params.id);
  main.className = 'run-main';
  if (!Number.isInteger(id) || id <= 0) {
    main.append(h('h1', { tabindex: -1 }, 'No such run'), h('p', null, h('a', { href: '/' }, 'Back to projects')));
    return () => {};
  }
  document.title = `Run #${id} · jenky`;
  // Asked for before the page is built: building it takes a while, and the
  // log's stream waits for this answer (load() below).
  let firstLoad: Promise<Run> | null = api.run(id);
  // ?host=NAME: one host's own log of a fleet run, else the run's (merged) log.
  const host = query.get('host');
  const hostQuery = host !== null ? `host=${encodeURIComponent(host)}` : '';

  const cleanups: (() => void)[] = [];
  let run: Run | null = null;
  let socket: LogSocket | null = null;
  let httpStream: HttpLogStream | null = null;
  let httpPoll: ReturnType<typeof setTimeout> | null = null;
  /** Whether the last HTTP look at the run worked (the server is up). */
  let httpWorks = false;
  let destroyed = false;
  let followProject = query.get('follow') === '1';
  let nextRunTimer: ReturnType<typeof setTimeout> | null = null;
  /** Bytes that existed when the stream (re)connected: their arrival time says nothing. */
  let historyUntil = Infinity;

  // ---- layout ----------------------------------------------------------------
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Projects'));
  const title = h('h1', { tabindex: -1, class: 'run-title' }, `Run #${id}`);
  const badgeSlot = h('span', { class: 'badge-slot', 'aria-live': 'polite' });
  const actions = h('div', { class: 'page-actions' });
  const meta = h('dl', { class: 'run-meta' });
  const reasonBox = h('p', { class: 'run-reason', hidden: true });

  const tabLog = h('button', { type: 'button', role: 'tab', id: 'tab-log', 'aria-controls': 'panel-log', 'aria-selected': 'true', class: 'tab' }, 'Log');
  const tabScript = h('button', { type: 'button', role: 'tab', id: 'tab-script', 'aria-controls': 'panel-script', 'aria-selected': 'false', tabindex: -1, class: 'tab' }, 'Script');
  const tabs = h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Run details' }, tabLog, tabScript);

  const store = new LineStore();
  const sections = new Sections(store);
  const view = new LogView(store, {
    label: host !== null ? `Log of host ${host} in run ${id}` : `Log of run ${id}`,
    sections,
    onFollowChange: (on) => {
      jump.hidden = on;
      followState.textContent = on ? 'Following the end of the log' : 'Not following';
    },
    onToggleSection: () => updateFoldBtn(),
    onSelect: (from, to) => {
      history.replaceState(history.state, '', `${location.pathname}${location.search}#L${from}${to !== from ? `-L${to}` : ''}`);
    },
  });
  const jump = h('button', { type: 'button', class: 'btn jump', hidden: true, title: 'Jump to the bottom and follow (End)' }, icon(ICONS.down), h('span', null, 'Jump to bottom'));
  jump.addEventListener('click', () => {
    view.follow();
    view.el.focus({ preventScroll: true });
  });
  const followState = h('span', { class: 'sr-only', 'aria-live': 'polite' });

  // Search
  const searchInput = h('input', {
    type: 'search',
    class: 'search-input',
    placeholder: 'Search log',
    'aria-label': 'Search the log',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  // The count is announced when the user searches or moves, not each time a
  // live log's new lines change it (that would talk over everything).
  const searchCount = h('span', { class: 'search-count' });
  const searchStatus = h('span', { class: 'sr-only', role: 'status' });
  const prevBtn = h('button', { type: 'button', class: 'btn icon-btn', 'aria-label': 'Previous match (Shift+Enter)', title: 'Previous match (Shift+Enter)' }, icon(ICONS.up));
  const nextBtn = h('button', { type: 'button', class: 'btn icon-btn', 'aria-label': 'Next match (Enter)', title: 'Next match (Enter)' }, icon(ICONS.down));
  const search = h('div', { class: 'search', role: 'search' }, icon(ICONS.search), searchInput, searchCount, searchStatus, prevBtn, nextBtn);

  const followBtn = h(
    'button',
    { type: 'button', class: 'btn toggle', 'aria-pressed': String(followProject), 'aria-label': 'Follow next run', title: 'When this run ends, open the project’s next run here' },
    icon(ICONS.follow),
    h('span', null, 'Follow next run'),
  );
  // Wrapping long lines: remembered per browser; on by default on a phone,
  // where sideways scrolling is the worse choice.
  const WRAP_KEY = 'jenky.log.wrap';
  const savedWrap = (() => {
    try {
      return localStorage.getItem(WRAP_KEY);
    } catch {
      return null;
    }
  })();
  const wrapOn = savedWrap !== null ? savedWrap === '1' : window.matchMedia('(max-width: 720px)').matches;
  const wrapBtn = h(
    'button',
    { type: 'button', class: 'btn toggle wrap-toggle', 'aria-pressed': String(wrapOn), 'aria-label': 'Wrap lines', title: 'Wrap long lines instead of scrolling sideways' },
    icon(ICONS.wrap),
    h('span', null, 'Wrap lines'),
  );
  wrapBtn.addEventListener('click', () => {
    const on = !view.isWrapping;
    view.setWrap(on);
    wrapBtn.setAttribute('aria-pressed', String(on));
    try {
      localStorage.setItem(WRAP_KEY, on ? '1' : '0');
    } catch {
      /* private mode: not remembered */
    }
  });
  // Line times: relative to the run's start, or clock time; remembered per browser.
  const TIME_KEY = 'jenky.log.clock';
  const absOn = (() => {
    try {
      return localStorage.getItem(TIME_KEY) === '1';
    } catch {
      return false;
    }
  })();
  const timeBtn = h(
    'button',
    { type: 'button', class: 'btn toggle time-toggle', 'aria-pressed': String(absOn), 'aria-label': 'Clock times', title: 'Show each line’s clock time instead of the time since the run started' },
    icon(ICONS.clock),
    h('span', null, 'Clock times'),
  );
  const runStart = () => (run ? parseTime(run.started_at) : null);
  timeBtn.addEventListener('click', () => {
    const on = timeBtn.getAttribute('aria-pressed') !== 'true';
    timeBtn.setAttribute('aria-pressed', String(on));
    view.setTimeMode(on, runStart());
    try {
      localStorage.setItem(TIME_KEY, on ? '1' : '0');
    } catch {
      /* private mode: not remembered */
    }
  });
  // Open or fold every section at once (shown once the log has sections).
  const foldBtn = h('button', { type: 'button', class: 'btn toggle fold-all', hidden: true, 'aria-pressed': 'false', 'aria-label': 'Open all sections', title: 'Open every section of the log (or fold them all again)' }, icon(ICONS.down), h('span', null, 'Open all'));
  foldBtn.addEventListener('click', () => {
    const open = !sections.allOpen;
    sections.setAll(!open);
    foldBtn.setAttribute('aria-pressed', String(open));
    view.schedule();
  });
  const updateFoldBtn = () => {
    sections.update();
    foldBtn.hidden = sections.count === 0;
    foldBtn.setAttribute('aria-pressed', String(sections.count > 0 && sections.allOpen));
  };
  // Jump to the first line that reports an error (else where a failed run stopped).
  const errorBtn = h('button', { type: 'button', class: 'btn error-jump', hidden: true, title: 'Show the first line that reports an error' }, icon(ICONS.x), h('span', null, 'First error'));
  const errorTarget = (): number | null => {
    sections.update();
    if (sections.firstError >= 0) return sections.firstError + 1;
    if (!run || !isFinished(run) || run.status === 'succeeded' || store.length === 0) return null;
    const f = sections.failing();
    return f ? Math.max(f.start + 1, store.length) : store.length;
  };
  const updateErrorBtn = () => {
    errorBtn.hidden = errorTarget() === null;
  };
  errorBtn.addEventListener('click', () => {
    const n = errorTarget();
    if (n === null) return;
    view.scrollToLine(n);
    followState.textContent = `Line ${n}: ${store.visible(n - 1).slice(0, 200)}`;
  });
  const download = h('a', { class: 'btn', href: `/api/v1/runs/${id}/log${hostQuery ? `?${hostQuery}` : ''}`, download: host !== null ? `run-${id}-${host}.log` : `run-${id}.log`, 'data-native': '', 'aria-label': 'Raw log' }, icon(ICONS.download), h('span', null, 'Raw log'));
  const logSize = h('span', { class: 'log-size muted' });
  const toolbar = h('div', { class: 'log-toolbar' }, search, h('div', { class: 'toolbar-right' }, logSize, errorBtn, foldBtn, timeBtn, wrapBtn, followBtn, download));
  const logNote = h('p', { class: 'log-note', hidden: true, role: 'status' });
  const logPanel = h(
    'section',
    { class: 'panel log-panel', role: 'tabpanel', id: 'panel-log', 'aria-labelledby': 'tab-log' },
    toolbar,
    logNote,
    h('div', { class: 'log-wrap' }, view.el, jump),
    followState,
  );
  const scriptPanel = h('section', { class: 'panel script-panel', role: 'tabpanel', id: 'panel-script', 'aria-labelledby': 'tab-script', hidden: true });

  const grid = new HostGrid(id, host);
  main.append(
    h('div', { class: 'run-head' }, crumbs, h('div', { class: 'page-head' }, h('div', { class: 'title-line' }, title, badgeSlot), actions), meta, reasonBox),
    grid.el,
    tabs,
    logPanel,
    scriptPanel,
  );
  const notes = messagesSection({ run: id });
  main.append(notes.el);
  cleanups.push(notes.stop);
  view.mounted();
  view.setWrap(wrapOn);
  cleanups.push(() => view.destroy());

  // ---- tabs ------------------------------------------------------------------
  let scriptLoaded = false;
  const selectTab = (which: 'log' | 'script', focus = false) => {
    const isLog = which === 'log';
    tabLog.setAttribute('aria-selected', String(isLog));
    tabScript.setAttribute('aria-selected', String(!isLog));
    tabLog.tabIndex = isLog ? 0 : -1;
    tabScript.tabIndex = isLog ? -1 : 0;
    logPanel.hidden = !isLog;
    scriptPanel.hidden = isLog;
    if (focus) (isLog ? tabLog : tabScript).focus();
    if (isLog) view.schedule();
    else if (!scriptLoaded) {
      scriptLoaded = true;
      void loadScript();
    }
  };
  tabLog.addEventListener('click', () => selectTab('log'));
  tabScript.addEventListener('click', () => selectTab('script'));
  tabs.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft' || e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      const toScript = e.key === 'End' || ((e.key === 'ArrowRight' || e.key === 'ArrowLeft') && tabLog.getAttribute('aria-selected') === 'true');
      selectTab(toScript ? 'script' : 'log', true);
    }
  });

  const loadScript = async () => {
    replace(scriptPanel, h('p', { class: 'muted' }, 'Loading the script…'));
    try {
      const s = await api.script(id);
      const lines = s.text.replace(/\n$/, '').split('\n');
      replace(
        scriptPanel,
        h(
          'div',
          { class: 'script-head' },
          s.recipe ? h('span', null, 'Recipe ', h('code', null, s.recipe)) : h('span', null, 'Script from the project’s configuration'),
          s.sha256 ? h('span', { class: 'sha' }, 'sha256 ', h('code', { title: s.sha256 }, s.sha256)) : null,
          h('span', { class: 'muted' }, 'the exact text that ran'),
        ),
        h(
          'pre',
          { class: 'script', tabindex: 0, 'aria-label': 'Script that ran' },
          lines.map((l) => h('span', { class: 'script-line' }, l + '\n')),
        ),
      );
    } catch (e) {
      replace(scriptPanel, h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? `Could not load the script: ${e.message}` : String(e)));
      scriptLoaded = false;
    }
  };

  // ---- header ------------------------------------------------------------------
  const cancelBtn = h('button', { type: 'button', class: 'btn danger', 'data-action': 'cancel' }, icon(ICONS.stop), h('span', null, 'Cancel'));
  cancelBtn.addEventListener('click', async () => {
    if (!run) return;
    const ok = await confirmDialog({
      title: `Cancel run #${run.id}?`,
      body: h('p', null, 'The script and every process it started get SIGTERM, then SIGKILL after the grace period.'),
      confirm: 'Cancel run',
      danger: true,
    });
    if (!ok || !run) return;
    // The button itself says "Cancelling…" until the run has ended (no toast:
    // it would outlive the cancel, over the log).
    setCancelling(true);
    try {
      const r = await api.cancel(run.id);
      if (r) setRun(r);
      if (run && !isFinished(run)) followState.textContent = `Cancelling run #${id}…`;
    } catch (e) {
      setCancelling(false);
      toast(e instanceof ApiError ? (e.status === 409 ? `Run #${id} has already finished.` : e.message) : String(e), 'error');
    }
  });

  const cancelLabel = cancelBtn.querySelector('span')!;
  const setCancelling = (on: boolean) => {
    cancelBtn.disabled = on;
    cancelLabel.textContent = on ? 'Cancelling…' : 'Cancel';
    cancelBtn.toggleAttribute('data-cancelling', on);
  };

  const renderHeader = () => {
    if (!run) return;
    const r = run;
    document.title = `${r.project} #${r.id} ${r.status} · jenky`;
    replace(crumbs, h('a', { href: '/' }, 'Projects'), h('span', { 'aria-hidden': 'true' }, ' / '), h('a', { href: `/projects/${encodeURIComponent(r.project)}` }, r.project));
    replace(title, h('span', null, r.project, ' '), h('span', { class: 'muted' }, `#${r.id}`), host !== null ? h('span', { class: 'title-host' }, ` · ${host}`) : null);
    replace(badgeSlot, statusBadge(r.status));
    const running = r.status === 'running' || r.status === 'queued';
    replace(actions, running && can('deploy') ? cancelBtn : null, ...finishedActions(r, project));
    if (!running) setCancelling(false);
    const created = parseTime(r.created_at);
    const started = parseTime(r.started_at);
    const finished = parseTime(r.finished_at);
    const items: [string, Node | string][] = [['Trigger', triggerLabel(r.trigger)]];
    const commit = commitInfo(r);
    if (commit) items.push(['Commit', commit]);
    const inputs = inputsLabel(r);
    if (inputs) items.push(['Inputs', inputs]);
    if (r.trigger.actor) items.push(['Actor', r.trigger.actor]);
    if (started) items.push(['Started', age(started)]);
    else if (created) items.push(['Queued', age(created)]);
    items.push(['Duration', duration(runDuration(r), started, r.status === 'running')]);
    if (finished) items.push(['Finished', h('time', { datetime: r.finished_at ?? '', title: formatAbsolute(finished) }, formatAbsolute(finished))]);
    if (r.exit_code !== null) {
      const why = r.exit_code === 0 ? null : explainExitCode(r.exit_code, r.status);
      items.push(['Exit code', why ? h('span', { class: 'exit-code' }, String(r.exit_code), h('span', { class: 'muted' }, ` · ${why}`)) : String(r.exit_code)]);
    }
    const used = resourcesLabel(r.resources);
    if (used) items.push(['Used', used]);
    if (r.recipe) items.push(['Recipe', h('code', null, r.recipe)]);
    if (r.trigger.delivery) items.push(['Delivery', h('code', { title: r.trigger.delivery }, r.trigger.delivery.slice(0, 12))]);
    replace(meta, items.map(([k, v]) => h('div', { class: 'meta-item' }, h('dt', null, k), h('dd', null, v))));
    reasonBox.hidden = !r.reason && !waitNote;
    reasonBox.textContent = r.reason ?? (r.status === 'queued' ? waitNote : '');
    reasonBox.className = `run-reason s-${r.status}`;
    logSize.textContent = r.log_bytes && host === null ? formatBytes(r.log_bytes) : '';
    grid.update(r);
  };

  // The project (for Roll back and the deploy dialog's inputs), once; what a
  // queued run waits behind, asked again while it waits.
  let project: Project | null = null;
  let projectAsked = false;
  let waitNote = '';
  let waitAsked = 0;
  const learnContext = (r: Run) => {
    if (!projectAsked) {
      projectAsked = true;
      api
        .project(r.project)
        .then((p) => {
          project = p;
          if (!destroyed) renderHeader();
        })
        .catch(() => {
          /* no Roll back button */
        });
    }
    if (r.status === 'queued' && Date.now() - waitAsked > 2000) {
      waitAsked = Date.now();
      void queuedNote(r).then((note) => {
        waitNote = note ?? '';
        if (!destroyed && run?.status === 'queued') renderHeader();
      });
    }
  };

  const rank = (r: Run) => (isFinished(r) ? 2 : r.status === 'running' ? 1 : 0);
  const setRun = (r: Run) => {
    // Answers can cross (the cancel's 202 may land after the stream's final
    // status): never go back from a later state to an earlier one.
    if (run && run.id === r.id && rank(r) < rank(run)) return;
    // A fleet run's hosts come with the API's JSON and the stream's run and
    // status messages (one for each change of a host's state); an answer
    // without them (an older server) keeps the last seen.
    if (!r.hosts && run?.hosts && run.id === r.id) r = { ...r, hosts: run.hosts };
    const was = run?.status;
    run = r;
    if (was !== r.status) notes.refresh();
    learnContext(r);
    renderHeader();
    sections.setRunStatus(r.status);
    view.schedule();
    updateErrorBtn();
    view.setTimeMode(timeBtn.getAttribute('aria-pressed') === 'true', runStart());
    if (isFinished(r)) {
      view.setEmptyText(r.log_bytes === 0 ? 'This run wrote no output.' : 'Loading…');
      if (was && !isFinished({ ...r, status: was })) announceEnd(r);
      if (followProject) watchForNextRun();
    } else if (r.status === 'queued') {
      view.setEmptyText('Waiting for the run to start…');
    } else {
      view.setEmptyText('Waiting for output…');
    }
  };

  const announceEnd = (r: Run) => {
    followState.textContent = `Run #${r.id} ${r.status.replace('_', ' ')}.`;
  };

  // ---- follow the project into its next run -----------------------------------
  const watchForNextRun = () => {
    if (nextRunTimer || destroyed || !run || !followProject) return;
    const project = run.project;
    const check = async () => {
      nextRunTimer = null;
      if (destroyed || !followProject || !run) return;
      try {
        const runs = await api.projectRuns(project, 1);
        const latest = runs[0];
        if (latest && latest.id > id) {
          navigate(`/runs/${latest.id}?follow=1`);
          return;
        }
      } catch {
        /* retried below */
      }
      if (!destroyed && followProject) nextRunTimer = setTimeout(check, document.visibilityState === 'visible' ? 2000 : 10000);
    };
    nextRunTimer = setTimeout(check, 500);
  };
  const setFollowProject = (on: boolean) => {
    followProject = on;
    followBtn.setAttribute('aria-pressed', String(on));
    const q = new URLSearchParams(location.search);
    if (on) q.set('follow', '1');
    else q.delete('follow');
    const qs = q.toString();
    history.replaceState(history.state, '', `${location.pathname}${qs ? `?${qs}` : ''}${location.hash}`);
    if (on && run && isFinished(run)) watchForNextRun();
    if (!on && nextRunTimer) {
      clearTimeout(nextRunTimer);
      nextRunTimer = null;
    }
    // Said to screen readers; the pressed button shows it (a toast would cover the log).
    followState.textContent = on ? 'This page will open the project’s next run when it starts.' : 'Staying on this run.';
  };
  followBtn.addEventListener('click', () => setFollowProject(!followProject));
  cleanups.push(() => {
    if (nextRunTimer) clearTimeout(nextRunTimer);
  });

  // ---- search ------------------------------------------------------------------
  let matches: SearchMatch[] = [];
  let current = -1;
  let searchTimer: ReturnType<typeof setTimeout> | null = null;
  let refreshTimer: ReturnType<typeof setTimeout> | null = null;
  let searchedVersion = -1;
  let searchedQuery = '';
  /** Lines that were complete at the last search: their matches cannot change. */
  let searchedComplete = 0;
  const runSearch = (keepPosition: boolean) => {
    const q = searchInput.value;
    // On a phone the match arrows show only with a query (style.css).
    search.classList.toggle('has-query', q !== '');
    const prev = current >= 0 ? matches[current] : null;
    matches = q ? store.search(q, SEARCH_LIMIT) : [];
    searchedVersion = store.version;
    searchedQuery = q;
    searchedComplete = store.completeLines;
    view.setMatches(matches);
    if (keepPosition && prev) {
      current = matches.findIndex((m) => m.line === prev.line && m.start === prev.start);
      if (current >= 0) view.showMatch(current);
    } else {
      current = matches.length ? 0 : -1;
      if (current >= 0) view.showMatch(current);
    }
    updateCount();
  };
  // A live log: the lines that arrived since the last look are searched too,
  // so the count stays true; the view and the current match stay where they are.
  const refreshSearch = () => {
    refreshTimer = null;
    const q = searchInput.value;
    if (!q || q !== searchedQuery || searchTimer || store.version === searchedVersion) return;
    const from = searchedComplete;
    let keep = matches.length;
    while (keep > 0 && matches[keep - 1].line >= from) keep--;
    const prev = current >= 0 ? matches[current] : null;
    matches = matches.slice(0, keep).concat(store.search(q, SEARCH_LIMIT - keep, from));
    searchedVersion = store.version;
    searchedComplete = store.completeLines;
    view.setMatches(matches);
    if (prev && current >= keep) current = matches.findIndex((m) => m.line === prev.line && m.start === prev.start);
    view.setCurrentMatch(current);
    updateCount(false);
  };
  const scheduleSearchRefresh = () => {
    if (refreshTimer || !searchInput.value) return;
    refreshTimer = setTimeout(refreshSearch, store.length > 20000 ? 500 : 150);
  };
  cleanups.push(() => {
    if (refreshTimer) clearTimeout(refreshTimer);
    if (searchTimer) clearTimeout(searchTimer);
  });
  const updateCount = (announce = true) => {
    const q = searchInput.value;
    const more = matches.length >= SEARCH_LIMIT ? '+' : '';
    searchCount.textContent = !q
      ? ''
      : matches.length === 0
        ? 'no matches'
        : current < 0
          ? `${matches.length}${more} ${matches.length === 1 ? 'match' : 'matches'}`
          : `${current + 1} of ${matches.length}${more}`;
    prevBtn.disabled = nextBtn.disabled = matches.length === 0;
    if (announce) searchStatus.textContent = searchCount.textContent;
  };
  const step = (d: number) => {
    if (store.version !== searchedVersion && searchInput.value) refreshSearch();
    if (!matches.length) return;
    current = current < 0 ? (d > 0 ? 0 : matches.length - 1) : (current + d + matches.length) % matches.length;
    view.showMatch(current);
    updateCount();
  };
  searchInput.addEventListener('input', () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      searchTimer = null;
      runSearch(false);
    }, store.length > 20000 ? 250 : 80);
  });
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      // Typing shows the first match (once the short wait is over); Enter
      // always moves on from it, however fast it follows the typing.
      if (searchTimer) {
        clearTimeout(searchTimer);
        searchTimer = null;
        runSearch(false);
      }
      step(e.shiftKey ? -1 : 1);
    } else if (e.key === 'Escape') {
      searchInput.value = '';
      runSearch(false);
      view.el.focus({ preventScroll: true });
    }
  });
  prevBtn.addEventListener('click', () => step(-1));
  nextBtn.addEventListener('click', () => step(1));
  updateCount();
  const onKey = (e: KeyboardEvent) => {
    if (logPanel.hidden) return;
    const inField = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    if ((e.key === 'f' && (e.ctrlKey || e.metaKey) && !e.altKey) || (e.key === '/' && !inField && !e.ctrlKey && !e.metaKey)) {
      // The log is virtualized, so the browser's own find would miss most of it.
      e.preventDefault();
      searchInput.focus();
      searchInput.select();
    }
  };
  document.addEventListener('keydown', onKey);
  cleanups.push(() => document.removeEventListener('keydown', onKey));

  // ---- line anchors --------------------------------------------------------------
  const applyHash = () => {
    const sel = parseLineHash(location.hash);
    if (sel) {
      view.scrollToLine(sel[0], false);
      view.select(sel[0], sel[1], false);
    }
  };
  window.addEventListener('hashchange', applyHash);
  cleanups.push(() => window.removeEventListener('hashchange', applyHash));
  applyHash();

  // ---- the log stream -------------------------------------------------------------
  // The first lines are drawn before the rest of the log is taken in: a
  // finished log comes as a burst of messages, and taking them all in first
  // kept its first frame waiting for tens of milliseconds. What arrives
  // meanwhile (and what must follow it, like marking the log complete)
  // waits until that frame has been painted.
  let held: (() => void)[] | null = null;
  let firstLinesDrawn = false;
  const afterFirstLines = (f: () => void) => {
    if (held) held.push(f);
    else f();
  };
  const onLog = (c: LogChunk) => {
    if (held) {
      held.push(() => takeLog(c));
      return;
    }
    takeLog(c);
    if (!firstLinesDrawn && store.length > 0) {
      firstLinesDrawn = true;
      held = [];
      requestAnimationFrame(() =>
        setTimeout(() => {
          const waiting = held ?? [];
          held = null;
          if (!destroyed) for (const f of waiting) f();
        }, 0),
      );
    }
  };
  const takeLog = (c: LogChunk) => {
    // The server's times (when the supervisor captured each line) come with
    // the bytes; without them (an older server), a live line's arrival.
    let time = UNKNOWN_TIME;
    if (c.times && c.line !== undefined) {
      let newlines = 0;
      for (let k = c.data.indexOf('\n'); k >= 0; k = c.data.indexOf('\n', k + 1)) newlines++;
      store.addTimes(c.times, c.line + newlines);
    } else if (c.offset >= historyUntil) {
      time = serverNow();
    }
    if (store.hasServerTimes || time !== UNKNOWN_TIME) view.setShowTimes(true);
    store.append(c.data, time);
    view.schedule();
    if (errorBtn.hidden) updateErrorBtn();
    if (foldBtn.hidden) updateFoldBtn();
    scheduleSearchRefresh();
    if (run && host === null && c.next > run.log_bytes) {
      run = { ...run, log_bytes: c.next };
      logSize.textContent = formatBytes(c.next);
    }
  };

  // WebSocket refused again and again while HTTP works, on a page where it
  // never worked: a proxy that does not pass upgrades on. Follow the log over
  // the HTTP stream instead, and keep trying to get back to WebSocket.
  const showHttpNote = () => {
    logNote.hidden = false;
    logNote.textContent =
      'Live updates come over plain HTTP: this page’s WebSocket connections are refused (a reverse proxy that does not forward WebSocket upgrades?). It keeps trying WebSocket.';
  };
  const fallBackToHttp = () => {
    if (!socket || destroyed) return;
    const offset = socket.offsetOf(id);
    socket.close();
    socket = null;
    setConnectionProblem(`run-log-${id}`, null);
    showHttpNote();
    view.el.dataset.transport = 'http';
    // The plain-HTTP log has no times in it: they come from their own route.
    const refreshTimes = async () => {
      if (host !== null) return; // a host's log has no times of its own
      const have = store.length;
      try {
        const t = await api.lineTimes(id, Math.max(0, store.completeLines - 1));
        store.addTimes(t.times, have - 1);
        if (store.hasServerTimes) view.setShowTimes(true);
        view.schedule();
      } catch {
        /* the next poll asks again */
      }
    };
    const refreshRun = async (): Promise<boolean> => {
      void refreshTimes();
      try {
        const r = await api.run(id);
        setRun(r);
        if (isFinished(r)) {
          afterFirstLines(() => view.markComplete());
          return true;
        }
      } catch {
        /* shown by the stream's own state */
      }
      return false;
    };
    const pollRun = () => {
      httpPoll = setTimeout(async () => {
        if (destroyed || !httpStream) return;
        if (!(await refreshRun())) pollRun();
      }, 3000);
    };
    pollRun();
    // Until the run says how long its log was when this stream (re)connected,
    // bytes arriving are history: their arrival time says nothing.
    historyUntil = Infinity;
    let opens = 0;
    httpStream = new HttpLogStream(id, offset, {
      onLog,
      onEnd: refreshRun,
      onState: (st) => {
        if (st.kind === 'open') {
          setConnectionProblem(`run-log-${id}`, null);
          view.el.dataset.connection = 'open';
          const mine = ++opens;
          historyUntil = Infinity;
          api
            .run(id)
            .then((r) => {
              if (destroyed || mine !== opens) return;
              historyUntil = isFinished(r) || host !== null ? Infinity : r.log_bytes;
              setRun(r);
            })
            .catch(() => {
              /* lines stay without times until the next connection */
            });
        } else {
          setConnectionProblem(`run-log-${id}`, { message: 'Lost the connection to jenky; the log will resume where it stopped.', retryAt: st.retryAt, retry: st.retry });
          view.el.dataset.connection = 'waiting';
        }
      },
    }, undefined, host);
    tryWebSocketAgain(0);
  };

  // While on HTTP: now and then, a WebSocket of our own; once one opens, the
  // log goes back to WebSocket at the byte the HTTP stream reached.
  let wsTry: ReturnType<typeof setTimeout> | null = null;
  let wsProbe: WebSocket | null = null;
  const WS_RETRY_MS = [5000, 10000, 20000, 40000, 60000];
  const tryWebSocketAgain = (attempt: number) => {
    if (destroyed || !httpStream) return;
    wsTry = setTimeout(() => {
      wsTry = null;
      if (destroyed || !httpStream) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      let ws: WebSocket;
      try {
        ws = new WebSocket(`${proto}//${location.host}/ws/v1/runs/${id}/log?offset=${httpStream.nextOffset}${hostQuery ? `&${hostQuery}` : ''}`);
      } catch {
        tryWebSocketAgain(attempt + 1);
        return;
      }
      wsProbe = ws;
      ws.onopen = () => {
        ws.onclose = ws.onerror = null;
        ws.close(1000);
        wsProbe = null;
        if (destroyed || !httpStream) return;
        backToWebSocket();
      };
      ws.onclose = () => {
        wsProbe = null;
        tryWebSocketAgain(attempt + 1);
      };
    }, WS_RETRY_MS[Math.min(attempt, WS_RETRY_MS.length - 1)]);
  };
  const backToWebSocket = () => {
    if (!httpStream) return;
    const offset = httpStream.nextOffset;
    httpStream.close();
    httpStream = null;
    if (httpPoll) clearTimeout(httpPoll);
    httpPoll = null;
    logNote.hidden = true;
    logNote.textContent = '';
    delete view.el.dataset.transport;
    startStream(offset);
  };
  cleanups.push(() => {
    if (wsTry) clearTimeout(wsTry);
    if (wsProbe) {
      wsProbe.onopen = wsProbe.onclose = wsProbe.onerror = null;
      wsProbe.close();
    }
  });

  const onState = (s: SocketState) => {
    const source = `run-log-${id}`;
    // A refusal counts against WebSocket only while it has never worked here:
    // once it has, a refusal is jenky restarting (or the network), not a proxy.
    if (s.kind === 'open') webSocketWorked = true;
    if (s.kind === 'waiting' && !s.everOpened && !webSocketWorked && s.refused >= 3 && httpWorks) {
      fallBackToHttp();
      return;
    }
    if (s.kind === 'waiting') {
      setConnectionProblem(source, {
        message: s.restarting ? 'jenky is restarting; the log will resume where it stopped.' : 'Lost the connection to jenky; the log will resume where it stopped.',
        retryAt: s.retryAt,
        retry: () => socket?.retryNow(),
      });
      view.el.dataset.connection = 'waiting';
    } else if (s.kind === 'open' || s.kind === 'done') {
      setConnectionProblem(source, null);
      view.el.dataset.connection = s.kind;
    } else if (s.kind === 'stopped') {
      setConnectionProblem(source, null);
      view.el.dataset.connection = 'stopped';
      logNote.hidden = false;
      logNote.textContent = s.reason;
    }
  };

  const startStream = (offset: number) => {
    if (destroyed) return;
    socket = new LogSocket(
      `/ws/v1/runs/${id}/log${hostQuery ? `?${hostQuery}` : ''}`,
      {
        onRun: (r) => {
          // Bytes the run had written before this connection are history (a
          // host's log: its size is not in the run; its lines get no times).
          historyUntil = r.status === 'queued' ? 0 : host !== null ? Infinity : r.log_bytes;
          setRun(r);
        },
        onStatus: (r) => {
          setRun(r);
          if (isFinished(r)) afterFirstLines(() => view.markComplete());
        },
        onLog,
        onState,
        probe: async () => {
          try {
            const r = await api.run(id);
            httpWorks = true;
            return r.log_pruned ? PRUNED : null;
          } catch (e) {
            httpWorks = false;
            if (e instanceof ApiError && !e.offline) {
              return e.status === 404 ? `There is no run #${id}.` : e.status === 401 ? 'Sign in to see this run.' : e.message;
            }
            return null;
          }
        },
      },
      id,
      offset,
    );
  };

  // The run's JSON first: an unknown run is a 404 page without any WebSocket
  // (or connection banner), and a pruned log needs no stream at all.
  const showPruned = () => {
    logNote.hidden = false;
    logNote.textContent = PRUNED;
    view.setEmptyText('No log.');
    download.hidden = true;
  };
  const load = () => {
    const answer = firstLoad ?? api.run(id);
    firstLoad = null;
    answer
      .then((r) => {
        if (destroyed) return;
        httpWorks = true;
        setConnectionProblem(`run-load-${id}`, null);
        // The stream first: it connects while the page shows the run.
        if (!r.log_pruned) startStream(0);
        setRun(r);
        if (r.log_pruned) showPruned();
      })
      .catch((e) => {
        if (destroyed) return;
        if (e instanceof ApiError && e.offline) {
          // jenky cannot be reached: say so and try again, as the stream would.
          const retryAt = Date.now() + backoffDelay(loadFailures++);
          const again = () => {
            if (loadTimer) clearTimeout(loadTimer);
            loadTimer = null;
            load();
          };
          setConnectionProblem(`run-load-${id}`, { message: 'jenky cannot be reached.', retryAt, retry: again });
          loadTimer = setTimeout(again, retryAt - Date.now());
          return;
        }
        setConnectionProblem(`run-load-${id}`, null);
        const msg = e instanceof ApiError ? (e.status === 404 ? `There is no run #${id}.` : e.message) : String(e);
        replace(main, h('h1', { tabindex: -1 }, `Run #${id}`), h('p', { class: 'error', role: 'alert' }, msg), h('p', null, h('a', { href: '/' }, 'Back to projects')));
      });
  };
  let loadFailures = 0;
  let loadTimer: ReturnType<typeof setTimeout> | null = null;
  cleanups.push(() => {
    if (loadTimer) clearTimeout(loadTimer);
    setConnectionProblem(`run-load-${id}`, null);
  });
  load();

  return () => {
    destroyed = true;
    socket?.close();
    httpStream?.close();
    if (httpPoll) clearTimeout(httpPoll);
    setConnectionProblem(`run-log-${id}`, null);
    for (const c of cleanups) c();
  };
}
