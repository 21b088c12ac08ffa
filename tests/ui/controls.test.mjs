// The operator's controls: pausing a project (UI, CLI, API; triggers 409
// `paused`, deliveries recorded as paused, who and why at the top of the
// page), the deploy dialog with the project's inputs (checked by the server,
// one message per bad field, JENKY_INPUT_* in the script), Deploy again,
// Roll back to this run, the audit log (API, CLI, page), the commit as a link
// to the forge, what a queued run waits behind. Axe on each page, both schemes.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { axe, jenkyBin, launch, screenshots, sleep, startServer, tempDir, until, watchPage } from './harness.mjs';

const run = promisify(execFile);

const siteDir = tempDir('site');
const CONFIG =
  String.raw`
[projects.app]
description = "prints its inputs"
script = '''
echo "level=$JENKY_INPUT_LEVEL dry_run=$JENKY_INPUT_DRY_RUN note=$JENKY_INPUT_NOTE ref=$JENKY_REF"
'''
[projects.app.inputs.level]
type = "choice"
choices = ["info", "debug", "trace"]
default = "info"
description = "log level of the new release"
[projects.app.inputs.dry_run]
type = "bool"
description = "only say what would change"
[projects.app.inputs.note]
description = "free text for the log"

[projects.app.webhook]
provider = "github"
secret = "hook-secret-123"

[projects.slow]
description = "takes a while"
concurrency = "queue"
script = 'sleep 3'
` +
  `
[projects.site]
description = "a static site with releases"
recipe = "static-site"
[projects.site.params]
build = 'mkdir -p dist && echo "v$JENKY_RUN_ID" > dist/index.html'
output = "dist"
target = "${siteDir}/www"
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


const cli = (...args) => run(jenkyBin(), [...args, '--server', srv.url]).then(
  (r) => ({ code: 0, ...r }),
  (e) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
);

async function logOf(id) {
  await srv.waitRun(id);
  return (await srv.api('GET', `/api/v1/runs/${id}/log`)).text;
}

test('the deploy dialog asks for the inputs, shows the server’s word on each bad one, and the script gets them', { timeout: 90000 }, async () => {
  // The API first: one message per bad field.
  const bad = await srv.api('POST', '/api/v1/projects/app/runs', { inputs: { level: 'loud', dry_run: 'maybe', colour: 'red' } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.error.code, 'bad_request');
  assert.equal(bad.json.error.fields.level, 'must be one of info, debug, trace, not \'loud\'');
  assert.equal(bad.json.error.fields.dry_run, 'must be true or false');
  assert.match(bad.json.error.fields.colour, /is not declared; project 'app' has dry_run, level, note/);
  // Defaults fill what is not given; the Run JSON shows them.
  const plain = await srv.api('POST', '/api/v1/projects/app/runs', {});
  assert.equal(plain.status, 202);
  assert.deepEqual(plain.json.inputs, { dry_run: 'false', level: 'info', note: '' });
  assert.match(await logOf(plain.json.id), /level=info dry_run=false note= ref=/);

  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: [/status of 400/] });
  await page.goto(`${srv.url}/projects/app`);
  await page.getByRole('button', { name: 'Deploy app' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel('level').inputValue(), 'info');
  assert.equal(await dialog.getByLabel('dry_run').isChecked(), false);
  assert.match(await dialog.textContent(), /log level of the new release/);
  // A value the server refuses is shown under its field.
  await dialog.getByLabel('note').fill('bad \x07 bell');
  await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
  const noteError = dialog.locator('.field-error:not([hidden])');
  await noteError.waitFor();
  assert.equal(await noteError.textContent(), 'has a control character');
  assert.equal(await dialog.getByLabel('note').getAttribute('aria-invalid'), 'true');
  await screenshots(page, 'deploy-dialog-inputs', { phone: true });
  assert.deepEqual(await axe(page, 'deploy dialog'), []);
  await dialog.getByLabel('note').fill('from the dialog');
  await dialog.getByLabel('level').selectOption('debug');
  await dialog.getByLabel('dry_run').check();
  await dialog.getByLabel('Branch or ref').fill('main');
  await dialog.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  const id = Number(new URL(page.url()).pathname.split('/').pop());
  assert.match(await logOf(id), /level=debug dry_run=true note=from the dialog ref=refs\/heads\/main/);
  const r = (await srv.api('GET', `/api/v1/runs/${id}`)).json;
  assert.deepEqual(r.inputs, { dry_run: 'true', level: 'debug', note: 'from the dialog' });
  await until(async () => (await page.textContent('.run-meta')).includes('level=debug'), { message: 'the inputs on the run page' });

  // Deploy again: the same ref, commit and inputs, in the dialog.
  await page.getByRole('button', { name: 'Deploy again' }).click();
  const again = page.locator('dialog[open]');
  await again.waitFor();
  assert.equal(await again.getByLabel('level').inputValue(), 'debug');
  assert.equal(await again.getByLabel('dry_run').isChecked(), true);
  assert.equal(await again.getByLabel('Branch or ref').inputValue(), 'refs/heads/main');
  await again.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL((u) => /\/runs\/\d+$/.test(u.pathname) && Number(u.pathname.split('/').pop()) > id);
  const id2 = Number(new URL(page.url()).pathname.split('/').pop());
  assert.match(await logOf(id2), /level=debug dry_run=true note=from the dialog ref=refs\/heads\/main/);

  // The CLI: --input, and a usage error for a malformed one.
  const ok = await cli('deploy', 'app', '--input', 'level=trace', '--input', 'note=cli', '--follow');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /level=trace dry_run=false note=cli/);
  const usage = await cli('deploy', 'app', '--input', 'level');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--input takes NAME=VALUE/);
  const refused = await cli('deploy', 'app', '--input', 'level=loud');
  assert.equal(refused.code, 6);
  assert.match(refused.stderr, /input 'level' must be one of info, debug, trace/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a paused project deploys nothing: 409 paused, deliveries recorded as paused, who and why on its page', { timeout: 90000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: [/status of 409/] });
  await page.goto(`${srv.url}/projects/app`);
  await page.getByRole('button', { name: 'Pause' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByLabel(/Why/).fill('database migration until 14:00');
  await dialog.getByRole('button', { name: 'Pause', exact: true }).click();
  const banner = page.locator('.paused-banner');
  await banner.waitFor();
  assert.match(await banner.textContent(), /Paused by local.*database migration until 14:00/s);
  // Everything that triggers is refused.
  const api = await srv.api('POST', '/api/v1/projects/app/runs', {});
  assert.equal(api.status, 409);
  assert.equal(api.json.error.code, 'paused');
  assert.match(api.json.error.message, /project 'app' is paused \(by local: database migration until 14:00\); resume it to deploy/);
  const hook = await fetchHook();
  assert.equal(hook.status, 409);
  const deliveries = (await srv.api('GET', '/api/v1/projects/app/deliveries')).json;
  assert.equal(deliveries[0].result, 'paused');
  assert.equal(deliveries[0].status, 409);
  const cliDeploy = await cli('deploy', 'app');
  assert.equal(cliDeploy.code, 6);
  assert.match(cliDeploy.stderr, /is paused/);
  // The page shows it all: the banner, the delivery.
  await page.reload();
  await banner.waitFor();
  await page.locator('tr[data-result="paused"]').waitFor();
  await screenshots(page, 'project-paused', { phone: true });
  assert.deepEqual(await axe(page, 'paused project page'), []);
  // The deploy dialog says so too.
  await page.getByRole('button', { name: 'Deploy app' }).click();
  await page.locator('dialog[open] .paused-note').waitFor();
  await page.locator('dialog[open]').getByRole('button', { name: 'Cancel' }).click();
  // Resume from the CLI; pause and resume again from the API.
  const resumed = await cli('resume', 'app');
  assert.equal(resumed.code, 0, resumed.stderr);
  await until(async () => !(await page.isVisible('.paused-banner')), { timeout: 20000, message: 'the banner gone' });
  assert.equal((await srv.api('POST', '/api/v1/projects/app/runs', {})).status, 202);
  const again = await cli('resume', 'app');
  assert.equal(again.code, 6);
  assert.match(again.stderr, /project 'app' is not paused/);
  const paused = await cli('pause', 'app', '--reason', 'from the CLI');
  assert.equal(paused.code, 0, paused.stderr);
  assert.equal((await srv.api('GET', '/api/v1/projects/app')).json.paused.reason, 'from the CLI');
  assert.equal((await srv.api('POST', '/api/v1/projects/app/resume')).status, 200);
  assert.equal((await srv.api('POST', '/api/v1/projects/nope/pause')).status, 404);
  assert.equal((await srv.api('POST', '/api/v1/projects/app/pause', { why: 'x' })).status, 400);
  assert.deepEqual(problems, []);
  await page.close();
});

async function fetchHook() {
  const body = JSON.stringify({ ref: 'refs/heads/main', after: 'ab'.repeat(20), repository: { html_url: 'https://github.com/acme/app' }, head_commit: { message: 'Fix the login form\n\nIt lost the password.' } });
  const { createHmac } = await import('node:crypto');
  const sig = 'sha256=' + createHmac('sha256', 'hook-secret-123').update(body).digest('hex');
  const res = await fetch(`${srv.url}/hooks/app`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': `d-${Math.random()}`, 'X-Hub-Signature-256': sig },
    body,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

test('a webhook run links its commit to the forge with its message, and a queued run says what it waits behind', { timeout: 90000 }, async () => {
  const hook = await fetchHook();
  assert.equal(hook.status, 202);
  assert.equal(hook.json.trigger.repository, 'https://github.com/acme/app');
  assert.equal(hook.json.trigger.message, 'Fix the login form\n\nIt lost the password.');
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${hook.json.id}`);
  const link = page.locator('a.commit-link');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `https://github.com/acme/app/commit/${'ab'.repeat(20)}`);
  assert.equal(await page.textContent('.commit-message'), 'Fix the login form');
  assert.ok(await page.isVisible('button.copy-commit'));

  // Two runs of a queue project: the second waits behind the first.
  const first = (await srv.api('POST', '/api/v1/projects/slow/runs', {})).json;
  const second = (await srv.api('POST', '/api/v1/projects/slow/runs', {})).json;
  await page.goto(`${srv.url}/runs/${second.id}`);
  await until(async () => ((await page.textContent('.run-reason')) ?? '').includes(`Waiting for run #${first.id} to finish`), { message: 'the queued note' });
  await screenshots(page, 'run-queued', { phone: false });
  assert.deepEqual(await axe(page, 'queued run page'), []);
  await srv.waitRun(second.id);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the audit log has every change with who, when and where: API newest first, CLI, page', { timeout: 60000 }, async () => {
  const a = await srv.api('GET', '/api/v1/audit?limit=100');
  assert.equal(a.status, 200, a.text);
  const actions = a.json.map((e) => e.action);
  for (const want of ['trigger', 'pause', 'resume']) assert.ok(actions.includes(want), `${want} in ${actions}`);
  for (const e of a.json) for (const k of ['time', 'actor', 'action', 'project', 'run', 'address']) assert.ok(k in e, `${k} in ${JSON.stringify(e)}`);
  const times = a.json.map((e) => Date.parse(e.time));
  assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
  const pause = a.json.find((e) => e.action === 'pause' && e.detail === 'database migration until 14:00');
  assert.equal(pause.actor, 'local');
  assert.equal(pause.address, '127.0.0.1');
  assert.equal(pause.project, 'app');
  const hook = a.json.find((e) => e.action === 'trigger' && e.actor.startsWith('webhook:'));
  assert.ok(hook, 'the webhook trigger is there');
  assert.equal((await srv.api('GET', '/api/v1/audit?limit=0')).status, 400);
  const paged = (await srv.api('GET', `/api/v1/audit?limit=2&before=${a.json[1].id}`)).json;
  assert.ok(paged.every((e) => e.id < a.json[1].id));

  const out = await cli('audit', '--limit', '5');
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /TIME\s+ACTOR\s+ACTION/);
  assert.equal(out.stdout.trim().split('\n').length, 6);

  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/audit`);
  await page.locator('table.audit-table tbody tr').first().waitFor();
  assert.ok((await page.locator('table.audit-table tbody tr[data-action="pause"]').count()) >= 1);
  await screenshots(page, 'audit', { phone: true });
  assert.deepEqual(await axe(page, 'audit page'), []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a SIGHUP reload is in the audit log, with its signal as the actor', { timeout: 60000 }, async () => {
  srv.proc.kill('SIGHUP');
  await until(async () => (await srv.api('GET', '/api/v1/audit?limit=5')).json.some((e) => e.action === 'config-reload'), { message: 'the reload audited' });
  const reload = (await srv.api('GET', '/api/v1/audit?limit=5')).json.find((e) => e.action === 'config-reload');
  assert.equal(reload.actor, 'signal');
  assert.match(reload.detail, /3 project\(s\)/);
});

test('Roll back to this run switches a release recipe back to that run’s release', { timeout: 90000 }, async () => {
  assert.equal((await srv.api('GET', '/api/v1/projects/app')).json.rollback, false);
  assert.equal((await srv.api('GET', '/api/v1/projects/site')).json.rollback, true);
  const a = (await srv.api('POST', '/api/v1/projects/site/runs', {})).json;
  assert.equal((await srv.waitRun(a.id)).status, 'succeeded');
  const b = (await srv.api('POST', '/api/v1/projects/site/runs', {})).json;
  assert.equal((await srv.waitRun(b.id)).status, 'succeeded');
  assert.equal(fs.readFileSync(path.join(siteDir, 'www', 'index.html'), 'utf8').trim(), `v${b.id}`);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  // A project without releases offers Deploy again only.
  await page.goto(`${srv.url}/runs/${a.id - 1}`);
  await page.getByRole('button', { name: 'Deploy again' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Roll back to this run' }).count(), 0);
  await page.goto(`${srv.url}/runs/${a.id}`);
  await page.getByRole('button', { name: 'Roll back to this run' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Roll back', exact: true }).click();
  await page.waitForURL((u) => /\/runs\/\d+$/.test(u.pathname) && Number(u.pathname.split('/').pop()) > b.id);
  const rb = Number(new URL(page.url()).pathname.split('/').pop());
  const done = await srv.waitRun(rb);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.action, 'rollback');
  assert.equal(done.rollback_to, a.id);
  assert.equal(fs.readFileSync(path.join(siteDir, 'www', 'index.html'), 'utf8').trim(), `v${a.id}`);
  const audit = (await srv.api('GET', '/api/v1/audit?limit=5')).json;
  assert.ok(audit.some((e) => e.action === 'rollback' && e.run === rb && e.detail === `to run ${a.id}`), JSON.stringify(audit));
  assert.deepEqual(problems, []);
  await page.close();
});
