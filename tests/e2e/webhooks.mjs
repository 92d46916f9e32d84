// The webhooks and events console pages in a real headless Chromium: the admin creates a
// webhook from the JSON form on /admin/webhooks (admin.js posts it to the API), presses
// "Send test", sees the delivery on the page after a reload, and finds the sign-in on
// /admin/events filtered by type.
//
// Usage: node webhooks.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD RECEIVER_URL
// Run by tests/integration/browser.rs with a fake Jellyfin and a local webhook receiver.

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('webhooks.mjs');
const receiver = process.argv[5];
if (!receiver) {
  console.error('FAIL: usage: node webhooks.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD RECEIVER_URL');
  process.exit(1);
}

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'admin');
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, popupName: 'admin-popup' });

  await page.goto(`${base}/admin/webhooks`, { waitUntil: 'load' });
  const nav = await page.locator('nav[aria-label="Console"] a').allTextContents();
  for (const item of ['Events', 'Webhooks']) {
    if (!nav.includes(item)) throw new Error(`the console nav lacks ${item}: ${nav.join(', ')}`);
  }
  await page.locator('#webhook-json').fill(JSON.stringify({
    name: 'Browser hook',
    events: ['signin.success'],
    method: 'POST',
    url: receiver,
    headers: { Authorization: 'Bearer browser-secret' },
    body_format: 'json',
    body_template: '{"user": "{user.username}"}',
  }));
  await Promise.all([page.waitForEvent('load'), page.locator('#webhook-create').click()]);
  await expectText(t, page, 'Browser hook');
  await t.shot(page, 'webhooks-page.png');
  if ((await page.content()).includes('browser-secret')) throw new Error('the header value is shown');
  t.ok('webhook created from the form; its header value is not shown');

  await page.locator('button[data-webhook-test]').first().click();
  await page.locator('#webhooks-status', { hasText: 'queued' }).waitFor();
  t.ok('"Send test" queued a delivery');
  let delivered = false;
  for (let i = 0; i < 50 && !delivered; i++) {
    await page.waitForTimeout(200);
    await page.reload({ waitUntil: 'load' });
    delivered = (await page.locator('section[data-webhook] td', { hasText: 'delivered' }).count()) > 0;
  }
  if (!delivered) throw new Error('the test delivery never showed as delivered');
  t.ok('the test delivery shows as delivered');

  // Edit: the form fills with the rule (no header value, no secret), a change is saved.
  await page.locator('button[data-webhook-edit]').first().click();
  await page.locator('#webhook-form-title', { hasText: 'Edit webhook' }).waitFor();
  const loaded = JSON.parse(await page.locator('#webhook-json').inputValue());
  if (loaded.name !== 'Browser hook' || loaded.headers.Authorization !== null || 'secret' in loaded) {
    throw new Error(`the edit form shows ${JSON.stringify(loaded)}`);
  }
  loaded.name = 'Browser hook (edited)';
  loaded.enabled = false;
  await page.locator('#webhook-json').fill(JSON.stringify(loaded, null, 2));
  await Promise.all([page.waitForEvent('load'), page.locator('#webhook-create').click()]);
  await expectText(t, page, 'Browser hook (edited)');
  const rules = await page.evaluate(() => fetch('/api/admin/webhooks').then((r) => r.json()));
  const rule = rules.webhooks[0];
  if (rule.enabled || rule.headers.Authorization !== null) {
    throw new Error(`after the edit the rule is ${JSON.stringify(rule)}`);
  }
  t.ok('edited from the console: renamed and disabled, its header kept');

  await page.goto(`${base}/admin/events?type=signin.`, { waitUntil: 'load' });
  await expectText(t, page, 'signin.success');
  t.ok('the sign-in is on the events page');
  await t.shot(page, 'webhooks-events.png');
  console.log(`PASS webhooks console: created from the form, test delivered, edited, sign-in on the events page (${t.elapsed()})`);
});
