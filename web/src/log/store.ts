// The log line store: a run's log as lines, appended to in chunks of any size
// (a chunk may end in the middle of a line or of an escape sequence).
//
// Sized for 100,000+ lines and 10+ MB: each line is one string (a slice of the
// chunk it came in), and per-line facts live in typed arrays: the id of the
// ANSI style in force where the line starts (so any line renders on its own,
// without parsing the lines above it) and when its first byte arrived.
//
// Times are unix milliseconds. The server records when each line's first byte
// was captured (log.times, sent as [line, ms] records: a record holds for its
// line and the lines after it up to the next record); lines the server has
// said nothing about yet fall back to when they reached the page.

import { PLAIN, endStyle, lineWidth, styleKey, visibleText, type Style } from './ansi';

/** Interns styles so a line's start style is a small integer. */
export class StyleTable {
  private readonly list: Style[] = [PLAIN];
  private readonly ids = new Map<string, number>([[styleKey(PLAIN), 0]]);

  id(s: Style): number {
    if (s === PLAIN) return 0;
    const key = styleKey(s);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(s);
      this.ids.set(key, id);
    }
    return id;
  }

  get(id: number): Style {
    return this.list[id] ?? PLAIN;
  }

  get size(): number {
    return this.list.length;
  }
}

/** Lines wider than this are cut when rendered (the raw download has them whole). */
export const MAX_RENDERED_COLUMNS = 10000;

export const UNKNOWN_TIME = -1;

export interface SearchMatch {
  line: number; // 0-based
  start: number; // in the line's visible text
  end: number;
}

export class LineStore {
  private lines: string[] = [];
  /** The line being written (no newline yet); a line of the log when non-empty. */
  private open = '';
  private openTime = UNKNOWN_TIME;
  private openStyle = 0;
  private startStyles = new Uint32Array(1024);
  private times = new Float64Array(1024);
  /** The server's time records, sorted by line, and the last line they cover. */
  private recLines: number[] = [];
  private recTimes: number[] = [];
  private covered = -1;
  readonly styles = new StyleTable();
  /** Widest line seen, in columns (capped at MAX_RENDERED_COLUMNS). */
  maxWidth = 0;
  /** Characters appended in total. */
  chars = 0;
  /** Bumped on every change; views compare it to know whether to redraw. */
  version = 0;
  /** Index of the lowest line changed since the last takeChanges(). */
  private changedFrom = Infinity;

  /** Lines in the log, counting a last line that has no newline yet. */
  get length(): number {
    return this.lines.length + (this.open.length > 0 ? 1 : 0);
  }

  /** Lines that ended with a newline. */
  get completeLines(): number {
    return this.lines.length;
  }

  /** Raw text of line i (0-based), escapes included, without its newline. */
  line(i: number): string {
    return i < this.lines.length ? this.lines[i] : i === this.lines.length ? this.open : '';
  }

  /** Style in force at the start of line i. */
  startStyle(i: number): Style {
    return this.styles.get(i < this.lines.length ? this.startStyles[i] : this.openStyle);
  }

  /** When line i's first byte was captured (unix ms), or UNKNOWN_TIME. */
  time(i: number): number {
    if (i <= this.covered && this.recLines.length > 0 && i >= this.recLines[0]) {
      let lo = 0;
      let hi = this.recLines.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.recLines[mid] <= i) lo = mid;
        else hi = mid - 1;
      }
      return this.recTimes[lo];
    }
    return i < this.lines.length ? this.times[i] : i === this.lines.length ? this.openTime : UNKNOWN_TIME;
  }

  /** Whether the server has given times for the lines so far. */
  get hasServerTimes(): boolean {
    return this.recLines.length > 0;
  }

  /**
   * Adds the server's time records ([line, unix ms], see above), which cover
   * the lines up to `coveredTo`.
   */
  addTimes(records: [number, number][], coveredTo: number): void {
    let lowest = Infinity;
    for (const [line, ms] of records) {
      if (!Number.isFinite(line) || !Number.isFinite(ms)) continue;
      const n = this.recLines.length;
      if (n === 0 || line > this.recLines[n - 1]) {
        this.recLines.push(line);
        this.recTimes.push(ms);
      } else {
        // Out of order (a time fetch after the stream's records): insert in place.
        let at = 0;
        while (at < n && this.recLines[at] < line) at++;
        if (this.recLines[at] === line) this.recTimes[at] = ms;
        else {
          this.recLines.splice(at, 0, line);
          this.recTimes.splice(at, 0, ms);
        }
      }
      lowest = Math.min(lowest, line);
    }
    const before = this.covered;
    this.covered = Math.max(this.covered, coveredTo);
    if (lowest < Infinity || this.covered > before) {
      this.version++;
      this.changedFrom = Math.min(this.changedFrom, lowest, before + 1);
    }
  }

  /** True if line i is the last one and may still grow. */
  isOpen(i: number): boolean {
    return i === this.lines.length;
  }

  /**
   * Appends a chunk of the log. `time` is when it arrived (unix ms), or
   * UNKNOWN_TIME for history (whose arrival says nothing about when the
   * script wrote it).
   */
  append(chunk: string, time: number = UNKNOWN_TIME): void {
    if (chunk.length === 0) return;
    this.chars += chunk.length;
    this.version++;
    this.changedFrom = Math.min(this.changedFrom, this.lines.length);
    let from = 0;
    if (this.open.length === 0) this.openTime = time;
    for (;;) {
      const nl = chunk.indexOf('\n', from);
      if (nl < 0) break;
      const piece = chunk.slice(from, nl);
      const text = this.open.length > 0 ? this.open + piece : piece;
      this.pushLine(text, this.openTime, this.openStyle);
      this.open = '';
      this.openTime = time;
      from = nl + 1;
    }
    if (from < chunk.length) {
      const rest = from === 0 ? chunk : chunk.slice(from);
      this.open = this.open.length > 0 ? this.open + rest : rest;
      this.noteWidth(this.open);
    }
  }

  private pushLine(text: string, time: number, styleId: number): void {
    const i = this.lines.length;
    if (i >= this.startStyles.length) this.grow();
    this.lines.push(text);
    this.startStyles[i] = styleId;
    this.times[i] = time;
    this.noteWidth(text);
    const start = this.styles.get(styleId);
    const end = endStyle(text, start);
    this.openStyle = end === start ? styleId : this.styles.id(end);
  }

  private noteWidth(text: string): void {
    if (text.length <= this.maxWidth) return; // a line is never wider than its length
    this.maxWidth = Math.min(MAX_RENDERED_COLUMNS, Math.max(this.maxWidth, lineWidth(text)));
  }

  private grow(): void {
    const n = this.startStyles.length * 2;
    const s = new Uint32Array(n);
    s.set(this.startStyles);
    this.startStyles = s;
    const t = new Float64Array(n);
    t.set(this.times);
    this.times = t;
  }

  /** Returns the lowest line changed since the last call (Infinity if none) and resets it. */
  takeChanges(): number {
    const c = this.changedFrom;
    this.changedFrom = Infinity;
    return c;
  }

  clear(): void {
    this.lines = [];
    this.open = '';
    this.openTime = UNKNOWN_TIME;
    this.openStyle = 0;
    this.startStyles = new Uint32Array(1024);
    this.times = new Float64Array(1024);
    this.recLines = [];
    this.recTimes = [];
    this.covered = -1;
    this.maxWidth = 0;
    this.chars = 0;
    this.version++;
    this.changedFrom = 0;
  }

  /** The text line i shows (escapes removed, carriage returns applied). */
  visible(i: number): string {
    return visibleText(this.line(i));
  }

  /**
   * Finds `query` in the visible text of every line (case-insensitive unless
   * the query has a capital letter), up to `limit` matches, in lines from
   * `fromLine` on (a live log searches only what arrived since its last look).
   */
  search(query: string, limit = 100000, fromLine = 0): SearchMatch[] {
    const out: SearchMatch[] = [];
    if (!query) return out;
    const fold = query === query.toLowerCase();
    const q = query;
    const n = this.length;
    for (let i = Math.max(0, fromLine); i < n && out.length < limit; i++) {
      const raw = this.line(i);
      let text = raw;
      const plain = raw.indexOf('\x1b') < 0 && raw.indexOf('\r') < 0;
      if (!plain) text = visibleText(raw);
      if (fold) text = text.toLowerCase();
      let at = text.indexOf(q);
      while (at >= 0 && out.length < limit) {
        out.push({ line: i, start: at, end: at + q.length });
        at = text.indexOf(q, at + Math.max(1, q.length));
      }
    }
    return out;
  }
}
