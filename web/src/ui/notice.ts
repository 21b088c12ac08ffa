// The connection banner ("jenky cannot be reached — reconnecting in 4 s") and
// short messages (toasts), both announced to screen readers.

import { h } from '../dom';

interface Problem {
  message: string;
  retryAt?: number;
  retry?: () => void;
}

const problems = new Map<string, Problem>();
let banner: HTMLElement;
let bannerText: HTMLElement;
let bannerCountdown: HTMLElement;
let bannerButton: HTMLButtonElement;
let toasts: HTMLElement;
let timer: ReturnType<typeof setInterval> | null = null;
let wasDown = false;

export function mountNotices(root: HTMLElement): void {
  bannerText = h('span', { class: 'banner-text' });
  bannerCountdown = h('span', { class: 'banner-countdown', 'aria-hidden': 'true' });
  bannerButton = h('button', { type: 'button', class: 'btn small' }, 'Retry now');
  bannerButton.addEventListener('click', () => {
    for (const p of problems.values()) p.retry?.();
  });
  banner = h('div', { class: 'banner', role: 'status', 'aria-live': 'polite', hidden: true, id: 'connection-banner' }, h('span', { class: 'banner-msg' }, bannerText, bannerCountdown), bannerButton);
  toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  // The banner takes its place in the page, under the top bar (covering
  // nothing); the toasts float.
  const header = root.querySelector('.topbar');
  if (header) header.after(banner);
  else root.prepend(banner);
  root.append(toasts);
  if (typeof ResizeObserver !== 'undefined') {
    // Pages that fill the viewport (the run page) subtract its height.
    new ResizeObserver(() => {
      document.documentElement.style.setProperty('--banner-h', `${banner.hidden ? 0 : banner.offsetHeight}px`);
    }).observe(banner);
  }
}

/** Reports (or, with null, clears) a connection problem of one source. */
export function setConnectionProblem(source: string, p: Problem | null): void {
  if (p) problems.set(source, p);
  else problems.delete(source);
  renderBanner();
}

function renderBanner(): void {
  if (!banner) return;
  if (problems.size === 0) {
    if (timer) clearInterval(timer);
    timer = null;
    if (wasDown) {
      wasDown = false;
      banner.hidden = false;
      banner.className = 'banner ok';
      bannerText.textContent = 'Reconnected to jenky.';
      bannerCountdown.textContent = '';
      bannerButton.hidden = true;
      setTimeout(() => {
        if (problems.size === 0) banner.hidden = true;
      }, 2500);
    } else {
      banner.hidden = true;
    }
    return;
  }
  wasDown = true;
  const first = [...problems.values()][0];
  banner.hidden = false;
  banner.className = 'banner down';
  const now = Date.now();
  // The message is announced once; the countdown beside it is not.
  if (bannerText.textContent !== first.message) bannerText.textContent = first.message;
  bannerCountdown.textContent =
    first.retryAt && first.retryAt > now ? ` Reconnecting in ${Math.ceil((first.retryAt - now) / 1000)} s…` : ' Reconnecting…';
  bannerButton.hidden = !first.retry;
  if (!timer) timer = setInterval(renderBanner, 1000);
}

export function toast(message: string, kind: 'info' | 'error' = 'info'): void {
  if (!toasts) return;
  const el = h('div', { class: `toast ${kind}` }, message);
  toasts.appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}
