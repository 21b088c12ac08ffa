#!/usr/bin/env node
// Precompresses the built web UI: writes NAME.br (brotli, quality 11) and
// NAME.gz (gzip, level 9) beside every text file in DIR, when that is smaller
// than the file itself. jenky embeds them with the rest and serves the one the
// browser's Accept-Encoding asks for (src/util/content_coding.h), so it never
// compresses at request time. Node's own zlib: no package needed.
//
// Usage: node scripts/compress-web.mjs DIR

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const TEXT = /\.(html|js|mjs|css|svg|json|map|txt|webmanifest)$/;

const dir = process.argv[2];
if (!dir || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
  console.error(`usage: node ${path.basename(process.argv[1])} DIR  (DIR: the built web UI; got ${dir ?? 'nothing'})`);
  process.exit(2);
}

function* files(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (TEXT.test(e.name)) yield p;
  }
}

let before = 0;
let afterBr = 0;
let afterGz = 0;
for (const file of files(dir)) {
  const data = fs.readFileSync(file);
  const variants = {
    '.br': zlib.brotliCompressSync(data, {
      params: {
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
    '.gz': zlib.gzipSync(data, { level: zlib.constants.Z_BEST_COMPRESSION }),
  };
  before += data.length;
  for (const [suffix, bytes] of Object.entries(variants)) {
    const out = file + suffix;
    const keep = bytes.length < data.length;
    if (keep) fs.writeFileSync(out, bytes);
    else fs.rmSync(out, { force: true });
    const size = keep ? bytes.length : data.length;
    if (suffix === '.br') afterBr += size;
    else afterGz += size;
  }
}
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
console.log(`compress-web: ${kb(before)} of text -> ${kb(afterBr)} brotli, ${kb(afterGz)} gzip`);
