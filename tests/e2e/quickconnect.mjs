// Jellyfin Quick Connect on the sign-in page in a real headless Chromium: the "Jellyfin
// Quick Connect" button, the code the page shows, and the page signing in by itself once
// a Jellyfin app approved that code (browser.rs plays the app, approving the code the
// fake Jellyfin holds), landing on /home.
//
// Usage: node quickconnect.mjs BASE_URL USERNAME PASSWORD (the password is not used: no
// password is typed). Prints "code NNNNNN" (the code shown) and each check it passed;
// exits 1 with the reason on the first failure.

import { STEP_TIMEOUT_MS, expectText, openLoginPage, parseArgs, runInBrowser } from './lib.mjs';

const { base, username } = parseArgs('quickconnect.mjs');

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'login');
  await openLoginPage(t, page, base);

  const button = page.getByRole('button', { name: 'Jellyfin Quick Connect' });
  await button.waitFor({ state: 'visible' });
  t.ok('login page shows "Jellyfin Quick Connect"');
  await button.click();

  const value = page.locator('#quick-connect-value');
  await value.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  const code = (await value.innerText()).trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`the page shows "${code}", not a 6-digit code`);
  console.log(`code ${code}`);
  t.ok('the page shows a 6-digit code and waits for the Jellyfin app');
  await t.shot(page, 'quick-connect-code.png');

  // The page polls /auth/poll and moves on once the app approved the code.
  await page.waitForURL(`${base}/home`, { timeout: 45_000 });
  await expectText(t, page, `Welcome, ${username}`);
  t.checkClean('during the Quick Connect sign-in');
  await t.shot(page, 'home.png');
  console.log(`PASS signed in as ${username} with Jellyfin Quick Connect in ${t.elapsed()}`);
});
