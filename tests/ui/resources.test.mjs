// A finished run's page says what the run used ("Used": CPU seconds, and
// peak memory and processes where the host measured them).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, startServer, watchPage } from './harness.mjs';

let srv;
let ctx;

before(async () => {
  srv = await startServer({
    demo: false,
    config: `[projects.busy]\nscript = """\nfor ((i = 0; i < 50000; i++)); do :; done\necho done\n"""\n`,
  });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

test('a finished run shows the resources it used', { timeout: 60000 }, async () => {
  const started = await srv.api('POST', '/api/v1/projects/busy/runs', {});
  assert.equal(started.status, 202);
  const run = await srv.waitRun(started.json.id);
  assert.equal(run.status, 'succeeded');
  assert.equal(typeof run.resources?.cpu_seconds, 'number');

  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);
  const used = page.locator('.run-meta .meta-item', { has: page.locator('dt', { hasText: 'Used' }) }).locator('dd');
  await used.waitFor();
  const text = await used.textContent();
  assert.match(text, /^\d+\.\d\d s CPU/, text);
  if (run.resources.processes_peak !== undefined) {
    assert.ok(text.includes(`${run.resources.processes_peak} process`), text);
  }
  assert.deepEqual(problems, []);
});
