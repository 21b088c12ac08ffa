import { describe, expect, it } from 'vitest';
import { Sections } from './sections';
import { LineStore } from './store';

const E = '\x1b';

function load(text: string, status = 'running') {
  const store = new LineStore();
  store.append(text);
  const s = new Sections(store);
  s.setRunStatus(status);
  s.update();
  return { store, s };
}

describe('Sections', () => {
  it('folds ::group:: sections once they end and hides their markers', () => {
    const { s } = load('a\n::group::Build\nb\nc\n::endgroup::\nd\n');
    expect(s.count).toBe(1);
    const g = s.list[0];
    expect([g.name, g.start, g.end, g.collapsed]).toEqual(['Build', 1, 4, true]);
    expect(s.headerAt(1)).toBe(g);
    expect([0, 1, 2, 3, 4, 5].map((i) => s.hidden(i))).toEqual([false, false, true, true, true, false]);
    expect(s.status(g)).toBe('done');
    s.setCollapsed(g, false);
    expect([2, 3, 4].map((i) => s.hidden(i))).toEqual([false, false, true]); // the end marker never shows
  });

  it('reads GitLab section markers, their header text and [collapsed=true], and nests', () => {
    const text =
      `${E}[0Ksection_start:1700000000:outer\r${E}[0K${E}[1mOuter step${E}[0m\n` +
      `${E}[0Ksection_start:1700000001:inner[collapsed=true]\r${E}[0KInner\n` +
      'x\n' +
      `${E}[0Ksection_end:1700000003:inner\r${E}[0K\n` +
      `${E}[0Ksection_end:1700000005:outer\r${E}[0K\n`;
    const { s } = load(text, 'succeeded');
    expect(s.list.map((x) => [x.title, x.depth, x.parent, x.end])).toEqual([
      ['Outer step', 0, -1, 4],
      ['Inner', 1, 0, 3],
    ]);
    expect(s.duration(s.list[0], 0)).toBe(5000); // from GitLab's own timestamps (no line times)
    expect(s.list[1].collapsed).toBe(true);
  });

  it('keeps a section open and failed when the run fails inside it, and counts its errors', () => {
    const { s } = load('::group::Tests\nok\nerror: boom\nERROR something\nno errors here\n', 'failed');
    const g = s.list[0];
    expect(s.status(g)).toBe('failed');
    expect(g.collapsed).toBe(false);
    expect(g.errors).toBe(2);
    expect(s.firstError).toBe(2);
    expect(s.failing()).toBe(g);
  });

  it('opens the sections around a line that must show', () => {
    const { s } = load('::group::A\n::group::B\nhidden line\n::endgroup::\n::endgroup::\n', 'succeeded');
    expect(s.hidden(2)).toBe(true);
    s.reveal(2);
    expect(s.hidden(2)).toBe(false);
    expect(s.list.every((x) => !x.collapsed)).toBe(true);
  });
});
