// Refreshes a page's data every few seconds while the page is visible; when
// jenky cannot be reached it backs off and says so in the connection banner.

import { ApiError } from './api';
import { backoffDelay } from './log/socket';
import { setConnectionProblem } from './ui/notice';

let sources = 0;

export function poll(load: (signal: AbortSignal) => Promise<void>, intervalMs: number, onError?: (e: unknown) => void): () => void {
  const source = `poll-${++sources}`;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let failures = 0;
  let ctrl: AbortController | null = null;
  let running = false;

  const run = async () => {
    if (stopped || running) return;
    if (timer) clearTimeout(timer);
    timer = null;
    running = true;
    ctrl = new AbortController();
    try {
      await load(ctrl.signal);
      failures = 0;
      setConnectionProblem(source, null);
      schedule(intervalMs);
    } catch (e) {
      if (stopped || (e as Error).name === 'AbortError') return;
      if (e instanceof ApiError && e.offline) {
        const delay = backoffDelay(failures++);
        setConnectionProblem(source, { message: 'jenky cannot be reached.', retryAt: Date.now() + delay, retry: () => void run() });
        schedule(delay);
      } else {
        setConnectionProblem(source, null);
        onError?.(e);
        if (!(e instanceof ApiError) || e.status >= 500) schedule(intervalMs * 2);
      }
    } finally {
      running = false;
    }
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      if (document.visibilityState === 'hidden') return; // resumed by visibilitychange
      void run();
    }, ms);
  };

  const onVisible = () => {
    if (document.visibilityState === 'visible' && !running) void run();
  };
  document.addEventListener('visibilitychange', onVisible);
  void run();

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    ctrl?.abort();
    document.removeEventListener('visibilitychange', onVisible);
    setConnectionProblem(source, null);
  };
}
