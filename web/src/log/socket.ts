// The log transport: SPEC.md's WebSocket log protocol, with reconnection.
//
//   server → client  {"type":"run","run":Run}
//                    {"type":"log","run":42,"offset":N,"next":M,"data":"…",
//                     "line":L,"times":[[line,unix_ms],...]}   (line/times: jenky's extension)
//                    {"type":"status","run":Run}
//                    {"type":"pong"}
//   client → server  "ping" every 20 s
//
// On a lost connection it reconnects with exponential backoff (and jitter),
// asking for ?offset=<last next> so no byte is shown twice or skipped. It
// stops once the run has ended and the server closed the socket normally.
// A close with 1001 (going away) or 1012 (service restart) is jenky stopping
// or restarting: the attempts refused while it is down say nothing about
// whether WebSocket gets through, so they are reported as `restarting`.

import { FINISHED, type Run } from '../api';

export interface LogChunk {
  run: number;
  offset: number;
  next: number;
  data: string;
  /** 0-based line of the chunk's first byte, when the server says (with times). */
  line?: number;
  /** [line, unix ms] records: when lines started, as the server captured them. */
  times?: [number, number][];
}

type Message = { type?: string; run?: unknown; offset?: number; next?: number; data?: string; line?: number; times?: [number, number][] };

export type SocketState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | {
      kind: 'waiting';
      attempt: number;
      retryAt: number;
      /** Attempts in a row that never opened. */
      refused: number;
      /** Whether a connection of this socket ever opened (WebSocket gets through). */
      everOpened: boolean;
      /** The last connection was closed by jenky stopping or restarting (1001, 1012). */
      restarting: boolean;
    }
  | { kind: 'done' }
  | { kind: 'stopped'; reason: string };

export interface LogSocketHandlers {
  onRun?(run: Run): void;
  onLog(chunk: LogChunk): void;
  onStatus?(run: Run): void;
  onState?(state: SocketState): void;
  /**
   * Called after a connection attempt that never opened: a chance to find out
   * over HTTP whether retrying makes sense. Return a reason to stop for good.
   */
  probe?(): Promise<string | null>;
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
/** Close codes of a server that is going away or restarting, not refusing. */
export const RESTART_CODES = new Set([1001, 1012]);
const PING_MS = 20000;
const SILENCE_MS = 50000;

export function backoffDelay(attempt: number, random = Math.random): number {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.8 + 0.4 * random()));
}

type SocketFactory = (url: string) => WebSocket;

export class LogSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessage = 0;
  /** Connection attempts in a row that never opened. */
  private refused = 0;
  /** Identifies the current wait between attempts, so a stale one does nothing. */
  private wait = 0;
  private finished = false;
  private closed = false;
  private everOpened = false;
  private restarting = false;
  /** Next byte expected, per run (a project stream moves from run to run). */
  private readonly offsets = new Map<number, number>();
  private currentRun: number | null = null;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  /**
   * `path` is /ws/v1/runs/{id}/log (resumable at a byte offset) or
   * /ws/v1/projects/{name}/log, a run's path may carry a query (?host=NAME).
   * `runId`/`offset` say where a run stream starts.
   */
  constructor(
    private readonly path: string,
    private readonly handlers: LogSocketHandlers,
    runId: number | null = null,
    offset = 0,
    private readonly factory: SocketFactory = (url) => new WebSocket(url),
  ) {
    if (runId !== null) {
      this.currentRun = runId;
      this.offsets.set(runId, offset);
    }
    this.connect();
  }

  /** Stops for good (page left). */
  close(): void {
    this.closed = true;
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  /** Skips the wait of the current backoff. */
  retryNow(): void {
    if (this.closed || this.finished || this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wait++;
    this.connect();
  }

  private url(): string {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let q = '';
    if (this.path.startsWith('/ws/v1/runs/') && this.currentRun !== null) {
      const off = this.offsets.get(this.currentRun) ?? 0;
      if (off > 0) q = `${this.path.includes('?') ? '&' : '?'}offset=${off}`;
    }
    return `${proto}//${location.host}${this.path}${q}`;
  }

  private connect(): void {
    if (this.closed) return;
    this.handlers.onState?.({ kind: 'connecting', attempt: this.attempt });
    let opened = false;
    let ws: WebSocket;
    try {
      ws = this.factory(this.url());
    } catch {
      this.scheduleRetry(false);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.everOpened = true;
      this.restarting = false;
      this.refused = 0;
      this.lastMessage = Date.now();
      this.handlers.onState?.({ kind: 'open' });
      this.pingTimer = setInterval(() => this.keepAlive(), PING_MS);
    };
    ws.onmessage = (ev: MessageEvent) => {
      this.lastMessage = Date.now();
      if (typeof ev.data !== 'string') return;
      let msg: Message;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.attempt = 0; // the server is answering: the next failure starts the backoff afresh
      this.handle(msg);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (opened) this.restarting = RESTART_CODES.has(ev?.code);
      this.clearTimers();
      if (this.closed) return;
      if (this.finished) {
        // The run is over and we have its final status: nothing more to wait for.
        this.handlers.onState?.({ kind: 'done' });
        return;
      }
      this.scheduleRetry(opened);
    };
  }

  private handle(msg: Message): void {
    switch (msg.type) {
      case 'run': {
        const run = msg.run as Run | null;
        if (!run) return; // a project stream of a project without runs yet
        this.currentRun = run.id;
        if (!this.offsets.has(run.id)) this.offsets.set(run.id, 0);
        this.finished = false;
        this.handlers.onRun?.(run);
        break;
      }
      case 'log': {
        const runId = typeof msg.run === 'number' ? msg.run : this.currentRun;
        if (runId === null || typeof msg.offset !== 'number' || typeof msg.next !== 'number') return;
        const expected = this.offsets.get(runId) ?? 0;
        let { offset, data } = msg;
        const next = msg.next;
        data = data ?? '';
        if (next <= expected) return; // already have these bytes
        if (offset > expected) {
          // A gap (should not happen): ask again from the byte we need.
          this.reconnectNow();
          return;
        }
        if (offset < expected) {
          const bytes = this.encoder.encode(data);
          data = this.decoder.decode(bytes.subarray(expected - offset));
          offset = expected;
        }
        this.offsets.set(runId, next);
        const times = Array.isArray(msg.times) ? msg.times : undefined;
        this.handlers.onLog({ run: runId, offset, next, data, line: typeof msg.line === 'number' ? msg.line : undefined, times });
        break;
      }
      case 'status': {
        const run = msg.run as Run;
        if (run && FINISHED.has(run.status) && (this.currentRun === null || run.id === this.currentRun)) {
          // For a run stream this is the end; a project stream goes on to the next run.
          if (this.path.startsWith('/ws/v1/runs/')) this.finished = true;
        }
        this.handlers.onStatus?.(run);
        break;
      }
      default:
        break; // pong and anything newer
    }
  }

  private keepAlive(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastMessage > SILENCE_MS) {
      // No pong for a long time: the connection is dead without having closed.
      this.reconnectNow();
      return;
    }
    try {
      ws.send('ping');
    } catch {
      /* onclose follows */
    }
  }

  private reconnectNow(): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    try {
      ws.close(4000);
    } catch {
      /* gone */
    }
    this.clearTimers();
    this.scheduleRetry(true);
  }

  private scheduleRetry(wasOpen: boolean): void {
    if (this.closed) return;
    const attempt = this.attempt++;
    if (!wasOpen) this.refused++;
    const delay = wasOpen && attempt === 0 ? 250 : backoffDelay(attempt);
    const retryAt = Date.now() + delay;
    this.handlers.onState?.({
      kind: 'waiting',
      attempt: this.attempt,
      retryAt,
      refused: this.refused,
      everOpened: this.everOpened,
      restarting: this.restarting,
    });
    const wait = ++this.wait;
    const go = () => {
      if (wait !== this.wait || this.closed || this.ws) return;
      this.timer = null;
      this.connect();
    };
    if (!wasOpen && this.handlers.probe) {
      // The upgrade was refused or the server is down: ask over HTTP why.
      this.handlers
        .probe()
        .then((reason) => {
          if (this.closed || wait !== this.wait) return;
          if (reason) {
            this.closed = true;
            this.handlers.onState?.({ kind: 'stopped', reason });
            return;
          }
          this.timer = setTimeout(go, Math.max(0, retryAt - Date.now()));
        })
        .catch(() => {
          if (!this.closed) this.timer = setTimeout(go, Math.max(0, retryAt - Date.now()));
        });
      return;
    }
    this.timer = setTimeout(go, delay);
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  /** The next byte expected of a run. */
  offsetOf(run: number): number {
    return this.offsets.get(run) ?? 0;
  }
}
