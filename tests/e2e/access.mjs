// The access-rule, roles and MFA forms in a real headless Chromium: the admin signs in,
// opens /admin/access, adds a rule in the form (it starts disabled), sees a bad host
// refused on the rule's card with the field marked, fixes it, enables and saves it, asks
// the tester (the answer appears without a reload), and checks that /auth/verify agrees.
// Then, on /admin/settings/mfa, ticks "admins" for two-factor enforcement and sees the
// refusal that keeps them from locking themselves out, still in the console.
//
// Usage: node access.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD
// Run by tests/integration/browser.rs against a portal with a fake Jellyfin that trusts
// 127.0.0.1 as a proxy (so the X-Forwarded-* headers of the /auth/verify check count).

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('access.mjs');

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

  await page.goto(`${base}/admin/access`, { waitUntil: 'load' });
  await expectText(t, page, 'Access rules');
  await page.locator('#access-add').click();
  const card = page.locator('#access-rules li[data-rule]').last();
  if (await card.locator('[data-f=enabled]').isChecked()) throw new Error('a new rule starts enabled');
  t.ok('"Add rule" adds a disabled rule');
  await card.locator('[data-f=name]').fill('private area');
  await card.locator('[data-f=hosts]').fill('https://app.example.com/');
  await card.locator('[data-f=paths]').fill('/private/');
  await card.locator('[data-f=policy]').selectOption('deny');
  await card.locator('[data-f=enabled]').check();

  // A URL where a host belongs: refused next to the field, nothing saved.
  t.expect(400, '/api/admin/config/access');
  await page.locator('#access-save').click();
  await waitForText(page, '#access-status', /^Not saved/);
  await waitForText(page, '#access-rules li[data-rule]:last-child [data-rule-error]', /hosts: /);
  const marked = await card.locator('[data-f=hosts]').getAttribute('aria-invalid');
  if (marked !== 'true') throw new Error('the hosts field is not marked invalid');
  t.ok('a bad host is refused on the rule\'s card, the Hosts field marked');
  await t.shot(page, 'access-refused.png');

  await card.locator('[data-f=hosts]').fill('app.example.com');
  await page.locator('#access-reason').fill('browser test');
  await page.locator('#access-save').click();
  await waitForText(page, '#access-status', /^Saved as version 1/);
  t.ok('the rule is saved as version 1');
  const saved = await page.evaluate(() => fetch('/api/admin/config/access').then((r) => r.json()));
  const rule = saved.config.rules[0];
  if (Object.keys(rule)[0] !== 'name' || rule.enabled !== true || rule.policy !== 'deny' ||
      rule.hosts[0] !== 'app.example.com' || rule.paths[0] !== '/private/') {
    throw new Error(`saved ${JSON.stringify(saved.config)}`);
  }
  t.ok(`saved as written: ${JSON.stringify(rule)}`);

  // The tester, answered in place.
  const pageUrl = page.url();
  await page.locator('#test-user').fill(username);
  await page.locator('#test-url').fill('https://app.example.com/private/report');
  await page.locator('#test-ip').fill('192.168.1.5');
  await page.locator('#test-run').click();
  await waitForText(page, '#test-decision', /^deny$/);
  await waitForText(page, '#test-rule', /^private area$/);
  if (page.url() !== pageUrl) throw new Error('the tester reloaded the page');
  await page.locator('#test-url').fill('https://app.example.com/public');
  await page.locator('#test-run').click();
  await waitForText(page, '#test-decision', /^allow$/);
  t.ok('the tester says deny by "private area" under /private/, allow elsewhere');
  await t.shot(page, 'access-tester.png');

  // /auth/verify agrees, for the same signed-in browser.
  const verify = async (uri) => {
    const r = await t.context.request.get(`${base}/auth/verify`, {
      headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'app.example.com', 'X-Forwarded-Uri': uri, 'X-Forwarded-Method': 'GET' },
      maxRedirects: 0,
    });
    return r.status();
  };
  const [closed, open] = [await verify('/private/report'), await verify('/public')];
  if (closed !== 403 || open !== 200) throw new Error(`/auth/verify answered ${closed} for /private/, ${open} for /public`);
  t.ok('/auth/verify agrees: 403 under /private/, 200 elsewhere');

  // Order: a second rule added, moved above the first, then deleted again (not saved).
  await page.goto(`${base}/admin/access`, { waitUntil: 'load' });
  await page.locator('#access-add').click();
  const second = page.locator('#access-rules li[data-rule]').nth(1);
  await second.locator('[data-f=name]').fill('scratch');
  await second.locator('[data-move=up]').click();
  const first = page.locator('#access-rules li[data-rule]').first();
  if (await first.locator('[data-f=name]').inputValue() !== 'scratch' ||
      (await first.locator('[data-no]').textContent()) !== '1') {
    throw new Error('"Move up" did not make the new rule rule 1');
  }
  await first.locator('[data-remove-rule]').click();
  if (await page.locator('#access-rules li[data-rule]').count() !== 1) throw new Error('"Delete" left the rule');
  t.ok('rules move up and are deleted in the form, renumbered');

  // Roles: a new group row with two permissions; the admins row cannot be unticked.
  await page.goto(`${base}/admin/roles`, { waitUntil: 'load' });
  const admins = page.locator('#roles-grid tr[data-role=admins] input[data-perm="admin.access"]');
  if (!(await admins.isChecked()) || !(await admins.isDisabled())) throw new Error('admins can lose admin.access');
  await page.locator('#roles-new').fill('helpdesk');
  await page.locator('#roles-add').click();
  const helpdesk = page.locator('#roles-grid tr[data-role=helpdesk]');
  await helpdesk.locator('input[data-perm="admin.access"]').check();
  await helpdesk.locator('input[data-perm="users.read"]').check();
  await page.locator('#roles-save').click();
  await waitForText(page, '#roles-status', /^Saved as version 1/);
  const roles = await page.evaluate(() => fetch('/api/admin/config/roles').then((r) => r.json()));
  if (JSON.stringify(roles.config.roles.helpdesk) !== '["admin.access","users.read"]' ||
      JSON.stringify(roles.config.roles.admins) !== '["*"]') {
    throw new Error(`roles saved as ${JSON.stringify(roles.config)}`);
  }
  t.ok('a helpdesk role with admin.access and users.read is saved from the grid');
  await t.shot(page, 'access-roles.png');

  // MFA enforcement for admins from the form: refused, with what to do, never locked out.
  await page.goto(`${base}/admin/settings/mfa`, { waitUntil: 'load' });
  t.expect(400, '/api/admin/config/mfa');
  await page.locator('#mfa-form input[name=enforce][value=admins]').check();
  await page.locator('#mfa-save').click();
  await waitForText(page, '#mfa-status', /^Not saved: .*\/mfa\/enroll/);
  t.ok('enforcing MFA on admins without a second factor is refused and says to enrol first');
  await t.shot(page, 'access-mfa-refused.png');
  await page.goto(`${base}/admin`, { waitUntil: 'load' });
  await expectText(t, page, 'Overview');
  t.checkClean('after the forms');
  console.log(`PASS access console: rule added in the form, tester and /auth/verify agree, MFA lock-out refused (${t.elapsed()})`);
});
