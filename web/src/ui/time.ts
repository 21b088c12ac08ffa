// Relative times and running durations that keep themselves up to date.

import { serverNow } from '../api';
import { h } from '../dom';
import { formatAbsolute, formatAge, formatDuration } from '../format';

/** "3 minutes ago"; the date and time in full as its tooltip (titleOnHover). */
export function age(t: number): HTMLTimeElement {
  return h('time', { datetime: new Date(t).toISOString(), 'data-age': t }, formatAge(t, serverNow()));
}

/**
 * An age's tooltip is written when the pointer reaches it: the first date
 * formatted in the user's locale costs some 20 ms (the locale's data), which
 * a page showing ages would otherwise pay before its first paint.
 */
function titleOnHover(ev: Event): void {
  const el = ev.target instanceof Element ? ev.target.closest<HTMLElement>('time[data-age]') : null;
  if (el && !el.title) el.title = formatAbsolute(Number(el.dataset.age));
}

/** A duration; while `running` it counts up from `start`. */
export function duration(ms: number | null, start?: number | null, running = false): HTMLElement {
  if (running && start) {
    return h('span', { class: 'duration', 'data-since': start }, formatDuration(serverNow() - start));
  }
  return h('span', { class: 'duration' }, ms === null ? '—' : formatDuration(ms));
}

function tick(): void {
  const now = serverNow();
  for (const el of document.querySelectorAll<HTMLElement>('[data-since]')) {
    el.textContent = formatDuration(now - Number(el.dataset.since));
  }
}

function tickAges(): void {
  const now = serverNow();
  for (const el of document.querySelectorAll<HTMLElement>('[data-age]')) {
    el.textContent = formatAge(Number(el.dataset.age), now);
  }
}

export function startClocks(): void {
  document.addEventListener('pointerover', titleOnHover);
  document.addEventListener('focusin', titleOnHover);
  setInterval(tick, 1000);
  setInterval(tickAges, 15000);
}
