// The run page's rough edges, each once a bug: a shared line-range link, the
// search count on a live log, Enter after typing, unknown runs and projects,
// the connection banner and the "Cancelling…" message over the page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, freePort, launch, logState, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

const CONFIG =
  TEST_PROJECTS +
  `
[projects.forty]
description = "prints 40 numbered lines"
script = 'for i in $(seq 1 40); do echo "line $i"; done'
`;

let srv;
let ctx;
let port;

before(async () => {
  port = await freePort();
  srv = await startServer({ config: CONFIG, port });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

async function deploy(project) {
  return (await srv.api('POST', `/api/v1/projects/${project}/runs`, { kind: 'manual' })).json;
}

const selectedLines = (page) =>
  page.evaluate(() => [...document.querySelectorAll('.log-row.selected .log-no')].map((a) => Number(a.textContent)).sort((a, b) => a - b));

test('a shared #L10-L14 link selects lines 10 to 14 on load', { timeout: 60000 }, async () => {
  const run = await deploy('forty');
  await srv.waitRun(run.id);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}#L10-L14`);
  await until(async () => (await logState(page))?.lines === 40, { message: 'the log' });
  await until(async () => (await selectedLines(page)).length > 0, { message: 'a selection' });
  await sleep(200);
  assert.deepEqual(await selectedLines(page), [10, 11, 12, 13, 14]);
  assert.equal(new URL(page.url()).hash, '#L10-L14', 'the link stays as shared');
  // A single line, and a range written backwards, too.
  await page.goto(`${srv.url}/runs/${run.id}#L30-L27`);
  await until(async () => (await selectedLines(page)).length === 4, { message: 'the reversed range' });
  assert.deepEqual(await selectedLines(page), [27, 28, 29, 30]);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the search count follows a live log, and Enter right after typing moves to the next match', { timeout: 90000 }, async () => {
  const run = await deploy('ticker'); // "tick N" for N = 1..300, over 15 s
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines > 5, { message: 'the log streaming' });
  const input = page.getByRole('searchbox', { name: 'Search the log' });
  const count = page.locator('.search-count');
  await input.fill('tick 2');
  await until(async () => /^1 of \d+$/.test(await count.textContent()), { message: 'the first match' });
  const early = Number(/of (\d+)/.exec(await count.textContent())[1]);
  assert.ok(early < 111, `searched early (${early} matches)`);
  // The run goes on to tick 300: "tick 2" is then in 1 + 10 + 100 lines.
  await srv.waitRun(run.id);
  await until(async () => (await logState(page)).status === 'succeeded', { message: 'the end of the run' });
  await until(async () => (await count.textContent()) === '1 of 111', { message: `the count to reach 111 (it says ${await count.textContent()})`, timeout: 5000 });
  await until(async () => (await page.locator('.log mark').count()) > 0, { message: 'the matches highlighted' });

  // Typing then Enter at once: the first match is where typing lands, Enter moves on.
  await input.fill('tick 3');
  await input.press('Enter');
  await until(async () => /of/.test(await count.textContent()), { message: 'a count' });
  assert.equal(await count.textContent(), '2 of 12'); // tick 3, 30-39, 300
  // (The rows are redrawn on the next animation frame.)
  const currentMark = () =>
    page.evaluate(() => {
      const marks = [...document.querySelectorAll('.log mark.current')];
      return marks.length ? [marks.map((m) => m.textContent).join(''), Number(marks[0].closest('.log-row').querySelector('.log-no').textContent)] : null;
    });
  await until(async () => (await currentMark())?.[0] === 'tick 3', { message: 'the current match on "tick 3"' });
  assert.deepEqual(await currentMark(), ['tick 3', 30], 'the second "tick 3" is on line 30');
  // And after waiting for the first match, Enter moves on too; Shift+Enter back.
  await input.fill('tick 29');
  await until(async () => (await count.textContent()) === '1 of 11', { message: 'the first of 11' });
  await input.press('Enter');
  assert.equal(await count.textContent(), '2 of 11');
  await input.press('Shift+Enter');
  await input.press('Shift+Enter');
  assert.equal(await count.textContent(), '11 of 11');
  assert.deepEqual(problems, []);
  await page.close();
});

test('an unknown run is a 404 page: no WebSocket, no connection banner', { timeout: 30000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: [/Failed to load resource: the server responded with a status of 404/] });
  await page.addInitScript(() => {
    window.__banners = [];
    setInterval(() => {
      const b = document.getElementById('connection-banner');
      if (b && !b.hidden && !window.__banners.includes(b.textContent)) window.__banners.push(b.textContent);
    }, 5);
  });
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${srv.url}/runs/987654`);
  await page.getByRole('alert').filter({ hasText: 'There is no run #987654.' }).waitFor();
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Run #987654');
  await sleep(2000);
  assert.deepEqual(sockets, [], 'no WebSocket for a run that does not exist');
  assert.deepEqual(await page.evaluate(() => window.__banners), [], 'no banner, not even "Reconnected"');
  assert.deepEqual(problems, []);
  await page.close();
});

test('an unknown project shows no Deploy, Runs or Deliveries', { timeout: 30000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: [/Failed to load resource: the server responded with a status of 404/] });
  await page.addInitScript(() => {
    window.__seen = [];
    setInterval(() => {
      for (const sel of ['[data-action="deploy"]', 'h2']) {
        for (const el of document.querySelectorAll(sel)) {
          if (el.checkVisibility() && !window.__seen.includes(el.textContent)) window.__seen.push(el.textContent);
        }
      }
    }, 5);
  });
  await page.goto(`${srv.url}/projects/no-such-project`);
  await page.getByRole('alert').filter({ hasText: 'There is no project named “no-such-project”.' }).waitFor();
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'no-such-project');
  assert.equal(await page.getByRole('button', { name: /Deploy/ }).count(), 0);
  assert.equal(await page.getByRole('heading', { name: 'Runs' }).count(), 0);
  assert.equal(await page.getByRole('heading', { name: 'Webhook deliveries' }).count(), 0);
  assert.deepEqual(await page.evaluate(() => window.__seen), [], 'never shown, not even while loading');
  await screenshots(page, 'project-unknown', { phone: false });
  assert.deepEqual(problems, []);
  await page.close();
});

const overlap = (a, b) => a && b && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

test('the connection banner covers neither the breadcrumb nor the heading', { timeout: 90000 }, async (t) => {
  const EXPECTED = [/WebSocket connection to .* failed/, /Failed to load resource: net::ERR_CONNECTION_REFUSED/];
  const run = await deploy('slow');
  // Pass or fail, the run ends with the test: the next one deploys slow again.
  t.after(async () => {
    await srv.api('POST', `/api/v1/runs/${run.id}/cancel`);
    await srv.waitRun(run.id);
  });
  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const page = await ctx.newPage();
    await page.setViewportSize(viewport);
    const problems = watchPage(page, srv.url, { allow: EXPECTED });
    await page.goto(`${srv.url}/runs/${run.id}`);
    await until(async () => (await logState(page))?.lines > 5, { message: 'the log streaming' });
    await srv.stop();
    try {
      const banner = page.locator('#connection-banner');
      await banner.waitFor({ state: 'visible', timeout: 10000 });
      const b = await banner.boundingBox();
      for (const sel of ['.crumbs', 'h1', '.tabs', '.log-toolbar']) {
        const box = await page.locator(sel).boundingBox();
        assert.ok(!overlap(b, box), `the banner (${JSON.stringify(b)}) covers ${sel} (${JSON.stringify(box)}) at ${viewport.width} px`);
      }
      if (viewport.width > 720) {
        // The run page still fits the window: the log shrinks to make room.
        const fits = await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight + 1);
        assert.ok(fits, 'no page scrollbar with the banner shown');
        await screenshots(page, 'run-banner', { phone: false });
      }
    } finally {
      srv = await startServer({ config: CONFIG, port, dataDir: srv.dataDir });
    }
    try {
      await until(async () => (await logState(page)).connection === 'open', { message: 'reconnected', timeout: 30000 });
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  }
});

test('"Cancelling…" lasts as long as the cancel and covers no log line; exit code 143 is explained', { timeout: 60000 }, async () => {
  const run = await deploy('slow');
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines > 40, { message: 'a screenful of log' });
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Cancel run' }).click();
  const busy = page.locator('[data-action="cancel"]');
  // Whatever says "Cancelling…" must not sit on the log.
  const logBox = await page.locator('.log').boundingBox();
  for (const el of await page.getByText(/Cancelling/).all()) {
    if (!(await el.isVisible())) continue;
    assert.ok(!overlap(await el.boundingBox(), logBox), '"Cancelling…" covers the log');
  }
  await until(async () => (await logState(page)).status === 'cancelled', { message: 'status cancelled', timeout: 20000 });
  // Once cancelled, nothing says it is still cancelling.
  await sleep(100);
  assert.equal(await busy.count(), 0, 'the Cancel/Cancelling button has gone');
  const left = [];
  for (const el of await page.getByText(/Cancelling/).all()) if (await el.isVisible()) left.push(await el.textContent());
  assert.deepEqual(left, [], 'no "Cancelling…" after the run was cancelled');
  assert.equal(await page.locator('.toast').count(), 0, 'no toast over the log');
  // The exit code says what happened: 143 is SIGTERM, the cancel.
  const final = await srv.waitRun(run.id);
  assert.equal(final.exit_code, 143);
  const exit = page.locator('.meta-item', { hasText: 'Exit code' });
  await until(async () => (await exit.count()) === 1, { message: 'the exit code shown' });
  assert.equal(await exit.locator('dd').textContent(), '143 · terminated by SIGTERM: cancelled');
  await screenshots(page, 'run-cancelled-exit-code', { phone: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a time shown as an age gets the full date as its tooltip when the pointer reaches it', { timeout: 60000 }, async () => {
  const run = await deploy('forty');
  const done = await srv.waitRun(run.id);
  const page = await ctx.newPage();
  await page.goto(`${srv.url}/runs/${run.id}`);
  const age = page.locator('time[data-age]').first();
  await age.waitFor();
  // Written on demand (the first date in the user's locale is slow to format).
  assert.equal(await age.getAttribute('title'), null);
  await age.hover();
  const title = await age.getAttribute('title');
  const when = new Date(Number(await age.getAttribute('data-age')));
  assert.ok(title && title.includes(String(when.getFullYear())), `tooltip: ${title}`);
  assert.ok([done.created_at, done.started_at].map(Date.parse).includes(when.getTime()), 'the age is when the run was made or started');
  await page.close();
});
