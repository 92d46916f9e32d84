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

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('signin.mjs');

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'login');

  // 1. The login page.
  await openLoginPage(t, page, base);
  await t.shot(page, 'login.png');

  // 2-4. The popup, its form, the finished page telling the opener, and /home.
  await signInThroughPopup(t, page, { username, password, landOn: '/home', formShot: 'popup-form.png' });
  await expectText(t, page, `Welcome, ${username}`);

  const cookies = await t.context.cookies(base);
  const session = cookies.find((c) => c.name === 'authportal_session');
  if (!session) throw new Error(`no authportal_session cookie; cookies: ${cookies.map((c) => c.name).join(', ')}`);
  if (!session.httpOnly) throw new Error('the session cookie is not HttpOnly');
  const visibleToScript = await page.evaluate(() => document.cookie.includes('authportal_session'));
  if (visibleToScript) throw new Error('page script can read the session cookie');
  t.ok('session cookie authportal_session is set and HttpOnly');
  t.checkClean('during sign-in');

  await t.shot(page, 'home.png');
  console.log(`PASS signed in as ${username} through the Jellyfin popup in ${t.elapsed()}`);
});
