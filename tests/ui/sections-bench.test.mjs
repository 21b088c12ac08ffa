// The UI benchmark of issue 21: a 100,000-line log with 2,000 sections
// paints its first lines in under 150 ms and scrolls at 60 frames a second,
// folded (as it loads) and with every section open. Prints the numbers
// (docs/benchmarks.md, "Web UI: sections").

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, logState, screenshots, until, startServer, watchPage } from './harness.mjs';

const LINES = 100000;
const SECTIONS = 2000;

const CONFIG = String.raw`
[projects.sectioned]
description = "100,000 lines in 2,000 sections"
script = '''
awk 'BEGIN { for (s = 1; s <= 2000; s++) { printf "::group::step %d\n", s; for (i = 1; i <= 48; i++) printf "\033[32m%06d\033[0m line %d of step %d: lorem ipsum dolor sit amet\n", (s - 1) * 50 + i + 1, i, s; print "::endgroup::" } }'
'''
`;

let srv;
let ctx;
let runId;

before(async () => {
  srv = await startServer({ config: CONFIG, demo: false });
  ctx = await launch();
  const run = (await srv.api('POST', '/api/v1/projects/sectioned/runs', {})).json;
  assert.equal((await srv.waitRun(run.id)).status, 'succeeded');
  runId = run.id;
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

/** Frame times (ms) while scrolling: short steps, then long jumps. */
function scrollFrames(page) {
  return page.evaluate(async () => {
    const log = document.querySelector('.log');
    const times = [];
    await new Promise((r) => requestAnimationFrame(r));
    let last = performance.now();
    const t0 = last;
    for (let i = 0; i < 120; i++) {
      log.scrollTop += i % 20 < 10 ? 900 : -300;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    for (let i = 0; i < 60; i++) {
      log.scrollTop = Math.random() * (log.scrollHeight - log.clientHeight);
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    const fps = (times.length * 1000) / (last - t0);
    times.sort((a, b) => a - b);
    return { fps, median: times[Math.floor(times.length / 2)], p95: times[Math.floor(times.length * 0.95)], max: times[times.length - 1], rows: log.querySelectorAll('.log-row').length };
  });
}

test('a 100,000-line log with 2,000 sections paints its first lines in under 150 ms and scrolls at 60 fps', { timeout: 240000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  const painted = [];
  for (let i = 0; i < 6; i++) {
    await page.goto(`${srv.url}/runs/${runId}`, { waitUntil: 'commit' });
    await until(async () => (await logState(page))?.lines > 0, { message: 'first line', interval: 5 });
    await until(async () => page.evaluate(() => performance.getEntriesByName('jenky:first-line-painted').length > 0), { message: 'the paint mark', interval: 5 });
    painted.push(await page.evaluate(() => performance.getEntriesByName('jenky:first-line-painted')[0].startTime));
    await until(async () => {
      const s = await logState(page);
      return s?.complete && s.lines === LINES;
    }, { message: `all ${LINES} lines`, timeout: 60000, interval: 20 });
  }
  const warm = painted.slice(1).sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)];
  const heads = await page.evaluate(() => document.querySelectorAll('.log-row.section-head').length);
  assert.ok(heads > 10, `section headers in view: ${heads}`);
  const folded = await scrollFrames(page);
  // Every section open ("Open all"): 100,000 rows to scroll through.
  await page.click('button.fold-all');
  await until(async () => (await page.getAttribute('button.fold-all', 'aria-pressed')) === 'true', { message: 'all open' });
  await until(async () => (await page.evaluate(() => document.querySelector('.log-spacer').offsetHeight)) > 90000 * 15, { message: 'every row placed' });
  const open = await scrollFrames(page);
  const openRows = await page.evaluate(() => document.querySelector('.log-spacer').offsetHeight);
  await screenshots(page, 'sections-bench', { phone: false });
  console.log(
    `# sections bench: first lines painted median ${median.toFixed(0)} ms (${warm.map((x) => x.toFixed(0)).join(', ')}); ` +
      `scroll folded ${folded.fps.toFixed(1)} fps (p95 ${folded.p95.toFixed(1)} ms, ${folded.rows} rows in the DOM); ` +
      `open ${open.fps.toFixed(1)} fps (p95 ${open.p95.toFixed(1)} ms, ${open.rows} rows in the DOM, spacer ${openRows} px)`,
  );
  // The goal (150 ms, 60 fps) is measured on a quiet machine with
  // JENKY_UI_BENCH_STRICT=1; a machine shared with builds (CI) gets room,
  // as biglog.test.mjs does, so the test fails on a regression, not on load.
  const strict = process.env.JENKY_UI_BENCH_STRICT === '1';
  const paintLimit = strict ? 150 : 1000;
  const fpsFloor = strict ? 55 : 10;
  assert.ok(median < paintLimit, `first lines painted in ${median.toFixed(0)} ms (median of ${warm.length} warm loads; limit ${paintLimit})`);
  assert.ok(folded.fps >= fpsFloor, `folded: ${folded.fps.toFixed(1)} frames a second while scrolling (floor ${fpsFloor})`);
  assert.ok(open.fps >= fpsFloor, `open: ${open.fps.toFixed(1)} frames a second while scrolling (floor ${fpsFloor})`);
  assert.ok(folded.rows < 200 && open.rows < 200, 'only the visible rows are in the DOM');
  assert.deepEqual(problems, []);
  await page.close();
});
