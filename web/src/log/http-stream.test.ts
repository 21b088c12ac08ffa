import { describe, expect, it } from 'vitest';
import { HttpLogStream, incompleteTail } from './http-stream';
import type { LogChunk } from './socket';

const enc = new TextEncoder();

describe('incompleteTail', () => {
  it('finds an unfinished UTF-8 character at the end', () => {
    expect(incompleteTail(enc.encode('abc'))).toBe(0);
    const e = enc.encode('é'); // 2 bytes
    expect(incompleteTail(e)).toBe(0);
    expect(incompleteTail(e.subarray(0, 1))).toBe(1);
    const euro = enc.encode('x€'); // 1 + 3 bytes
    expect(incompleteTail(euro.subarray(0, 2))).toBe(1);
    expect(incompleteTail(euro.subarray(0, 3))).toBe(2);
    expect(incompleteTail(euro)).toBe(0);
    const emoji = enc.encode('🙂'); // 4 bytes
    expect(incompleteTail(emoji.subarray(0, 3))).toBe(3);
    expect(incompleteTail(emoji)).toBe(0);
  });
});

describe('HttpLogStream', () => {
  it('streams chunks, holds split characters and resumes at the right byte', async () => {
    const bytes = enc.encode('héllo €uro\n');
    const requests: string[] = [];
    let call = 0;
    const fakeFetch = (async (url: string) => {
      requests.push(url);
      call++;
      if (call === 1) {
        // First connection: ends mid-stream after a split "é" and half of "€".
        const parts = [bytes.slice(0, 2), bytes.slice(2, 9)]; // "h" + half of "é"; the rest of it, "llo ", 2/3 of "€"
        const body = new ReadableStream({
          pull(c) {
            const next = parts.shift();
            if (next) c.enqueue(next);
            else c.error(new TypeError('network'));
          },
        });
        return new Response(body, { status: 200 });
      }
      const from = Number(/offset=(\d+)/.exec(url)![1]);
      return new Response(bytes.slice(from), { status: 200 });
    }) as unknown as typeof fetch;
    const chunks: LogChunk[] = [];
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    new HttpLogStream(3, 0, {
      onLog: (c) => chunks.push(c),
      onEnd: async () => {
        ended();
        return true;
      },
    }, fakeFetch);
    await done;
    expect(chunks.map((c) => c.data).join('')).toBe('héllo €uro\n');
    expect(requests[0]).toBe('/api/v1/runs/3/log?offset=0&follow=1');
    expect(requests[1]).toBe('/api/v1/runs/3/log?offset=7&follow=1'); // after "héllo " (7 bytes)
    expect(chunks.slice(0, 2).map((c) => c.data)).toEqual(['h', 'éllo ']);
    expect(chunks[chunks.length - 1].next).toBe(bytes.length);
  });
});
