// Accessibility and layout stability: axe finds nothing on any page in either
// colour scheme; the log's line numbers and times meet WCAG AA contrast
// (4.5:1) on plain, hovered and selected rows; the project page does not
// shift when its data arrives (CLS measured by the browser).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axe, TEST_PROJECTS, launch, logState, screenshots, sleep, startServer, until, watchPage } from './harness.mjs';

// The 16 colours of the theme, as foreground text, each on a line.
const CONFIG =
  TEST_PROJECTS +
  String.raw`
[projects.palette]
description = "the 16 theme colours"
script = '''
for i in 0 1 2 3 4 5 6 7; do printf '\e[3%dmcolour %d\e[0m \e[1;3%dmbold %d\e[0m
' $i $i $i $i; done
for i in 0 1 2 3 4 5 6 7; do printf '\e[9%dmcolour %d\e[0m
' $i $((i + 8)); done
'''
`;

let srv;
let ctx;
let finishedRun;

before(async () => {
  srv = await startServer({ config: CONFIG });
  ctx = await launch();
  finishedRun = (await srv.api('POST', '/api/v1/projects/palette/runs', { kind: 'manual' })).json;
  await srv.waitRun(finishedRun.id);
  // A delivery, so the project page has its deliveries table.
  await srv.api('POST', '/hooks/hooked', { ref: 'refs/heads/main', after: 'a'.repeat(40) }, { Authorization: 'Bearer hook-secret-123' });
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});


test('axe finds no violation on any page, light or dark (and the assets come brotli-compressed)', { timeout: 120000 }, async () => {
  const live = (await srv.api('POST', '/api/v1/projects/ticker/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  const found = [];
  const assets = [];
  page.on('response', async (res) => {
    if (/\/assets\/.*\.(js|css)$/.test(res.url())) assets.push([res.url(), (await res.allHeaders())['content-encoding']]);
  });
  await page.goto(`${srv.url}/`);
  await page.locator('[data-project="demo"]').waitFor();
  // The browser gets the JS and CSS brotli-compressed.
  await until(() => assets.length >= 2, { message: 'the JS and CSS responses' });
  assert.ok(assets.every(([, enc]) => enc === 'br'), `assets: ${JSON.stringify(assets)}`);
  found.push(...(await axe(page, 'projects')));
  await page.goto(`${srv.url}/projects/hooked`);
  await page.locator('.deliveries-table').waitFor();
  found.push(...(await axe(page, 'project')));
  await page.goto(`${srv.url}/runs`);
  await page.locator('.runs-table').waitFor();
  found.push(...(await axe(page, 'runs')));
  await page.goto(`${srv.url}/runs/${finishedRun.id}#L2-L4`);
  await until(async () => (await logState(page))?.complete, { message: 'the finished log' });
  found.push(...(await axe(page, 'finished run')));
  await page.goto(`${srv.url}/runs/${live.id}`);
  await until(async () => (await page.locator('.log-time:not(:empty)').count()) > 3, { message: 'live lines with times' });
  await page.getByRole('searchbox', { name: 'Search the log' }).fill('tick 1');
  await until(async () => (await page.locator('.log mark').count()) > 0, { message: 'search marks' });
  found.push(...(await axe(page, 'live run with search')));
  await page.getByRole('tab', { name: 'Script' }).click();
  await page.locator('pre.script').waitFor();
  found.push(...(await axe(page, 'script tab')));
  await page.goto(`${srv.url}/projects/no-such-project`);
  await page.getByRole('alert').waitFor();
  found.push(...(await axe(page, 'unknown project')));
  // The operator's pages and dialogs (issue 21): the audit log, a paused
  // project, the deploy and pause dialogs.
  await page.goto(`${srv.url}/audit`);
  await page.locator('.audit-table, .empty-note').first().waitFor();
  found.push(...(await axe(page, 'audit log')));
  await srv.api('POST', '/api/v1/projects/hooked/pause', { reason: 'checking the banner' });
  await page.goto(`${srv.url}/projects/hooked`);
  await page.locator('.paused-banner').waitFor();
  found.push(...(await axe(page, 'paused project')));
  await page.getByRole('button', { name: 'Deploy hooked' }).click();
  await page.locator('dialog[open]').waitFor();
  found.push(...(await axe(page, 'deploy dialog')));
  await page.keyboard.press('Escape');
  await srv.api('POST', '/api/v1/projects/hooked/resume');
  await page.reload();
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.locator('dialog[open]').waitFor();
  found.push(...(await axe(page, 'pause dialog')));
  await page.keyboard.press('Escape');
  assert.deepEqual(found, []);
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), []);
  await srv.waitRun(live.id);
  await page.close();
});

/** Contrast of each element's text against what is painted behind it, opacity included. */
async function contrasts(page, selector) {
  return page.evaluate((sel) => {
    const parse = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const blend = (fg, bg, a) => ({ r: fg.r * a + bg.r * (1 - a), g: fg.g * a + bg.g * (1 - a), b: fg.b * a + bg.b * (1 - a) });
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c.a > 0) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    return [...document.querySelectorAll(sel)]
      .filter((el) => el.textContent.trim())
      .map((el) => {
        let alpha = 1;
        for (let e = el; e; e = e.parentElement) alpha *= Number(getComputedStyle(e).opacity);
        const fg = parse(getComputedStyle(el).color);
        const bg = background(el);
        const shown = blend(fg, bg, fg.a * alpha);
        const [hi, lo] = [lum(shown), lum(bg)].sort((a, b) => b - a);
        return { text: el.textContent, ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100 };
      });
  }, selector);
}

test('line numbers and line times meet 4.5:1 on plain, hovered and selected rows, light and dark', { timeout: 90000 }, async () => {
  const live = (await srv.api('POST', '/api/v1/projects/ticker/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${live.id}#L3-L5`);
  await until(async () => (await page.locator('.log-time:not(:empty)').count()) > 3, { message: 'live lines with times' });
  const worst = {};
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await sleep(100);
    // Hover a row that has a time, so the hovered colours are measured too.
    const timed = page.locator('.log-row:has(.log-time:not(:empty))').last();
    await timed.hover();
    for (const sel of ['.log-row .log-no', '.log-row .log-time', '.log-row.selected .log-no', '.log-row:hover .log-no', '.log-row:hover .log-time']) {
      const found = await contrasts(page, sel);
      assert.ok(found.length > 0, `${sel} found (${scheme})`);
      const min = Math.min(...found.map((f) => f.ratio));
      worst[`${scheme} ${sel}`] = min;
    }
    await page.mouse.move(0, 0);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await screenshots(page, 'run-live-times', { phone: false });
  for (const [what, ratio] of Object.entries(worst)) assert.ok(ratio >= 4.5, `${what}: ${ratio}:1 is under 4.5:1 (${JSON.stringify(worst)})`);
  console.log(`# contrast (lowest of each): ${JSON.stringify(worst)}`);
  assert.deepEqual(problems, []);
  await srv.waitRun(live.id);
  await page.close();
});

test('the project page does not shift when its settings and runs arrive (CLS)', { timeout: 60000 }, async () => {
  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const page = await ctx.newPage();
    await page.setViewportSize(viewport);
    const problems = watchPage(page, srv.url);
    await page.addInitScript(() => {
      window.__cls = 0;
      window.__shifts = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (e.hadRecentInput) continue;
          window.__cls += e.value;
          window.__shifts.push(e.value);
        }
      }).observe({ type: 'layout-shift', buffered: true });
    });
    // The API answers after the first paint, as it does over a real network.
    await page.route(/\/api\/v1\/projects\/hooked/, async (route) => {
      await sleep(400);
      await route.continue();
    });
    await page.goto(`${srv.url}/projects/hooked`);
    await page.locator('.facts').waitFor();
    await page.locator('.deliveries-table').waitFor();
    await sleep(500);
    const { cls, shifts } = await page.evaluate(() => ({ cls: window.__cls, shifts: window.__shifts }));
    console.log(`# project page CLS at ${viewport.width} px: ${cls.toFixed(4)} (${shifts.length} shifts)`);
    assert.ok(cls < 0.01, `CLS ${cls.toFixed(3)} at ${viewport.width} px (shifts ${JSON.stringify(shifts)})`);
    assert.deepEqual(problems, []);
    await page.close();
  }
});
