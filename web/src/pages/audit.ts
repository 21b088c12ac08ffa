// The audit log: every state change (trigger, cancel, rollback, pause,
// resume, sign-in, config reload, upgrade), newest first, with who did it,
// when and from which address (GET /api/v1/audit; admin scope).

import { ApiError, api, type AuditEntry } from '../api';
import { h, replace } from '../dom';
import { formatAbsolute, parseTime } from '../format';
import { poll } from '../poll';

const PAGE = 50;

function auditTable(entries: AuditEntry[]): HTMLElement {
  return h(
    'table',
    { class: 'audit-table' },
    h('caption', { class: 'sr-only' }, 'Audit log, newest first'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Time', 'Actor', 'Action', 'Project', 'Run', 'Address', 'Detail'].map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      null,
      entries.map((e) => {
        const t = parseTime(e.time);
        return h(
          'tr',
          { 'data-action': e.action },
          h('td', { class: 'c-time', 'data-label': 'Time' }, t ? h('time', { datetime: e.time }, formatAbsolute(t)) : e.time),
          h('td', { class: 'c-actor', 'data-label': 'Actor' }, h('code', null, e.actor)),
          h('td', { class: 'c-action', 'data-label': 'Action' }, h('span', { class: `badge small a-${e.action}` }, h('span', { class: 'badge-text' }, e.action))),
          h('td', { class: 'c-project', 'data-label': 'Project' }, e.project ? h('a', { href: `/projects/${encodeURIComponent(e.project)}` }, e.project) : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'c-run', 'data-label': 'Run' }, e.run ? h('a', { href: `/runs/${e.run}`, class: 'run-link' }, `#${e.run}`) : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'c-address', 'data-label': 'Address' }, e.address ? h('code', null, e.address) : h('span', { class: 'muted' }, '—')),
          h('td', { class: 'c-detail', 'data-label': 'Detail' }, e.detail ?? ''),
        );
      }),
    ),
  );
}

export function auditPage(main: HTMLElement, _params: Record<string, string>, query: URLSearchParams): () => void {
  document.title = 'Audit log · jenky';
  const before = Number(query.get('before')) || undefined;
  const box = h('div', { class: 'table-box' }, h('p', { class: 'muted' }, 'Loading the audit log…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Audit log pages' });
  main.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Audit log')),
    h('p', { class: 'muted' }, 'Every change of state, newest first: who made it, when and from where. Entries are never changed; old ones go after [server] audit_retention.'),
    box,
    pager,
  );
  let shown = '';
  return poll(
    async (signal) => {
      const entries = await api.audit(PAGE, before, signal);
      const key = JSON.stringify(entries);
      if (key === shown) return;
      shown = key;
      replace(box, entries.length ? auditTable(entries) : h('p', { class: 'muted empty-note' }, before ? 'No older entries.' : 'Nothing has happened yet.'));
      const items: Node[] = [];
      if (before) items.push(h('a', { href: '/audit', class: 'btn small' }, 'Latest'));
      const oldest = entries.length === PAGE ? entries[entries.length - 1].id : null;
      if (oldest) items.push(h('a', { href: `/audit?before=${oldest}`, class: 'btn small' }, 'Older →'));
      replace(pager, ...items);
    },
    5000,
    (e) =>
      replace(
        box,
        h(
          'p',
          { class: 'error', role: 'alert' },
          e instanceof ApiError && e.status === 403 ? 'The audit log needs a token with the admin scope.' : e instanceof ApiError ? e.message : String(e),
        ),
      ),
  );
}
