import { describe, expect, it } from 'vitest';
import { BOLD } from './ansi';
import { LineStore, MAX_RENDERED_COLUMNS, UNKNOWN_TIME } from './store';

const E = '\x1b';

function lines(s: LineStore): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.line(i));
  return out;
}

describe('LineStore', () => {
  it('splits chunks into lines, keeping the open last line', () => {
    const s = new LineStore();
    s.append('one\ntw');
    expect(lines(s)).toEqual(['one', 'tw']);
    expect(s.isOpen(1)).toBe(true);
    s.append('o\nthree\n');
    expect(lines(s)).toEqual(['one', 'two', 'three']);
    expect(s.length).toBe(3);
    expect(s.completeLines).toBe(3);
    s.append('\n');
    expect(lines(s)).toEqual(['one', 'two', 'three', '']);
  });

  it('gives the same lines whatever the chunking', () => {
    const text = `a${E}[31mb\nc\r\nd${E}[0m\n\nlast`;
    const whole = new LineStore();
    whole.append(text);
    for (let cut = 0; cut <= text.length; cut++) {
      const s = new LineStore();
      s.append(text.slice(0, cut));
      s.append(text.slice(cut));
      expect(lines(s), `cut at ${cut}`).toEqual(lines(whole));
      for (let i = 0; i < s.length; i++) expect(s.startStyle(i)).toEqual(whole.startStyle(i));
    }
  });

  it('carries the ANSI style from line to line', () => {
    const s = new LineStore();
    s.append(`plain\n${E}[1;32mgreen\nstill green${E}[0m\nplain again\n`);
    expect(s.startStyle(0).fg).toBe(-1);
    expect(s.startStyle(1).fg).toBe(-1);
    expect(s.startStyle(2)).toMatchObject({ fg: 2, flags: BOLD });
    expect(s.startStyle(3).fg).toBe(-1);
    expect(s.styles.size).toBe(2);
  });

  it('handles an escape split across chunks at a line start', () => {
    const s = new LineStore();
    s.append(`x\n${E}[3`);
    s.append(`1mred\nnext\n`);
    expect(s.line(1)).toBe(`${E}[31mred`);
    expect(s.startStyle(2).fg).toBe(1);
  });

  it('records when each line arrived', () => {
    const s = new LineStore();
    s.append('history\nhis', UNKNOWN_TIME);
    s.append('tory continued\nlive', 1500);
    s.append(' line\nlater\n', 2500);
    expect(s.time(0)).toBe(UNKNOWN_TIME);
    expect(s.time(1)).toBe(UNKNOWN_TIME); // its first byte came with the history
    expect(s.time(2)).toBe(1500);
    expect(s.time(3)).toBe(2500);
  });

  it('tracks the widest line', () => {
    const s = new LineStore();
    s.append(`${E}[31m12345${E}[0m\n123\n`);
    expect(s.maxWidth).toBe(5);
    s.append('x'.repeat(MAX_RENDERED_COLUMNS * 2));
    expect(s.maxWidth).toBe(MAX_RENDERED_COLUMNS);
  });

  it('reports the lowest changed line', () => {
    const s = new LineStore();
    s.append('a\nb');
    expect(s.takeChanges()).toBe(0);
    expect(s.takeChanges()).toBe(Infinity);
    s.append('c\nd\n');
    expect(s.takeChanges()).toBe(1);
  });

  it('searches the visible text', () => {
    const s = new LineStore();
    s.append(`Error: one\n${E}[31mer${E}[1mror${E}[0m two\nfine\nprogress\rERROR three\n`);
    expect(s.search('error').map((m) => [m.line, m.start])).toEqual([
      [0, 0],
      [1, 0],
      [3, 0],
    ]);
    // A capital letter makes the search case-sensitive.
    expect(s.search('ERROR').map((m) => m.line)).toEqual([3]);
    expect(s.search('')).toEqual([]);
    expect(s.search('o', 2)).toHaveLength(2);
  });

  it('holds 100,000 lines / 10 MB quickly', () => {
    const s = new LineStore();
    const line = `${E}[32mok${E}[0m ` + 'x'.repeat(90) + '\n';
    let chunk = '';
    const t0 = performance.now();
    for (let i = 0; i < 100000; i++) {
      chunk += `${i} ${line}`;
      if (chunk.length > 65536) {
        s.append(chunk);
        chunk = '';
      }
    }
    s.append(chunk);
    const ms = performance.now() - t0;
    expect(s.length).toBe(100000);
    expect(s.chars).toBeGreaterThan(10_000_000);
    expect(s.line(99999).startsWith('99999 ')).toBe(true);
    expect(s.search('99999 ').length).toBe(1);
    expect(ms).toBeLessThan(5000);
  });
});

describe('LineStore server times', () => {
  it('gives each line the time of the record in force at it, over arrival times', () => {
    const s = new LineStore();
    s.append('a\nb\nc\nd\n', 999);
    s.addTimes([[0, 1000], [2, 3000]], 3);
    expect(s.time(0)).toBe(1000);
    expect(s.time(1)).toBe(1000);
    expect(s.time(2)).toBe(3000);
    expect(s.time(3)).toBe(3000);
    expect(s.hasServerTimes).toBe(true);
  });

  it('leaves lines the records do not cover yet to their arrival time', () => {
    const s = new LineStore();
    s.addTimes([[0, 1000]], 0);
    s.append('a\nb\n', 5000);
    expect(s.time(0)).toBe(1000);
    expect(s.time(1)).toBe(5000);
  });

  it('takes records that arrive out of order (a later fetch of older lines)', () => {
    const s = new LineStore();
    s.append('a\nb\nc\n');
    s.addTimes([[2, 3000]], 2);
    s.addTimes([[0, 1000], [1, 2000]], 2);
    expect([s.time(0), s.time(1), s.time(2)]).toEqual([1000, 2000, 3000]);
  });
});
