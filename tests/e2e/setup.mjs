// The first-run setup wizard in a real headless Chromium (see signin.mjs for how it is
// run): a fresh portal shows the setup-code form at `/`; a wrong code is refused with an
// error, the right one unlocks "Connect your media server"; choosing Jellyfin, its
// address and an administrator's account lands on the admin console (/admin) signed in.
// Then the owner signs out (console -> "Portal home" -> "Sign out") and `/` is the
// ordinary sign-in page with "Sign in with Jellyfin".
//
// Usage: node setup.mjs BASE_URL SETUP_CODE SERVER_URL ADMIN_USER ADMIN_PASSWORD
//    or: AUTHPORTAL_BASE=... AUTHPORTAL_SETUP_CODE=... AUTHPORTAL_SERVER_URL=...
//        AUTHPORTAL_USER=... AUTHPORTAL_PASSWORD=... node setup.mjs
// Run by tests/integration/browser.rs against a fresh portal (no media server
// configured) and a fake Jellyfin. Output, failures and screenshots (setup-*.png) as
// signin.mjs.

import { die, expectText, openLoginPage, runInBrowser } from './lib.mjs';

const argv = process.argv.slice(2);
const arg = (i, env) => argv[i] || process.env[env] || '';
const base = arg(0, 'AUTHPORTAL_BASE').replace(/\/+$/, '');
const code = arg(1, 'AUTHPORTAL_SETUP_CODE');
const serverUrl = arg(2, 'AUTHPORTAL_SERVER_URL');
const username = arg(3, 'AUTHPORTAL_USER');
const password = arg(4, 'AUTHPORTAL_PASSWORD');
if (!base || !code || !serverUrl || !username || !password) {
  die('usage: node setup.mjs BASE_URL SETUP_CODE SERVER_URL ADMIN_USER ADMIN_PASSWORD');
}
if (!/^https?:\/\/[^/]+$/.test(base)) die(`BASE_URL must be scheme://host[:port], got ${base}`);

// A code of the same shape that cannot be the real one.
const wrongCode = code.replace(/-/g, '') === 'AAAAAAAAAA' ? 'BBBBB-BBBBB' : 'AAAAA-AAAAA';
const path = (page) => new URL(page.url()).pathname;

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  const page = await t.context.newPage();

  // 1. `/` asks for the setup code; a wrong one is refused. Its 401 is expected, so this
  // step has listeners of its own that allow exactly that; t.watch takes over after.
  const early = [];
  let refused = 0;
  const onResponse = (r) => {
    const isUnlock = r.request().method() === 'POST' && new URL(r.url()).pathname === '/setup/unlock';
    if (r.status() === 401 && isUnlock) refused += 1;
    else if (r.status() >= 400) early.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  };
  const onConsole = (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) early.push(`console error: ${m.text()}`);
  };
  const onPageError = (e) => early.push(`uncaught ${e.name}: ${e.message}`);
  const onFailed = (r) => {
    const why = r.failure()?.errorText || '?';
    if (why !== 'net::ERR_ABORTED') early.push(`request failed: ${r.method()} ${r.url()} (${why})`);
  };
  page.on('response', onResponse);
  page.on('console', onConsole);
  page.on('pageerror', onPageError);
  page.on('requestfailed', onFailed);

  const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET / answered ${resp?.status()}`);
  await expectText(t, page, 'Welcome to AuthPortal');
  const codeField = page.getByLabel('Setup code');
  await codeField.waitFor({ state: 'visible' });
  if (await page.getByRole('button', { name: 'Sign in with Jellyfin' }).count()) {
    throw new Error('a fresh portal shows a sign-in button next to the setup form');
  }
  const sheets = await page.evaluate(() => Array.from(document.styleSheets).filter((s) => {
    try { return s.cssRules.length > 0; } catch (e) { return false; }
  }).length);
  if (sheets < 1) throw new Error('no stylesheet applied on the setup page');
  t.ok('a fresh portal shows the setup-code form at /, styled');
  await t.shot(page, 'setup-code.png');

  await codeField.fill(wrongCode);
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/setup/unlock'),
    page.getByRole('button', { name: 'Continue' }).click(),
  ]);
  await page.waitForLoadState('load');
  const alert = page.getByRole('alert');
  await alert.waitFor({ state: 'visible' });
  const alertText = ((await alert.textContent()) || '').trim();
  if (!alertText.includes('That is not the setup code')) throw new Error(`the wrong code shows ${JSON.stringify(alertText)}`);
  if (refused !== 1) throw new Error(`expected one 401 from POST /setup/unlock, saw ${refused}`);
  if ((await t.context.cookies(base)).some((c) => c.name === 'authportal_setup')) {
    throw new Error('a wrong code set the setup cookie');
  }
  await page.getByLabel('Setup code').waitFor({ state: 'visible' });
  t.ok(`the wrong code ${wrongCode} is refused (401): "${alertText}"`);
  await t.shot(page, 'setup-code-wrong.png');
  page.off('response', onResponse);
  page.off('console', onConsole);
  page.off('pageerror', onPageError);
  page.off('requestfailed', onFailed);
  if (early.length) throw new Error(`the setup-code page reported problems:\n  ${early.join('\n  ')}`);
  t.watch(page, 'wizard');

  // 2. The right code (typed as the owner would copy it from the log) unlocks step 2.
  await page.getByLabel('Setup code').fill(code);
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/'),
    page.getByRole('button', { name: 'Continue' }).click(),
  ]);
  await page.waitForLoadState('load');
  if (path(page) !== '/') throw new Error(`the right code led to ${page.url()}, expected /`);
  await expectText(t, page, 'Connect your media server');
  if (!(await t.context.cookies(base)).some((c) => c.name === 'authportal_setup')) {
    throw new Error('the right code set no authportal_setup cookie');
  }
  t.ok('the right code unlocked the server step (authportal_setup cookie set)');

  // 3. Jellyfin, its address, the owner's account.
  const jellyfin = page.getByLabel('Jellyfin', { exact: true });
  await jellyfin.check();
  if (!(await jellyfin.isChecked()) || (await page.getByLabel('Emby', { exact: true }).isChecked())) {
    throw new Error('choosing Jellyfin did not stick');
  }
  await page.getByLabel('Server address').fill(serverUrl);
  await page.getByLabel('Administrator username').fill(username);
  await page.getByLabel('Password').fill(password);
  t.checkClean('on the server step');
  await t.shot(page, 'setup-server.png');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/admin'),
    page.getByRole('button', { name: 'Connect' }).click(),
  ]);
  await page.waitForLoadState('load');
  t.ok(`connected Jellyfin at ${serverUrl} as ${username} and landed on /admin`);

  // 4. The console overview, signed in as the owner.
  await expectText(t, page, `Signed in as ${username}`);
  const nav = await page.locator('nav[aria-label="Console"] a').allTextContents();
  for (const item of ['Overview', 'Users', 'Settings', 'Portal home']) {
    if (!nav.includes(item)) throw new Error(`the console nav lacks ${item}: ${nav.join(', ')}`);
  }
  const looks = await page.evaluate(() => ({
    stats: document.querySelectorAll('.stat').length,
    overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
  }));
  if (looks.stats < 3) throw new Error(`the overview shows ${looks.stats} counts, expected at least 3`);
  if (looks.overflow) throw new Error('/admin scrolls sideways at 1000px');
  const who = await page.evaluate(() => fetch('/whoami', { credentials: 'same-origin' }).then((r) => r.json()));
  if (who.username !== username || who.admin !== true) throw new Error(`/whoami says ${JSON.stringify(who)}`);
  if ((await t.context.cookies(base)).some((c) => c.name === 'authportal_setup')) {
    throw new Error('the setup cookie outlived the set-up');
  }
  t.ok(`overview: nav and ${looks.stats} counts; /whoami: ${who.username}, admin; setup cookie cleared`);
  t.checkClean('on the console');
  await t.shot(page, 'setup-admin.png');

  // 5. Sign out: the console links to the portal home, which has "Sign out".
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/home'),
    page.getByRole('link', { name: 'Portal home' }).click(),
  ]);
  await page.waitForLoadState('load');
  await expectText(t, page, `Welcome, ${username}`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/'),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.waitForLoadState('load');
  if ((await t.context.cookies(base)).some((c) => c.name === 'authportal_session')) {
    throw new Error('the session cookie survived signing out');
  }
  t.ok('signed out from /home: back on /, no session cookie');

  // 6. `/` is now the sign-in page; the wizard is gone.
  await openLoginPage(t, page, base);
  if (await page.locator('input[name="code"]').count()) throw new Error('/ still shows the setup-code field');
  t.ok('no setup-code field on / any more');
  t.checkClean('after signing out');
  await t.shot(page, 'setup-signed-out.png');
  console.log(`PASS set up the portal with Jellyfin as ${username} in the browser and signed out, in ${t.elapsed()}`);
});
