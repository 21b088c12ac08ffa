// The demo project deploys from the button and its log streams live into the
// page with colours; the project, runs and script pages render.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, logState, renderedRows, screenshot, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

let srv;
let ctx;

before(async () => {
  srv = await startServer({ config: TEST_PROJECTS });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

test('the demo deploys from the button and its log streams live with colours', { timeout: 60000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(srv.url + '/');
  const card = page.locator('[data-project="demo"]');
  await card.getByText('Never deployed.').waitFor();
  await screenshots(page, 'projects-empty', { phone: false });

  await card.getByRole('button', { name: 'Deploy demo' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  await screenshot(page, 'deploy-confirm');
  await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const runId = Number(new URL(page.url()).pathname.split('/').pop());

  // While the run is running, lines keep arriving (the demo takes ~3 s).
  const seen = new Set();
  let st;
  let midShot = false;
  for (const end = Date.now() + 20000; Date.now() < end; ) {
    st = await logState(page);
    if (st?.status === 'running' && st.lines > 0) {
      seen.add(st.lines);
      if (!midShot && st.lines > 12) {
        midShot = true;
        await screenshot(page, 'run-live');
      }
    }
    if (st?.status === 'succeeded') break;
    await sleep(40);
  }
  assert.equal(st.status, 'succeeded', 'the demo run succeeds');
  assert.ok(seen.size >= 3, `the log grew while the run was running (line counts seen: ${[...seen].join(', ')})`);
  assert.ok(st.atBottom, 'the view followed the log to its end');

  // Each step is a section, folded once done: open them all.
  const heads = page.locator('.log-row.section-head button.section-toggle[aria-expanded="false"]');
  assert.equal(await heads.count(), 5, 'five folded steps');
  for (let k = 0; k < 5; k++) {
    await heads.first().click();
    await until(async () => (await heads.count()) === 4 - k, { message: `step ${k + 1} open` });
  }
  // Colours and bold came through as styles, not as escape codes.
  const styled = await page.evaluate(() => {
    const blueBold = document.querySelector('.log-row .a4.ab');
    const green = document.querySelector('.log-row .a2');
    const log = document.querySelector('.log');
    return {
      blueBold: blueBold?.textContent,
      blueColor: blueBold && getComputedStyle(blueBold).color,
      weight: blueBold && getComputedStyle(blueBold).fontWeight,
      green: green?.textContent,
      fg: getComputedStyle(log).color,
      raw: log.textContent.includes('\x1b') || log.textContent.includes('[0m'),
    };
  });
  assert.match(styled.blueBold ?? '', /==>/);
  assert.notEqual(styled.blueColor, styled.fg);
  assert.ok(Number(styled.weight) >= 600);
  assert.match(styled.green ?? '', /done|deployed/);
  assert.equal(styled.raw, false, 'no escape codes shown');

  // Lines that arrived live carry their time since the start.
  const times = await page.$$eval('.log-time', (els) => els.map((e) => e.textContent).filter(Boolean));
  assert.ok(times.length > 10, 'live lines show their time');
  assert.match(times[times.length - 1], /^0:0\d\.\d$/);

  // The exact output, line for line, as the API has it.
  const raw = await srv.api('GET', `/api/v1/runs/${runId}/log`);
  assert.equal(st.lines, raw.text.split('\n').filter((l, i, a) => i < a.length - 1 || l).length);

  await screenshots(page, 'run-succeeded');

  // Line anchors: a click selects the line and puts it in the address.
  await page.locator('.log-row a.log-no', { hasText: /^5$/ }).click();
  assert.match(page.url(), /#L5$/);
  // The view re-renders on the next frame: wait for it, then count.
  await page.locator('.log-row.selected').first().waitFor({ timeout: 10000 });
  assert.equal(await page.locator('.log-row.selected').count(), 1);

  // The script tab shows the exact script and its hash.
  await page.getByRole('tab', { name: 'Script' }).click();
  await page.locator('pre.script').waitFor();
  const script = await page.locator('pre.script').textContent();
  const apiScript = await srv.api('GET', `/api/v1/runs/${runId}/script`);
  assert.equal(script.trimEnd(), apiScript.text.trimEnd());
  assert.ok((await page.locator('.script-head').textContent()).includes(apiScript.headers.get('x-jenky-script-sha256')));
  await screenshots(page, 'run-script', { phone: false });

  assert.deepEqual(problems, []);
  await page.close();
});

test('every kind of ANSI styling renders', { timeout: 30000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/colours/runs', { kind: 'manual' })).json;
  await srv.waitRun(run.id);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.complete, { message: 'the log' });
  const rows = await renderedRows(page);
  const text = Object.fromEntries(rows);
  assert.equal(text[8], 'progress: 100% (carriage returns)');
  assert.equal(text[10], 'to the next line and stops');
  assert.equal(text[11], 'a hyperlink (OSC 8) shows as text');
  assert.equal(text[12], 'tab\tseparated\tcolumns');
  const styles = await page.evaluate(() => {
    const row = (n) => [...document.querySelectorAll('.log-row')].find((r) => r.querySelector('.log-no').textContent === String(n));
    const cs = (el) => getComputedStyle(el);
    const r1 = row(1).querySelectorAll('.log-text span');
    const r10 = row(10).querySelector('.log-text span');
    const r7 = row(7).querySelectorAll('.log-text span');
    return {
      bold: cs(r1[0]).fontWeight,
      dim: cs(r1[1]).opacity,
      italic: cs(r1[2]).fontStyle,
      underline: cs(r1[3]).textDecorationLine,
      strike: cs(r1[5]).textDecorationLine,
      carried: r10?.className,
      truecolor: cs(r7[0]).color,
      c256: cs(r7[1]).color,
    };
  });
  assert.ok(Number(styles.bold) >= 600);
  assert.ok(Number(styles.dim) < 1);
  assert.equal(styles.italic, 'italic');
  assert.equal(styles.underline, 'underline');
  assert.equal(styles.strike, 'line-through');
  assert.equal(styles.carried, 'a2', 'the colour carries over to the next line');
  assert.equal(styles.truecolor, 'rgb(255, 120, 0)');
  assert.equal(styles.c256, 'rgb(0, 215, 255)');
  // The long line scrolls sideways; the line numbers stay put.
  const wide = await page.evaluate(() => {
    const log = document.querySelector('.log');
    log.scrollTop = 0;
    log.scrollLeft = 2000;
    return { scrollLeft: log.scrollLeft, gutterLeft: log.querySelector('.log-gutter').getBoundingClientRect().left - log.getBoundingClientRect().left };
  });
  assert.ok(wide.scrollLeft > 100, 'the log scrolls sideways');
  assert.ok(Math.abs(wide.gutterLeft) < 2, 'the gutter sticks to the left edge');
  await page.evaluate(() => (document.querySelector('.log').scrollLeft = 0));
  await screenshots(page, 'run-colours');
  assert.deepEqual(problems, []);
  await page.close();
});

test('projects, a project and all runs pages', { timeout: 60000 }, async () => {
  // A few more runs so the tables have something to show.
  const a = await srv.api('POST', '/api/v1/projects/slow/runs', { kind: 'cli' });
  await until(async () => (await srv.api('GET', `/api/v1/runs/${a.json.id}`)).json?.status === 'running', { message: 'the slow run to start' });
  await srv.api('POST', `/api/v1/runs/${a.json.id}/cancel`);
  await srv.waitRun(a.json.id);
  const b = await srv.api('POST', '/api/v1/projects/demo/runs', { kind: 'api' });
  await srv.waitRun(b.json.id);
  // Webhook deliveries: one that deploys, one filtered out, one unauthenticated.
  const hook = (q, auth = 'Bearer hook-secret-123') => fetch(`${srv.url}/hooks/hooked?${q}`, { method: 'POST', headers: { Authorization: auth } });
  const deployed = await hook('ref=refs/heads/main&commit=9f1c2e3d4b5a69788796a5b4c3d2e1f0a9b8c7d6&actor=alice&delivery=d-1');
  assert.equal(deployed.status, 202);
  assert.equal((await hook('ref=refs/heads/dev&commit=aaaaaaa&actor=bob&delivery=d-2')).status, 204);
  assert.equal((await hook('ref=refs/heads/main&delivery=d-3', 'Bearer wrong-secret')).status, 401);
  await srv.waitRun((await deployed.json()).id);

  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(srv.url + '/');
  await page.locator('[data-project="demo"] .badge[data-status="succeeded"]').waitFor();
  await page.locator('[data-project="slow"] .badge[data-status="cancelled"]').waitFor();
  const meta = await page.locator('[data-project="demo"] .meta').textContent();
  assert.match(meta, /#\d+/);
  assert.match(meta, /API/);
  assert.match(meta, /took/);
  await screenshots(page, 'projects');

  await page.locator('[data-project="demo"] h2 a').click();
  await page.waitForURL(/\/projects\/demo$/);
  await page.locator('.runs-table tbody tr').first().waitFor();
  const rows = await page.$$eval('.runs-table tbody tr', (trs) => trs.map((tr) => [Number(tr.dataset.run), tr.querySelector('.c-trigger').textContent]));
  assert.ok(rows.length >= 2);
  assert.ok(rows[0][0] > rows[1][0], 'newest first');
  assert.deepEqual(rows.slice(0, 2).map((r) => r[1]), ['API', 'manual']);
  assert.match(await page.locator('#deliveries-h + .table-box').textContent(), /no webhook/);
  await screenshots(page, 'project');

  // A project with a webhook: its deliveries and why each did or did not deploy.
  await page.goto(srv.url + '/projects/hooked');
  await page.locator('.deliveries-table tbody tr').first().waitFor();
  const deliveries = await page.$$eval('.deliveries-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.result, tr.querySelector('.c-reason').textContent]));
  assert.deepEqual(deliveries.map((d) => d[0]).sort(), ['deployed', 'ignored', 'rejected']);
  assert.match(deliveries.find((d) => d[0] === 'ignored')[1], /dev/);
  const hookRun = await page.$$eval('.runs-table tbody tr', (trs) => trs.map((tr) => [tr.querySelector('.c-trigger').textContent, tr.querySelector('.c-commit').textContent, tr.querySelector('.c-actor').textContent]));
  assert.deepEqual(hookRun[0], ['webhook · generic', '9f1c2e3main', 'alice']);
  await screenshots(page, 'project-webhook');

  // Paging: 20 runs a page, newest first; Older and Newer.
  const ids = [];
  for (let i = 0; i < 22; i++) ids.push((await srv.api('POST', '/api/v1/projects/hooked/runs', { kind: 'api' })).json.id);
  for (const id of ids) await srv.waitRun(id);
  await page.goto(srv.url + '/projects/hooked');
  const firstIds = async () => page.$$eval('.runs-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.run)));
  await until(async () => (await firstIds())[0] === ids[ids.length - 1], { message: 'the newest run first' });
  const page1 = await firstIds();
  assert.equal(page1.length, 20);
  await page.getByRole('button', { name: 'Older →' }).click();
  await until(async () => (await firstIds())[0] < page1[19], { message: 'the older page' });
  const page2 = await firstIds();
  assert.ok(page2.every((id) => id < page1[19]), 'older runs only');
  assert.equal(page2.length, 3, 'the 2 oldest API runs and the webhook run');
  await page.getByRole('button', { name: '← Newer' }).click();
  await until(async () => (await firstIds())[0] === page1[0], { message: 'back to the newest page' });

  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await page.waitForURL(/\/runs$/);
  await page.locator('.runs-table tbody tr').first().waitFor();
  assert.ok((await page.locator('.runs-table .c-project').count()) >= 3);
  await screenshots(page, 'runs');

  // Keyboard: on a fresh load the skip link is the first stop.
  await page.goto(srv.url + '/runs');
  await page.locator('.runs-table').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');

  assert.deepEqual(problems, []);
  await page.close();
});
