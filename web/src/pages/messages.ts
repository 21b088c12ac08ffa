// The outbox's messages (docs/notifications.md): the commit statuses and
// notifications a run's state changes caused, with whether each was sent,
// is still pending (and when it is tried next) or failed, and why. Shown on
// the run page (one run's) and the project page (the project's newest), from
// GET /api/v1/runs/{id}/messages and GET /api/v1/projects/{name}/messages.

import { ApiError, getJSON } from '../api';
import { h, replace } from '../dom';
import { formatAbsolute, formatClock, parseTime } from '../format';
import { poll } from '../poll';
import { age } from '../ui/time';

export interface OutboxMessage {
  id: number;
  run: number;
  project: string;
  receiver: string;
  kind: string;
  event: string;
  state: 'pending' | 'sent' | 'failed' | string;
  attempts: number;
  created_at: string | null;
  next_attempt_at: string | null;
  finished_at: string | null;
  http_status: number | null;
  error: string | null;
}

/** What a message says, as people read it: "status: failure", "run.failed". */
function eventLabel(m: OutboxMessage): string {
  return m.event.startsWith('status.') ? `commit status ${m.event.slice(7)}` : m.event;
}

function timeCell(iso: string | null): Node {
  const t = parseTime(iso);
  return t ? age(t) : h('span', { class: 'muted' }, '—');
}

/** The state, and for one not sent, why (the last answer) and what comes next. */
function stateCell(m: OutboxMessage): HTMLElement {
  const badge = h('span', { class: `badge small m-${m.state}` }, h('span', { class: 'badge-text' }, m.state));
  const why: Node[] = [];
  if (m.state === 'pending') {
    // The next try as a clock time (a relative "in 4 s" would go stale
    // between refreshes, which redraw only what changed).
    const next = parseTime(m.next_attempt_at);
    why.push(h('span', { class: 'muted' }, next ? ' next try at ' : m.attempts ? ' sending' : ' waiting to be sent'));
    if (next) why.push(h('time', { datetime: new Date(next).toISOString(), title: formatAbsolute(next) }, formatClock(new Date(next)).slice(0, 8)));
  }
  if (m.error && m.state !== 'sent') why.push(h('span', { class: 'message-error' }, m.error));
  return h('td', { class: 'c-state', 'data-label': 'State' }, badge, ...why);
}

function messagesTable(list: OutboxMessage[], caption: string, withRun: boolean): HTMLElement {
  const cols = ['Receiver', 'Kind', 'Message', 'State', 'Attempts', 'Made', 'Finished'];
  if (withRun) cols.splice(0, 0, 'Run');
  return h(
    'table',
    { class: 'messages-table' },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      list.map((m) => {
        const made = parseTime(m.created_at);
        return h(
          'tr',
          { 'data-state': m.state, 'data-receiver': m.receiver, title: made ? `Made ${formatAbsolute(made)}` : undefined },
          withRun ? h('td', { class: 'c-run', 'data-label': 'Run' }, h('a', { href: `/runs/${m.run}`, class: 'run-link' }, `#${m.run}`)) : null,
          h('td', { class: 'c-receiver', 'data-label': 'Receiver' }, h('code', null, m.receiver)),
          h('td', { class: 'c-kind', 'data-label': 'Kind' }, m.kind),
          h('td', { class: 'c-event', 'data-label': 'Message' }, eventLabel(m)),
          stateCell(m),
          h('td', { class: 'c-attempts', 'data-label': 'Attempts' }, String(m.attempts), m.http_status ? h('span', { class: 'http-status', title: 'HTTP status of the last answer' }, ` (HTTP ${m.http_status})`) : null),
          h('td', { class: 'c-made', 'data-label': 'Made' }, timeCell(m.created_at)),
          h('td', { class: 'c-finished', 'data-label': 'Finished' }, timeCell(m.finished_at)),
        );
      }),
    ),
  );
}

export interface MessagesSection {
  el: HTMLElement;
  /** Load again now (the run changed state: it may have made messages). */
  refresh: () => void;
  stop: () => void;
}

/**
 * A "Notifications" section listing a run's messages (RUN set) or a
 * project's newest (PROJECT set), refreshed every few seconds while any is
 * pending and every 15 s otherwise.
 */
export function messagesSection(target: { run: number } | { project: string }): MessagesSection {
  const forRun = 'run' in target;
  const path = forRun ? `/api/v1/runs/${target.run}/messages` : `/api/v1/projects/${encodeURIComponent(target.project)}/messages?limit=50`;
  const box = h('div', { class: 'table-box', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading notifications…'));
  const summary = h('span', { class: 'messages-counts muted' });
  // The run page is one screen (only the log scrolls): there the messages
  // are a disclosure below the log, closed, hidden while the run has none;
  // the project page, which scrolls, has them as a section.
  const el = forRun
    ? h(
        'details',
        { class: 'messages-section messages-details', hidden: true },
        h('summary', { id: 'messages-h' }, h('span', { class: 'messages-title' }, 'Notifications'), summary),
        h('div', { class: 'messages-scroll', tabindex: 0, role: 'region', 'aria-labelledby': 'messages-h' }, box),
      )
    : h(
        'section',
        { class: 'messages-section', 'aria-labelledby': 'messages-h' },
        h('h2', { id: 'messages-h' }, 'Notifications'),
        h('p', { class: 'muted section-note' }, 'The newest commit statuses and notifications of this project’s runs.'),
        box,
      );
  const count = (list: OutboxMessage[]) => {
    const n = (state: string) => list.filter((m) => m.state === state).length;
    return [`${n('sent')} sent`, n('pending') ? `${n('pending')} pending` : '', n('failed') ? `${n('failed')} failed` : ''].filter(Boolean).join(', ');
  };
  let shown = '';
  let pending = false;
  let since = 0;
  const stop = poll(
    async (signal) => {
      // Quiet when nothing is on its way: a fast refresh only while sending.
      if (!pending && shown && Date.now() - since < 15000) return;
      since = Date.now();
      const list = await getJSON<OutboxMessage[]>(path, signal);
      pending = list.some((m) => m.state === 'pending');
      const key = JSON.stringify(list);
      box.setAttribute('aria-busy', 'false');
      if (key === shown) return;
      shown = key;
      if (forRun) {
        el.hidden = list.length === 0;
        summary.textContent = ` · ${count(list)}`;
      }
      replace(
        box,
        list.length
          ? messagesTable(list, forRun ? 'Notifications of this run, newest first' : 'Notifications of this project, newest first', !forRun)
          : h('p', { class: 'muted empty-note' }, forRun ? 'This run sent no notifications and no commit status.' : 'No notifications yet. Configure [[notify]] or [projects.X.status] to have them.'),
      );
    },
    3000,
    (e) => {
      box.setAttribute('aria-busy', 'false');
      replace(box, h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? `Notifications: ${e.message}` : String(e)));
    },
  );
  return {
    el,
    refresh: () => {
      pending = true;
    },
    stop,
  };
}
