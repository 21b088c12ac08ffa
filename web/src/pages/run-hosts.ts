// A fleet run's hosts on its run page (docs/fleet.md, "Watching it"): a grid
// of cards, one per host (its status, reason, release and times), each a link
// to that host's own log (?host=NAME); "All hosts" is the merged log.

import type { FleetHost, Run } from '../api';
import { h, icon, replace } from '../dom';
import { formatAbsolute, parseTime } from '../format';
import { duration } from '../ui/time';

/** A host's status in words; the class colours it (never colour alone). */
const HOST_STATUS: Record<string, { label: string; cls: string; path: string }> = {
  pending: { label: 'Pending', cls: 's-queued', path: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z' },
  preparing: { label: 'Preparing', cls: 's-running', path: '' },
  prepared: { label: 'Prepared', cls: 's-queued', path: 'M5 12l5 5 9-10' },
  switching: { label: 'Switching', cls: 's-running', path: '' },
  healthy: { label: 'Healthy', cls: 's-succeeded', path: 'M5 12l5 5 9-10' },
  failed: { label: 'Failed', cls: 's-failed', path: 'M6 6l12 12|M18 6L6 18' },
  'rolled back': { label: 'Rolled back', cls: 's-timed_out', path: 'M9 14L4 9l5-5|M4 9h11a5 5 0 0 1 0 10h-3' },
  skipped: { label: 'Skipped', cls: 's-cancelled', path: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z|M6 18L18 6' },
};

const BUSY = new Set(['preparing', 'switching']);

export function hostStatusBadge(status: string): HTMLElement {
  const s = HOST_STATUS[status] ?? { label: status, cls: 's-none', path: '' };
  return h(
    'span',
    { class: `badge small host-status ${s.cls}`, 'data-status': status },
    BUSY.has(status) ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : s.path ? icon(s.path) : null,
    h('span', { class: 'badge-text' }, s.label),
  );
}

/** "3 healthy · 1 failed · 2 pending", in the order of HOST_STATUS. */
export function hostSummary(hosts: FleetHost[]): string {
  const counts = new Map<string, number>();
  for (const x of hosts) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
  const order = Object.keys(HOST_STATUS);
  return [...counts.entries()]
    .sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))
    .map(([s, n]) => `${n} ${(HOST_STATUS[s]?.label ?? s).toLowerCase()}`)
    .join(' · ');
}

function hostTimes(x: FleetHost): Node | null {
  const started = parseTime(x.started_at);
  if (!started) return null;
  const finished = parseTime(x.finished_at);
  const ms = (finished ?? Date.now()) - started;
  return h(
    'span',
    { class: 'host-time muted', title: `Started ${formatAbsolute(started)}${finished ? `, finished ${formatAbsolute(finished)}` : ''}` },
    duration(ms, started, !finished),
  );
}

/** More hosts than this on a phone: the grid starts folded to its summary line. */
const PHONE_OPEN_MAX = 4;

/**
 * The grid's section: built once, filled by update(). SELECTED is the host
 * whose log the page shows (null: the merged log).
 */
export class HostGrid {
  readonly el: HTMLElement;
  private readonly details: HTMLDetailsElement;
  private readonly list: HTMLElement;
  private readonly summary: HTMLElement;
  private last = '';
  private all: HTMLAnchorElement | null = null;
  private readonly cards = new Map<string, HTMLAnchorElement>();

  constructor(
    private readonly runId: number,
    private readonly selected: string | null,
  ) {
    this.summary = h('span', { class: 'host-summary muted', 'aria-live': 'polite' });
    this.list = h('ul', { class: 'host-grid', 'aria-labelledby': 'hosts-title' });
    // A disclosure: on a phone, a large grid would be a second scroll area
    // above the log's; folded, it is one line that still counts the hosts
    // by status.
    this.details = h('details', { class: 'hosts-details', open: true }, h('summary', { class: 'hosts-head' }, h('h2', { id: 'hosts-title' }, 'Hosts'), this.summary), this.list);
    this.el = h('section', { class: 'hosts-panel', 'aria-labelledby': 'hosts-title', hidden: true }, this.details);
  }

  /**
   * Shows RUN's hosts (hidden when it is not a fleet run). Cards are updated
   * in place, so a card that has the keyboard focus keeps it.
   */
  update(run: Run): void {
    const hosts = run.hosts ?? [];
    if (this.el.hidden && hosts.length > PHONE_OPEN_MAX && window.matchMedia('(max-width: 720px)').matches) {
      this.details.open = false; // (once: what the user opens stays open)
    }
    this.el.hidden = hosts.length === 0;
    const key = JSON.stringify(hosts);
    if (key === this.last) return;
    this.last = key;
    this.summary.textContent = hostSummary(hosts);
    if (!this.all) {
      this.all = h(
        'a',
        { class: 'host-card host-all', href: `/runs/${this.runId}`, 'aria-current': this.selected === null ? 'page' : null, 'data-host': '' },
        h('span', { class: 'host-name' }, 'All hosts'),
        h('span', { class: 'host-line muted' }, 'Merged log, each line prefixed with its host'),
      );
      this.list.append(h('li', { class: 'host-item' }, this.all));
    }
    const seen = new Set<string>();
    let after: Element = this.all.parentElement!;
    for (const x of hosts) {
      seen.add(x.name);
      let card = this.cards.get(x.name);
      if (!card) {
        card = h('a', { href: `/runs/${this.runId}?host=${encodeURIComponent(x.name)}`, 'data-host': x.name, 'aria-current': this.selected === x.name ? 'page' : null });
        this.cards.set(x.name, card);
      }
      const item = card.parentElement ?? h('li', { class: 'host-item' }, card);
      if (after.nextElementSibling !== item) after.after(item);
      after = item;
      card.className = `host-card hs-${x.status.replace(' ', '-')}`;
      card.setAttribute('aria-label', `${x.name}: ${HOST_STATUS[x.status]?.label ?? x.status}${x.reason ? `, ${x.reason}` : ''}. Show its log`);
      replace(
        card,
        h('span', { class: 'host-top' }, h('span', { class: 'host-name' }, x.name), hostStatusBadge(x.status)),
        h('span', { class: 'host-line muted' }, x.address, x.release ? h('span', null, ' · release ', h('code', null, x.release)) : null),
        x.reason ? h('span', { class: 'host-reason' }, x.reason) : null,
        hostTimes(x),
      );
    }
    for (const [name, card] of this.cards) {
      if (seen.has(name)) continue;
      card.parentElement?.remove();
      this.cards.delete(name);
    }
  }
}
