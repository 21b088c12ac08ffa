import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogSocket, backoffDelay, type LogChunk, type SocketState } from './socket';

/** A stand-in for the browser's WebSocket that the test drives. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closedWith: number | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  msg(m: unknown) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  send(s: string) {
    this.sent.push(s);
  }
  close(code: number) {
    this.closedWith = code;
    this.readyState = 3;
  }
}

const run = (status: string, log_bytes = 0) => ({ id: 7, project: 'p', status, log_bytes });

function setup(path = '/ws/v1/runs/7/log') {
  const chunks: LogChunk[] = [];
  const states: SocketState[] = [];
  const statuses: string[] = [];
  const sock = new LogSocket(
    path,
    {
      onLog: (c) => chunks.push(c),
      onState: (s) => states.push(s),
      onStatus: (r) => statuses.push(r.status),
    },
    7,
    0,
    (url) => new FakeSocket(url) as unknown as WebSocket,
  );
  return { sock, chunks, states, statuses, last: () => FakeSocket.all[FakeSocket.all.length - 1] };
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
  vi.stubGlobal('location', { protocol: 'http:', host: '127.0.0.1:8080' });
  vi.stubGlobal('WebSocket', { OPEN: 1 });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('LogSocket', () => {
  it('connects to the run stream and passes log chunks on', () => {
    const { chunks, last } = setup();
    expect(last().url).toBe('ws://127.0.0.1:8080/ws/v1/runs/7/log');
    last().open();
    last().msg({ type: 'run', run: run('running') });
    last().msg({ type: 'log', run: 7, offset: 0, next: 6, data: 'hello\n' });
    last().msg({ type: 'log', run: 7, offset: 6, next: 12, data: 'world\n' });
    expect(chunks.map((c) => c.data).join('')).toBe('hello\nworld\n');
  });

  it('resumes a fleet host’s log with its host kept in the query', () => {
    const { last } = setup('/ws/v1/runs/7/log?host=web1');
    expect(last().url).toBe('ws://127.0.0.1:8080/ws/v1/runs/7/log?host=web1');
    last().open();
    last().msg({ type: 'log', run: 7, host: 'web1', offset: 0, next: 6, data: 'hello\n' });
    last().drop();
    vi.advanceTimersByTime(300);
    expect(last().url).toBe('ws://127.0.0.1:8080/ws/v1/runs/7/log?host=web1&offset=6');
  });

  it('reconnects with backoff and resumes at the last offset', () => {
    const { chunks, states, last } = setup();
    last().open();
    last().msg({ type: 'log', run: 7, offset: 0, next: 6, data: 'hello\n' });
    last().drop();
    expect(states[states.length - 1].kind).toBe('waiting');
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(300);
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().url).toBe('ws://127.0.0.1:8080/ws/v1/runs/7/log?offset=6');
    // The server is still down: each failure waits longer.
    last().drop();
    vi.advanceTimersByTime(400);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(3);
    last().open();
    last().msg({ type: 'log', run: 7, offset: 6, next: 12, data: 'again\n' });
    expect(chunks.map((c) => c.data).join('')).toBe('hello\nagain\n');
  });

  it('drops bytes it already has and trims an overlap', () => {
    const { chunks, last } = setup();
    last().open();
    last().msg({ type: 'log', run: 7, offset: 0, next: 4, data: 'abcd' });
    last().msg({ type: 'log', run: 7, offset: 0, next: 4, data: 'abcd' });
    last().msg({ type: 'log', run: 7, offset: 2, next: 8, data: 'cdé!' }); // é is 2 bytes
    expect(chunks.map((c) => c.data)).toEqual(['abcd', 'é!']);
    expect(chunks[1]).toMatchObject({ offset: 4, next: 8 });
  });

  it('reconnects from the byte it needs after a gap', () => {
    const { chunks, last } = setup();
    last().open();
    last().msg({ type: 'log', run: 7, offset: 0, next: 4, data: 'abcd' });
    last().msg({ type: 'log', run: 7, offset: 10, next: 12, data: 'zz' });
    expect(chunks).toHaveLength(1);
    vi.advanceTimersByTime(300);
    expect(last().url).toMatch(/\?offset=4$/);
  });

  it('stops after the final status of a finished run', () => {
    const { states, statuses, last } = setup();
    last().open();
    last().msg({ type: 'status', run: run('succeeded', 4) });
    last().drop(1000);
    expect(statuses).toEqual(['succeeded']);
    expect(states[states.length - 1].kind).toBe('done');
    vi.advanceTimersByTime(60000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('pings every 20 s and reconnects a connection that went silent', () => {
    const { last } = setup();
    last().open();
    vi.advanceTimersByTime(20000);
    expect(last().sent).toEqual(['ping']);
    last().msg({ type: 'pong' });
    vi.advanceTimersByTime(20000);
    expect(last().sent).toEqual(['ping', 'ping']);
    // No answer for more than 50 s: a new connection.
    vi.advanceTimersByTime(40000);
    expect(FakeSocket.all[0].closedWith).toBe(4000);
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('gives up when the probe says the run is gone', async () => {
    const states: SocketState[] = [];
    new LogSocket(
      '/ws/v1/runs/9/log',
      { onLog: () => {}, onState: (s) => states.push(s), probe: async () => 'There is no run #9.' },
      9,
      0,
      (url) => new FakeSocket(url) as unknown as WebSocket,
    );
    FakeSocket.all[0].drop();
    await vi.runAllTimersAsync();
    expect(states[states.length - 1]).toEqual({ kind: 'stopped', reason: 'There is no run #9.' });
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('says a connection closed by a restarting jenky (1012, 1001) is a restart, not a refusal', () => {
    const { states, last } = setup();
    last().open();
    last().drop(1012);
    const waiting = states.filter((s) => s.kind === 'waiting');
    expect(waiting[waiting.length - 1]).toMatchObject({ everOpened: true, restarting: true, refused: 0 });
    // While it is down, the refused attempts still come with both facts.
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(20000);
      last().drop();
    }
    const later = states.filter((s) => s.kind === 'waiting');
    expect(later[later.length - 1]).toMatchObject({ everOpened: true, restarting: true, refused: 4 });
    vi.advanceTimersByTime(20000);
    last().open();
    last().drop(1006);
    const after = states.filter((s) => s.kind === 'waiting');
    expect(after[after.length - 1]).toMatchObject({ everOpened: true, restarting: false, refused: 0 });
  });

  it('reports attempts that never opened as refusals of a socket that never worked', () => {
    const { states, last } = setup();
    last().drop();
    vi.advanceTimersByTime(2000);
    last().drop();
    const waiting = states.filter((s) => s.kind === 'waiting');
    expect(waiting[waiting.length - 1]).toMatchObject({ everOpened: false, restarting: false, refused: 2 });
  });

  it('close() stops everything', () => {
    const { sock, last } = setup();
    last().open();
    sock.close();
    expect(last().closedWith).toBe(1000);
    vi.advanceTimersByTime(60000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});

describe('backoffDelay', () => {
  it('grows to 15 s, with jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(3, () => 0.5)).toBe(4000);
    expect(backoffDelay(20, () => 0.5)).toBe(15000);
    expect(backoffDelay(20, () => 0)).toBe(12000);
    expect(backoffDelay(20, () => 1)).toBe(18000);
  });
});
