// Debian's Chromium driven by playwright-core (Playwright's own browser download is not used),
// with what every browser test checks on every page: no console error, no uncaught exception,
// no Content-Security-Policy violation; axe-core on each screen (no serious or critical
// violation); screenshots of each screen at phone and desktop width.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as nodeTest } from 'node:test';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const SHOTS = process.env.BULWARK_SCREENSHOTS || join(here, '../screenshots');
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Problems seen on any page of the run: console errors, page errors, CSP violations. */
export const problems = [];
/** Accessibility violations (serious or critical) per screen. */
export const axeFindings = [];

export async function newPage(browser, baseURL, name) {
  const context = await browser.newContext({ baseURL, viewport: DESKTOP, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    // Chromium logs every 4xx answer as a console error; those are the API's expected
    // answers (no session yet, a wrong password, a lockout), handled by the app.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  // Runs before the app's own scripts (injected by the driver, so the CSP does not apply to it).
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

/**
 * axe on the current screen at both widths, and its screenshots `<name>-phone.png` and
 * `<name>-desktop.png`.
 */
export async function checkScreen(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  for (const [label, size] of [
    ['phone', PHONE],
    ['desktop', DESKTOP],
  ]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(50);
    await page.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
    // A string goes to the driver's evaluation, which the page's CSP (no eval) does not govern.
    if (!(await page.evaluate('Boolean(window.axe)'))) await page.evaluate(AXE);
    const result = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    for (const v of result) axeFindings.push(`${name} [${label}]: ${v}`);
  }
  await page.setViewportSize(DESKTOP);
}

/**
 * `node:test`'s `test`, keeping a screenshot of every open tab in `pages` (name -> page) when
 * the test fails, named `failed-<prefix><name>.png`, for the person reading the failure.
 */
export function testWithShots(pages, prefix = '') {
  return (name, fn) =>
    nodeTest(name, async () => {
      try {
        await fn();
      } catch (e) {
        for (const [who, page] of Object.entries(pages)) {
          if (!page.isClosed()) await page.screenshot({ path: `${SHOTS}/failed-${prefix}${who}.png` }).catch(() => {});
        }
        throw e;
      }
    });
}
