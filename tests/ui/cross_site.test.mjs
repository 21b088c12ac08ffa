// A page on another origin (another port of 127.0.0.1, or localhost) makes
// the browser that visits it send every kind of state-changing request to
// jenky: fetch without CORS, fetch with a text/plain body, an HTML form. With
// the embedded default (no tokens) and with a signed-in session (SameSite
// does not separate ports), none may deploy, cancel, restart or sign in.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, sha256, startServer, until } from './harness.mjs';

const DEPLOYER = 'deployer-token-4be81d09aa';

// Every state-changing route of jenky, as a foreign page would aim at it.
const ROUTES = [
  ['POST', '/api/v1/projects/hooked/runs'],
  ['POST', '/api/v1/runs/1/cancel'],
  ['POST', '/api/v1/projects/hooked/rollback'],
  ['POST', '/api/v1/admin/restart'],
  ['POST', '/api/v1/session'],
  ['DELETE', '/api/v1/session'],
  ['POST', '/hooks/hooked'],
];

/** The attacker's page: fires every request at TARGET, then says done. */
function evilPage(target) {
  return `<!doctype html><title>cute cats</title><body>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="post" enctype="text/plain" target="sink" action="${target}/api/v1/projects/hooked/runs">
<input name='{"ref":"main","x":"' value='"}'></form>
<script>
const routes = ${JSON.stringify(ROUTES)};
const tries = [];
for (const [method, path] of routes) {
  const url = ${JSON.stringify(target)} + path;
  const simple = method === 'POST';
  tries.push(fetch(url, { method, mode: simple ? 'no-cors' : 'cors', credentials: 'include' }));
  tries.push(fetch(url, { method, mode: simple ? 'no-cors' : 'cors', credentials: 'include',
                          headers: { 'Content-Type': 'text/plain' },
                          body: '{"token":"${DEPLOYER}","ref":"main"}' }));
}
const framed = new Promise((resolve) => document.getElementById('sink').addEventListener('load', resolve));
document.getElementById('form').submit();
Promise.allSettled([...tries, framed]).then(() => { document.title = 'done'; });
</script></body>`;
}

let evil;
let evilPort;
let target = '';

before(async () => {
  evil = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(evilPage(target));
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  evilPort = evil.address().port;
});

after(() => evil?.close());

async function api(srv, path, token = null) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(srv.url + path, { headers });
  return res.json();
}

async function visitEvil(ctx, host) {
  const page = await ctx.newPage();
  await page.goto(`http://${host}:${evilPort}/`);
  await until(async () => (await page.title()) === 'done', { message: 'the foreign page to fire its requests' });
  await page.close();
}

test('without tokens, a page on another port or name cannot deploy, cancel, restart or sign in', async () => {
  const srv = await startServer({ config: TEST_PROJECTS, demo: false });
  const ctx = await launch();
  try {
    target = srv.url;
    await visitEvil(ctx, '127.0.0.1'); // same host, another port: "same-site"
    await visitEvil(ctx, 'localhost'); // another site
    assert.deepEqual(await api(srv, '/api/v1/runs'), [], 'a foreign page started a run');
    assert.equal(srv.proc.exitCode, null);
    assert.doesNotMatch(srv.stderr, /restart requested/);
    assert.match(srv.stderr, /refused: a page from http:\/\/127\.0\.0\.1:\d+ may not change anything/);
    // jenky's own page still deploys.
    const page = await ctx.newPage();
    await page.goto(srv.url + '/');
    const status = await page.evaluate(async () => (await fetch('/api/v1/projects/hooked/runs', { method: 'POST' })).status);
    assert.equal(status, 202);
  } finally {
    await ctx.close();
    await srv.stop();
  }
});

test('with a signed-in session, a page on another port of the same host cannot act as the user', async () => {
  const config = `[[tokens]]\nname = "deployer"\nsha256 = "${sha256(DEPLOYER)}"\nscopes = ["admin"]\n${TEST_PROJECTS}`;
  const srv = await startServer({ config, demo: false });
  const ctx = await launch();
  try {
    target = srv.url;
    const own = await ctx.newPage();
    await own.goto(srv.url + '/');
    const signedIn = await own.evaluate(async (token) => {
      const r = await fetch('/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
      return r.status;
    }, DEPLOYER);
    assert.equal(signedIn, 200);
    await visitEvil(ctx, '127.0.0.1');
    assert.deepEqual(await api(srv, '/api/v1/runs', DEPLOYER), [], 'a foreign page deployed as the signed-in user');
    // Still signed in (the foreign DELETE did not sign the user out), and
    // the user's own page deploys.
    const status = await own.evaluate(async () => (await fetch('/api/v1/projects/hooked/runs', { method: 'POST' })).status);
    assert.equal(status, 202);
  } finally {
    await ctx.close();
    await srv.stop();
  }
});
