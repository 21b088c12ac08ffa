// A fleet run of six hosts on a phone: the host grid starts folded to one
// line that counts the hosts by status (a second scroll area above the log
// would be in the way), opens with a tap, and stays open on a wide screen.
// Real OpenSSH test hosts (tests/fleet/hosts_for_node.py); root only,
// skipped otherwise, like fleet.test.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axe, launch, screenshots, startFleetHosts, startServer, until, watchPage } from './harness.mjs';

let hosts = null;
let srv;
let ctx;

const PROJECT = `
[projects.app]
targets = ["web"]
deploy_dir = "/srv/app"
script = 'echo "deployed on $JENKY_HOST"'
[projects.app.rollout]
batch = "50%"
`;

before(async () => {
  hosts = await startFleetHosts(6);
  if (hosts.skip) return;
  srv = await startServer({ demo: false, dataDir: hosts.dataDir(), config: hosts.hosts_toml + PROJECT });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  await hosts?.stop();
});

test('six hosts on a phone: the grid folds to its counts, opens with a tap; open on a wide screen', { timeout: 120000 }, async (t) => {
  if (hosts.skip) return t.skip(hosts.skip);
  const run = (await srv.api('POST', '/api/v1/projects/app/runs', { kind: 'manual' })).json;
  assert.equal((await srv.waitRun(run.id)).status, 'succeeded');

  const phone = await ctx.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  const problems = watchPage(phone, srv.url);
  await phone.goto(`${srv.url}/runs/${run.id}`);
  const summary = phone.locator('.hosts-panel summary');
  await until(async () => /6 healthy/.test((await summary.textContent()) ?? ''), { message: 'the hosts counted in the summary' });
  assert.equal(await phone.locator('.hosts-details').evaluate((d) => d.open), false, 'folded on a phone');
  assert.equal(await phone.locator('.host-card[data-host="h0"]').isVisible(), false);
  const folded = await phone.locator('.hosts-panel').boundingBox();
  assert.ok(folded.height < 60, `one line when folded (${folded.height} px)`);
  const found = await axe(phone, 'fleet run on a phone, grid folded');
  await screenshots(phone, 'fleet-phone-folded');

  await summary.click();
  await until(async () => phone.locator('.host-card[data-host="h5"]').isVisible(), { message: 'the cards after a tap' });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `nothing wider than a phone (${overflow} px over)`);
  found.push(...(await axe(phone, 'fleet run on a phone, grid open')));
  await screenshots(phone, 'fleet-phone-open');
  // Opened by the user, it stays open while the run's state changes.
  await phone.locator('.host-card[data-host="h2"]').click();
  await until(async () => new URL(phone.url()).searchParams.get('host') === 'h2', { message: 'h2’s log' });
  await phone.close();

  const wide = await ctx.newPage();
  await wide.goto(`${srv.url}/runs/${run.id}`);
  await wide.locator('.host-card[data-host="h5"]').waitFor();
  assert.equal(await wide.locator('.hosts-details').evaluate((d) => d.open), true, 'open on a wide screen');
  await wide.close();
  assert.deepEqual(found, []);
  assert.deepEqual(problems, []);
});
