// The page rides out a server restart: it says so while disconnected,
// reconnects with backoff, and resumes the log at its byte offset (no line
// lost or shown twice).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, freePort, launch, logState, renderedRows, screenshot, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

// While the server is down, Chromium logs the failed connection attempts.
const EXPECTED = [/WebSocket connection to .* failed/, /Failed to load resource: net::ERR_CONNECTION_REFUSED/];

let srv;
let ctx;
let port;

before(async () => {
  port = await freePort();
  srv = await startServer({ config: TEST_PROJECTS, port });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

function checkRows(rows) {
  for (const [n, text] of rows) assert.equal(text, `tick ${n}`, `line ${n} holds tick ${n}`);
}

test('reconnects after the server restarts and resumes the log at its offset', { timeout: 120000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/ticker/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: EXPECTED });
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines > 30, { message: 'the log streaming' });
  assert.equal(await page.locator('#connection-banner').isVisible(), false);

  // The server goes away (the run goes on: jenky does not stop runs when it stops).
  await srv.stop();
  const banner = page.locator('#connection-banner');
  await banner.waitFor({ state: 'visible', timeout: 10000 });
  // jenky closes viewers with 1001 when it stops: the banner says it is restarting.
  assert.match(await banner.textContent(), /jenky is restarting; the log will resume where it stopped.*Reconnecting/);
  const during = await logState(page);
  await sleep(2500);
  await screenshots(page, 'run-disconnected', { phone: true, dark: false });
  assert.equal((await logState(page)).lines, during.lines, 'nothing arrives while disconnected');

  // It comes back on the same address, with the same data.
  srv = await startServer({ config: TEST_PROJECTS, port, dataDir: srv.dataDir });
  await until(async () => /Reconnected/.test(await banner.textContent()) || !(await banner.isVisible()), { message: 'the banner to say reconnected', timeout: 30000 });
  await until(async () => (await logState(page)).lines > during.lines + 10, { message: 'the log to resume' });
  await screenshot(page, 'run-reconnected');

  // The run ends; every line is there exactly once, in order.
  const final = await srv.waitRun(run.id);
  assert.equal(final.status, 'succeeded');
  await until(async () => (await logState(page)).status === 'succeeded', { message: 'the final status' });
  const st = await logState(page);
  assert.equal(st.lines, 300, 'exactly the 300 lines of the log');
  checkRows(await renderedRows(page));
  // And the lines around the cut, too.
  await page.evaluate((n) => {
    const log = document.querySelector('.log');
    log.scrollTop = Math.max(0, (n - 10) * 20);
  }, during.lines);
  await sleep(200);
  const around = await renderedRows(page);
  assert.ok(around.some(([n]) => n === during.lines));
  checkRows(around);
  assert.equal(await banner.isVisible(), false, 'the banner has gone');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the projects page says when jenky cannot be reached, then recovers', { timeout: 60000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: EXPECTED });
  await page.goto(`${srv.url}/`);
  await page.locator('[data-project="demo"]').waitFor();
  await srv.stop();
  const banner = page.locator('#connection-banner');
  await banner.waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await banner.textContent(), /cannot be reached/);
  srv = await startServer({ config: TEST_PROJECTS, port, dataDir: srv.dataDir });
  const retry = page.getByRole('button', { name: 'Retry now' });
  // The page may recover on its own (its periodic refresh) before the click:
  // either way it must recover.
  if (await retry.isVisible()) await retry.click({ timeout: 5000 }).catch(() => {});
  await until(async () => !(await banner.isVisible()) || /Reconnected/.test(await banner.textContent()), { message: 'recovery', timeout: 20000 });
  await page.locator('[data-project="demo"]').waitFor();
  assert.deepEqual(problems, []);
  await page.close();
});
