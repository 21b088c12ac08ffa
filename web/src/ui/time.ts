// Relative times and running durations that keep themselves up to date.

import { serverNow } from '../api';
import { h } from '../dom';
import { formatAbsolute, formatAge, formatDuration } from '../format';

export function age(t: number): HTMLTimeElement {
  return h('time', { datetime: new Date(t).toISOString(), title: formatAbsolute(t), 'data-age': t }, formatAge(t, serverNow()));
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
  setInterval(tick, 1000);
  setInterval(tickAges, 15000);
}
