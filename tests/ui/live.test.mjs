// A live log: follows the bottom while the user is there, stops when they
// scroll up, resumes from "Jump to bottom"; Cancel; following the project
// into its next run.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_PROJECTS, launch, logState, screenshot, screenshots, startServer, until, watchPage } from './harness.mjs';

let srv;
let ctx;

before(async () => {
  srv = await startServer({ config: TEST_PROJECTS });
  ctx = await launch();
});

after(async () => {
  await ctx?.close();
  await srv?.stop();
});

test('scrolling up stops the follow; jump to bottom resumes it; cancel ends the run', { timeout: 90000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/slow/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${run.id}`);

  // Enough lines to scroll, and the view at the bottom following them.
  let st = await until(async () => {
    const s = await logState(page);
    return s && s.lines > 80 && s.scrollHeight > s.clientHeight * 1.5 && s;
  }, { message: 'a screenful of log' });
  assert.equal(st.status, 'running');
  const screenful = st.lines;
  st = await until(async () => {
    const s = await logState(page);
    return s.lines > screenful && s.atBottom && s;
  }, { message: 'the view at the bottom, following new lines' });
  assert.equal(st.jumpVisible, false);
  assert.ok(st.rows < 400, `only the visible lines are in the DOM (${st.rows} rows)`);

  // The user scrolls up with the wheel: the view stays where they put it.
  await page.locator('.log').hover();
  await page.mouse.wheel(0, -400);
  const held = await until(async () => {
    const s = await logState(page);
    return !s.atBottom && s.jumpVisible && s;
  }, { message: 'the view scrolled up and a jump-to-bottom button' });
  const later = await until(async () => {
    const s = await logState(page);
    return s.lines > held.lines + 5 && s;
  }, { message: 'more lines while scrolled up' });
  assert.ok(Math.abs(later.scrollTop - held.scrollTop) <= 1, `the view did not move (${held.scrollTop} → ${later.scrollTop})`);
  assert.equal(later.atBottom, false);
  await screenshots(page, 'run-scrolled-up', { dark: false });

  // Jump to bottom: following again.
  await page.getByRole('button', { name: 'Jump to bottom' }).click();
  st = await until(async () => {
    const s = await logState(page);
    return s.atBottom && !s.jumpVisible && s;
  }, { message: 'back at the bottom, the button gone' });
  await until(async () => {
    const s = await logState(page);
    return s.lines > st.lines && s.atBottom;
  }, { message: 'the view following the new lines' });

  // Keyboard: Page Up leaves the bottom, End comes back and follows.
  await page.locator('.log').focus();
  await page.keyboard.press('PageUp');
  await until(async () => !(await logState(page)).atBottom, { message: 'Page Up to leave the bottom' });
  // Page Up's scroll may still be moving: End once it has come to rest.
  let lastTop = -1;
  await until(async () => {
    const top = (await logState(page)).scrollTop;
    const still = top === lastTop;
    lastTop = top;
    return still;
  }, { interval: 100, message: 'the scroll to come to rest after Page Up' });
  await page.keyboard.press('End');
  await until(async () => (await logState(page)).atBottom, { message: 'End to come back to the bottom' });

  // Search within the live log.
  await page.keyboard.press('Control+f');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Search the log');
  await page.keyboard.type('tick 17');
  await until(async () => /of \d+/.test(await page.locator('.search-count').textContent()), { message: 'search count' });
  // "tick 17", "tick 170".."tick 179" (and more if the run got that far).
  const count = await page.locator('.search-count').textContent();
  assert.match(count, /^1 of (\d+)/);
  await until(async () => (await page.locator('.log mark.current').count()) >= 1, { message: 'the current match highlighted' });
  assert.equal((await logState(page)).atBottom, false, 'showing a match stops the follow');
  await page.keyboard.press('Escape');

  // Cancel, through the confirmation dialog.
  const cancel = page.getByRole('button', { name: 'Cancel', exact: true });
  await cancel.click();
  await page.locator('dialog[open]').getByRole('button', { name: 'Cancel run' }).click();
  await until(async () => (await logState(page)).status === 'cancelled', { message: 'status cancelled', timeout: 20000 });
  await until(async () => (await cancel.count()) === 0, { message: 'the Cancel button to go' });
  assert.match(await page.locator('.run-reason').textContent(), /cancel/i);
  const final = await srv.waitRun(run.id);
  assert.equal(final.status, 'cancelled');
  await screenshot(page, 'run-cancelled');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a run page follows the project into its next run when asked to', { timeout: 60000 }, async () => {
  const first = (await srv.api('POST', '/api/v1/projects/demo/runs', { kind: 'manual' })).json;
  await srv.waitRun(first.id);
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  await page.goto(`${srv.url}/runs/${first.id}`);
  await until(async () => (await logState(page))?.complete, { message: 'the finished run loaded' });

  const toggle = page.getByRole('button', { name: 'Follow next run' });
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  assert.match(page.url(), /follow=1/);

  const next = (await srv.api('POST', '/api/v1/projects/demo/runs', { kind: 'cli' })).json;
  await page.waitForURL(new RegExp(`/runs/${next.id}\\?follow=1$`), { timeout: 15000 });
  await until(async () => {
    const s = await logState(page);
    return s && s.lines > 3 && s;
  }, { message: 'the next run streaming' });
  assert.equal(await page.getByRole('button', { name: 'Follow next run' }).getAttribute('aria-pressed'), 'true');
  assert.match(await page.locator('.run-meta').textContent(), /CLI/);
  await until(async () => (await logState(page)).status === 'succeeded', { message: 'the next run to finish', timeout: 20000 });
  assert.deepEqual(problems, []);
  await page.close();
});

test('when WebSockets are refused (a proxy without upgrades) the log follows over HTTP', { timeout: 60000 }, async () => {
  const run = (await srv.api('POST', '/api/v1/projects/ticker/runs', { kind: 'manual' })).json;
  const page = await ctx.newPage();
  const problems = watchPage(page, srv.url);
  // Every WebSocket fails before it opens, as behind a proxy that answers upgrades with an error.
  await page.addInitScript(() => {
    window.WebSocket = class {
      static OPEN = 1;
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        setTimeout(() => {
          this.readyState = 3;
          this.onerror?.(new Event('error'));
          this.onclose?.({ code: 1006 });
        }, 20);
      }
      send() {}
      close() {}
    };
  });
  await page.goto(`${srv.url}/runs/${run.id}`);
  await until(async () => (await page.locator('.log').getAttribute('data-transport')) === 'http', { message: 'the HTTP fallback', timeout: 20000 });
  assert.match(await page.locator('.log-note').textContent(), /plain HTTP/);
  const a = await logState(page);
  await until(async () => {
    const b = await logState(page);
    return b.lines > a.lines && b.atBottom;
  }, { message: 'the log streaming over HTTP, the view following it' });
  await until(async () => (await logState(page)).status === 'succeeded', { message: 'the end of the run', timeout: 30000 });
  const st = await logState(page);
  assert.equal(st.lines, 300);
  const rows = await page.evaluate(() => [...document.querySelectorAll('.log-row')].map((r) => [Number(r.querySelector('.log-no').textContent), r.querySelector('.log-text').textContent]));
  for (const [n, text] of rows) assert.equal(text, `tick ${n}`);
  await screenshot(page, 'run-http-fallback');
  assert.deepEqual(problems, []);
  await page.close();
});
