// End-to-end sign-in in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is downloaded): the login page, the "Sign in with Jellyfin"
// popup, its form, the popup's "finished" page telling the opener, and /home.
//
// Usage: node signin.mjs BASE_URL USERNAME PASSWORD
//    or: AUTHPORTAL_BASE=... AUTHPORTAL_USER=... AUTHPORTAL_PASSWORD=... node signin.mjs
// Run by tests/integration/browser.rs against a portal it starts with a fake Jellyfin.
// Prints each check it passed; exits 1 with the reason (and the pages' console output)
// on the first failure. Screenshots go to a new directory under the system temp dir,
// or to AUTHPORTAL_E2E_SCREENSHOTS when set; their paths are printed.

import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15_000;
const WHOLE_RUN_TIMEOUT_MS = 90_000;

const [argBase, argUser, argPassword] = process.argv.slice(2);
const base = (argBase || process.env.AUTHPORTAL_BASE || '').replace(/\/+$/, '');
const username = argUser || process.env.AUTHPORTAL_USER || '';
const password = argPassword || process.env.AUTHPORTAL_PASSWORD || '';

function die(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

if (!base || !username || !password) {
  die('usage: node signin.mjs BASE_URL USERNAME PASSWORD (or AUTHPORTAL_BASE, AUTHPORTAL_USER, AUTHPORTAL_PASSWORD)');
}
if (!/^https?:\/\/[^/]+$/.test(base)) die(`BASE_URL must be scheme://host[:port], got ${base}`);
if (!existsSync(CHROMIUM)) {
  die(`${CHROMIUM} is missing: run \`bash .ci/run\`, or \`apt-get install chromium\``);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  die(`playwright-core is not installed (${e.message}): run \`npm ci --prefix tests/e2e\``);
}

const shotDir = process.env.AUTHPORTAL_E2E_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'authportal-e2e-'));
mkdirSync(shotDir, { recursive: true });

const started = Date.now();
const ok = (what) => console.log(`ok   ${what} (${((Date.now() - started) / 1000).toFixed(1)}s)`);

// Everything the pages say: console errors, uncaught exceptions, CSP refusals, failed
// requests. Any of them fails the run, since the pages are meant to be clean.
const problems = [];
const transcript = [];
function watch(page, name) {
  page.on('console', (m) => {
    transcript.push(`[${name} console.${m.type()}] ${m.text()}`);
    if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: uncaught ${e.name}: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText || '?';
    // A navigation cut short by the page moving on or the popup closing is not a fault.
    if (why === 'net::ERR_ABORTED') return;
    problems.push(`${name}: request failed: ${r.method()} ${r.url()} (${why})`);
  });
  page.on('response', (r) => {
    transcript.push(`[${name} ${r.status()}] ${r.request().method()} ${r.url()}`);
    if (r.status() >= 400) problems.push(`${name}: HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
}

function checkClean(when) {
  if (problems.length) throw new Error(`the page reported problems ${when}:\n  ${problems.join('\n  ')}`);
}

let browser;
let context;
const watchdog = setTimeout(() => {
  console.error(`FAIL: the whole run took over ${WHOLE_RUN_TIMEOUT_MS / 1000}s`);
  process.exit(1);
}, WHOLE_RUN_TIMEOUT_MS);

let page;
let popup;
try {
  // launch() starts Chromium on a new, empty profile dir of its own (removed on close)
  // and newContext() is a fresh incognito-like context: nothing from any earlier run.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  ok(`launched ${CHROMIUM} ${browser.version()}`);

  page = await context.newPage();
  watch(page, 'login');

  // 1. The login page.
  const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp?.status()}`);
  const button = page.getByRole('button', { name: 'Sign in with Jellyfin' });
  await button.waitFor({ state: 'visible' });
  ok('login page shows "Sign in with Jellyfin"');

  const looks = await page.evaluate(() => {
    const btn = document.querySelector('button[data-provider="jellyfin"]');
    const img = btn && btn.querySelector('img');
    const sheetsLoaded = Array.from(document.styleSheets).filter((s) => {
      try { return s.cssRules.length > 0; } catch (e) { return false; }
    }).length;
    return {
      iconLoaded: !!img && img.complete && img.naturalWidth > 0,
      sheetsLoaded,
      bodyBg: getComputedStyle(document.body).backgroundColor,
    };
  });
  if (!looks.iconLoaded) throw new Error('the Jellyfin button icon did not load');
  if (looks.sheetsLoaded < 1) throw new Error('no stylesheet was applied');
  ok(`stylesheet applied (body background ${looks.bodyBg}) and the button icon loaded`);
  checkClean('on the login page');

  const loginShot = join(shotDir, 'login.png');
  await page.screenshot({ path: loginShot, fullPage: true });
  console.log(`screenshot ${loginShot}`);

  // 2. The click opens the popup synchronously (window.open in the handler).
  [popup] = await Promise.all([page.waitForEvent('popup'), button.click()]);
  watch(popup, 'popup');
  await popup.waitForLoadState('load');
  const popupUrl = new URL(popup.url());
  if (popupUrl.pathname !== '/auth/forward' || popupUrl.searchParams.get('provider') !== 'jellyfin' ||
      popupUrl.searchParams.get('popup') !== '1') {
    throw new Error(`the popup opened ${popup.url()}, expected /auth/forward?provider=jellyfin&popup=1`);
  }
  const hasOpener = await popup.evaluate(() => !!window.opener);
  if (!hasOpener) throw new Error('the popup has no window.opener, so it could never tell the login page');
  ok(`popup opened ${popupUrl.pathname}${popupUrl.search} with an opener`);
  const statusText = (await page.locator('#signin-status').textContent())?.trim();
  if (!/Jellyfin window/.test(statusText || '')) {
    throw new Error(`the login page status says ${JSON.stringify(statusText)}, expected to point at the Jellyfin window`);
  }
  ok(`login page says "${statusText}"`);

  // 3. Fill in and submit the popup's form.
  await popup.getByLabel('Username').fill(username);
  await popup.getByLabel('Password').fill(password);
  const formShot = join(shotDir, 'popup-form.png');
  await popup.screenshot({ path: formShot, fullPage: true });
  console.log(`screenshot ${formShot}`);
  // Both waits start before the click so neither event can be missed; each settles to
  // null or its error, so a failure of one never surfaces as an unhandled rejection.
  const settle = (p) => p.then(() => null, (e) => e);
  const popupClosed = settle(popup.waitForEvent('close', { timeout: STEP_TIMEOUT_MS }));
  const landedHome = settle(page.waitForURL((u) => u.pathname === '/home', { timeout: STEP_TIMEOUT_MS }));
  await popup.getByRole('button', { name: 'Sign in', exact: true }).click();
  ok('submitted the popup form');

  // 4. The finished page posts to the opener and closes; the opener goes to /home.
  if (await popupClosed) throw new Error(`the popup did not close; it shows ${popup.url()}`);
  ok('popup closed itself');
  if (await landedHome) throw new Error(`the login page did not move to /home; it shows ${page.url()}`);
  await page.waitForLoadState('load');
  const bodyText = await page.locator('body').innerText();
  const welcome = `Welcome, ${username}`;
  if (!bodyText.includes(welcome)) {
    throw new Error(`/home does not say "${welcome}"; it says:\n${bodyText}`);
  }
  ok(`/home says "${welcome}"`);

  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'authportal_session');
  if (!session) throw new Error(`no authportal_session cookie; cookies: ${cookies.map((c) => c.name).join(', ')}`);
  if (!session.httpOnly) throw new Error('the session cookie is not HttpOnly');
  const visibleToScript = await page.evaluate(() => document.cookie.includes('authportal_session'));
  if (visibleToScript) throw new Error('page script can read the session cookie');
  ok('session cookie authportal_session is set and HttpOnly');
  checkClean('during sign-in');

  const homeShot = join(shotDir, 'home.png');
  await page.screenshot({ path: homeShot, fullPage: true });
  console.log(`screenshot ${homeShot}`);
  console.log(`PASS signed in as ${username} through the Jellyfin popup in ${((Date.now() - started) / 1000).toFixed(1)}s`);
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  if (problems.length) console.error(`problems the pages reported:\n  ${problems.join('\n  ')}`);
  if (transcript.length) console.error(`what the pages did:\n  ${transcript.join('\n  ')}`);
  for (const [name, p] of [['login', page], ['popup', popup]]) {
    if (!p || p.isClosed()) continue;
    const shot = join(shotDir, `failure-${name}.png`);
    try {
      const text = (await p.locator('body').innerText({ timeout: 5_000 })).trim().slice(0, 2000);
      console.error(`the ${name} page (${p.url()}) says:\n  ${text.replace(/\n+/g, '\n  ')}`);
      await p.screenshot({ path: shot, fullPage: true, timeout: 5_000 });
      console.error(`screenshot of the ${name} page at the failure: ${shot}`);
    } catch { /* the browser may be gone */ }
  }
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
}
