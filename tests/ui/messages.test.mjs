// Notifications in the UI (web/src/pages/messages.ts): the run page and the
// project page list the outbox's messages (GET .../messages) with their
// receiver, kind, state (sent, pending with its next try, failed with why),
// attempts and times; axe finds nothing in light or dark; at phone width the
// table becomes cards without scrolling sideways; the keyboard reaches the
// run links.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { axe, launch, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';


const SHA = '9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293';

// A receiver on loopback: /ok takes everything, /gone is a 404, /down a 503
// (tried again later: stays pending), /api/... a forge taking statuses.
const got = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    got.push([req.url, body]);
    if (req.url === '/gone') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such hook');
    } else if (req.url === '/down') {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('upstream unavailable');
    } else {
      res.writeHead(req.url.startsWith('/api/') ? 201 : 200, { 'Content-Type': 'application/json' }).end('{}');
    }
  });
});

let srv;
let ctx;
let run;
let unsent;
let count; // the run's messages

function config(port) {
  const base = `http://127.0.0.1:${port}`;
  return `
[[notify]]
name = "ops-hook"
kind = "webhook"
url = "${base}/ok"
on = ["started", "succeeded", "failed"]

[[notify]]
name = "team-chat"
kind = "slack"
url = "${base}/gone"
on = ["succeeded"]

[[notify]]
name = "phone"
kind = "ntfy"
url = "${base}/down"
on = ["succeeded"]
projects = ["app"]

[projects.app]
description = "a deploy that tells everyone"
script = 'echo deployed'

[projects.app.status]
provider = "github"
api_url = "${base}/api"
repo = "lewin/app"
token_env = "JENKY_UI_STATUS_TOKEN"

[projects.unnamed]
description = "a status with no repository to go to"
script = 'echo deployed'

[projects.unnamed.webhook]
provider = "github"
secret = "hook-secret-456"

[projects.unnamed.status]
api_url = "${base}/api"
token_env = "JENKY_UI_STATUS_TOKEN"
`;
}

before(async () => {
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  process.env.JENKY_UI_STATUS_TOKEN = 'ghp_ui_test_token';
  srv = await startServer({ demo: false, config: config(receiver.address().port) });
  ctx = await launch();
  run = (await srv.api('POST', '/api/v1/projects/app/runs', { kind: 'manual', commit: SHA })).json;
  assert.equal((await srv.waitRun(run.id)).status, 'succeeded');
  unsent = (await srv.api('POST', '/api/v1/projects/unnamed/runs', { kind: 'manual', commit: SHA })).json;
  await srv.waitRun(unsent.id);
  // Every message has had its first answer: sent, failed, or waiting to
  // retry. (The run may start at once, never recorded queued: then its
  // commit status has no "queued" pending; hence at least 6.)
  await until(
    async () => {
      const list = (await srv.api('GET', `/api/v1/runs/${run.id}/messages`)).json;
      count = list.length;
      return list.length >= 6 && list.every((m) => m.state !== 'pending' || m.attempts > 0) && list;
    },
    { message: 'the messages of the run answered', timeout: 30000 },
  );
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  receiver.close();
});


/** The rendered messages: [receiver, kind, message, state cell text]. */
async function rows(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.messages-table tbody tr')].map((tr) => ({
      receiver: tr.querySelector('.c-receiver')?.textContent,
      kind: tr.querySelector('.c-kind')?.textContent,
      event: tr.querySelector('.c-event')?.textContent,
      state: tr.dataset.state,
      stateText: tr.querySelector('.c-state')?.textContent,
      attempts: tr.querySelector('.c-attempts')?.textContent,
      run: tr.querySelector('.c-run')?.textContent ?? null,
    })),
  );
}

test('the run page lists each message with its state and why', { timeout: 90000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  // Closed under the log, its summary counting the states; opened with the keyboard.
  const summary = page.locator('summary#messages-h');
  await until(async () => /\d+ sent, 1 pending, 1 failed/.test((await summary.textContent()) ?? ''), { message: 'the summary counts' });
  await summary.focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('details.messages-details').getAttribute('open'), '');
  const shown = await until(async () => {
    const r = await rows(page);
    return r.length === count && r;
  }, { message: 'every message rendered' });
  const by = (receiver, event) => shown.find((m) => m.receiver === receiver && m.event === event);
  // The status: pending (GitHub has no running), success at the end.
  assert.ok(shown.filter((m) => m.receiver === 'status').length >= 2, JSON.stringify(shown));
  const success = by('status', 'commit status success');
  assert.equal(success?.state, 'sent');
  assert.equal(success.kind, 'github');
  assert.equal(by('ops-hook', 'run.started')?.state, 'sent');
  assert.equal(by('ops-hook', 'run.succeeded')?.state, 'sent');
  const gone = by('team-chat', 'run.succeeded');
  assert.equal(gone?.state, 'failed');
  assert.match(gone.stateText, /HTTP 404: no such hook/);
  assert.match(gone.attempts, /^1 \(HTTP 404\)/);
  const down = by('phone', 'run.succeeded');
  assert.equal(down?.state, 'pending');
  assert.match(down.stateText, /next try at \d\d:\d\d:\d\d.*HTTP 503: upstream unavailable/);
  // Newest first, as the API has them.
  const api = (await srv.api('GET', `/api/v1/runs/${run.id}/messages`)).json;
  assert.deepEqual(
    shown.map((m) => m.receiver),
    api.map((m) => m.receiver),
  );
  // No token anywhere on the page.
  assert.ok(!(await page.content()).includes('ghp_ui_test_token'));
  assert.deepEqual(await axe(page, 'run page', { include: '.messages-section' }), []);
  await page.locator('.messages-section').scrollIntoViewIfNeeded();
  await screenshots(page, 'messages-run');
  // Phone width: cards, nothing wider than the screen; the log keeps most of it.
  await page.setViewportSize({ width: 390, height: 844 });
  await until(() => page.evaluate(() => getComputedStyle(document.querySelector('.messages-table thead')).display === 'none'), { message: 'the phone layout' });
  const overflow = await page.evaluate(() => {
    const t = document.querySelector('.messages-section');
    return [t.scrollWidth, t.clientWidth, document.documentElement.scrollWidth];
  });
  assert.ok(overflow[0] <= overflow[1] + 1 && overflow[2] <= 391, `sideways scrolling at phone width: ${overflow}`);
  const fit = await page.evaluate(() => [document.documentElement.scrollHeight, window.innerHeight, document.querySelector('.messages-scroll').clientHeight]);
  assert.ok(fit[0] <= fit[1] + 1 && fit[2] <= fit[1] * 0.4 + 1, `the page still fits the screen, the messages in 40 % of it: ${fit}`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a status with no repository says why on the run page', { timeout: 60000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${unsent.id}`);
  await page.locator('summary#messages-h').click();
  const shown = await until(async () => {
    const r = (await rows(page)).filter((m) => m.receiver === 'status');
    return r.length >= 1 && r.some((m) => m.event === 'commit status success') && r;
  }, { message: 'the failed statuses' });
  assert.equal(shown.length, 1, 'one record, when the run ended');
  for (const m of shown) {
    assert.equal(m.state, 'failed');
    assert.match(m.stateText, /no repository to post the commit status to: run \d+ \(manual\) did not come from a webhook whose payload names one; set repo = "owner\/name" in \[projects\.unnamed\.status\]/);
    assert.match(m.attempts, /^0/);
  }
  assert.equal(got.filter(([url]) => url.includes('/statuses/') && !url.includes('lewin/app')).length, 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the project page lists the project’s messages, run links reachable by keyboard', { timeout: 60000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/projects/app`);
  const shown = await until(async () => {
    const r = await rows(page);
    return r.length === count && r;
  }, { message: 'the project’s messages rendered' });
  assert.ok(shown.every((m) => m.run === `#${run.id}`), JSON.stringify(shown));
  // Tab from the heading reaches the first run link of the table.
  await page.locator('#messages-h').evaluate((el) => {
    el.tabIndex = -1;
    el.focus();
  });
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => [document.activeElement?.closest('.messages-table') !== null, document.activeElement?.getAttribute('href')]);
  assert.deepEqual(focused, [true, `/runs/${run.id}`]);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${srv.url}/runs/${run.id}`);
  await page.goBack();
  await until(async () => (await rows(page)).length === count, { message: 'the table again' });
  assert.deepEqual(await axe(page, 'project page', { include: '.messages-section' }), []);
  await page.locator('.messages-section').scrollIntoViewIfNeeded();
  await screenshots(page, 'messages-project');
  assert.deepEqual(problems, []);
  await page.close();
});
