// Harness of the UI tests: builds the web UI from web/ into a temp dir, runs a
// private copy of the real `jenky serve` with --web-dir, and drives Debian's
// chromium through playwright-core (no browser is ever downloaded).
//
// Env: JENKY_BIN (default build/jenky of this repository), CHROMIUM
// (default /usr/bin/chromium), JENKY_UI_SCREENSHOTS (default build/ui-screenshots).

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const screenshotDir = process.env.JENKY_UI_SCREENSHOTS || path.join(repo, 'build', 'ui-screenshots');
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'jenky-ui-'));
const cleanups = [];

process.on('exit', () => {
  for (const fn of cleanups.reverse()) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

// ---- playwright-core ---------------------------------------------------------

function ensureInstalled(dir, pkg) {
  if (fs.existsSync(path.join(dir, 'node_modules', pkg, 'package.json'))) return;
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' });
}

ensureInstalled(here, 'playwright-core');
ensureInstalled(here, '@axe-core/playwright'); // a node_modules from before it was added
const { chromium } = await import('playwright-core');
// For the test files: a static import of it would be resolved before this
// module has installed node_modules (a fresh clone).
const { AxeBuilder } = await import('@axe-core/playwright');

/**
 * Axe's violations on PAGE as it is now, in the light and the dark scheme
 * (WCAG 2.2 AA and best practice), one line each naming WHAT, the rule and
 * the first elements; INCLUDE limits it to a selector. Leaves the light scheme.
 */
export async function axe(page, what, { include = null } = {}) {
  const out = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await sleep(100);
    let builder = new AxeBuilder({ page });
    if (include) builder = builder.include(include);
    const { violations } = await builder.withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
    for (const v of violations) out.push(`${what} (${scheme}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return out;
}

// ---- the UI build ---------------------------------------------------------------

function hashTree(paths) {
  const h = createHash('sha256');
  const walk = (p) => {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else {
      h.update(p);
      h.update(fs.readFileSync(p));
    }
  };
  for (const p of paths) walk(p);
  return h.digest('hex').slice(0, 16);
}

/** Builds web/ as CMake does (once per source state; test files share it) and returns the directory. */
export function buildUI() {
  const web = path.join(repo, 'web');
  const compress = path.join(repo, 'scripts', 'compress-web.mjs');
  const key = hashTree([...['src', 'index.html', 'package.json', 'package-lock.json', 'vite.config.ts', 'tsconfig.json'].map((p) => path.join(web, p)), compress]);
  const out = path.join(os.tmpdir(), `jenky-ui-web-${key}`);
  if (fs.existsSync(path.join(out, 'index.html'))) return out;
  ensureInstalled(web, 'vite');
  const tmp = `${out}.${process.pid}`;
  execFileSync('npm', ['run', '--silent', 'build', '--', '--outDir', tmp, '--emptyOutDir', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit' });
  // The .br and .gz copies the binary embeds (scripts/build-web.sh does the same).
  execFileSync(process.execPath, [compress, tmp], { stdio: 'ignore' });
  try {
    fs.renameSync(tmp, out);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another test file built it first
  }
  return out;
}

// ---- the server ---------------------------------------------------------------------

let binCopy = null;

/** A private copy of the binary, so a rebuild during the run does not disturb it. */
export function jenkyBin() {
  if (binCopy) return binCopy;
  const src = process.env.JENKY_BIN || path.join(repo, 'build', 'jenky');
  if (!fs.existsSync(src)) throw new Error(`no jenky binary at ${src}: build it first or set JENKY_BIN`);
  binCopy = path.join(tmpRoot, 'jenky');
  fs.copyFileSync(src, binCopy);
  fs.chmodSync(binCopy, 0o755);
  return binCopy;
}

export function tempDir(name) {
  return fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
}

/**
 * COUNT real OpenSSH test hosts in network namespaces (tests/fleet/
 * hosts_for_node.py; root only). Resolves to the helper's answer: `skip`
 * (why not) or `hosts`, `known_hosts` and `hosts_toml`; plus `dataDir()`, a
 * jenky data directory that trusts them, and `stop()`, which removes them.
 */
export async function startFleetHosts(count) {
  const helper = spawn('python3', [path.join(repo, 'tests/fleet/hosts_for_node.py'), tempDir('fleet-hosts'), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: helper.stdout }).once('line', resolve);
    helper.once('exit', (code) => reject(new Error(`the test hosts' helper exited with ${code}`)));
  });
  const fleet = JSON.parse(line);
  fleet.dataDir = () => {
    const dir = tempDir('data');
    fs.mkdirSync(path.join(dir, 'ssh'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'ssh', 'known_hosts'), fleet.known_hosts);
    return dir;
  };
  fleet.stop = async () => {
    if (helper.exitCode !== null) return;
    const gone = new Promise((r) => helper.once('exit', r));
    helper.stdin.end(); // the helper removes the hosts
    await gone;
  };
  return fleet;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/**
 * Starts `jenky serve`. Options: demo, config (TOML text), dataDir, port (0 = any).
 * Resolves once it prints its address and answers /healthz.
 */
export async function startServer({ demo = true, config = null, dataDir = null, port = 0, webDir = null } = {}) {
  const dir = dataDir ?? tempDir('data');
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--web-dir', webDir ?? buildUI()];
  if (demo) args.push('--demo');
  let configPath = null;
  if (config !== null) {
    configPath = path.join(dir, 'jenky.toml');
    if (!fs.existsSync(configPath) || fs.readFileSync(configPath, 'utf8') !== config) fs.writeFileSync(configPath, config);
    args.push('--config', configPath);
  }
  const proc = spawn(jenkyBin(), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, env: { ...process.env, NO_COLOR: undefined } });
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jenky did not start in 15 s:\n${stderr}`)), 15000);
    proc.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jenky exited with ${code}:\n${stderr}`));
    });
  });
  proc.stderr.removeAllListeners('data');
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200000) stderr = stderr.slice(-100000);
  });
  proc.removeAllListeners('exit');
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  cleanups.push(kill);
  const server = {
    url,
    port: Number(new URL(url).port),
    dataDir: dir,
    proc,
    get stderr() {
      return stderr;
    },
    /** Stops it (SIGTERM, then SIGKILL after 10 s) and waits for the exit. */
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    },
    async api(method, p, body, headers = {}) {
      const res = await fetch(url + p, {
        method,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, json, text, headers: res.headers };
    },
    /** Waits until run `id` has finished and returns it. */
    async waitRun(id, headers = {}, timeoutMs = 120000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = await server.api('GET', `/api/v1/runs/${id}`, undefined, headers);
        if (r.json && !['queued', 'running'].includes(r.json.status)) return r.json;
        if (Date.now() > end) throw new Error(`run ${id} still ${r.json?.status} after ${timeoutMs} ms`);
        await sleep(200);
      }
    },
  };
  for (let i = 0; i < 50; i++) {
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  return server;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the browser -----------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/**
 * Launches Debian's chromium with a fresh profile. Returns the persistent
 * context (pages come from context.newPage()).
 */
export async function launch({ viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) throw new Error(`no chromium at ${executablePath}: apt-get install -y chromium`);
  const userDataDir = tempDir('profile');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    colorScheme,
    reducedMotion: 'reduce',
  });
  cleanups.push(() => {
    try {
      context.browser()?.close();
    } catch {
      /* exiting */
    }
  });
  return context;
}

/**
 * Watches a page for console errors, uncaught exceptions and requests to any
 * host but jenky's own. `allow` lists regexps of console errors expected by a test.
 */
export function watchPage(page, origin, { allow = [] } = {}) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (allow.some((re) => re.test(text))) return;
    problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('request', (req) => {
    const u = req.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    const o = new URL(u);
    const own = new URL(origin);
    if (o.host !== own.host) problems.push(`request to another host: ${u}`);
  });
  return problems;
}

export async function screenshot(page, name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Polls fn until it returns a truthy value. */
export async function until(fn, { timeout = 15000, interval = 50, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A log that shows what the ANSI renderer does. */
const COLOURS_PROJECT = String.raw`
[projects.colours]
description = "every kind of ANSI styling jenky renders"
script = '''
printf '\e[1mbold\e[0m \e[2mdim\e[0m \e[3mitalic\e[0m \e[4munderline\e[0m \e[7minverse\e[0m \e[9mstrike\e[0m \e[1;4;31mbold underlined red\e[0m\n'
for i in 0 1 2 3 4 5 6 7; do printf '\e[3%dm fg %d \e[0m' $i $i; done; echo
for i in 0 1 2 3 4 5 6 7; do printf '\e[9%dm fg %d \e[0m' $i $((i + 8)); done; echo
for i in 0 1 2 3 4 5 6 7; do printf '\e[4%dm bg %d \e[0m' $i $i; done; echo
for i in $(seq 16 51); do printf '\e[48;5;%dm  ' $i; done; printf '\e[0m 256 colours\n'
for i in $(seq 0 6 255); do printf '\e[48;2;%d;%d;160m ' $i $((255 - i)); done; printf '\e[0m truecolor\n'
printf '\e[38;2;255;120;0mtruecolor orange\e[0m and \e[38;5;45m256-colour cyan\e[0m\n'
printf 'progress:  10%%\rprogress:  50%%\rprogress: 100%% (carriage returns)\n'
printf '\e[32mgreen that goes on\nto the next line\e[0m and stops\n'
printf '\e]8;;http://example.invalid/\e\\a hyperlink (OSC 8) shows as text\e]8;;\e\\\n'
printf 'tab\tseparated\tcolumns\n'
printf 'a long line: %s end\n' "$(printf 'x%.0s' $(seq 1 300))"
'''
`;

/** The test projects' config: a slow live log, a 100,000-line log, a webhook. */
export const TEST_PROJECTS = COLOURS_PROJECT + `
[projects.hooked]
description = "deploys pushes to main from a generic webhook"
script = 'echo "deploying $JENKY_BRANCH at $JENKY_COMMIT for $JENKY_ACTOR"'

[projects.hooked.webhook]
provider = "generic"
secret = "hook-secret-123"
branches = ["main"]

[projects.ticker]
description = "prints 300 numbered lines over 15 seconds"
script = '''
for i in $(seq 1 300); do printf 'tick \\033[35m%d\\033[0m\\n' "$i"; sleep 0.05; done
'''

[projects.slow]
description = "prints a coloured line every 50 ms for a minute"
script = '''
for i in $(seq 1 1200); do printf '\\033[36mtick\\033[0m %d\\n' "$i"; sleep 0.05; done
'''

[projects.big]
description = "writes 100,000 lines (about 10 MB) at once"
script = '''
awk 'BEGIN { for (i = 1; i <= 100000; i++) printf "\\033[32m%06d\\033[0m \\033[1mstep\\033[0m %s \\033[33m%d\\033[0m\\n", i, "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do", i }'
'''
`;

/** The log view's state, as the page has it. */
export async function logState(page) {
  return page.evaluate(() => {
    const log = document.querySelector('.log');
    const badge = document.querySelector('.badge-slot .badge');
    const jump = document.querySelector('.jump');
    if (!log) return null;
    return {
      lines: Number(log.dataset.lines || 0),
      complete: log.dataset.complete === '1',
      connection: log.dataset.connection || '',
      scrollTop: log.scrollTop,
      scrollHeight: log.scrollHeight,
      clientHeight: log.clientHeight,
      atBottom: log.scrollHeight - log.clientHeight - log.scrollTop <= 12,
      jumpVisible: !!jump && !jump.hidden,
      status: badge?.getAttribute('data-status') ?? null,
      rows: log.querySelectorAll('.log-row').length,
    };
  });
}

/** The rows in the DOM: [line number, visible text]. */
export async function renderedRows(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.log-row')]
      .map((r) => [Number(r.querySelector('.log-no')?.textContent), r.querySelector('.log-text')?.textContent ?? ''])
      .sort((a, b) => a[0] - b[0]),
  );
}

/** Takes light, dark and phone screenshots of the page as it is now. */
export async function screenshots(page, name, { phone = true, dark = true } = {}) {
  const size = page.viewportSize();
  await screenshot(page, `${name}-desktop-light`);
  if (dark) {
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, `${name}-desktop-dark`);
  }
  if (phone) {
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(150);
    await screenshot(page, `${name}-phone-dark`);
    await page.emulateMedia({ colorScheme: 'light' });
    await screenshot(page, `${name}-phone-light`);
    await page.setViewportSize(size);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await sleep(100);
}
