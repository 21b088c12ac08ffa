import { describe, expect, it } from 'vitest';
import {
  AnsiParser,
  BOLD,
  DIM,
  INVERSE,
  ITALIC,
  PLAIN,
  STRIKE,
  TRUECOLOR,
  UNDERLINE,
  applySgr,
  endStyle,
  lineWidth,
  paletteRgb,
  parseLine,
  styleCss,
  visibleText,
  type Segment,
} from './ansi';

const E = '\x1b';

function parse(...chunks: string[]): Segment[] {
  const p = new AnsiParser();
  const out: Segment[] = [];
  for (const c of chunks) p.feed(c, out);
  return out;
}

function simplify(segs: Segment[]): [string, number, number, number][] {
  return segs.map((s) => [s.text, s.style.fg, s.style.bg, s.style.flags]);
}

describe('applySgr', () => {
  it('sets and resets the 16 colours', () => {
    expect(applySgr(PLAIN, '31')).toMatchObject({ fg: 1, bg: -1 });
    expect(applySgr(PLAIN, '97;104')).toMatchObject({ fg: 15, bg: 12 });
    expect(applySgr(applySgr(PLAIN, '32;41'), '39')).toMatchObject({ fg: -1, bg: 1 });
    expect(applySgr(applySgr(PLAIN, '32;41'), '49')).toMatchObject({ fg: 2, bg: -1 });
    expect(applySgr(applySgr(PLAIN, '1;31'), '0')).toBe(PLAIN);
    expect(applySgr(applySgr(PLAIN, '1;31'), '')).toBe(PLAIN);
  });

  it('reads 256-colour and truecolor in both ; and : forms', () => {
    expect(applySgr(PLAIN, '38;5;208').fg).toBe(208);
    expect(applySgr(PLAIN, '48;5;17').bg).toBe(17);
    expect(applySgr(PLAIN, '38:5:208').fg).toBe(208);
    expect(applySgr(PLAIN, '38;2;255;128;0').fg).toBe(TRUECOLOR | 0xff8000);
    expect(applySgr(PLAIN, '48;2;1;2;3').bg).toBe(TRUECOLOR | 0x010203);
    expect(applySgr(PLAIN, '38:2::10:20:30').fg).toBe(TRUECOLOR | 0x0a141e);
    expect(applySgr(PLAIN, '38:2:10:20:30').fg).toBe(TRUECOLOR | 0x0a141e);
    // Parameters after an extended colour still apply.
    expect(applySgr(PLAIN, '38;5;9;1')).toMatchObject({ fg: 9, flags: BOLD });
    expect(applySgr(PLAIN, '38;2;1;2;3;4')).toMatchObject({ fg: TRUECOLOR | 0x010203, flags: UNDERLINE });
  });

  it('ignores malformed extended colours', () => {
    expect(applySgr(PLAIN, '38;5;300').fg).toBe(-1);
    expect(applySgr(PLAIN, '38;5').fg).toBe(-1);
    expect(applySgr(PLAIN, '38;2;1;2').fg).toBe(-1);
  });

  it('sets and clears attributes', () => {
    let s = applySgr(PLAIN, '1;2;3;4;7;9');
    expect(s.flags).toBe(BOLD | DIM | ITALIC | UNDERLINE | INVERSE | STRIKE);
    s = applySgr(s, '22');
    expect(s.flags & (BOLD | DIM)).toBe(0);
    s = applySgr(s, '23;24;27;29');
    expect(s.flags).toBe(0);
    expect(applySgr(PLAIN, '4:0').flags).toBe(0);
    expect(applySgr(PLAIN, '4:3').flags).toBe(UNDERLINE);
  });
});

describe('AnsiParser', () => {
  it('splits text into styled segments', () => {
    expect(simplify(parse(`a${E}[31mred${E}[1mbold${E}[0m plain`))).toEqual([
      ['a', -1, -1, 0],
      ['red', 1, -1, 0],
      ['bold', 1, -1, BOLD],
      [' plain', -1, -1, 0],
    ]);
  });

  it('keeps an escape split across chunks until it is whole', () => {
    const whole = simplify(parse(`x${E}[38;5;208morange${E}[0my`));
    const text = `x${E}[38;5;208morange${E}[0my`;
    for (let cut = 1; cut < text.length; cut++) {
      expect(simplify(parse(text.slice(0, cut), text.slice(cut))), `cut at ${cut}`).toEqual(whole);
    }
    // Byte by byte.
    expect(simplify(parse(...text.split('')))).toEqual(whole);
  });

  it('carries the style from one feed to the next', () => {
    const p = new AnsiParser();
    const a: Segment[] = [];
    p.feed(`${E}[32mgreen`, a);
    const b: Segment[] = [];
    p.feed(' still green', b);
    expect(simplify(b)).toEqual([[' still green', 2, -1, 0]]);
  });

  it('drops non-SGR escapes, OSC strings and control characters', () => {
    const segs = parse(`${E}[2K${E}[1Gstart ${E}]0;title${'\x07'}mid ${E}]8;;http://x${E}\\link${E}]8;;${E}\\ ${E}(Bend\x07\x08!`);
    expect(segs.map((s) => s.text).join('')).toBe('start mid link end!');
  });

  it('keeps tabs', () => {
    expect(parse('a\tb')[0].text).toBe('a\tb');
  });

  it('holds an OSC split across chunks', () => {
    const segs = parse(`a${E}]0;ti`, `tle\x07b`);
    expect(segs.map((s) => s.text).join('')).toBe('ab');
  });

  it('drops a malformed CSI and keeps what follows', () => {
    expect(parse(`a${E}[12\x07b`).map((s) => s.text).join('')).toBe('ab');
  });

  it('tracks style without collecting segments', () => {
    const p = new AnsiParser();
    p.feed(`${E}[1;34mhello`);
    expect(p.style).toMatchObject({ fg: 4, flags: BOLD });
  });
});

describe('parseLine', () => {
  it('starts from the given style and reports the end style', () => {
    const start = applySgr(PLAIN, '33');
    const { segments, end } = parseLine(`warn${E}[0m ok${E}[35m`, start);
    expect(simplify(segments)).toEqual([
      ['warn', 3, -1, 0],
      [' ok', -1, -1, 0],
    ]);
    expect(end.fg).toBe(5);
  });

  it('shows the last part after a carriage return', () => {
    const { segments } = parseLine(`${E}[33m[##  ] 50%\r[####] 100%${E}[0m\r`, PLAIN);
    expect(simplify(segments)).toEqual([['[####] 100%', 3, -1, 0]]);
    expect(visibleText('progress 1\rprogress 2\r\r')).toBe('progress 2');
  });

  it('endStyle agrees with parseLine', () => {
    const line = `${E}[1mA${E}[38;2;1;2;3mB${E}[22m`;
    expect(endStyle(line, PLAIN)).toEqual(parseLine(line, PLAIN).end);
    expect(endStyle('no escapes', PLAIN)).toBe(PLAIN);
  });
});

describe('helpers', () => {
  it('measures visible width', () => {
    expect(lineWidth(`${E}[31mabc${E}[0m`)).toBe(3);
    expect(lineWidth('a\tb')).toBe(9);
  });

  it('computes the xterm palette', () => {
    expect(paletteRgb(16)).toEqual([0, 0, 0]);
    expect(paletteRgb(196)).toEqual([255, 0, 0]);
    expect(paletteRgb(231)).toEqual([255, 255, 255]);
    expect(paletteRgb(232)).toEqual([8, 8, 8]);
    expect(paletteRgb(255)).toEqual([238, 238, 238]);
  });

  it('maps styles to classes and inline colours', () => {
    expect(styleCss(applySgr(PLAIN, '1;31'))).toEqual({ cls: 'a1 ab', css: '' });
    expect(styleCss(applySgr(PLAIN, '38;5;196;48;2;0;0;255'))).toEqual({
      cls: '',
      css: 'color:rgb(255,0,0);background-color:rgb(0,0,255)',
    });
    expect(styleCss(applySgr(PLAIN, '7')).cls).toBe('ainv-fg ainv-bg');
    expect(styleCss(applySgr(PLAIN, '7;32')).cls).toBe('ainv-fg b2');
    expect(styleCss(applySgr(PLAIN, '2;3;4;9')).cls).toBe('ad ai aus');
  });
});
