// The console's media-servers page in a real headless Chromium: an owner whose portal
// was just set up with Emby sees the next steps on the overview (its copy button copies
// the sign-in address), opens /admin/media, types a wrong address for Jellyfin and sees
// the refusal next to the form, then the fake Jellyfin's address, saves, and sees
// Jellyfin listed among the servers in use (the page reloads after the save).
//
// Usage: node media.mjs BASE_URL SESSION_COOKIE JELLYFIN_URL
// Run by tests/integration/browser.rs, which sets the portal up through the wizard and
// hands over the owner's session cookie. Screenshots (media-*.png) as signin.mjs.

import { die, expectText, runInBrowser } from './lib.mjs';

const [argBase, session, jellyfinUrl] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
if (!base || !session || !jellyfinUrl) die('usage: node media.mjs BASE_URL SESSION_COOKIE JELLYFIN_URL');

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  await t.context.addCookies([{ name: 'authportal_session', value: session, url: base }]);
  const page = await t.context.newPage();
  t.watch(page, 'media');
  // The wrong address below is refused on purpose.
  t.expect(502, '/api/admin/media/servers');

  const resp = await page.goto(`${base}/admin`, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET /admin answered ${resp?.status()}`);
  // Right after setup the overview shows the next steps; a copy button copies the
  // sign-in address.
  await t.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.locator('#next-steps').waitFor({ state: 'visible' });
  const shared = (await page.locator('#share-signin').textContent()).trim();
  await page.locator('button[data-copy="share-signin"]').click();
  await page.locator('#copy-status').filter({ hasText: 'Copied' }).waitFor({ state: 'visible' });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== shared || !shared.startsWith(base)) {
    throw new Error(`the copy button copied ${JSON.stringify(copied)}; the page shows ${JSON.stringify(shared)}`);
  }
  const snippets = await page.locator('#next-steps details.snippet summary').allTextContents();
  if (snippets.length !== 3) throw new Error(`the next steps show ${snippets.length} snippets: ${snippets.join(', ')}`);
  t.ok(`the overview shows next steps; "Copy" copied ${copied}; snippets: ${snippets.join(', ')}`);
  await t.shot(page, 'media-overview.png');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/admin/media'),
    page.locator('nav[aria-label="Console"]').getByRole('link', { name: 'Media servers' }).click(),
  ]);
  await page.waitForLoadState('load');
  await expectText(t, page, 'Media servers');
  const before = await page.locator('#media-list li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-kind')));
  if (before.join(',') !== 'emby') throw new Error(`servers in use before: ${before.join(',')}, expected emby`);
  t.ok('the nav leads to /admin/media, which lists Emby in use');

  const address = page.getByLabel('Jellyfin server address');
  const save = page.getByRole('button', { name: 'Check and save Jellyfin' });
  await address.fill('http://127.0.0.1:9');
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/api/admin/media/servers')),
    save.click(),
  ]);
  const status = page.locator('#media-jellyfin-status');
  await status.filter({ hasText: 'No Jellyfin server answered' }).waitFor({ state: 'visible' });
  t.ok(`a wrong address is refused next to the form: "${(await status.textContent()).trim()}"`);
  await t.shot(page, 'media-refused.png');

  await address.fill(jellyfinUrl);
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/api/admin/media/servers') && r.status() === 200),
    page.waitForEvent('load'),
    save.click(),
  ]);
  const listed = page.locator('#media-list li[data-kind="jellyfin"]');
  await listed.waitFor({ state: 'visible' });
  const text = (await listed.textContent()).trim();
  if (!text.includes('Jellyfin') || !text.includes(jellyfinUrl.replace(/\/+$/, ''))) {
    throw new Error(`the Jellyfin entry says ${JSON.stringify(text)}`);
  }
  if ((await page.getByLabel('Jellyfin server address').inputValue()) !== jellyfinUrl) {
    throw new Error('the form does not show the saved address');
  }
  t.ok(`saved; the page lists "${text}"`);
  t.checkClean('on the media-servers page');
  await t.shot(page, 'media-saved.png');
  console.log(`PASS added Jellyfin at ${jellyfinUrl} from the console, in ${t.elapsed()}`);
});
