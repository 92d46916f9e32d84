// Shared by the browser scripts (signin.mjs, mfa.mjs): arguments, the Chromium launch,
// watching the pages for problems, screenshots, the failure report, the Jellyfin popup
// sign-in, and a TOTP generator of its own (RFC 6238) that uses no portal code.

import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const STEP_TIMEOUT_MS = 15_000;

export function die(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

// BASE_URL USERNAME PASSWORD from the arguments or AUTHPORTAL_BASE, AUTHPORTAL_USER,
// AUTHPORTAL_PASSWORD.
export function parseArgs(script) {
  const [argBase, argUser, argPassword] = process.argv.slice(2);
  const base = (argBase || process.env.AUTHPORTAL_BASE || '').replace(/\/+$/, '');
  const username = argUser || process.env.AUTHPORTAL_USER || '';
  const password = argPassword || process.env.AUTHPORTAL_PASSWORD || '';
  if (!base || !username || !password) {
    die(`usage: node ${script} BASE_URL USERNAME PASSWORD (or AUTHPORTAL_BASE, AUTHPORTAL_USER, AUTHPORTAL_PASSWORD)`);
  }
  if (!/^https?:\/\/[^/]+$/.test(base)) die(`BASE_URL must be scheme://host[:port], got ${base}`);
  return { base, username, password };
}

// Runs `body(t)` in a fresh headless Chromium and reports the outcome: on any failure it
// prints the reason, the pages' problems and transcript, and what each open page shows
// (with a screenshot), and sets exit code 1. `t` holds the browser context and helpers.
export async function runInBrowser({ wholeRunTimeoutMs = 90_000 }, body) {
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
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  // Everything the pages say: console errors, uncaught exceptions, CSP refusals, failed
  // requests. Any of them fails the run, since the pages are meant to be clean.
  const problems = [];
  const transcript = [];
  const pages = [];
  // Answers a step provokes on purpose ([status, part of the URL]): not problems.
  const expected = [];
  const isExpected = (status, url) => expected.some(([s, part]) => s === status && url.includes(part));

  const t = {
    context: null,
    shotDir,
    elapsed,
    ok: (what) => console.log(`ok   ${what} (${elapsed()})`),
    watch(page, name) {
      pages.push([name, page]);
      page.on('console', (m) => {
        transcript.push(`[${name} console.${m.type()}] ${m.text()}`);
        const status = /status of (\d{3})/.exec(m.text());
        if (status && isExpected(+status[1], m.location().url || '')) return;
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
        if (r.status() >= 400 && !isExpected(r.status(), r.url())) problems.push(`${name}: HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
      });
    },
    expect(status, urlPart) { expected.push([status, urlPart]); },
    checkClean(when) {
      if (problems.length) throw new Error(`the page reported problems ${when}:\n  ${problems.join('\n  ')}`);
    },
    async shot(page, file) {
      const path = join(shotDir, file);
      await page.screenshot({ path, fullPage: true });
      console.log(`screenshot ${path}`);
      return path;
    },
  };

  const watchdog = setTimeout(() => {
    console.error(`FAIL: the whole run took over ${wholeRunTimeoutMs / 1000}s`);
    process.exit(1);
  }, wholeRunTimeoutMs);

  let browser;
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
    t.context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
    t.context.setDefaultTimeout(STEP_TIMEOUT_MS);
    t.context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    t.ok(`launched ${CHROMIUM} ${browser.version()}`);
    await body(t);
  } catch (e) {
    console.error(`FAIL: ${e.message}`);
    if (problems.length) console.error(`problems the pages reported:\n  ${problems.join('\n  ')}`);
    if (transcript.length) console.error(`what the pages did:\n  ${transcript.join('\n  ')}`);
    for (const [name, p] of pages) {
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
}

// Opens the login page in `page` and checks that it is styled and shows the Jellyfin
// button with its icon. Returns the button.
export async function openLoginPage(t, page, base) {
  const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp?.status()}`);
  const button = page.getByRole('button', { name: 'Sign in with Jellyfin' });
  await button.waitFor({ state: 'visible' });
  t.ok('login page shows "Sign in with Jellyfin"');

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
  t.ok(`stylesheet applied (body background ${looks.bodyBg}) and the button icon loaded`);
  t.checkClean('on the login page');
  return button;
}

// From the login page in `page`: clicks "Sign in with Jellyfin", checks the popup, fills
// in and submits its form, waits for the popup to close and `page` to land on `landOn`.
// `formShot` names a screenshot of the filled-in form, if wanted.
export async function signInThroughPopup(t, page, { username, password, landOn = '/home', popupName = 'popup', formShot = null }) {
  const button = page.getByRole('button', { name: 'Sign in with Jellyfin' });
  await button.waitFor({ state: 'visible' });

  // The click opens the popup synchronously (window.open in the handler).
  const [popup] = await Promise.all([page.waitForEvent('popup'), button.click()]);
  t.watch(popup, popupName);
  await popup.waitForLoadState('load');
  const popupUrl = new URL(popup.url());
  if (popupUrl.pathname !== '/auth/forward' || popupUrl.searchParams.get('provider') !== 'jellyfin' ||
      popupUrl.searchParams.get('popup') !== '1') {
    throw new Error(`the popup opened ${popup.url()}, expected /auth/forward?provider=jellyfin&popup=1`);
  }
  const hasOpener = await popup.evaluate(() => !!window.opener);
  if (!hasOpener) throw new Error('the popup has no window.opener, so it could never tell the login page');
  t.ok(`popup opened ${popupUrl.pathname}${popupUrl.search} with an opener`);
  const statusText = (await page.locator('#signin-status').textContent())?.trim();
  if (!/Jellyfin window/.test(statusText || '')) {
    throw new Error(`the login page status says ${JSON.stringify(statusText)}, expected to point at the Jellyfin window`);
  }
  t.ok(`login page says "${statusText}"`);

  await popup.getByLabel('Username').fill(username);
  await popup.getByLabel('Password').fill(password);
  if (formShot) await t.shot(popup, formShot);
  // Both waits start before the click so neither event can be missed; each settles to
  // null or its error, so a failure of one never surfaces as an unhandled rejection.
  const settle = (p) => p.then(() => null, (e) => e);
  const popupClosed = settle(popup.waitForEvent('close', { timeout: STEP_TIMEOUT_MS }));
  const landed = settle(page.waitForURL((u) => u.pathname === landOn, { timeout: STEP_TIMEOUT_MS }));
  await popup.getByRole('button', { name: 'Sign in', exact: true }).click();
  t.ok('submitted the popup form');

  // The finished page posts to the opener and closes; the opener follows the redirect.
  if (await popupClosed) throw new Error(`the popup did not close; it shows ${popup.url()}`);
  t.ok('popup closed itself');
  if (await landed) throw new Error(`the login page did not move to ${landOn}; it shows ${page.url()}`);
  await page.waitForLoadState('load');
  t.ok(`the login page moved to ${landOn}`);
}

// Throws unless `page`'s body text includes `text`.
export async function expectText(t, page, text) {
  const body = await page.locator('body').innerText();
  if (!body.includes(text)) throw new Error(`${new URL(page.url()).pathname} does not say "${text}"; it says:\n${body}`);
  t.ok(`${new URL(page.url()).pathname} says "${text}"`);
}

// --- TOTP (RFC 6238 over RFC 4226), written here from the RFCs. ---

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4648 base32, case-insensitive, ignoring spaces and padding.
export function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out = [];
  let value = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(text)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
      value &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}

// The TOTP code of `key` (bytes) at `unixSecs`: HMAC-SHA1 of the 8-byte big-endian step
// counter, dynamic truncation, `digits` decimal digits.
export function totp(key, unixSecs, { period = 30, digits = 6 } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / period)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// Checks totp() against the SHA-1 test vectors of RFC 6238 appendix B; throws if off.
export function selfTestTotp() {
  const key = Buffer.from('12345678901234567890', 'ascii');
  const vectors = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];
  for (const [time, want] of vectors) {
    const got = totp(key, time, { digits: 8 });
    if (got !== want) throw new Error(`TOTP self-test: T=${time} gave ${got}, RFC 6238 says ${want}`);
  }
  const b32 = base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').toString('ascii');
  if (b32 !== '12345678901234567890') throw new Error(`base32 self-test gave ${JSON.stringify(b32)}`);
}
