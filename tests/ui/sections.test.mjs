// The run page as a deploy log: every line's time as the server recorded it
// (shown after a reload too, relative to the run's start or as clock time),
// and sections (::group:: and GitLab's section_start/section_end) that fold,
// with their duration and status, the failing one open, markers never shown
// as text, and "First error".

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axe, launch, logState, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

const CONFIG = String.raw`
[projects.timed]
description = "two lines a second apart"
script = '''
echo first
sleep 1.2
echo second
'''

[projects.grouped]
description = "sections, the last one failing"
script = '''
echo "before any section"
echo "::group::Install dependencies"
for i in $(seq 1 30); do echo "installing package $i"; done
echo "::endgroup::"
printf '\e[0Ksection_start:%s:build_app[collapsed=false]\r\e[0K\e[1mBuild the app\e[0m\n' "$(date +%s)"
echo "compiling main.c"
sleep 0.3
echo "linking app"
printf '\e[0Ksection_end:%s:build_app\r\e[0K\n' "$(date +%s)"
echo "::group::Run the tests"
echo "test one ... ok"
echo "error: test two failed: expected 2, got 3"
echo "test three ... ok"
exit 1
'''
`;

let srv;
let ctx;

before(async () => {
  srv = await startServer({ config: CONFIG, demo: false });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

async function deployAndWait(project) {
  const run = (await srv.api('POST', `/api/v1/projects/${project}/runs`, { kind: 'manual' })).json;
  return srv.waitRun(run.id);
}

const gutterTimes = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('.log-row')]
      .map((r) => [Number(r.querySelector('.log-no')?.textContent), r.querySelector('.log-time')?.textContent ?? ''])
      .sort((a, b) => a[0] - b[0]),
  );

test('a finished run shows the time the server recorded for each line, relative or as clock time', { timeout: 60000 }, async () => {
  const run = await deployAndWait('timed');
  // The API: one record a line here (they started in different milliseconds).
  const t = await srv.api('GET', `/api/v1/runs/${run.id}/log/times`);
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.times.length, 2, t.text);
  const [[l0, ms0], [l1, ms1]] = t.json.times;
  assert.deepEqual([l0, l1], [0, 1]);
  assert.ok(ms1 - ms0 >= 1100 && ms1 - ms0 < 5000, `second line ${ms1 - ms0} ms after the first`);
  const started = Date.parse(run.started_at);
  assert.ok(Math.abs(ms0 - started) < 2000, 'the first line is near the run start');
  assert.equal((await srv.api('GET', `/api/v1/runs/${run.id}/log/times?from_line=x`)).status, 400);

  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines === 2, { message: 'the log' });
  await until(async () => (await gutterTimes(page)).every(([, s]) => s), { message: 'times in the gutter' });
  const rel = await gutterTimes(page);
  assert.match(rel[0][1], /^0:0[0-1]\.\d$/);
  const secs = (s) => Number(s.split(':')[1]);
  assert.ok(secs(rel[1][1]) - secs(rel[0][1]) >= 1.1, JSON.stringify(rel));
  // Clock time, remembered over a reload.
  await page.click('button.time-toggle');
  await until(async () => (await gutterTimes(page)).every(([, s]) => /^\d\d:\d\d:\d\d\.\d{3}$/.test(s)), { message: 'clock times' });
  const clock = await gutterTimes(page);
  const expected = await page.evaluate((ms) => {
    const d = new Date(ms);
    const p = (n, w = 2) => String(n).padStart(w, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  }, ms1);
  assert.equal(clock[1][1], expected);
  await page.reload();
  await until(async () => (await gutterTimes(page)).length === 2 && (await gutterTimes(page))[1][1] === expected, { message: 'clock times after a reload' });
  assert.equal(await page.getAttribute('button.time-toggle', 'aria-pressed'), 'true');
  await page.click('button.time-toggle');
  await screenshots(page, 'line-times', { phone: false });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the WebSocket log messages carry each line and its time (additively)', { timeout: 60000 }, async () => {
  const run = await deployAndWait('timed');
  const page = await ctx.newPage();
  await page.goto(`${srv.url}/`);
  const msgs = await page.evaluate(
    (id) =>
      new Promise((resolve) => {
        const out = [];
        const ws = new WebSocket(`ws://${location.host}/ws/v1/runs/${id}/log?offset=6`);
        ws.onmessage = (e) => out.push(JSON.parse(e.data));
        ws.onclose = () => resolve(out);
      }),
    run.id,
  );
  const log = msgs.find((m) => m.type === 'log');
  assert.equal(log.offset, 6);
  assert.equal(log.data, 'second\n');
  assert.equal(log.line, 1, 'the line of byte 6');
  assert.equal(log.times.length, 1);
  assert.equal(log.times[0][0], 1);
  await page.close();
});

const sectionHeads = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('.log-row.section-head')].map((r) => {
      const b = r.querySelector('button.section-toggle');
      return {
        line: Number(r.querySelector('.log-no')?.textContent),
        name: b.querySelector('.section-name').textContent,
        info: b.querySelector('.section-info').textContent,
        expanded: b.getAttribute('aria-expanded') === 'true',
      };
    }),
  );

test('sections fold with their duration and status; the failing one is open; markers are not text', { timeout: 60000 }, async () => {
  const run = await deployAndWait('grouped');
  assert.equal(run.status, 'failed');
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await sectionHeads(page)).length === 3, { message: 'three section headers' });
  const heads = await sectionHeads(page);
  assert.deepEqual(
    heads.map((s) => [s.line, s.name, s.expanded]),
    [
      [2, 'Install dependencies', false],
      [34, 'Build the app', false],
      [38, 'Run the tests', true],
    ],
  );
  assert.match(heads[0].info, /done/);
  assert.match(heads[1].info, /^\d+ms · done$|^0\.\d+s · done$|^\d(\.\d)?s · done$/, heads[1].info);
  assert.match(heads[2].info, /failed · 1 error/);
  const text = await page.evaluate(() => document.querySelector('.log').textContent);
  assert.ok(!text.includes('::group::') && !text.includes('::endgroup::'), 'no GitHub markers as text');
  assert.ok(!text.includes('section_start') && !text.includes('section_end'), 'no GitLab markers as text');
  assert.ok(!text.includes('installing package 1'), 'the folded section hides its lines');
  assert.ok(text.includes('error: test two failed'), 'the failing section shows its lines');
  // Open the first section; fold it again.
  await page.click('.log-row.section-head button[data-section="0"]');
  await until(async () => (await page.evaluate(() => document.querySelector('.log').textContent)).includes('installing package 30'), { message: 'the opened section' });
  assert.equal((await sectionHeads(page))[0].expanded, true);
  await screenshots(page, 'sections', { phone: true });
  await page.click('.log-row.section-head button[data-section="0"]');
  await until(async () => !(await page.evaluate(() => document.querySelector('.log').textContent)).includes('installing package 30'), { message: 'the folded section' });

  // Axe, both schemes, with sections on the page.
  assert.deepEqual(await axe(page, 'sections'), []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('"First error" goes to the first line that reports an error, inside a folded section too', { timeout: 60000 }, async () => {
  const run = await deployAndWait('grouped');
  const page = await ctx.newPage();
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await sectionHeads(page)).length === 3, { message: 'sections' });
  // Fold the failing section, then ask for the first error: it opens again.
  await page.click('.log-row.section-head button[data-section="2"]');
  await until(async () => !(await sectionHeads(page))[2].expanded, { message: 'folded' });
  assert.equal(await page.isVisible('button.error-jump'), true);
  await page.click('button.error-jump');
  await until(async () => (await page.evaluate(() => [...document.querySelectorAll('.log-row.selected .log-no')].map((a) => a.textContent))).join() === '40', {
    message: 'line 40 selected',
  });
  assert.equal((await sectionHeads(page)).find((s) => s.line === 38).expanded, true);
  await page.close();
});
