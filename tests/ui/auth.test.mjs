// Sign-in with a token (an HttpOnly, SameSite=Strict session cookie), and a
// read-only user who never sees the buttons they cannot use.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, logState, screenshots, sha256, startServer, until, watchPage } from './harness.mjs';

const VIEWER = 'viewer-token-7f3a9c2e51';
const DEPLOYER = 'deployer-token-4be81d09aa';
const ADMIN = 'admin-token-0c55e1f2d9';
const CONFIG = `
[server]
max_auth_failures = 0

[[tokens]]
name = "viewer"
sha256 = "${sha256(VIEWER)}"
scopes = ["read"]

[[tokens]]
name = "deployer"
sha256 = "${sha256(DEPLOYER)}"
scopes = ["read", "deploy"]

[[tokens]]
name = "admin"
sha256 = "${sha256(ADMIN)}"
scopes = ["admin", "read", "deploy"]
${TEST_PROJECTS}`;

// Chromium itself logs a failed request (the 401 that says "not signed in",
// the 401 of a wrong token) to the console; those are expected here.
const EXPECTED = [/Failed to load resource: the server responded with a status of 40[13]/];

let srv;
let ctx;

before(async () => {
  srv = await startServer({ config: CONFIG });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

async function signIn(page, token) {
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign-in, read-only user, sign-out, deployer', { timeout: 90000 }, async () => {
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: EXPECTED });

  // Not signed in: any page leads to the sign-in form, which remembers where to go back.
  await page.goto(`${srv.url}/projects/demo`);
  await page.waitForURL(/\/signin\?next=%2Fprojects%2Fdemo$/);
  await page.getByRole('heading', { name: 'Sign in to jenky' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'the token field has focus');
  await screenshots(page, 'signin');

  // A wrong token is refused, with a message.
  await signIn(page, 'not-a-token');
  await until(async () => /not valid/.test(await page.locator('#signin-error').textContent()), { message: 'the error' });
  await screenshots(page, 'signin-error', { phone: false, dark: false });

  // The read-only viewer.
  await signIn(page, VIEWER);
  await page.waitForURL(/\/projects\/demo$/);
  await page.locator('.runs-table, .empty-note').first().waitFor();
  const cookies = await ctx.cookies(srv.url);
  const session = cookies.find((c) => c.name === 'jenky_session');
  assert.ok(session, `a session cookie (${cookies.map((c) => c.name)})`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read the session');
  assert.equal(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)), '{}{}', 'nothing stored by the page');
  assert.match(await page.locator('.user').textContent(), /viewer.*read-only/);
  assert.equal(await page.locator('[data-action="deploy"]').count(), 0, 'no Deploy button for a read-only user');
  await page.goto(srv.url + '/');
  await page.locator('[data-project="demo"]').waitFor();
  assert.equal(await page.locator('[data-action="deploy"]').count(), 0);
  await screenshots(page, 'projects-readonly', { phone: true, dark: false });

  // A running run: the viewer sees it stream, but no Cancel.
  const auth = { Authorization: `Bearer ${DEPLOYER}` };
  const run = (await srv.api('POST', '/api/v1/projects/slow/runs', { kind: 'api' }, auth)).json;
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await logState(page))?.lines > 5, { message: 'the log streaming to the viewer' });
  assert.equal((await logState(page)).status, 'running');
  assert.equal(await page.locator('[data-action="cancel"]').count(), 0, 'no Cancel button for a read-only user');
  assert.equal(await page.getByRole('button', { name: /cancel/i }).count(), 0);
  await screenshots(page, 'run-readonly', { phone: false, dark: true });

  // Sign out: back to the form; the API no longer answers this browser.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/signin$/);
  assert.equal((await ctx.cookies(srv.url)).filter((c) => c.name === 'jenky_session' && c.value).length, 0, 'the cookie is gone');
  await page.goto(`${srv.url}/`);
  await page.waitForURL(/\/signin\?next=/);

  // The deployer sees Deploy and Cancel.
  await signIn(page, DEPLOYER);
  await page.waitForURL(new RegExp(`${srv.url}/$`));
  await page.locator('[data-project="demo"] [data-action="deploy"]').waitFor();
  assert.doesNotMatch(await page.locator('.user').textContent(), /read-only/);
  await page.goto(`${srv.url}/runs/${run.id}`);
  await page.locator('[data-action="cancel"]').waitFor();
  await srv.api('POST', `/api/v1/runs/${run.id}/cancel`, undefined, auth);
  await until(async () => (await logState(page)).status === 'cancelled', { message: 'cancelled' });
  assert.equal(await page.locator('[data-action="cancel"]').count(), 0);

  // The audit log says who did what: tokens, sessions, from which address;
  // only for the admin scope.
  await page.getByRole('button', { name: 'Deploy again' }).click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL((u) => /\/runs\/\d+$/.test(u.pathname) && Number(u.pathname.split('/').pop()) > run.id);
  const uiRun = Number(new URL(page.url()).pathname.split('/').pop());
  assert.equal((await srv.api('GET', '/api/v1/audit', undefined, auth)).status, 403, 'deploy scope cannot read the audit log');
  const audit = (await srv.api('GET', '/api/v1/audit?limit=50', undefined, { Authorization: `Bearer ${ADMIN}` })).json;
  const find = (action, actor, runId) => audit.find((e) => e.action === action && e.actor === actor && (runId === undefined || e.run === runId));
  assert.ok(find('trigger', 'token:deployer', run.id), JSON.stringify(audit));
  assert.ok(find('cancel', 'token:deployer', run.id));
  assert.ok(find('trigger', 'session:deployer', uiRun), 'the UI deploy is the session\'s');
  assert.ok(find('sign-in', 'token:viewer') && find('sign-out', 'session:viewer') && find('sign-in', 'token:deployer'));
  assert.ok(audit.every((e) => e.address === null || e.address === '127.0.0.1'));
  await page.goto(`${srv.url}/audit`);
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').textContent(), /needs a token with the admin scope/);

  assert.deepEqual(problems, []);
  await page.close();
});

test('a session that ends sends the page to the sign-in form', { timeout: 30000 }, async () => {
  await ctx.clearCookies();
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url, { allow: EXPECTED });
  await page.goto(`${srv.url}/signin`);
  await signIn(page, VIEWER);
  await page.waitForURL(new RegExp(`${srv.url}/$`));
  await page.locator('[data-project="demo"]').waitFor();
  // The session disappears (signed out elsewhere / expired): the next refresh notices.
  await ctx.clearCookies();
  await page.waitForURL(/\/signin\?next=%2F$/, { timeout: 15000 });
  assert.match(await page.locator('.toasts').textContent(), /session has ended/);
  assert.deepEqual(problems, []);
  await page.close();
});
