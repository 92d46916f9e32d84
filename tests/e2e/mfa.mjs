// End-to-end two-factor sign-in in a real headless Chromium (see signin.mjs for how it
// is run): sign in through the Jellyfin popup, set up TOTP on /mfa/enroll (QR code, key,
// a code computed here from the key, recovery codes), sign out, sign in again through
// the popup to the challenge page, enter a code, and check /whoami says amr pwd+otp.
//
// Usage: node mfa.mjs BASE_URL USERNAME PASSWORD (the account must have no factor yet)
//    or: AUTHPORTAL_BASE=... AUTHPORTAL_USER=... AUTHPORTAL_PASSWORD=... node mfa.mjs
// Run by tests/integration/browser.rs. Output, failures and screenshots as signin.mjs.

import {
  base32Decode, expectText, openLoginPage, parseArgs, runInBrowser, selfTestTotp, signInThroughPopup, totp,
} from './lib.mjs';

const { base, username, password } = parseArgs('mfa.mjs');
const PERIOD = 30;
const now = () => Date.now() / 1000;

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  selfTestTotp();
  t.ok('own TOTP matches the RFC 6238 test vectors');

  const page = await t.context.newPage();
  t.watch(page, 'main');

  // 1. Sign in through the popup.
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, landOn: '/home', popupName: 'popup1' });
  await expectText(t, page, `Welcome, ${username}`);

  // 2. /home -> /mfa/enroll -> "Set up": the QR code and the key.
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/mfa/enroll'),
    page.getByRole('link', { name: 'Two-factor sign-in' }).click(),
  ]);
  await page.waitForLoadState('load');
  t.ok('the "Two-factor sign-in" link on /home led to /mfa/enroll');
  await page.locator('#mfa-start').click();
  await page.locator('#mfa-setup').waitFor({ state: 'visible' });
  try {
    await page.waitForFunction(() => {
      const img = document.getElementById('mfa-qr');
      return !!img && img.src.startsWith('data:image/svg+xml') && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 5_000 });
  } catch {
    const qr = await page.evaluate(() => {
      const img = document.getElementById('mfa-qr');
      return img && { src: img.src.slice(0, 80), complete: img.complete, naturalWidth: img.naturalWidth };
    });
    throw new Error(`the QR code did not load as an image: ${JSON.stringify(qr)}`);
  }
  const qr = await page.evaluate(() => {
    const img = document.getElementById('mfa-qr');
    const r = img.getBoundingClientRect();
    return { natural: [img.naturalWidth, img.naturalHeight], shown: [Math.round(r.width), Math.round(r.height)],
      bg: getComputedStyle(img).backgroundColor };
  });
  t.ok(`the QR code loaded (natural ${qr.natural.join('x')}, shown ${qr.shown.join('x')}, background ${qr.bg})`);
  const shownKey = (await page.locator('#mfa-secret').textContent()) || '';
  const key = shownKey.replace(/\s+/g, '');
  if (!/^[A-Z2-7]{16,}$/.test(key)) throw new Error(`#mfa-secret shows ${JSON.stringify(shownKey)}, not a base32 key`);
  if (!/^([A-Z2-7]{4} )*[A-Z2-7]{1,4}$/.test(shownKey.trim())) {
    throw new Error(`#mfa-secret is not grouped by four: ${JSON.stringify(shownKey)}`);
  }
  const secret = base32Decode(key);
  t.ok(`the key is shown in groups of four (${key.length} base32 characters, ${secret.length} bytes)`);
  t.checkClean('on starting the set-up');
  await t.shot(page, 'mfa-enroll-qr.png');

  // 3. Confirm with the current code: recovery codes, Download, Continue.
  const enrolCode = totp(secret, now());
  await page.locator('#mfa-code').fill(enrolCode);
  await page.locator('#mfa-verify').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#mfa-codes').waitFor({ state: 'visible' });
  t.ok(`confirmed the set-up with code ${enrolCode}`);
  const codes = (await page.locator('#mfa-code-list li').allTextContents()).map((c) => c.trim());
  if (codes.length !== 10) throw new Error(`expected 10 recovery codes, got ${codes.length}: ${codes.join(', ')}`);
  const bad = codes.filter((c) => !/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/.test(c));
  if (bad.length) throw new Error(`recovery codes not shaped xxxx-xxxx-xxxx: ${bad.join(', ')}`);
  if (new Set(codes).size !== 10) throw new Error(`recovery codes repeat: ${codes.join(', ')}`);
  t.ok('10 distinct recovery codes shaped xxxx-xxxx-xxxx');
  const layout = await page.evaluate(() => {
    const items = Array.from(document.querySelectorAll('#mfa-code-list li')).map((li) => li.getBoundingClientRect());
    const lefts = new Set(items.map((r) => Math.round(r.left)));
    const tops = new Set(items.map((r) => Math.round(r.top)));
    return { columns: lefts.size, rows: tops.size };
  });
  if (layout.columns !== 2 || layout.rows !== 5) {
    throw new Error(`the recovery codes are laid out in ${layout.columns} columns and ${layout.rows} rows, expected 2 x 5`);
  }
  t.ok('the recovery codes are laid out in 2 columns of 5');
  const download = page.locator('#mfa-download');
  const href = (await download.getAttribute('href')) || '';
  if (!href.startsWith('data:text/plain')) throw new Error(`#mfa-download href is ${JSON.stringify(href.slice(0, 60))}`);
  const text = decodeURIComponent(href.slice(href.indexOf(',') + 1));
  const missing = codes.filter((c) => !text.includes(c));
  if (missing.length) throw new Error(`the download lacks ${missing.join(', ')}; it holds:\n${text}`);
  if (!(await download.getAttribute('download'))) throw new Error('#mfa-download has no download attribute');
  t.ok('the Download link is a data:text/plain file holding all 10 codes');
  const status = ((await page.locator('#mfa-status').textContent()) || '').trim();
  t.ok(`the page says "${status}"`);
  t.checkClean('on confirming the set-up');
  await t.shot(page, 'mfa-recovery-codes.png');

  const continueTo = new URL((await page.locator('#mfa-continue').getAttribute('href')) || '', base).pathname;
  await Promise.all([
    page.waitForURL((u) => u.pathname === continueTo),
    page.locator('#mfa-continue').click(),
  ]);
  await page.waitForLoadState('load');
  t.ok(`Continue led to ${continueTo}`);
  if (continueTo === '/mfa/enroll') {
    await expectText(t, page, 'Two-factor sign-in is on. 10 recovery codes left.');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/home'),
      page.getByRole('link', { name: 'Back' }).click(),
    ]);
    await page.waitForLoadState('load');
  }

  // 4. Sign out, then sign in again: now the popup leads to the challenge.
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/'),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.waitForLoadState('load');
  const sessionCookie = async () => (await t.context.cookies(base)).find((c) => c.name === 'authportal_session');
  if (await sessionCookie()) throw new Error('the session cookie survived signing out');
  t.ok('signed out: back on the login page, no session cookie');

  await signInThroughPopup(t, page, { username, password, landOn: '/mfa/challenge', popupName: 'popup2' });
  if (await sessionCookie()) throw new Error('a session cookie was set before the second factor');
  const whoBefore = await page.evaluate(async () => (await fetch('/whoami', { credentials: 'same-origin' })).json());
  if (whoBefore.authenticated !== false) throw new Error(`before the code, /whoami says ${JSON.stringify(whoBefore)}`);
  t.ok('no session yet: no cookie, /whoami says not authenticated');
  await page.locator('#code').waitFor({ state: 'visible' });
  t.checkClean('on reaching the challenge');
  await t.shot(page, 'mfa-challenge.png');

  // The step used to enrol is spent (replay rule) and the server accepts one step
  // either side of now, so the code of the next step works at once.
  const challengeCode = totp(secret, now() + PERIOD);
  await page.locator('#code').fill(challengeCode);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/home'),
    page.getByRole('button', { name: 'Verify' }).click(),
  ]);
  await page.waitForLoadState('load');
  t.ok(`the challenge took the next step's code ${challengeCode} and led to /home`);
  await expectText(t, page, `Welcome, ${username}`);

  // 5. The session knows both factors.
  const who = await page.evaluate(async () => (await fetch('/whoami', { credentials: 'same-origin' })).json());
  if (who.username !== username || JSON.stringify(who.amr) !== JSON.stringify(['pwd', 'otp'])) {
    throw new Error(`/whoami says ${JSON.stringify(who)}, expected ${username} with amr ["pwd","otp"]`);
  }
  t.ok(`/whoami: ${who.username}, amr ${JSON.stringify(who.amr)}`);
  t.checkClean('during the two-factor sign-in');
  await t.shot(page, 'mfa-home.png');
  console.log(`PASS set up two-factor sign-in for ${username} and signed in with a code in ${t.elapsed()}`);
});
