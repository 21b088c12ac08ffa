// ANSI escape sequences → styled text segments.
//
// The parser is a streaming one: feed() takes text in whatever pieces it
// arrives and keeps an escape sequence that a piece ends in the middle of
// until the rest comes. SGR sequences (ESC [ ... m) change the style; every
// other escape (cursor movement, erase, OSC titles and hyperlinks, charset
// selection) and the C0 control characters other than TAB are dropped, as a
// log viewer has no cursor to move.

/** Colours: DEFAULT, 0..255 (the xterm palette) or TRUECOLOR | 0xRRGGBB. */
export const DEFAULT = -1;
export const TRUECOLOR = 0x1000000;

export const BOLD = 1;
export const DIM = 2;
export const ITALIC = 4;
export const UNDERLINE = 8;
export const INVERSE = 16;
export const STRIKE = 32;
export const HIDDEN = 64;

export interface Style {
  readonly fg: number;
  readonly bg: number;
  readonly flags: number;
}

export const PLAIN: Style = Object.freeze({ fg: DEFAULT, bg: DEFAULT, flags: 0 });

export interface Segment {
  text: string;
  style: Style;
}

export function sameStyle(a: Style, b: Style): boolean {
  return a === b || (a.fg === b.fg && a.bg === b.bg && a.flags === b.flags);
}

export function styleKey(s: Style): string {
  return `${s.fg},${s.bg},${s.flags}`;
}

function style(fg: number, bg: number, flags: number): Style {
  if (fg === DEFAULT && bg === DEFAULT && flags === 0) return PLAIN;
  return { fg, bg, flags };
}

function byte(v: string | undefined): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : -1;
}

/**
 * Reads an extended colour (after 38/48/58): "5;N" or "2;R;G;B" from the
 * following ';' parameters, or from ':' sub-parameters of the same parameter
 * ("38:5:N", "38:2::R:G:B", "38:2:R:G:B"). Returns [colour or null, parameters consumed].
 */
function extendedColour(sub: string[], rest: string[]): [number | null, number] {
  if (sub.length > 1) {
    const mode = sub[1];
    if (mode === '5') {
      const n = byte(sub[2]);
      return [n >= 0 && sub[2] !== undefined ? n : null, 0];
    }
    if (mode === '2') {
      // With a colour-space id the form is 38:2:ID:R:G:B (ID often empty).
      const rgb = sub.length >= 6 ? sub.slice(3, 6) : sub.slice(2, 5);
      const [r, g, b] = rgb.map(byte);
      if (rgb.length === 3 && r >= 0 && g >= 0 && b >= 0) return [TRUECOLOR | (r << 16) | (g << 8) | b, 0];
      return [null, 0];
    }
    return [null, 0];
  }
  const mode = rest[0];
  if (mode === '5') {
    const n = byte(rest[1]);
    return [rest[1] !== undefined && n >= 0 ? n : null, 2];
  }
  if (mode === '2') {
    if (rest.length < 4) return [null, rest.length];
    const r = byte(rest[1]);
    const g = byte(rest[2]);
    const b = byte(rest[3]);
    if (r < 0 || g < 0 || b < 0) return [null, 4];
    return [TRUECOLOR | (r << 16) | (g << 8) | b, 4];
  }
  return [null, rest.length === 0 ? 0 : 1];
}

/** Applies the parameters of one SGR sequence (the text between "ESC [" and "m"). */
export function applySgr(s: Style, params: string): Style {
  let { fg, bg, flags } = s;
  const parts = params === '' ? ['0'] : params.split(';');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const sub = part.indexOf(':') >= 0 ? part.split(':') : null;
    const code = part === '' ? 0 : Number(sub ? sub[0] : part);
    if (!Number.isInteger(code)) continue;
    switch (true) {
      case code === 0:
        fg = DEFAULT;
        bg = DEFAULT;
        flags = 0;
        break;
      case code === 1:
        flags |= BOLD;
        break;
      case code === 2:
        flags |= DIM;
        break;
      case code === 3:
        flags |= ITALIC;
        break;
      case code === 4:
        if (sub && sub[1] === '0') flags &= ~UNDERLINE;
        else flags |= UNDERLINE;
        break;
      case code === 7:
        flags |= INVERSE;
        break;
      case code === 8:
        flags |= HIDDEN;
        break;
      case code === 9:
        flags |= STRIKE;
        break;
      case code === 21:
        flags |= UNDERLINE; // double underline
        break;
      case code === 22:
        flags &= ~(BOLD | DIM);
        break;
      case code === 23:
        flags &= ~ITALIC;
        break;
      case code === 24:
        flags &= ~UNDERLINE;
        break;
      case code === 27:
        flags &= ~INVERSE;
        break;
      case code === 28:
        flags &= ~HIDDEN;
        break;
      case code === 29:
        flags &= ~STRIKE;
        break;
      case code >= 30 && code <= 37:
        fg = code - 30;
        break;
      case code === 38 || code === 48 || code === 58: {
        const [colour, used] = extendedColour(sub ?? [part], sub ? [] : parts.slice(i + 1));
        i += used;
        if (colour !== null) {
          if (code === 38) fg = colour;
          else if (code === 48) bg = colour;
        }
        break;
      }
      case code === 39:
        fg = DEFAULT;
        break;
      case code >= 40 && code <= 47:
        bg = code - 40;
        break;
      case code === 49:
        bg = DEFAULT;
        break;
      case code >= 90 && code <= 97:
        fg = code - 90 + 8;
        break;
      case code >= 100 && code <= 107:
        bg = code - 100 + 8;
        break;
      default:
        break; // blink, fonts, overline, ...: not rendered
    }
  }
  if (fg === s.fg && bg === s.bg && flags === s.flags) return s;
  return style(fg, bg, flags);
}

const ESC = 0x1b;
const MAX_PENDING = 4096;

/**
 * Scans the escape sequence that starts at s[i] (an ESC). Returns the index
 * just past it, or -1 when s ends before the sequence does. `sgr` receives the
 * parameters when the sequence is an SGR.
 */
function scanEscape(s: string, i: number, out: { sgr: string | null }): number {
  out.sgr = null;
  const n = s.length;
  if (i + 1 >= n) return -1;
  const c = s.charCodeAt(i + 1);
  if (c === 0x5b /* [ */) {
    let j = i + 2;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d >= 0x40 && d <= 0x7e) {
        if (d === 0x6d /* m */) {
          const params = s.slice(i + 2, j);
          // Private sequences (ESC [ ? ... m) and intermediates are not SGR.
          if (/^[0-9;:]*$/.test(params)) out.sgr = params;
        }
        return j + 1;
      }
      if (d < 0x20 || d > 0x7e) return j; // malformed: drop "ESC [ ..." and go on at this char
      j++;
    }
    return -1;
  }
  if (c === 0x5d /* ] OSC */ || c === 0x50 /* P DCS */ || c === 0x5f /* _ APC */ || c === 0x5e /* ^ PM */ || c === 0x58 /* X SOS */) {
    let j = i + 2;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === 0x07) return j + 1; // BEL
      if (d === ESC) {
        if (j + 1 >= n) return -1;
        if (s.charCodeAt(j + 1) === 0x5c /* \ */) return j + 2;
        return j; // another escape starts: this string was unterminated
      }
      j++;
    }
    return -1;
  }
  if (c >= 0x20 && c <= 0x2f) {
    // nF escape: intermediates then a final byte (e.g. ESC ( B)
    let j = i + 2;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d >= 0x30 && d <= 0x7e) return j + 1;
      if (d < 0x20 || d > 0x2f) return j;
      j++;
    }
    return -1;
  }
  return i + 2; // ESC + one character (ESC 7, ESC =, ...)
}

/** Streaming ANSI parser: feed text in any pieces; segments come out styled. */
export class AnsiParser {
  style: Style;
  private pending = '';
  private readonly esc = { sgr: null as string | null };

  constructor(start: Style = PLAIN) {
    this.style = start;
  }

  /**
   * Parses the next piece of text. Segments are appended to `out` (when given)
   * with adjacent text of one style merged; without `out` only the style is
   * tracked, which is how a line's end style is computed cheaply.
   */
  feed(chunk: string, out?: Segment[]): Segment[] | undefined {
    let s = chunk;
    if (this.pending) {
      s = this.pending + chunk;
      this.pending = '';
    }
    const n = s.length;
    let acc = '';
    let from = 0;
    let i = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 || c === 9) {
        if (c !== 0x7f) {
          i++;
          continue;
        }
      }
      // A control character or an escape: the text before it is done.
      if (out && i > from) acc += s.slice(from, i);
      if (c === ESC) {
        const end = scanEscape(s, i, this.esc);
        if (end < 0) {
          const rest = s.slice(i);
          if (rest.length <= MAX_PENDING) this.pending = rest;
          from = i = n;
          break;
        }
        if (this.esc.sgr !== null) {
          const next = applySgr(this.style, this.esc.sgr);
          if (next !== this.style) {
            if (out && acc) {
              pushSegment(out, acc, this.style);
              acc = '';
            }
            this.style = next;
          }
        }
        from = i = end;
      } else {
        from = i = i + 1; // other control characters (BEL, BS, CR, ...) are dropped
      }
    }
    if (out) {
      if (from < n) acc += s.slice(from);
      if (acc) pushSegment(out, acc, this.style);
    }
    return out;
  }

  /** True while an escape sequence is waiting for the rest of its bytes. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }
}

function pushSegment(out: Segment[], text: string, st: Style): void {
  const last = out[out.length - 1];
  if (last && sameStyle(last.style, st)) last.text += text;
  else out.push({ text, style: st });
}

/**
 * Renders one log line: the text a terminal would show, as segments, and the
 * style in force at its end. A carriage return inside a line (progress bars)
 * returns to the start of the line, so the last non-empty part is what shows;
 * the parts before it still count for the style.
 */
export function parseLine(text: string, start: Style): { segments: Segment[]; end: Style } {
  const p = new AnsiParser(start);
  const segments: Segment[] = [];
  if (text.indexOf('\r') < 0) {
    p.feed(text, segments);
    return { segments, end: p.style };
  }
  const parts = text.split('\r');
  let last = parts.length - 1;
  while (last > 0 && visibleLength(parts[last]) === 0) last--;
  for (let k = 0; k < parts.length; k++) {
    if (k === last) p.feed(parts[k], segments);
    else p.feed(parts[k]);
  }
  return { segments, end: p.style };
}

/** The style at the end of a line that starts in `start`. */
export function endStyle(text: string, start: Style): Style {
  if (text.indexOf('\x1b') < 0) return start;
  const p = new AnsiParser(start);
  p.feed(text);
  return p.style;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** The text a line shows, without escapes and control characters. */
export function visibleText(text: string): string {
  if (!CONTROL.test(text)) return text;
  const { segments } = parseLine(text, PLAIN);
  let s = '';
  for (const seg of segments) s += seg.text;
  return s;
}

function visibleLength(text: string): number {
  if (!CONTROL.test(text)) return text.length;
  const segs: Segment[] = [];
  new AnsiParser().feed(text, segs);
  let n = 0;
  for (const seg of segs) n += seg.text.length;
  return n;
}

/** The number of columns a line takes (tabs as up to 8). */
export function lineWidth(text: string): number {
  const v = visibleText(text);
  if (v.indexOf('\t') < 0) return v.length;
  let col = 0;
  for (let i = 0; i < v.length; i++) col = v.charCodeAt(i) === 9 ? col + 8 - (col % 8) : col + 1;
  return col;
}

// ---- styles → CSS ----------------------------------------------------------

const CUBE = [0, 95, 135, 175, 215, 255];

/** The RGB of an xterm-256 colour from 16 up (0..15 come from the theme). */
export function paletteRgb(n: number): [number, number, number] {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return [v, v, v];
  }
  const k = n - 16;
  return [CUBE[Math.floor(k / 36)], CUBE[Math.floor(k / 6) % 6], CUBE[k % 6]];
}

function colourCss(c: number): string {
  if (c >= TRUECOLOR) {
    const v = c & 0xffffff;
    return `rgb(${v >> 16},${(v >> 8) & 255},${v & 255})`;
  }
  const [r, g, b] = paletteRgb(c);
  return `rgb(${r},${g},${b})`;
}

export interface StyleCss {
  /** Space-separated class names (theme colours 0..15 and text attributes). */
  cls: string;
  /** Inline CSS for 256-palette and true colours. */
  css: string;
}

const cssCache = new Map<string, StyleCss>();

/**
 * CSS for a style. The 16 basic colours are classes (a0..a15 for foreground,
 * b0..b15 for background) so the theme picks readable shades for light and
 * dark; others are inline colours.
 */
export function styleCss(s: Style): StyleCss {
  const key = styleKey(s);
  const hit = cssCache.get(key);
  if (hit) return hit;
  let fg = s.fg;
  let bg = s.bg;
  const cls: string[] = [];
  const css: string[] = [];
  if (s.flags & INVERSE) {
    [fg, bg] = [bg, fg];
    if (fg === DEFAULT) cls.push('ainv-fg');
    if (bg === DEFAULT) cls.push('ainv-bg');
  }
  if (fg !== DEFAULT) {
    if (fg < 16) cls.push(`a${fg}`);
    else css.push(`color:${colourCss(fg)}`);
  }
  if (bg !== DEFAULT) {
    if (bg < 16) cls.push(`b${bg}`);
    else css.push(`background-color:${colourCss(bg)}`);
  }
  if (s.flags & BOLD) cls.push('ab');
  if (s.flags & DIM) cls.push('ad');
  if (s.flags & ITALIC) cls.push('ai');
  if (s.flags & UNDERLINE) cls.push(s.flags & STRIKE ? 'aus' : 'au');
  else if (s.flags & STRIKE) cls.push('as');
  if (s.flags & HIDDEN) cls.push('ah');
  const out = { cls: cls.join(' '), css: css.join(';') };
  if (cssCache.size < 4096) cssCache.set(key, out);
  return out;
}
