// The virtualized log view: only the lines in (and just around) the viewport
// are in the DOM, each absolutely placed in a spacer as tall as the whole log.
// Rows are fixed-height (long lines scroll sideways), which keeps a
// 100,000-line log as cheap to scroll as a 100-line one. With wrapping on, a
// line takes as many rows as its width needs at the view's width (monospace:
// computed, not measured), kept as prefix sums so placing a line or finding
// the one at a scroll position stays O(1) / O(log n).
//
// Sections (sections.ts): a folded section's lines take no rows, so with any
// section in the log lines are placed by the same prefix sums as wrapping
// (a line's rows are 0 while hidden); a section's header row is a disclosure
// button in place of the marker's text.
//
// Following: while the view is scrolled to the bottom it stays there as lines
// arrive; scrolling up (wheel, keys, scrollbar, touch) stops that, and
// follow() resumes it.

import { h } from '../dom';
import { formatClock, formatDuration, formatOffset } from '../format';
import { lineWidth, parseLine, styleCss, type Segment } from './ansi';
import type { Section, SectionStatus, Sections } from './sections';
import { MAX_RENDERED_COLUMNS, UNKNOWN_TIME, type LineStore, type SearchMatch } from './store';

const OVERSCAN = 30;
const HEADER_ROWS = 2;

export interface LogViewOptions {
  label: string;
  onFollowChange?(following: boolean): void;
  /** Lines selected through their numbers (1-based, inclusive), for #L12 / #L12-L20. */
  onSelect?(from: number, to: number): void;
  /** Folding sections (sections.ts): their lines take no rows while folded. */
  sections?: Sections;
  /** A section was folded or opened by the user. */
  onToggleSection?(): void;
}

export class LogView {
  readonly el: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  private rows = new Map<number, HTMLDivElement>();
  private lineHeight = 20;
  private frame = 0;
  private following = true;
  private renderedVersion = -1;
  private renderedLength = 0;
  private completeOnRender = false;
  private dirtyAll = true;
  private matches: SearchMatch[] = [];
  private matchesByLine = new Map<number, SearchMatch[]>();
  private currentMatch = -1;
  private selected: [number, number] | null = null;
  private showTimes = false;
  /** Times as clock time (absolute) or as an offset from timeBase (the run's start). */
  private absoluteTimes = false;
  private timeBase: number | null = null;
  private firstPaintMarked = false;
  private pendingLine: number | null = null;
  private resizeObserver: ResizeObserver | null = null;
  private emptyText = 'Waiting for output…';
  // Wrapping: columns a row holds, each line's width (complete lines never
  // change), and rowStart[i] = rows above line i (valid for i <= wrapped).
  private wrap = false;
  private cols = 0;
  private widths = new Int32Array(1024);
  private widthsKnown = 0;
  private rowStart = new Int32Array(1025);
  private wrapped = 0;
  private gutterUsed = 0;
  /** The view's size at the last render (to tell a resize from a scroll). */
  private renderedWidth = 0;
  private renderedHeight = 0;
  /** Lowest line changed (store or folds) since the last render. */
  private pendingChange = Infinity;

  constructor(
    private readonly store: LineStore,
    private readonly opts: LogViewOptions,
  ) {
    this.spacer = h('div', { class: 'log-spacer' });
    this.empty = h('div', { class: 'log-empty' }, this.emptyText);
    this.el = h(
      'div',
      {
        class: 'log',
        role: 'log',
        tabindex: 0,
        'aria-label': opts.label,
        'aria-live': 'off',
      },
      this.spacer,
      this.empty,
    );
    this.el.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.el.addEventListener('wheel', (e) => {
      if (e.deltaY < 0) this.setFollowing(false);
    }, { passive: true });
    this.el.addEventListener('keydown', (e) => {
      if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) this.setFollowing(false);
      if (e.key === 'End' && !e.shiftKey) {
        e.preventDefault();
        this.follow();
      }
    });
    this.el.addEventListener('click', (e) => this.onClick(e));
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => {
        this.charWidthCache = 0; // the font size may follow the width (phones)
        this.schedule();
      });
      this.resizeObserver.observe(this.el);
    }
  }

  /** Call once the element is in the document. */
  mounted(): void {
    this.measure();
    this.schedule();
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    this.resizeObserver?.disconnect();
  }

  private measure(): void {
    const probe = h('div', { class: 'log-row', style: 'visibility:hidden;top:0' }, h('span', { class: 'log-text' }, 'M'));
    this.spacer.appendChild(probe);
    const lh = probe.getBoundingClientRect().height;
    probe.remove();
    if (lh > 0) this.lineHeight = lh;
  }

  // ---- wrapping -------------------------------------------------------------

  get isWrapping(): boolean {
    return this.wrap;
  }

  /** Wraps long lines at the view's width (true) or scrolls them sideways. */
  setWrap(on: boolean): void {
    if (on === this.wrap) return;
    // Keep the line at the top of the view where it is.
    const topLine = this.lineAt(this.el.scrollTop);
    this.wrap = on;
    this.el.classList.toggle('wrap', on);
    this.cols = 0;
    this.wrapped = 0;
    this.dirtyAll = true;
    this.updateSize();
    if (!this.following) this.el.scrollTop = this.lineTop(topLine);
    this.schedule();
  }

  /** Whether lines are placed by prefix sums of their rows (wrapping, or folded sections). */
  private get prefixed(): boolean {
    return this.wrap || this.folding;
  }

  private get folding(): boolean {
    return !!this.opts.sections && this.opts.sections.count > 0;
  }

  /**
   * Rows line i takes (none when a folded section hides it; two for a
   * section's header, so its button is a target of 24 px or more: WCAG 2.2).
   */
  private rowsOf(i: number): number {
    if (this.folding) {
      const sections = this.opts.sections!;
      if (sections.hidden(i)) return 0;
      if (sections.headerAt(i)) return HEADER_ROWS;
    }
    if (!this.wrap || this.cols <= 0) return 1;
    const w = i < this.widthsKnown ? this.widths[i] : Math.min(MAX_RENDERED_COLUMNS + 80, lineWidth(this.store.line(i)));
    return Math.max(1, Math.ceil(w / this.cols));
  }

  /** Brings the widths and row prefix sums up to the store's length. */
  private updateWrap(changedFrom: number): void {
    if (!this.prefixed) return; // widths are counted only once wrapping is asked for
    const store = this.store;
    const n = store.length;
    const complete = store.completeLines;
    if (this.widths.length < n) {
      let size = this.widths.length;
      while (size < n) size *= 2;
      const w = new Int32Array(size);
      w.set(this.widths.subarray(0, this.widthsKnown));
      this.widths = w;
      const r = new Int32Array(size + 1);
      r.set(this.rowStart.subarray(0, this.wrapped + 1));
      this.rowStart = r;
    }
    if (this.wrap) {
      // The cut view adds its note "… (N more characters …)": about 80 columns.
      for (let i = this.widthsKnown; i < complete; i++) this.widths[i] = Math.min(MAX_RENDERED_COLUMNS + 80, lineWidth(store.line(i)));
      this.widthsKnown = Math.max(this.widthsKnown, complete);
      const charW = this.charWidth();
      const gutter = this.gutterWidth() || charW * (String(n).length + 3);
      this.gutterUsed = gutter;
      // The text has 1ch of padding on the left and 2ch on the right.
      const cols = Math.max(20, Math.floor((this.el.clientWidth - gutter) / charW) - 3);
      if (cols !== this.cols) {
        this.cols = cols;
        this.wrapped = 0;
        this.dirtyAll = true;
      }
    }
    let from = Math.min(this.wrapped, changedFrom, n);
    for (let i = from; i < n; i++) this.rowStart[i + 1] = this.rowStart[i] + this.rowsOf(i);
    this.wrapped = n;
  }

  /** Top of line i (0-based), in pixels. */
  private lineTop(i: number): number {
    if (!this.prefixed) return i * this.lineHeight;
    return this.rowStart[Math.min(i, this.wrapped)] * this.lineHeight;
  }

  /** The line (0-based) at y pixels from the top of the log. */
  private lineAt(y: number): number {
    const row = Math.max(0, Math.floor(y / this.lineHeight));
    if (!this.prefixed) return row;
    let lo = 0;
    let hi = this.wrapped;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.rowStart[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return Math.min(lo, Math.max(0, this.wrapped - 1));
  }

  /** Takes the store's and the sections' changes into the line positions. */
  private sync(): void {
    const sections = this.opts.sections;
    sections?.update();
    const c = Math.min(this.store.takeChanges(), sections ? sections.takeChanges() : Infinity);
    this.pendingChange = Math.min(this.pendingChange, c);
    this.updateWrap(c);
  }

  /** Opens the sections around line i (0-based) and places the lines again. */
  private revealLine(i: number): void {
    const sections = this.opts.sections;
    if (!sections) return;
    sections.update();
    sections.reveal(i);
    this.sync();
    this.updateSize();
  }

  /**
   * Marks the log complete (data-complete="1") once everything already in
   * the store has been drawn: the finished status can arrive in the same
   * task as the log's last lines, which are drawn only on the next frame.
   */
  markComplete(): void {
    this.completeOnRender = true;
    this.schedule();
  }

  /** Redraw on the next frame (call after appending to the store). */
  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  setEmptyText(text: string): void {
    this.emptyText = text;
    this.empty.textContent = text;
  }

  setShowTimes(on: boolean): void {
    if (on === this.showTimes) return;
    this.showTimes = on;
    this.el.classList.toggle('with-times', on);
    this.dirtyAll = true;
    this.schedule();
  }

  /** Shows line times as clock times, or relative to `base` (unix ms; the run's start). */
  setTimeMode(absolute: boolean, base: number | null): void {
    if (absolute === this.absoluteTimes && base === this.timeBase) return;
    this.absoluteTimes = absolute;
    this.timeBase = base;
    this.el.classList.toggle('abs-times', absolute);
    this.dirtyAll = true;
    this.schedule();
  }

  get isFollowing(): boolean {
    return this.following;
  }

  /** Scroll to the bottom and stay there as lines arrive. */
  follow(): void {
    this.setFollowing(true);
    this.el.scrollTop = this.el.scrollHeight;
    this.schedule();
  }

  private setFollowing(on: boolean): void {
    if (on === this.following) return;
    this.following = on;
    this.opts.onFollowChange?.(on);
  }

  private atBottom(): boolean {
    return this.el.scrollHeight - this.el.clientHeight - this.el.scrollTop <= Math.max(4, this.lineHeight / 2);
  }

  private onScroll(): void {
    // A scroll caused by the view changing size (a rotated phone, the
    // connection banner coming or going) is not the user leaving the bottom:
    // the scroll event arrives after the layout has settled elsewhere.
    const resized = this.el.clientWidth !== this.renderedWidth || this.el.clientHeight !== this.renderedHeight;
    if (!(resized && this.following)) this.setFollowing(this.atBottom());
    this.schedule();
  }

  /** Shows line n (1-based) near the top third of the view and stops following. */
  scrollToLine(n: number, select = true): void {
    if (n > this.store.length) {
      // Not loaded yet: go there when it is.
      this.pendingLine = n;
      if (select) this.selected = [n, n];
      this.setFollowing(false);
      return;
    }
    this.pendingLine = null;
    this.setFollowing(false);
    if (select) this.select(n, n, false);
    this.revealLine(n - 1);
    this.updateSize();
    const top = this.lineTop(n - 1) - this.el.clientHeight / 3;
    this.el.scrollTop = Math.max(0, top);
    this.schedule();
  }

  /** Marks lines from..to (1-based) as selected. */
  select(from: number, to: number, notify = true): void {
    this.selected = [Math.min(from, to), Math.max(from, to)];
    this.dirtyAll = true;
    this.schedule();
    if (notify) this.opts.onSelect?.(this.selected[0], this.selected[1]);
  }

  private onClick(e: MouseEvent): void {
    const toggle = (e.target as Element).closest?.('button.section-toggle') as HTMLButtonElement | null;
    const sections = this.opts.sections;
    if (toggle && sections) {
      const s = sections.list[Number(toggle.dataset.section)];
      if (!s) return;
      sections.setCollapsed(s, !s.collapsed);
      this.setFollowing(false);
      this.schedule();
      this.opts.onToggleSection?.();
      return;
    }
    const a = (e.target as Element).closest?.('a.log-no');
    if (!a) return;
    e.preventDefault();
    const n = Number(a.textContent);
    if (!Number.isInteger(n)) return;
    if (e.shiftKey && this.selected) this.select(this.selected[0], n);
    else this.select(n, n);
    this.setFollowing(false);
  }

  // ---- search ---------------------------------------------------------------

  /** Highlights the matches; returns their count. */
  setMatches(matches: SearchMatch[]): void {
    this.matches = matches;
    this.matchesByLine = new Map();
    for (const m of matches) {
      const list = this.matchesByLine.get(m.line);
      if (list) list.push(m);
      else this.matchesByLine.set(m.line, [m]);
    }
    this.currentMatch = -1;
    this.dirtyAll = true;
    this.schedule();
  }

  /** Marks match k (0-based; -1 for none) as the current one without scrolling. */
  setCurrentMatch(k: number): void {
    this.currentMatch = k >= 0 && k < this.matches.length ? k : -1;
    this.dirtyAll = true;
    this.schedule();
  }

  /** Moves to match k (0-based) and scrolls it into view. */
  showMatch(k: number): void {
    if (k < 0 || k >= this.matches.length) return;
    this.currentMatch = k;
    const m = this.matches[k];
    this.setFollowing(false);
    this.revealLine(m.line);
    const top = this.lineTop(m.line) + (this.wrap && this.cols > 0 ? Math.floor(m.start / this.cols) * this.lineHeight : 0);
    const view = this.el.clientHeight;
    if (top < this.el.scrollTop + this.lineHeight || top > this.el.scrollTop + view - 2 * this.lineHeight) {
      this.el.scrollTop = Math.max(0, top - view / 3);
    }
    // Bring the match into view sideways too.
    if (this.wrap) {
      this.dirtyAll = true;
      this.schedule();
      return;
    }
    const charW = this.charWidth();
    const x = this.gutterWidth() + m.start * charW;
    if (x < this.el.scrollLeft + this.gutterWidth() || x > this.el.scrollLeft + this.el.clientWidth - 40) {
      this.el.scrollLeft = Math.max(0, x - this.el.clientWidth / 2);
    }
    this.dirtyAll = true;
    this.schedule();
  }

  private charWidthCache = 0;
  private charWidth(): number {
    if (!this.charWidthCache) {
      // (white-space: pre: a wrapping view must not wrap its own ruler.)
      const probe = h('span', { class: 'log-text', style: 'position:absolute;visibility:hidden;white-space:pre;padding:0' }, 'M'.repeat(100));
      this.spacer.appendChild(probe);
      this.charWidthCache = probe.getBoundingClientRect().width / 100 || 8;
      probe.remove();
    }
    return this.charWidthCache;
  }

  private gutterWidth(): number {
    const g = this.el.querySelector<HTMLElement>('.log-gutter');
    return g ? g.offsetWidth : 0;
  }

  // ---- rendering ------------------------------------------------------------

  private updateSize(): void {
    const n = this.store.length;
    const digits = Math.max(3, String(n).length);
    this.el.style.setProperty('--no-w', `${digits + 1}ch`);
    this.spacer.style.height = `${this.prefixed ? this.rowStart[this.wrapped] * this.lineHeight : n * this.lineHeight}px`;
    this.spacer.style.minWidth = this.wrap ? '' : `calc(var(--gutter-w) + ${this.store.maxWidth + 2}ch)`;
  }

  private render(): void {
    const store = this.store;
    const n = store.length;
    const version = store.version + (this.opts.sections?.version ?? 0);
    this.sync();
    const changedFrom = this.pendingChange;
    this.pendingChange = Infinity;
    const grew = n !== this.renderedLength || version !== this.renderedVersion;
    if (grew || this.dirtyAll) this.updateSize();
    this.empty.hidden = n > 0;
    if (this.pendingLine !== null && this.pendingLine <= n) {
      // The selection (#L10-L14: the whole range) was made when the line was
      // asked for; only the scroll waited for the line.
      const line = this.pendingLine;
      this.pendingLine = null;
      this.scrollToLine(line, false);
    }
    // Following: stay at the bottom as lines arrive and when the view's size changes.
    if (this.following && (grew || !this.atBottom())) this.el.scrollTop = this.el.scrollHeight;

    const top = this.el.scrollTop;
    const height = this.el.clientHeight || 600;
    const first = Math.max(0, this.lineAt(top) - OVERSCAN);
    const last = Math.min(n - 1, this.lineAt(top + height) + OVERSCAN);

    for (const [i, row] of this.rows) {
      if (i < first || i > last || i >= changedFrom || this.dirtyAll || i >= n) {
        row.remove();
        this.rows.delete(i);
      }
    }
    const frag = document.createDocumentFragment();
    const folding = this.folding;
    for (let i = first; i <= last; i++) {
      if (this.rows.has(i) || (folding && this.rowsOf(i) === 0)) continue;
      const row = this.renderRow(i);
      this.rows.set(i, row);
      frag.appendChild(row);
    }
    if (frag.childNodes.length) this.spacer.appendChild(frag);
    this.dirtyAll = false;
    this.renderedLength = n;
    this.renderedVersion = version;
    this.el.dataset.lines = String(n);
    if (this.completeOnRender) this.el.dataset.complete = '1';
    this.renderedWidth = this.el.clientWidth;
    this.renderedHeight = this.el.clientHeight;
    // The columns were counted with an estimated gutter (no row yet) or one
    // that has since changed (more digits, times shown): count again.
    if (this.wrap && n > 0 && this.gutterWidth() !== this.gutterUsed) {
      this.cols = 0;
      this.schedule();
    }

    if (!this.firstPaintMarked && n > 0) {
      this.firstPaintMarked = true;
      // render() runs in an animation frame callback: a task queued now runs
      // once this frame has been painted.
      setTimeout(() => performance.mark('jenky:first-line-painted'), 0);
    }
  }

  /** A section's header: a disclosure button with its name, duration and status. */
  private renderHeader(s: Section): HTMLElement {
    const sections = this.opts.sections!;
    const status = sections.status(s);
    const ms = sections.duration(s, Date.now());
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.className = `section-toggle st-${status}`;
    btn.dataset.section = String(s.index);
    btn.setAttribute('aria-expanded', String(!s.collapsed));
    btn.style.marginLeft = `${s.depth * 2}ch`;
    const chevron = document.createElement('span');
    chevron.className = 'chevron';
    chevron.setAttribute('aria-hidden', 'true');
    chevron.textContent = s.collapsed ? '▸' : '▾';
    const name = document.createElement('span');
    name.className = 'section-name';
    name.textContent = s.title;
    const info = document.createElement('span');
    info.className = 'section-info';
    const parts: string[] = [];
    if (ms !== null) parts.push(formatDuration(ms));
    parts.push(STATUS_LABEL[status]);
    if (s.errors > 0) parts.push(`${s.errors} error${s.errors === 1 ? '' : 's'}`);
    info.textContent = parts.join(' · ');
    btn.append(chevron, name, info);
    return btn;
  }

  private renderRow(i: number): HTMLDivElement {
    const store = this.store;
    const n = i + 1;
    const row = document.createElement('div');
    row.className = 'log-row';
    row.style.top = `${this.lineTop(i)}px`;
    if (this.wrap) row.style.height = `${this.rowsOf(i) * this.lineHeight}px`;
    if (this.selected && n >= this.selected[0] && n <= this.selected[1]) row.classList.add('selected');
    const gutter = document.createElement('span');
    gutter.className = 'log-gutter';
    const no = document.createElement('a');
    no.className = 'log-no';
    no.href = `#L${n}`;
    no.tabIndex = -1;
    no.textContent = String(n);
    gutter.appendChild(no);
    if (this.showTimes) {
      const t = document.createElement('span');
      t.className = 'log-time';
      const ms = store.time(i);
      if (ms !== UNKNOWN_TIME) {
        const base = this.timeBase ?? store.time(0);
        const rel = base !== UNKNOWN_TIME ? ms - base : 0;
        const at = new Date(ms);
        t.textContent = this.absoluteTimes ? formatClock(at) : formatOffset(rel);
        t.title = `${at.toISOString()} · ${(rel / 1000).toFixed(3)} s after the run started`;
      }
      gutter.appendChild(t);
    }
    row.appendChild(gutter);
    const section = this.opts.sections?.headerAt(i);
    if (section) {
      row.classList.add('section-head');
      row.style.height = `${HEADER_ROWS * this.lineHeight}px`;
      row.appendChild(this.renderHeader(section));
      return row;
    }
    const text = document.createElement('span');
    text.className = 'log-text';
    let { segments } = parseLine(store.line(i), store.startStyle(i));
    segments = truncate(segments);
    const matches = this.matchesByLine.get(i);
    if (matches) {
      const cur = this.currentMatch >= 0 ? this.matches[this.currentMatch] : null;
      appendWithMatches(text, segments, matches, cur);
    } else {
      for (const seg of segments) text.appendChild(segmentNode(seg));
    }
    row.appendChild(text);
    return row;
  }
}

const STATUS_LABEL: Record<SectionStatus, string> = { running: 'running', done: 'done', failed: 'failed' };

function truncate(segments: Segment[]): Segment[] {
  let total = 0;
  for (let k = 0; k < segments.length; k++) {
    total += segments[k].text.length;
    if (total > MAX_RENDERED_COLUMNS) {
      let hidden = total - MAX_RENDERED_COLUMNS;
      for (let j = k + 1; j < segments.length; j++) hidden += segments[j].text.length;
      const out = segments.slice(0, k + 1);
      const lastSeg = out[k];
      out[k] = { text: lastSeg.text.slice(0, lastSeg.text.length - (total - MAX_RENDERED_COLUMNS)), style: lastSeg.style };
      out.push({ text: ` … (${hidden} more characters: download the raw log to see them)`, style: { fg: -1, bg: -1, flags: 2 } });
      return out;
    }
  }
  return segments;
}

function segmentNode(seg: Segment): Node {
  const { cls, css } = styleCss(seg.style);
  if (!cls && !css) return document.createTextNode(seg.text);
  const span = document.createElement('span');
  if (cls) span.className = cls;
  if (css) span.style.cssText = css;
  span.textContent = seg.text;
  return span;
}

/** Appends segments with the parts inside matches wrapped in <mark>. */
function appendWithMatches(parent: HTMLElement, segments: Segment[], matches: SearchMatch[], cur: SearchMatch | null): void {
  let pos = 0;
  for (const seg of segments) {
    const segStart = pos;
    const segEnd = pos + seg.text.length;
    pos = segEnd;
    let at = segStart;
    for (const m of matches) {
      if (m.end <= at || m.start >= segEnd) continue;
      const s = Math.max(m.start, at);
      const e = Math.min(m.end, segEnd);
      if (s > at) parent.appendChild(segmentNode({ text: seg.text.slice(at - segStart, s - segStart), style: seg.style }));
      const mark = document.createElement('mark');
      if (m === cur) mark.className = 'current';
      mark.appendChild(segmentNode({ text: seg.text.slice(s - segStart, e - segStart), style: seg.style }));
      parent.appendChild(mark);
      at = e;
    }
    if (at < segEnd) parent.appendChild(segmentNode({ text: seg.text.slice(at - segStart), style: seg.style }));
  }
}
