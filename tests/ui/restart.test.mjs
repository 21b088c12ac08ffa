// A routine restart of jenky (5-6 s down) is an outage, not a proxy: the run
// page stays on WebSocket, says jenky is restarting, resumes the log at its
// byte offset and goes on timing the new lines. And a page that did fall back
// to plain HTTP (WebSocket never worked) goes back to WebSocket once it can.
//
// And a page rides out a stop and start of the
// server: it says so while disconnected, reconnects with backoff and resumes
// the log at its byte offset (no line lost or shown twice); the projects page
// says when jenky cannot be reached, then recovers.

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

/** [line number, time shown, text] of the rows in the DOM, in order. */
async function rowsWithTimes(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.log-row')]
      .map((r) => [Number(r.querySelector('.log-no').textContent), r.querySelector('.log-time')?.textContent ?? null, r.querySelector('.log-text').textContent])
      .sort((a, b) => a[0] - b[0]),
  );
}

function checkTicks(rows) {
  for (const [n, , text] of rows) assert.equal(text, `tick ${n}`, `line ${n} holds tick ${n}`);
}

test('a 5-6 s restart of jenky: the page stays on WebSocket, resumes, and times the new lines', { timeout: 120000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/slow/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: EXPECTED });
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines > 30, { message: 'the log streaming' });
  await until(async () => (await rowsWithTimes(page)).some(([, t]) => t), { message: 'live lines with times' });

  // A routine restart: stop, 5.5 s down, start again on the same address.
  await srv.stop();
  const banner = page.locator('#connection-banner');
  let during;
  try {
    await banner.waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await banner.textContent(), /restarting|Lost the connection/);
    during = await logState(page);
    await sleep(5500);
    assert.equal(await page.locator('.log').getAttribute('data-transport'), null, 'still WebSocket while jenky is down');
  } finally {
    srv = await startServer({ config: TEST_PROJECTS, port, dataDir: srv.dataDir });
  }

  await until(async () => (await logState(page)).lines > during.lines + 40, { message: 'the log to resume', timeout: 30000 });
  await until(async () => !(await banner.isVisible()), { message: 'the banner to go', timeout: 10000 });
  assert.equal(await page.locator('.log').getAttribute('data-transport'), null, 'never fell back to plain HTTP');
  assert.equal(await page.locator('.log-note').isVisible(), false, 'no note blaming a proxy');
  assert.equal((await logState(page)).connection, 'open');
  assert.ok(sockets.length >= 2, `reconnected over WebSocket (${sockets.length} sockets)`);
  // The newest lines came live after the restart: they show their times.
  await sleep(500);
  const rows = await rowsWithTimes(page);
  checkTicks(rows);
  const newest = rows.slice(-10);
  assert.ok(newest.every(([n, t]) => n > during.lines && /^\d+:\d\d\.\d$/.test(t ?? '')), `the new lines have times: ${JSON.stringify(newest)}`);
  assert.deepEqual(problems, []);
  await srv.api('POST', `/api/v1/runs/${run.id}/cancel`);
  await srv.waitRun(run.id);
  await page.close();
});

test('a page that fell back to plain HTTP returns to WebSocket once it gets through', { timeout: 120000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/slow/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  // WebSocket fails before opening (a proxy without upgrades) until the test lets it through.
  await page.addInitScript(() => {
    const Real = window.WebSocket;
    window.__wsBlocked = true;
    window.__wsOpened = 0;
    window.WebSocket = class {
      static OPEN = 1;
      constructor(url) {
        if (!window.__wsBlocked) {
          const ws = new Real(url);
          ws.addEventListener('open', () => window.__wsOpened++);
          return ws;
        }
        this.url = url;
        this.readyState = 0;
        setTimeout(() => {
          this.readyState = 3;
          this.onerror?.(new Event('error'));
          this.onclose?.({ code: 1006 });
        }, 20);
      }
      send() {}
      close() {}
    };
  });
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await page.locator('.log').getAttribute('data-transport')) === 'http', { message: 'the HTTP fallback', timeout: 20000 });
  assert.match(await page.locator('.log-note').textContent(), /plain HTTP.*keeps trying WebSocket/);
  // Lines that arrive over HTTP after the fallback are live: they have times.
  const atFallback = (await logState(page)).lines;
  await until(async () => (await logState(page)).lines > atFallback + 20, { message: 'lines over HTTP' });
  await sleep(300);
  let rows = await rowsWithTimes(page);
  assert.ok(rows.slice(-5).every(([, t]) => /^\d+:\d\d\.\d$/.test(t ?? '')), `lines over HTTP have times: ${JSON.stringify(rows.slice(-5))}`);
  await screenshots(page, 'run-http-fallback-trying', { phone: false });

  // The proxy is fixed: the page goes back to WebSocket by itself.
  await page.evaluate(() => (window.__wsBlocked = false));
  await until(async () => (await page.locator('.log').getAttribute('data-transport')) === null, { message: 'the return to WebSocket', timeout: 30000 });
  assert.equal(await page.locator('.log-note').isVisible(), false, 'the note about plain HTTP has gone');
  const back = (await logState(page)).lines;
  await until(async () => (await logState(page)).lines > back + 20, { message: 'lines over WebSocket again' });
  assert.ok((await page.evaluate(() => window.__wsOpened)) >= 1);
  await until(async () => (await logState(page)).connection === 'open', { message: 'the socket open' });
  // Every line once, in order, across both switches.
  await srv.api('POST', `/api/v1/runs/${run.id}/cancel`);
  await srv.waitRun(run.id);
  await until(async () => ['cancelled'].includes((await logState(page)).status), { message: 'the final status' });
  const total = (await logState(page)).lines;
  for (let top = 0; top < total * 20; top += 400) {
    await page.evaluate((t) => (document.querySelector('.log').scrollTop = t), top);
    await sleep(60);
    rows = await rowsWithTimes(page);
    checkTicks(rows.filter(([n]) => n < total));
  }
  assert.deepEqual(problems, []);
  await page.close();
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
  await until(async () => (await renderedRows(page)).some(([n]) => n === during.lines), { message: 'the lines around the cut rendered' });
  const around = await renderedRows(page);
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
