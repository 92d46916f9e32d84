// The webhooks and events console pages in a real headless Chromium: the admin starts a
// webhook from the Pangolin preset on /admin/webhooks (the form starts empty and
// disabled), completes it, sees the server-rendered preview, saves it, enables it by
// editing, presses "Send test" and sees the delivery's outcome appear without a reload;
// then finds the sign-in on /admin/events with its filters in one row and its user
// agent in words.
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
  if (await page.locator('#wh-enabled').isChecked()) throw new Error('a new webhook starts enabled');
  if ((await page.locator('#wh-url').inputValue()) !== '') throw new Error('the new form has a URL');
  t.ok('the form starts empty and disabled');

  // The Pangolin preset fills the shape; the owner gives the URL and the API key.
  await page.locator('button[data-preset="pangolin"]').click();
  await page.locator('#webhook-preset-about', { hasText: 'Pangolin' }).waitFor();
  if (!(await page.locator('#wh-events input[value="signin.success"]').isChecked())) {
    throw new Error('the Pangolin preset did not choose signin.success');
  }
  if (await page.locator('#wh-enabled').isChecked()) throw new Error('the preset enabled the rule');
  const urlHint = await page.locator('#wh-url').getAttribute('placeholder');
  if (!urlHint.includes('/v1/resource/')) throw new Error(`the URL hint is ${urlHint}`);
  await page.locator('#wh-name').fill('Pangolin: root');
  await page.locator('#wh-url').fill(receiver);
  await page.locator('#wh-header-rows .header-row', { has: page.locator('[data-header-name]') }).first()
    .locator('[data-header-value]').fill('Bearer browser-secret');
  await page.locator('#wh-preview', { hasText: '"value": "203.0.113.9"' }).waitFor();
  const shown = await page.locator('#wh-preview').textContent();
  if (!shown.startsWith(`POST ${receiver}`)) throw new Error(`the preview shows ${shown}`);
  t.ok('the preset filled the form and the preview shows the request for a sample sign-in');
  await t.shot(page, 'webhooks-form.png');
  // The picture in the README: the form from its title down, one screen of it.
  await page.evaluate(() => document.getElementById('webhook-form').scrollIntoView());
  await page.screenshot({ path: `${t.shotDir}/webhooks-form-top.png` });

  await Promise.all([page.waitForEvent('load'), page.locator('#webhook-create').click()]);
  const hook = page.locator('section[data-webhook]', { hasText: 'Pangolin: root' });
  await hook.locator('.badge', { hasText: 'disabled' }).waitFor();
  if ((await page.content()).includes('browser-secret')) throw new Error('the header value is shown');
  t.ok('webhook created from the preset, disabled; its header value is not shown');

  // Enable it by editing: the form fills with the rule (no header value, no secret).
  await hook.locator('button[data-webhook-edit]').click();
  await page.locator('#webhook-form-title', { hasText: 'Edit webhook' }).waitFor();
  if ((await page.locator('#wh-name').inputValue()) !== 'Pangolin: root') throw new Error('the edit form lacks the name');
  await page.locator('#webhook-advanced summary').click();
  // The <details> toggle event (which fills the JSON) is dispatched as a later task.
  await page.waitForFunction(() => document.querySelector('#webhook-json').value !== '');
  const asJson = JSON.parse(await page.locator('#webhook-json').inputValue());
  if (asJson.headers.Authorization !== null || 'secret' in asJson || asJson.url !== receiver) {
    throw new Error(`the Advanced JSON shows ${JSON.stringify(asJson)}`);
  }
  await page.locator('#wh-enabled').check();
  await Promise.all([page.waitForEvent('load'), page.locator('#webhook-create').click()]);
  await hook.locator('.badge', { hasText: 'enabled' }).waitFor();
  const rules = await page.evaluate(() => fetch('/api/admin/webhooks').then((r) => r.json()));
  const rule = rules.webhooks[0];
  if (!rule.enabled || rule.headers.Authorization !== null) {
    throw new Error(`after the edit the rule is ${JSON.stringify(rule)}`);
  }
  t.ok('enabled from the edit form, its header kept');

  // The test delivery's outcome appears beside the rule without a reload.
  await page.evaluate(() => { window.stillThisPage = true; });
  await hook.locator('button[data-webhook-test]').click();
  await hook.locator('[data-test-result]', { hasText: 'Test delivered: HTTP 200' }).waitFor();
  if (!(await page.evaluate(() => window.stillThisPage === true))) throw new Error('the page reloaded');
  t.ok(`the test delivery's outcome appeared without a reload: ${await hook.locator('[data-test-result]').textContent()}`);
  await t.shot(page, 'webhooks-page.png');

  await page.goto(`${base}/admin/events?type=signin.`, { waitUntil: 'load' });
  await expectText(t, page, 'signin.success');
  const tops = await page.locator('form.filters .filter').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().top));
  if (tops.length !== 5 || new Set(tops).size !== 1) throw new Error(`the filters are not in one row: ${tops}`);
  await page.locator('td.detail', { hasText: 'Chrome on Linux' }).first().waitFor();
  t.ok('the events page: filters in one row, the sign-in with its user agent in words');
  await t.shot(page, 'webhooks-events.png');
  console.log(`PASS webhooks console: Pangolin preset, preview, enabled, test outcome without reload, events page (${t.elapsed()})`);
});
