// Sections of a log: the lines between `::group::NAME` and `::endgroup::`
// (GitHub Actions' workflow commands) or between GitLab's
// `\e[0Ksection_start:TS:NAME[collapsed=true]\r\e[0KHeader` and
// `\e[0Ksection_end:TS:NAME\r\e[0K` fold under one header line.
//
// The markers are metadata, not output: the start marker's line becomes the
// section's header (its name, duration and status), the end marker's line is
// never shown. Sections nest (GitLab's do; a `::group::` inside a group
// nests too); `::endgroup::` ends the innermost group, `section_end:…:NAME`
// the section of that name and any still open inside it.
//
// Scanned incrementally, line by line as complete lines arrive: a 100,000-line
// log costs one pass, with a cheap test before any regular expression.
// A section's status: `running` while it is open on a live run, `failed` if
// the run ended unsuccessfully while it was open (the failing section), else
// `done`. Closed sections start folded; running and failing ones open (until
// the user folds or opens one: then that choice stands).

import { visibleText } from './ansi';
import { UNKNOWN_TIME, type LineStore } from './store';

export type SectionStatus = 'running' | 'done' | 'failed';

export interface Section {
  index: number;
  name: string;
  /** What the header shows: the group's name or GitLab's header text. */
  title: string;
  /** Line of the start marker (the header), 0-based. */
  start: number;
  /** Line of the end marker, or -1 while open. */
  end: number;
  parent: number;
  depth: number;
  kind: 'group' | 'gitlab';
  /** GitLab's marker times (unix ms), used where lines have no times. */
  markStart: number;
  markEnd: number;
  collapsed: boolean;
  /** The user folded or opened it: automatic changes leave it alone. */
  userSet: boolean;
  /** Lines in it that look like errors. */
  errors: number;
}

const NORMAL = 0;
const HEADER = 1;
const END = 2;

const GROUP_RE = /^\s*::group::(.*)$/;
const ENDGROUP_RE = /^\s*::endgroup::\s*$/;
const GL_START_RE = /section_start:(\d+):([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\r(?:\x1b\[0?K)?(.*)$/;
const GL_END_RE = /section_end:(\d+):([A-Za-z0-9_.\-]+)/;
/** A line that reports an error: `::error::…`, `error:`, `ERROR `, `fatal:`, `[error]`. */
const ERROR_RE = /^\s*::error\b|(^|[^\w-])(error|fatal)(:|\]|\s|$)/i;

/** Removes ANSI escapes (GitLab's markers start with ESC [ 0 K). */
function stripEscapes(s: string): string {
  return s.indexOf('\x1b') < 0 ? s : s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

export class Sections {
  readonly list: Section[] = [];
  private kinds = new Uint8Array(1024);
  /** Innermost section a line belongs to (its own for a header), or -1. */
  private owners = new Int32Array(1024).fill(-1);
  private scanned = 0;
  private open: number[] = [];
  private runStatus = 'running';
  /** Lowest line whose visibility changed since the last takeChanges(). */
  private changedFrom = Infinity;
  /** First line that looks like an error, or -1. */
  firstError = -1;
  /** Bumped on every change of what a header shows. */
  version = 0;

  constructor(private readonly store: LineStore) {}

  get count(): number {
    return this.list.length;
  }

  /** Reads the lines completed since the last call. */
  update(): void {
    const store = this.store;
    const n = store.completeLines;
    if (n > this.kinds.length) this.grow(n);
    for (let i = this.scanned; i < n; i++) this.scanLine(i, store.line(i));
    this.scanned = Math.max(this.scanned, n);
  }

  private grow(n: number): void {
    let size = this.kinds.length;
    while (size < n) size *= 2;
    const k = new Uint8Array(size);
    k.set(this.kinds);
    this.kinds = k;
    const o = new Int32Array(size).fill(-1);
    o.set(this.owners);
    this.owners = o;
  }

  private scanLine(i: number, raw: string): void {
    const inner = this.open.length ? this.open[this.open.length - 1] : -1;
    this.owners[i] = inner;
    this.kinds[i] = NORMAL;
    const maybeGroup = raw.indexOf('::') >= 0;
    const maybeGitlab = raw.indexOf('section_') >= 0;
    if (maybeGroup || maybeGitlab) {
      const plain = maybeGroup ? stripEscapes(raw) : '';
      let m: RegExpExecArray | null;
      if (maybeGroup && (m = GROUP_RE.exec(plain))) {
        const name = m[1].trim() || 'Group';
        this.begin(i, name, name, 'group', UNKNOWN_TIME, false);
        return;
      }
      if (maybeGroup && ENDGROUP_RE.test(plain)) {
        const at = this.lastOpen((s) => s.kind === 'group');
        if (at >= 0) {
          this.finish(at, i, UNKNOWN_TIME);
          return;
        }
      }
      if (maybeGitlab && (m = GL_START_RE.exec(raw))) {
        const title = visibleText(m[4]).trim() || m[2];
        this.begin(i, m[2], title, 'gitlab', Number(m[1]) * 1000, /collapsed=true/.test(m[3] ?? ''));
        return;
      }
      if (maybeGitlab && (m = GL_END_RE.exec(stripEscapes(raw).replace(/\r.*$/, '')))) {
        const name = m[2];
        const at = this.lastOpen((s) => s.kind === 'gitlab' && s.name === name);
        if (at >= 0) {
          this.finish(at, i, Number(m[1]) * 1000);
          return;
        }
      }
    }
    if (/error|fatal/i.test(raw) && ERROR_RE.test(visibleText(raw))) {
      if (this.firstError < 0) this.firstError = i;
      for (let s = inner; s >= 0; s = this.list[s].parent) this.list[s].errors++;
    }
  }

  private lastOpen(pred: (s: Section) => boolean): number {
    for (let k = this.open.length - 1; k >= 0; k--) {
      if (pred(this.list[this.open[k]])) return k;
    }
    return -1;
  }

  private begin(i: number, name: string, title: string, kind: Section['kind'], mark: number, collapsed: boolean): void {
    const parent = this.open.length ? this.open[this.open.length - 1] : -1;
    const index = this.list.length;
    this.list.push({
      index,
      name,
      title,
      start: i,
      end: -1,
      parent,
      depth: parent >= 0 ? this.list[parent].depth + 1 : 0,
      kind,
      markStart: mark,
      markEnd: UNKNOWN_TIME,
      // An open section shows its lines (unless GitLab's [collapsed=true] says otherwise).
      collapsed,
      userSet: collapsed,
      errors: 0,
    });
    this.kinds[i] = HEADER;
    this.owners[i] = index;
    this.open.push(index);
    this.note(i);
  }

  /** Ends the open section at open-stack position K (and those inside it) at line I. */
  private finish(k: number, i: number, mark: number): void {
    this.kinds[i] = END;
    while (this.open.length > k) {
      const s = this.list[this.open.pop()!];
      s.end = i;
      s.markEnd = mark;
      if (!s.userSet) s.collapsed = true;
      this.note(s.start);
    }
  }

  private note(line: number): void {
    this.changedFrom = Math.min(this.changedFrom, line);
    this.version++;
  }

  /** The run's status: open sections of an unsuccessful run are the failing ones, and open. */
  setRunStatus(status: string): void {
    if (status === this.runStatus) return;
    this.runStatus = status;
    for (const s of this.list) {
      if (s.end < 0 && !s.userSet) s.collapsed = false;
    }
    this.note(0);
  }

  status(s: Section): SectionStatus {
    if (s.end >= 0) return 'done';
    if (this.runStatus === 'running' || this.runStatus === 'queued') return 'running';
    return this.runStatus === 'succeeded' ? 'done' : 'failed';
  }

  /** The innermost failing section, or null. */
  failing(): Section | null {
    for (let k = this.open.length - 1; k >= 0; k--) {
      const s = this.list[this.open[k]];
      if (this.status(s) === 'failed') return s;
    }
    return null;
  }

  /** How long a section took (ms) or has taken so far, or null if unknown. */
  duration(s: Section, now: number): number | null {
    const t0 = this.store.time(s.start) !== UNKNOWN_TIME ? this.store.time(s.start) : s.markStart;
    if (t0 === UNKNOWN_TIME) return null;
    let t1: number;
    if (s.end >= 0) t1 = this.store.time(s.end) !== UNKNOWN_TIME ? this.store.time(s.end) : s.markEnd;
    else if (this.status(s) === 'running') t1 = now;
    else t1 = this.store.time(this.store.length - 1);
    return t1 === UNKNOWN_TIME ? null : Math.max(0, t1 - t0);
  }

  /** The section whose header line I is, or null. */
  headerAt(i: number): Section | null {
    return i < this.scanned && this.kinds[i] === HEADER ? this.list[this.owners[i]] : null;
  }

  /** Whether line I is not shown: an end marker, or inside a folded section. */
  hidden(i: number): boolean {
    if (i >= this.scanned) {
      // Not scanned yet (the open line): inside whatever is open.
      const inner = this.open.length ? this.open[this.open.length - 1] : -1;
      return this.folded(inner);
    }
    if (this.kinds[i] === END) return true;
    const own = this.owners[i];
    if (own < 0) return false;
    return this.folded(this.kinds[i] === HEADER ? this.list[own].parent : own);
  }

  private folded(s: number): boolean {
    for (; s >= 0; s = this.list[s].parent) {
      if (this.list[s].collapsed) return true;
    }
    return false;
  }

  setCollapsed(s: Section, collapsed: boolean): void {
    s.userSet = true;
    if (s.collapsed === collapsed) return;
    s.collapsed = collapsed;
    this.note(s.start);
  }

  /** Folds (true) or opens every section. */
  setAll(collapsed: boolean): void {
    for (const s of this.list) {
      s.userSet = true;
      s.collapsed = collapsed;
    }
    this.note(0);
  }

  /** Whether every section is open. */
  get allOpen(): boolean {
    return this.list.every((s) => !s.collapsed);
  }

  /** Opens every section around line I, so that it shows. */
  reveal(i: number): void {
    if (i >= this.scanned) return;
    let s = this.kinds[i] === HEADER ? this.list[this.owners[i]].parent : this.owners[i];
    for (; s >= 0; s = this.list[s].parent) {
      if (this.list[s].collapsed) this.setCollapsed(this.list[s], false);
    }
  }

  /** Lowest line whose visibility changed since the last call (Infinity if none). */
  takeChanges(): number {
    const c = this.changedFrom;
    this.changedFrom = Infinity;
    return c;
  }
}
