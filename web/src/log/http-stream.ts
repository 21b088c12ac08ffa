// The fallback transport: the HTTP follow stream (GET /api/v1/runs/{id}/log
// ?offset=N&follow=1, chunked until the run ends). Used only when WebSocket
// connections are refused while plain HTTP works — typically a reverse proxy
// that does not pass WebSocket upgrades on. Same resumption rule as the
// WebSocket: reconnect at the byte after the last whole character shown.

import { backoffDelay, type LogChunk } from './socket';

export interface HttpStreamHandlers {
  onLog(chunk: LogChunk): void;
  /** The stream ended on its own: the run has probably finished. Return true to stop. */
  onEnd(): Promise<boolean>;
  onState?(state: { kind: 'open' } | { kind: 'waiting'; retryAt: number; retry: () => void }): void;
}

/** How many bytes at the end of b are the start of an unfinished UTF-8 character. */
export function incompleteTail(b: Uint8Array): number {
  const n = b.length;
  for (let k = 1; k <= Math.min(4, n); k++) {
    const c = b[n - k];
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

export class HttpLogStream {
  private ctrl: AbortController | null = null;
  private stopped = false;
  private failures = 0;
  private wake: (() => void) | null = null;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly runId: number,
    private offset: number,
    private readonly handlers: HttpStreamHandlers,
    private readonly fetchFn: typeof fetch = (...a) => fetch(...a),
    /** A fleet host's own log instead of the run's (?host=NAME). */
    private readonly host: string | null = null,
  ) {
    void this.loop();
  }

  close(): void {
    this.stopped = true;
    this.ctrl?.abort();
    this.wake?.();
  }

  get nextOffset(): number {
    return this.offset;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let ended = false;
      try {
        ended = await this.once();
      } catch (e) {
        if (this.stopped) return;
        void e;
      }
      if (this.stopped) return;
      if (ended && (await this.handlers.onEnd())) return;
      if (ended) {
        this.failures = 0;
        continue;
      }
      const delay = backoffDelay(this.failures++);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
        this.handlers.onState?.({ kind: 'waiting', retryAt: Date.now() + delay, retry: () => this.wake?.() });
      });
      this.wake = null;
    }
  }

  /** One request; true when the server ended the stream normally. */
  private async once(): Promise<boolean> {
    this.ctrl = new AbortController();
    const res = await this.fetchFn(`/api/v1/runs/${this.runId}/log?offset=${this.offset}&follow=1${this.host !== null ? `&host=${encodeURIComponent(this.host)}` : ''}`, {
      credentials: 'same-origin',
      cache: 'no-store',
      signal: this.ctrl.signal,
    });
    if (res.status === 416) return true; // nothing past our offset and the run is over
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    this.failures = 0;
    this.handlers.onState?.({ kind: 'open' });
    const reader = res.body.getReader();
    let held = new Uint8Array(0);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return true;
      if (!value || value.length === 0) continue;
      let bytes = value;
      if (held.length) {
        bytes = new Uint8Array(held.length + value.length);
        bytes.set(held);
        bytes.set(value, held.length);
      }
      const keep = incompleteTail(bytes);
      const whole = bytes.subarray(0, bytes.length - keep);
      held = bytes.slice(bytes.length - keep);
      if (whole.length === 0) continue;
      const offset = this.offset;
      this.offset += whole.length;
      this.handlers.onLog({ run: this.runId, offset, next: this.offset, data: this.decoder.decode(whole) });
    }
  }
}
