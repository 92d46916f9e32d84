// The generic settings forms in a real headless Chromium: the admin signs in, changes
// events.retention_days on /admin/settings/events and sees the new version, then on
// /admin/settings/security sees a bad rate limit refused by its field, fixes it, saves
// (a new version, the JSON view follows) and finds the value still there after a reload.
//
// Usage: node settings.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD
// Run by tests/integration/browser.rs against a portal with a fake Jellyfin.

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('settings.mjs');

async function waitForText(page, selector, pattern) {
  await page.waitForFunction(
    ([sel, src]) => new RegExp(src).test(document.querySelector(sel)?.textContent || ''),
    [selector, pattern.source],
  ).catch(async () => {
    const now = await page.locator(selector).first().textContent().catch(() => null);
    throw new Error(`${selector} says ${JSON.stringify(now)}, expected ${pattern}`);
  });
}

await runInBrowser({ wholeRunTimeoutMs: 120_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'admin');
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, popupName: 'admin-popup' });

  // 1. events: one number, saved as version 1.
  await page.goto(`${base}/admin/settings/events`, { waitUntil: 'load' });
  await expectText(t, page, 'Keep events for');
  const days = page.locator('#f-retention-days');
  if ((await days.inputValue()) !== '90') throw new Error(`retention_days shows ${await days.inputValue()}, expected 90`);
  await days.fill('30');
  await page.locator('#section-reason').fill('a month is enough');
  await page.locator('#section-save').click();
  await waitForText(page, '#section-status', /^Saved as version 1\./);
  await waitForText(page, '#cfg-version', /^1$/);
  const json = JSON.parse(await page.locator('#cfg-text').inputValue());
  if (json.retention_days !== 30) throw new Error(`the JSON view shows ${JSON.stringify(json)}`);
  t.ok('events.retention_days saved through the form as version 1; the JSON view follows');

  // 2. security: a bad rate limit is refused by its field; nothing saved.
  await page.goto(`${base}/admin/settings/security`, { waitUntil: 'load' });
  await expectText(t, page, 'Rate limits');
  const burst = page.locator('#f-rate-limits-signin-burst');
  await burst.fill('0');
  t.expect(400, '/api/admin/config/security');
  await page.locator('#section-save').click();
  await waitForText(page, '#section-status', /^Not saved/);
  await waitForText(page, '#f-rate-limits-signin-burst-error', /^0 is not between 1 and 100000$/);
  if ((await burst.getAttribute('aria-invalid')) !== 'true') throw new Error('the burst field is not marked invalid');
  if ((await page.locator('#cfg-version').textContent()).trim() !== '0') throw new Error('the refused save made a version');
  await t.shot(page, 'settings-security-refused.png');
  t.ok('a burst of 0 is refused by its field, and nothing saved');

  // 3. Fixed and saved: version 1, the error gone, kept after a reload.
  await burst.fill('8');
  await page.locator('#f-rate-limits-signin-per-minute').fill('12');
  await page.locator('#section-save').click();
  await waitForText(page, '#section-status', /^Saved as version 1\./);
  await waitForText(page, '#cfg-version', /^1$/);
  if (!(await page.locator('#f-rate-limits-signin-burst-error').isHidden())) throw new Error('the field error stayed');
  await page.reload({ waitUntil: 'load' });
  const after = [await burst.inputValue(), await page.locator('#f-rate-limits-signin-per-minute').inputValue()];
  if (after.join(',') !== '8,12') throw new Error(`after a reload the sign-in limit shows ${after}`);
  await waitForText(page, '#cfg-version', /^1$/);
  t.ok('the sign-in rate limit saved as version 1 and shown after a reload');
  console.log(`PASS settings forms: events and security saved through their forms, a bad limit refused by its field (${t.elapsed()})`);
});
