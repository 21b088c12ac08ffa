import type { Run } from '../api';
import { h, icon } from '../dom';
import { STATUS_LABEL } from '../format';

const STATUS_ICON: Record<string, string> = {
  succeeded: 'M5 12l5 5 9-10',
  failed: 'M6 6l12 12|M18 6L6 18',
  cancelled: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z|M6 18L18 6',
  timed_out: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z|M12 7v5l3 3',
  interrupted: 'M12 4v10|M12 18v2',
  queued: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z|M12 7v5l3 3',
  running: '',
};

/** A status badge: icon and word, coloured by status (never colour alone). */
export function statusBadge(status: string, small = false): HTMLElement {
  const label = STATUS_LABEL[status] ?? status;
  const path = STATUS_ICON[status];
  return h(
    'span',
    { class: `badge s-${status}${small ? ' small' : ''}`, 'data-status': status },
    status === 'running' ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : path ? icon(path) : null,
    h('span', { class: 'badge-text' }, label),
  );
}

/** Updates a badge made by statusBadge in place. */
export function updateBadge(el: HTMLElement, status: string): void {
  const fresh = statusBadge(status, el.classList.contains('small'));
  el.replaceWith(fresh);
}

export function runLink(run: Run): HTMLAnchorElement {
  return h('a', { href: `/runs/${run.id}`, class: 'run-link' }, `#${run.id}`);
}
