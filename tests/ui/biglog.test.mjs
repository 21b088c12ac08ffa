// A 100,000-line, ~10 MB log: loads, scrolls smoothly with only the visible
// lines in the DOM, searches, jumps to #L anchors. Measures the time to the
// first log line painted and the page's memory (docs/benchmarks.md, "Web UI").

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, logState, renderedRows, repo, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

const LINES = 100000;
let srv;
let ctx;
let runId;
let logBytes;
const bench = { runs: [] };

before(async () => {
  srv = await startServer({ config: TEST_PROJECTS });
  ctx = await launch();
  const run = (await srv.api('POST', '/api/v1/projects/big/runs', { kind: 'manual' })).json;
  const done = await srv.waitRun(run.id);
  assert.equal(done.status, 'succeeded');
  runId = run.id;
  logBytes = done.log_bytes;
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

async function heap(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  await cdp.detach();
  return { jsHeapUsed: m.JSHeapUsedSize, jsHeapTotal: m.JSHeapTotalSize, nodes: m.Nodes, documents: m.Documents };
}

/** Loads the run page once; returns its timings. */
async function loadOnce(page) {
  const t0 = Date.now();
  await page.goto(`${srv.url}/runs/${runId}`, { waitUntil: 'commit' });
  await until(async () => (await logState(page))?.lines > 0, { message: 'first line', interval: 5 });
  const seenFirst = Date.now() - t0;
  await until(async () => {
    const s = await logState(page);
    return s?.complete && s.lines === LINES;
  }, { message: `all ${LINES} lines`, timeout: 60000, interval: 20 });
  const allLoaded = Date.now() - t0;
  const marks = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const first = performance.getEntriesByName('jenky:first-line-painted')[0];
    return { firstLinePainted: first?.startTime ?? null, domContentLoaded: nav?.domContentLoadedEventEnd ?? null };
  });
  return { ...marks, seenFirst, allLoaded };
}

test('a 100,000-line log loads, scrolls and searches with only the visible lines in the DOM', { timeout: 240000 }, async () => {
  assert.ok(logBytes > 10_000_000, `the log is over 10 MB (${logBytes} bytes)`);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);

  // The page's memory with a small finished log, to tell the log's share.
  const small = (await srv.api('POST', '/api/v1/projects/demo/runs', { kind: 'manual' })).json;
  await srv.waitRun(small.id);
  await page.goto(`${srv.url}/runs/${small.id}`);
  await until(async () => (await logState(page))?.complete, { message: 'the small log' });
  bench.baseline = await heap(page);

  // Five loads: the first warms the caches of the server and the browser.
  for (let i = 0; i < 5; i++) bench.runs.push(await loadOnce(page));
  const st = await logState(page);
  assert.equal(st.lines, LINES);
  assert.ok(st.rows < 200, `only the visible lines are in the DOM (${st.rows} rows)`);
  assert.ok(st.atBottom, 'a loaded log opens at its end');
  const rows = await renderedRows(page);
  assert.equal(rows[rows.length - 1][0], LINES);
  assert.match(rows[rows.length - 1][1], /^100000 step lorem .* 100000$/);

  const mem = await heap(page);
  bench.memory = mem;
  assert.ok(mem.nodes < 5000, `DOM nodes: ${mem.nodes}`);

  // Scrolling: jump to the middle, then scroll through, timing each frame.
  const frames = await page.evaluate(async () => {
    const log = document.querySelector('.log');
    const times = [];
    log.scrollTop = log.scrollHeight / 2;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    let last = performance.now();
    for (let i = 0; i < 120; i++) {
      log.scrollTop += i % 20 < 10 ? 900 : -300;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    // A long jump each frame (scrollbar drags).
    for (let i = 0; i < 60; i++) {
      log.scrollTop = Math.random() * (log.scrollHeight - log.clientHeight);
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    times.sort((a, b) => a - b);
    return {
      median: times[Math.floor(times.length / 2)],
      p95: times[Math.floor(times.length * 0.95)],
      max: times[times.length - 1],
      rows: log.querySelectorAll('.log-row').length,
    };
  });
  bench.scroll = frames;
  assert.ok(frames.rows < 200, `rows in the DOM while scrolling: ${frames.rows}`);
  assert.ok(frames.p95 < 100, `95% of frames under 100 ms while scrolling (p95 ${frames.p95.toFixed(1)} ms)`);

  await page.evaluate(() => {
    const log = document.querySelector('.log');
    log.scrollTop = log.scrollHeight / 2;
  });
  await sleep(200);
  const mid = await renderedRows(page);
  const visible = mid.map((r) => r[0]);
  assert.ok(visible.some((n) => Math.abs(n - LINES / 2) < 30), 'the middle of the log is rendered');
  for (const [n, text] of mid) assert.ok(text.startsWith(String(n).padStart(6, '0') + ' step'), `line ${n} is its own text`);
  assert.equal((await logState(page)).jumpVisible, true);
  await screenshots(page, 'run-100k-middle', { dark: true, phone: true });

  // Search the whole log.
  const t0 = Date.now();
  await page.locator('.search-input').fill('077777 step');
  await until(async () => /of/.test(await page.locator('.search-count').textContent()), { message: 'search result' });
  bench.searchMs = Date.now() - t0;
  assert.equal(await page.locator('.search-count').textContent(), '1 of 1');
  await until(async () => (await renderedRows(page)).some(([n]) => n === 77777), { message: 'the match scrolled into view' });
  await screenshots(page, 'run-search', { dark: true, phone: false });
  await page.locator('.search-input').fill('lorem');
  await until(async () => /^1 of 100000$/.test(await page.locator('.search-count').textContent()), { message: '100000 matches' });

  // A link to a line.
  await page.goto(`${srv.url}/runs/${runId}#L54321`);
  await until(async () => (await logState(page))?.complete, { message: 'reload', timeout: 60000 });
  await until(async () => (await page.locator('.log-row.selected .log-no').textContent().catch(() => '')) === '54321', { message: 'line 54321 selected' });
  const selectedBox = await page.locator('.log-row.selected').boundingBox();
  const logBox = await page.locator('.log').boundingBox();
  assert.ok(selectedBox.y >= logBox.y && selectedBox.y < logBox.y + logBox.height, 'the linked line is in view');
  assert.equal((await logState(page)).atBottom, false, 'a linked line is not followed away from');
  await screenshots(page, 'run-100k-anchor', { dark: false, phone: false });

  assert.deepEqual(problems, []);
  await page.close();

  writeBench();
});

function writeBench() {
  const med = (k) => {
    const v = bench.runs.slice(1).map((r) => r[k]).filter((x) => x !== null).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const result = {
    date: new Date().toISOString(),
    lines: LINES,
    logBytes,
    chromium: execFileSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    machine: `${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    firstLinePaintedMs: med('firstLinePainted'),
    allLinesLoadedMs: med('allLoaded'),
    loads: bench.runs,
    memory: bench.memory,
    baselineMemory: bench.baseline,
    scroll: bench.scroll,
    searchMs: bench.searchMs,
  };
  const out = path.join(repo, 'build', 'ui-bench.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  if (process.env.JENKY_UI_BENCH_WRITE === '1') writeDoc(result);
  console.log(`# web UI bench: first line painted ${result.firstLinePaintedMs?.toFixed(0)} ms, all ${LINES} lines ${result.allLinesLoadedMs} ms, JS heap ${(result.memory.jsHeapUsed / 2 ** 20).toFixed(1)} MiB, ${result.memory.nodes} DOM nodes, scroll p95 ${result.scroll.p95.toFixed(1)} ms`);
}

/** Replaces (or appends) the "## Web UI" section of docs/benchmarks.md. */
function writeDoc(r) {
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  const loads = r.loads.slice(1);
  const range = (k) => {
    const v = loads.map((x) => x[k]).filter((x) => x !== null);
    return `${Math.round(Math.min(...v))}–${Math.round(Math.max(...v))}`;
  };
  const section = `## Web UI

_Written by \`JENKY_UI_BENCH_WRITE=1 node --test tests/ui/biglog.test.mjs\` (the UI tests' 100,000-line log test); the raw numbers of the last run of the test are in \`build/ui-bench.json\`._

- date: ${r.date.slice(0, 19)}Z; machine: ${r.machine}; browser: ${r.chromium} (headless, through playwright-core)
- the log: ${r.lines.toLocaleString('en')} lines, ${r.logBytes.toLocaleString('en')} bytes (${mib(r.logBytes)} MiB), green/bold/yellow SGR on every line; a finished run, opened at \`/runs/ID\` on a served jenky over loopback

| measure | value |
|---|---:|
| time to first log line painted (median of ${loads.length} loads after a warm-up; range) | **${Math.round(r.firstLinePaintedMs)} ms** (${range('firstLinePainted')}) |
| time until all ${r.lines.toLocaleString('en')} lines are in the line store and the final status is shown | ${r.allLinesLoadedMs} ms (${range('allLoaded')}) |
| JS heap used with the whole log loaded (after a forced GC) | **${mib(r.memory.jsHeapUsed)} MiB** |
| JS heap used on the page of a 38-line run (the app alone) | ${mib(r.baselineMemory.jsHeapUsed)} MiB |
| DOM nodes in the page with the whole log loaded | ${r.memory.nodes} (${r.scroll.rows} log rows) |
| frame time while scrolling through the log (median / p95 / max of 180 frames) | ${r.scroll.median.toFixed(1)} / ${r.scroll.p95.toFixed(1)} / ${r.scroll.max.toFixed(1)} ms |
| search of the whole log for a string with one match | ${r.searchMs} ms (typing to the count shown, with a 250 ms debounce) |

"First line painted" is a \`performance.mark\` the log view makes just after the frame that first shows a log line, measured from the navigation's start (so it includes loading the page, its script, the run's JSON and the WebSocket's first message). Only the visible lines (and 30 above and below) are in the DOM; the line store keeps each line as one string plus two 32-bit integers (its start style and its arrival time).
`;
  const file = path.join(repo, 'docs', 'benchmarks.md');
  const doc = fs.readFileSync(file, 'utf8');
  const start = doc.indexOf('\n## Web UI\n');
  let out;
  if (start < 0) {
    out = doc.replace(/\n*$/, '\n\n') + section;
  } else {
    const next = doc.indexOf('\n## ', start + 1);
    out = doc.slice(0, start + 1) + section + (next < 0 ? '' : '\n' + doc.slice(next + 1));
  }
  fs.writeFileSync(file, out);
}
