// The backups page in a real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): the admin signs in, opens Backups from the console nav, presses
// "Back up now" and sees the file listed, restores the settings from it (the restore
// asks for the scope and confirmation first), and saves a schedule.
//
// Usage: node backups.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD
// Run by tests/integration/browser.rs against a portal it starts with a fake Jellyfin
// and ADMIN_BOOTSTRAP_USERS naming the admin. Screenshots (backups-*.png) go to
// AUTHPORTAL_E2E_SCREENSHOTS when set, else to a new directory under the temp dir.

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('backups.mjs');

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'admin');
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, popupName: 'admin-popup' });
  await page.goto(`${base}/admin`, { waitUntil: 'load' });
  await page.locator('nav[aria-label="Console"]').getByRole('link', { name: 'Backups', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin/backups');
  await expectText(t, page, 'DATA_KEY');
  await page.getByText('No backups yet.').waitFor();
  t.ok('Backups in the console nav; the page warns about DATA_KEY and lists no file yet');

  // 1. Back up now: the button waits while it runs, then the file is in the list.
  const now = page.getByRole('button', { name: 'Back up now' });
  await now.click();
  await page.locator('#backup-status').getByText(/Backup authportal-.* written/).waitFor();
  if (await now.isDisabled()) throw new Error('"Back up now" stayed disabled after the backup');
  const rows = page.locator('#backups-body tr[data-backup]');
  if ((await rows.count()) !== 1) throw new Error(`expected one listed backup, got ${await rows.count()}`);
  const name = await rows.first().getAttribute('data-backup');
  if (!/^authportal-\d{8}T\d{6}Z-[a-z2-7]{8}\.apbak$/.test(name)) throw new Error(`unexpected file name ${name}`);
  t.ok(`"Back up now" wrote ${name} and it is listed`);
  await t.shot(page, 'backups-listed.png');

  // 2. Still listed after a reload (rendered by the server this time).
  await page.reload({ waitUntil: 'load' });
  if ((await page.locator(`#backups-body tr[data-backup="${name}"]`).count()) !== 1) {
    throw new Error('the backup is not listed after a reload');
  }

  // 3. Restore the settings from it: scope and confirmation first, then the result.
  await page.locator(`button[data-restore="${name}"]`).click();
  const panel = page.locator('#restore-panel');
  await panel.waitFor();
  await panel.getByLabel(/Settings only/).check();
  await page.getByRole('button', { name: 'Restore now' }).click();
  const reloaded = page.waitForEvent('load', { timeout: 15_000 });
  await page.locator('#restore-status').getByText(/Restored the settings from/).waitFor();
  t.ok('restoring the settings asked for the scope, then reported the safety backup');
  await reloaded;

  // 4. The schedule: daily at 04:30, keep 3.
  await page.locator('#sch-kind').waitFor();
  await page.locator('#sch-kind').selectOption('daily');
  await page.locator('#sch-time').fill('04:30');
  await page.locator('#sch-keep').fill('3');
  await page.getByRole('button', { name: 'Save schedule' }).click();
  await page.locator('#schedule-status').getByText(/Saved\. Next backup:/).waitFor();
  t.ok('the schedule saved and the next run is shown');
  await t.shot(page, 'backups-schedule.png');
  console.log(`PASS backups page: ${name} written and listed, settings restored from it, schedule saved (${t.elapsed()})`);
});
