// A fleet run's page, watched live in a real browser: the host grid (status,
// reason, release), a host's own log streamed over the WebSocket with
// ?host=NAME, the merged log, keyboard, axe, phone width, light and dark.
//
// Nothing is simulated: the hosts are real OpenSSH servers in network
// namespaces (tests/fleet/sshhosts.py, made by tests/fleet/hosts_for_node.py),
// deployed to by the real jenky over the system's ssh. Root only (namespaces):
// skipped otherwise, like tests/fleet.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { axe, launch, renderedRows, screenshots, sleep, startFleetHosts, startServer, until, watchPage } from './harness.mjs';

let hosts = null; // startFleetHosts's answer
let srv;
let ctx;

// Each host's script waits for a gate file in its own /srv (which the test
// sees from outside), so the test decides when each host moves on; h2 then
// fails, and the rollout rolls h0 and h1 back.
const PROJECT = `
[projects.app]
targets = ["web"]
deploy_dir = "/srv/app"
script = '''
echo "waiting on $JENKY_HOST"
while [ ! -e /srv/gate ]; do sleep 0.1; done
echo "through the gate on $JENKY_HOST"
if [ "$JENKY_HOST" = h2 ]; then echo "h2 breaks on purpose"; exit 3; fi
'''
`;

before(async () => {
  hosts = await startFleetHosts(3);
  if (hosts.skip) return;
  srv = await startServer({ demo: false, dataDir: hosts.dataDir(), config: hosts.hosts_toml + PROJECT });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
  await hosts?.stop();
});

const gate = (name) => fs.writeFileSync(path.join(hosts.hosts.find((x) => x.name === name).srv, 'gate'), '');

/** The grid as the page shows it: name -> status. */
async function grid(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('.host-card[data-host]')]
        .filter((a) => a.dataset.host)
        .map((a) => [a.dataset.host, a.querySelector('.host-status')?.getAttribute('data-status') ?? '']),
    ),
  );
}


const texts = async (page) => (await renderedRows(page)).map(([, t]) => t);

test('a fleet run: the host grid and each host’s own log follow the run live', { timeout: 180000 }, async (t) => {
  if (hosts.skip) return t.skip(hosts.skip);
  const run = (await srv.api('POST', '/api/v1/projects/app/runs', { kind: 'manual' })).json;
  assert.ok(run?.id, 'the deploy was triggered');
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);

  // The merged view: the grid shows every host; h0 waits at its gate while
  // h1 and h2 are prepared (one host switched at a time).
  let g = await until(async () => {
    const x = await grid(page);
    return x.h0 === 'switching' && x.h1 === 'prepared' && x.h2 === 'prepared' && x;
  }, { timeout: 60000, message: 'h0 switching, h1 and h2 prepared, in the grid' });
  assert.deepEqual(Object.keys(g), ['h0', 'h1', 'h2']);
  await until(async () => (await texts(page)).includes('[h0] waiting on h0'), { message: 'the merged log with [h0] lines' });
  assert.equal(await page.locator('.host-card[aria-current="page"]').getAttribute('data-host'), '', '"All hosts" is the view');
  assert.equal(await page.locator('.host-card[data-host="h1"] .host-line code').textContent(), String(run.id), 'the release');

  // Keyboard: Tab reaches the host cards, Enter opens h0's own log.
  await page.locator('.host-card[data-host=""]').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-host')), 'h0');
  await page.keyboard.press('Enter');
  await until(async () => new URL(page.url()).searchParams.get('host') === 'h0', { message: 'the URL says ?host=h0' });
  await until(async () => (await texts(page)).includes('waiting on h0'), { message: 'h0’s own log' });
  assert.equal(await page.locator('.host-card[aria-current="page"]').getAttribute('data-host'), 'h0');
  assert.ok(!(await texts(page)).some((l) => l.startsWith('[')), 'a host’s own log has no [NAME] prefixes');
  assert.match(await page.locator('.run-title').textContent(), /· h0/);
  assert.match(await page.getByRole('link', { name: 'Raw log' }).getAttribute('href'), /\?host=h0$/);
  const wsUrls = [];
  page.on('websocket', (ws) => wsUrls.push(ws.url()));

  // h0 goes through its gate: its log grows live on this page (the run is
  // still running: h1 waits at its own gate), and the grid moves on.
  // (The keyboard focus, on h1's card, stays there while the grid changes.)
  await page.locator('.host-card[data-host="h1"]').focus();
  gate('h0');
  await until(async () => (await texts(page)).includes('through the gate on h0'), { message: 'h0’s new line, live' });
  assert.equal((await srv.api('GET', `/api/v1/runs/${run.id}`)).json.status, 'running', 'the line came live, not at the end');
  g = await until(async () => {
    const x = await grid(page);
    return x.h0 === 'healthy' && x.h1 === 'switching' && x;
  }, { timeout: 30000, message: 'h0 healthy and h1 switching, without a reload' });
  assert.equal(g.h2, 'prepared');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-host')), 'h1', 'the focus stayed on h1’s card');
  assert.deepEqual(wsUrls, [], 'no reconnection was needed');

  const found = await axe(page, 'fleet run, host h0');
  await screenshots(page, 'fleet-host-live');
  // A phone: the grid and the log fit the width.
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(150);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `nothing wider than a phone (${overflow} px over)`);
  await page.setViewportSize({ width: 1280, height: 800 });

  // Back to the merged view by keyboard; the rest of the rollout plays out.
  await page.locator('.host-card[data-host=""]').focus();
  await page.keyboard.press('Enter');
  await until(async () => !new URL(page.url()).searchParams.has('host'), { message: 'the merged view again' });
  await until(async () => (await texts(page)).includes('[h0] through the gate on h0'), { message: 'the merged log again' });
  gate('h1');
  await until(async () => (await grid(page)).h2 === 'switching', { timeout: 30000, message: 'h2 switching' });
  gate('h2');
  g = await until(async () => {
    const x = await grid(page);
    return x.h2 === 'failed' && x.h0 === 'rolled back' && x.h1 === 'rolled back' && x;
  }, { timeout: 60000, message: 'h2 failed, h0 and h1 rolled back' });
  await until(async () => (await page.locator('.badge-slot .badge').getAttribute('data-status')) === 'failed', { message: 'the run failed' });
  assert.match(await page.locator('.host-summary').textContent(), /1 failed/);
  assert.match(await page.locator('.host-card[data-host="h2"] .host-reason').textContent(), /.+/, 'h2 says why it failed');
  found.push(...(await axe(page, 'fleet run, merged, finished')));
  await screenshots(page, 'fleet-merged-finished');

  // A finished host's log opens whole from the grid (and says it is whole).
  await page.locator('.host-card[data-host="h2"]').click();
  await until(async () => (await texts(page)).includes('h2 breaks on purpose'), { message: 'h2’s log' });
  await until(async () => (await page.evaluate(() => document.querySelector('.log')?.dataset.complete)) === '1', { message: 'the log complete' });
  assert.deepEqual(found, []);
  assert.deepEqual(problems, []);
});
