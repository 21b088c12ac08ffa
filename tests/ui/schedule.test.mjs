// The project page says when a change arrives without a push: each schedule
// expression with its next fire (from the API's schedule.next, counting down
// as time passes), its time zone and catch_up; the polled repository, its
// branches and interval. Axe in both schemes; phone width.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axe, launch, screenshots, startServer, until, watchPage } from './harness.mjs';

const CONFIG = String.raw`
[projects.nightly]
description = "rebuilds the search index every weekday night"
script = 'echo indexing'
schedule = ["0 3 * * 1-5", "30 12 * * 6"]
timezone = "Europe/Berlin"
catch_up = true

[projects.mirror]
description = "deploys what the internal forge has, polled"
script = 'echo mirror'
[projects.mirror.poll]
repo = "git://127.0.0.1:9/nothing.git"
branches = ["main", "release/*"]
interval = "5m"
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

test('a scheduled project shows each next fire, a polled one its repository', { timeout: 60000 }, async () => {
  const api = (await srv.api('GET', '/api/v1/projects/nightly')).json.schedule;
  assert.equal(api.next.length, 2);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/projects/nightly`);
  const rows = page.locator('.schedule-next');
  await until(async () => (await rows.count()) === 2, { message: 'two schedule rows' });
  for (let i = 0; i < 2; i++) {
    const row = rows.nth(i);
    assert.equal(await row.locator('code').textContent(), api.next[i].cron);
    // The next fire as a <time>: machine-readable, and relative on screen.
    const time = row.locator('time');
    assert.equal(await time.getAttribute('datetime'), new Date(api.next[i].at).toISOString());
    assert.match(await time.textContent(), /^in \d+ (s|min|h|days)$/);
  }
  // Its fires are recorded with the deliveries: the section says so.
  await page.getByRole('heading', { name: 'Deliveries, polls and schedule fires' }).waitFor();
  const facts = await page.locator('dl.facts').textContent();
  assert.match(facts, /Europe\/Berlin · a fire missed while jenky was down runs at start/);

  await page.goto(`${srv.url}/projects/mirror`);
  await page.getByText('Polling').waitFor();
  const polled = await page.locator('dl.facts').textContent();
  assert.match(polled, /git:\/\/127\.0\.0\.1:9\/nothing\.git/);
  assert.match(polled, /every 5m · branches main, release\/\*/);
  await page.goto(`${srv.url}/projects/nightly`);
  await until(async () => (await rows.count()) === 2, { message: 'the page again' });
  await screenshots(page, 'project-schedule');

  assert.deepEqual(await axe(page, 'project page'), []);
  assert.deepEqual(problems, []);
  await page.close();
});
