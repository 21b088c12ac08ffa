// The run page on a phone: one scroll area (the page fits the screen, only the
// log scrolls) and a wrap toggle (long lines wrap instead of scrolling
// sideways; remembered; on by default on a phone, off on a desktop).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, logState, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

const CONFIG =
  TEST_PROJECTS +
  String.raw`
[projects.long]
description = "short lines and a few long ones"
script = '''
for i in $(seq 1 120); do
  if [ $((i % 20)) -eq 5 ]; then
    printf 'long %d:' "$i"; for w in $(seq 1 60); do printf ' \e[3%dmword%d\e[0m' $((w % 7 + 1)) "$w"; done; echo ' END'
  else
    echo "short $i"
  fi
done
'''
`;

let srv;
let run;

before(async () => {
  srv = await startServer({ config: CONFIG });
  run = (await srv.api('POST', '/api/v1/projects/long/runs', { kind: 'manual' })).json;
  await srv.waitRun(run.id);
});

after(async () => {
  await srv?.stop();
});

/** Geometry of the rows in the DOM, in line order. */
const rowGeometry = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('.log-row')]
      .map((r) => {
        const t = r.querySelector('.log-text');
        return { n: Number(r.querySelector('.log-no').textContent), top: r.offsetTop, height: r.offsetHeight, textHeight: t.scrollHeight, text: t.textContent };
      })
      .sort((a, b) => a.n - b.n),
  );

test('on a phone the run page is one scroll area and long lines wrap', { timeout: 90000 }, async () => {
  const ctx = await launch({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.complete && (await logState(page)).lines === 120, { message: 'the log' });
  await sleep(200);

  // The page does not scroll; the log does, and it has most of the screen.
  const layout = await page.evaluate(() => {
    const log = document.querySelector('.log');
    return { page: document.documentElement.scrollHeight, screen: window.innerHeight, logHeight: log.clientHeight, logScroll: log.scrollHeight, logWidth: log.clientWidth, logScrollWidth: log.scrollWidth };
  });
  assert.ok(layout.page <= layout.screen + 1, `the page fits the screen (${layout.page} > ${layout.screen})`);
  assert.ok(layout.logScroll > layout.logHeight, 'the log scrolls');
  assert.ok(layout.logHeight >= layout.screen * 0.45, `the log has ${layout.logHeight} px of ${layout.screen}`);

  // The search box's width goes to the query: the match arrows show only
  // once there is one.
  const box = () => page.evaluate(() => ({
    input: document.querySelector('.search-input').getBoundingClientRect().width,
    arrows: [...document.querySelectorAll('.search .btn')].filter((b) => b.offsetParent !== null).length,
  }));
  const empty = await box();
  assert.equal(empty.arrows, 0);
  assert.ok(empty.input >= 140, `the search input is ${empty.input} px wide`);
  await page.locator('.search-input').fill('word');
  await until(async () => (await box()).arrows === 2, { message: 'the match arrows' });
  await page.locator('.search-input').fill('');
  await until(async () => (await box()).arrows === 0, { message: 'the arrows hidden again' });

  // Wrapping is on by default here: no sideways scroll, long lines take several rows, nothing overlaps.
  const wrap = page.getByRole('button', { name: 'Wrap lines' });
  assert.equal(await wrap.getAttribute('aria-pressed'), 'true');
  assert.ok(layout.logScrollWidth <= layout.logWidth + 1, `no sideways scrolling (${layout.logScrollWidth} > ${layout.logWidth})`);
  await page.evaluate(() => (document.querySelector('.log').scrollTop = 0));
  await page.locator('.log').focus();
  await sleep(150);
  let rows = await rowGeometry(page);
  const long = rows.find((r) => r.n === 5);
  assert.ok(long, 'line 5 is shown');
  assert.ok(long.height >= 60, `the long line takes several rows (${long.height} px)`);
  assert.ok(long.textHeight <= long.height, `its text fits its rows (${long.textHeight} > ${long.height})`);
  assert.match(long.text, /word60 END$/);
  for (let k = 1; k < rows.length; k++) {
    if (rows[k].n !== rows[k - 1].n + 1) continue;
    assert.equal(rows[k].top, rows[k - 1].top + rows[k - 1].height, `line ${rows[k].n} starts where line ${rows[k - 1].n} ends`);
  }
  await screenshots(page, 'run-phone-wrapped', { phone: false });

  // The end of the log is reachable, and #L links land on wrapped lines.
  await page.goto(`${srv.url}/runs/${run.id}#L105`);
  await until(async () => (await page.locator('.log-row.selected').count()) === 1, { message: 'line 105 selected' });
  const selected = await page.locator('.log-row.selected').boundingBox();
  const logBox = await page.locator('.log').boundingBox();
  assert.ok(selected.y >= logBox.y && selected.y + selected.height <= logBox.y + logBox.height, 'line 105 is in view');

  // Off: one row per line, sideways scrolling; remembered across pages.
  await wrap.click();
  assert.equal(await wrap.getAttribute('aria-pressed'), 'false');
  await sleep(150);
  rows = await rowGeometry(page);
  assert.ok(rows.every((r) => r.height === 20), 'one 20 px row per line');
  assert.ok(await page.evaluate(() => document.querySelector('.log').scrollWidth > document.querySelector('.log').clientWidth + 100), 'long lines scroll sideways');
  await page.reload();
  await until(async () => (await logState(page))?.lines === 120, { message: 'the log again' });
  assert.equal(await page.getByRole('button', { name: 'Wrap lines' }).getAttribute('aria-pressed'), 'false', 'the choice is remembered');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('on a desktop wrapping is off until asked for, and search finds matches inside wrapped lines', { timeout: 60000 }, async () => {
  const ctx = await launch();
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines === 120, { message: 'the log' });
  const wrap = page.getByRole('button', { name: 'Wrap lines' });
  assert.equal(await wrap.getAttribute('aria-pressed'), 'false');
  await wrap.click();
  const input = page.getByRole('searchbox', { name: 'Search the log' });
  await input.fill('word59');
  await input.press('Enter'); // the second of six
  await until(async () => (await page.locator('.search-count').textContent()) === '2 of 6', { message: '2 of 6' });
  await until(async () => (await page.locator('.log mark.current').count()) > 0, { message: 'the current match drawn' });
  const mark = await page.locator('.log mark.current').first().boundingBox();
  const logBox = await page.locator('.log').boundingBox();
  assert.ok(mark.y >= logBox.y && mark.y + mark.height <= logBox.y + logBox.height, `the match is in view (${JSON.stringify(mark)} in ${JSON.stringify(logBox)})`);
  await screenshots(page, 'run-wrapped-search', { phone: false });
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a resize (a phone turned, the banner coming) does not stop following the log', { timeout: 60000 }, async () => {
  const own = await startServer({ config: CONFIG });
  const live = (await own.api('POST', '/api/v1/projects/ticker/runs', { kind: 'manual' })).json;
  const ctx = await launch();
  const page = await ctx.newPage();
  const problems = watchPage(page, own.url, { allow: [/WebSocket connection to .* failed/, /Failed to load resource: net::ERR_CONNECTION_REFUSED/] });
  await page.goto(`${own.url}/runs/${live.id}`);
  await until(async () => (await logState(page))?.lines > 60, { message: 'a screenful of log' });
  assert.ok((await logState(page)).atBottom);
  // No line arrives while jenky is down: only the layout changes.
  await own.stop();
  await page.locator('#connection-banner').waitFor({ state: 'visible' });
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(500);
  let st = await logState(page);
  assert.ok(st.atBottom && !st.jumpVisible, `still at the bottom, following (${JSON.stringify(st)})`);
  await page.setViewportSize({ width: 844, height: 390 });
  await sleep(500);
  st = await logState(page);
  assert.ok(st.atBottom && !st.jumpVisible, `turned: still following (${JSON.stringify(st)})`);
  assert.deepEqual(problems, []);
  await ctx.close();
});
