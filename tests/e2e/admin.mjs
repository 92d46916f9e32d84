// The admin console in a real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): a second user signs in in a browser context of her own; the admin
// opens /admin (sent to sign in and back), edits the `mfa` settings section in the JSON
// editor and saves it, sees a stale save refused with both values side by side, creates
// an OAuth client and sees its secret once, and revokes the other user's session from
// her user page, after which her browser is signed out.
//
// Usage: node admin.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD OTHER_USER OTHER_PASSWORD
// Run by tests/integration/browser.rs against a portal it starts with a fake Jellyfin
// and ADMIN_BOOTSTRAP_USERS naming the admin. Screenshots (admin-*.png) go to
// AUTHPORTAL_E2E_SCREENSHOTS when set, else to a new directory under the temp dir.

import { STEP_TIMEOUT_MS, expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('admin.mjs');
const [otherUser, otherPassword] = process.argv.slice(5);
if (!otherUser || !otherPassword) {
  console.error('FAIL: usage: node admin.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD OTHER_USER OTHER_PASSWORD');
  process.exit(1);
}

const whoami = (page) => page.evaluate(() => fetch('/whoami', { credentials: 'same-origin' }).then((r) => r.json()));
const apiGet = (page, path) => page.evaluate((p) => fetch(p, { credentials: 'same-origin' }).then((r) => r.json()), path);
const text = async (page, selector) => ((await page.locator(selector).textContent()) || '').trim();

await runInBrowser({ wholeRunTimeoutMs: 120_000 }, async (t) => {
  // 1. The other user signs in in a context of her own (her own cookie jar).
  const browser = t.context.browser();
  const otherContext = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  otherContext.setDefaultTimeout(STEP_TIMEOUT_MS);
  otherContext.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const other = await otherContext.newPage();
  t.watch(other, otherUser);
  await openLoginPage(t, other, base);
  await signInThroughPopup(t, other, { username: otherUser, password: otherPassword, popupName: `${otherUser}-popup` });
  const before = await whoami(other);
  if (!before.authenticated) throw new Error(`${otherUser} is not signed in: ${JSON.stringify(before)}`);
  t.ok(`${otherUser} signed in in a second browser context`);

  // 2. The admin opens /admin signed out: sent to sign in, and back to /admin after.
  const page = await t.context.newPage();
  t.watch(page, 'admin');
  await page.goto(`${base}/admin`, { waitUntil: 'load' });
  const loginUrl = new URL(page.url());
  if (loginUrl.pathname !== '/' || loginUrl.searchParams.get('rd') !== '/admin') {
    throw new Error(`signed out, /admin went to ${page.url()}, expected /?rd=/admin`);
  }
  t.ok('signed out, /admin sends to the sign-in page with rd=/admin');
  await signInThroughPopup(t, page, { username, password, landOn: '/admin', popupName: 'admin-popup' });
  await expectText(t, page, 'Console');
  const nav = await page.locator('nav[aria-label="Console"] a').allTextContents();
  for (const item of ['Overview', 'Users', 'Settings', 'Clients', 'Portal home']) {
    if (!nav.includes(item)) throw new Error(`the console nav lacks ${item}: ${nav.join(', ')}`);
  }
  const looks = await page.evaluate(() => ({
    sheets: Array.from(document.styleSheets).filter((s) => { try { return s.cssRules.length > 0; } catch (e) { return false; } }).length,
    scripts: Array.from(document.scripts).map((s) => s.getAttribute('src')),
    stats: document.querySelectorAll('.stat').length,
    overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
  }));
  if (looks.sheets < 1) throw new Error('no stylesheet applied on /admin');
  if (looks.scripts.join() !== '/static/admin.js') throw new Error(`unexpected scripts on /admin: ${looks.scripts.join(', ')}`);
  if (looks.stats < 3) throw new Error(`the overview shows ${looks.stats} counts, expected users, sessions, clients`);
  if (looks.overflow) throw new Error('/admin scrolls sideways at 1000px');
  t.ok('overview: nav, counts, only /static/admin.js, no sideways scrolling');
  await t.shot(page, 'admin-overview.png');

  // 3. Settings: the mfa section in the JSON editor.
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin/settings');
  await page.getByRole('link', { name: 'mfa', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin/settings/mfa');
  if ((await text(page, '#cfg-version')) !== '0') throw new Error('a never-saved section should be at version 0');
  const editor = page.getByLabel('Configuration (JSON)');
  await editor.fill('{ "enforce_groups": ["family"] ');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#cfg-error').getByText('not valid JSON').waitFor();
  t.ok('invalid JSON is refused in the page, before any request');
  await editor.fill(JSON.stringify({ enforce_groups: ['family'] }, null, 2));
  await page.getByLabel(/Reason for the change/).fill('family members use two-factor');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#cfg-status').getByText('Saved as version 1').waitFor();
  if ((await text(page, '#cfg-version')) !== '1') throw new Error(`the page shows version ${await text(page, '#cfg-version')} after saving`);
  if (!(await page.locator('#cfg-error').isHidden())) throw new Error('the JSON error is still shown after a good save');
  await page.locator('#cfg-history tr[data-version-row="1"]').waitFor();
  const saved = await apiGet(page, '/api/admin/config/mfa');
  if (saved.version !== 1 || JSON.stringify(saved.config.enforce_groups) !== '["family"]') {
    throw new Error(`GET /api/admin/config/mfa says ${JSON.stringify(saved)}`);
  }
  t.ok('saved mfa: the page shows version 1, the history has it, the API confirms enforce_groups ["family"]');
  await t.shot(page, 'admin-settings-mfa.png');

  // 4. A stale save and a field error, in a page of their own: their 409 and 400 are
  // expected, so they stay out of the watched pages' problem list.
  const side = await t.context.newPage();
  const sideErrors = [];
  side.on('pageerror', (e) => sideErrors.push(e.message));
  side.on('console', (m) => { if (m.type() === 'error' && !/status of 40[09]/.test(m.text())) sideErrors.push(m.text()); });
  await side.goto(`${base}/admin/settings/mfa`, { waitUntil: 'load' });
  // Someone else saves version 2 meanwhile.
  const other2 = await page.evaluate(() => fetch('/api/admin/config/mfa', {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ version: 1, config: { enforce_groups: ['family', 'admins-to-be'] }, reason: 'meanwhile' }),
  }).then((r) => r.status));
  if (other2 !== 200) throw new Error(`the concurrent save answered ${other2}`);
  await side.getByLabel('Configuration (JSON)').fill('{"enforce_groups": ["kids"]}');
  await side.getByRole('button', { name: 'Save', exact: true }).click();
  await side.locator('#cfg-conflict').waitFor({ state: 'visible' });
  const mine = await text(side, '#cfg-mine');
  const theirs = await text(side, '#cfg-theirs');
  if (!mine.includes('kids') || !theirs.includes('admins-to-be') || (await text(side, '#cfg-theirs-version')) !== '2') {
    throw new Error(`the conflict panel shows mine=${mine} theirs=${theirs}`);
  }
  await t.shot(side, 'admin-settings-conflict.png');
  await side.getByRole('button', { name: 'Load the server value' }).click();
  if ((await text(side, '#cfg-version')) !== '2') throw new Error('loading the server value did not move the editor to version 2');
  t.ok('a stale save shows "changed meanwhile" with both values side by side; loading the server value moves to version 2');
  await side.getByLabel('Configuration (JSON)').fill('{"enforce_groups": "family"}');
  await side.getByRole('button', { name: 'Save', exact: true }).click();
  await side.locator('#cfg-error').getByText('mfa:').waitFor();
  t.ok(`the API's field error is shown under the editor: "${await text(side, '#cfg-error')}"`);
  if (sideErrors.length) throw new Error(`the side page reported: ${sideErrors.join('; ')}`);
  await side.close();

  // 5. Clients: create one and see the secret once.
  await page.getByRole('link', { name: 'Clients', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin/clients');
  await page.getByLabel('Name', { exact: true }).fill('Grafana');
  await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('https://grafana.example.com/login/generic_oauth\n');
  await page.getByRole('button', { name: 'Create client' }).click();
  await page.locator('#secret-panel').waitFor({ state: 'visible' });
  const clientId = await text(page, '#secret-client-id');
  const secret = await text(page, '#secret-value');
  if (!/^ap-/.test(clientId) || secret.length < 32) throw new Error(`the secret panel shows id=${clientId}, a ${secret.length}-character secret`);
  await expectText(t, page, 'shown only this once');
  await t.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.getByRole('button', { name: 'Copy secret' }).click();
  await page.locator('#secret-status').getByText('Copied').waitFor();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  if (clip !== secret) throw new Error('the copy button did not put the secret on the clipboard');
  t.ok(`created client ${clientId}; its secret is shown once and the copy button copies it`);
  // The secret works: a token request with it is refused for the bogus code, not the client.
  const token = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: 'grant_type=authorization_code&code=bogus&redirect_uri=' + encodeURIComponent('https://grafana.example.com/login/generic_oauth'),
  });
  const tokenBody = await token.json();
  if (tokenBody.error !== 'invalid_grant') throw new Error(`the token endpoint said ${JSON.stringify(tokenBody)} for the new secret`);
  t.ok('the shown secret authenticates the client at /oidc/token');
  await page.reload({ waitUntil: 'load' });
  const listed = await page.locator('#clients-body').innerText();
  if (!listed.includes('Grafana') || !listed.includes(clientId)) throw new Error(`the list lacks the new client: ${listed}`);
  if ((await page.content()).includes(secret)) throw new Error('the secret is still on the page after a reload');
  t.ok('after a reload the client is listed and the secret is gone');
  await t.shot(page, 'admin-clients.png');

  // 5b. The client's own page: edit, rotate the secret (two presses), and delete another.
  await page.getByRole('link', { name: 'Grafana', exact: true }).click();
  await page.waitForURL((u) => u.pathname === `/admin/clients/${clientId}`);
  await page.getByLabel('Trusted: skip the consent screen').check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#client-status').getByText('Saved').waitFor();
  const rotate = page.locator('#client-rotate');
  await rotate.click();
  await page.locator('#danger-status').getByText('old one stops working').waitFor();
  await rotate.click();
  await page.locator('#secret-panel').waitFor({ state: 'visible' });
  const rotated = await text(page, '#secret-value');
  if (rotated.length < 32 || rotated === secret) throw new Error('rotating did not show a new secret');
  const oldSecret = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: 'grant_type=authorization_code&code=bogus&redirect_uri=x',
  });
  if (oldSecret.status !== 401) throw new Error(`the old secret still authenticates (${oldSecret.status})`);
  t.ok('client page: saved as trusted, rotated the secret (two presses); the old secret is refused');
  const throwaway = await page.evaluate(() => fetch('/api/admin/oauth/clients', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Throwaway', redirect_uris: ['https://t.example.com/cb'], public: true }),
  }).then((r) => r.json()));
  await page.goto(`${base}/admin/clients/${throwaway.client_id}`, { waitUntil: 'load' });
  if (await page.locator('#client-rotate').count()) throw new Error('a public client offers to rotate a secret it does not have');
  await page.locator('#client-delete').click();
  await page.locator('#client-delete').click();
  await page.waitForURL((u) => u.pathname === '/admin/clients');
  if ((await page.locator('#clients-body').innerText()).includes('Throwaway')) throw new Error('the deleted client is still listed');
  t.ok('deleted a client with two presses; back on the list without it');

  // 6. Users: open the other user's page and revoke her session.
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin/users');
  const rows = await page.locator('table.data tbody tr').count();
  if (rows !== 2) throw new Error(`the users table has ${rows} rows, expected 2`);
  await t.shot(page, 'admin-users.png');
  await page.getByRole('link', { name: otherUser, exact: true }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/admin/users/'));
  await expectText(t, page, 'Sessions');
  const sessionRows = page.locator('tr[data-session-row]');
  if ((await sessionRows.count()) !== 1) throw new Error(`${otherUser}'s page lists ${await sessionRows.count()} sessions, expected 1`);
  await page.getByLabel(/Assigned groups/).fill('family, kids');
  await page.getByRole('button', { name: 'Save groups' }).click();
  await page.locator('#groups-status').getByText('Groups saved: family, kids').waitFor();
  t.ok(`assigned ${otherUser} the groups family and kids`);
  await t.shot(page, 'admin-user.png');
  await sessionRows.first().getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#sessions-status').getByText('Session revoked').waitFor();
  if ((await sessionRows.count()) !== 0) throw new Error('the revoked session is still listed');
  const after = await whoami(other);
  if (after.authenticated !== false) throw new Error(`after the revoke ${otherUser}'s /whoami says ${JSON.stringify(after)}`);
  t.ok(`revoked ${otherUser}'s session from her page; her /whoami now says authenticated:false`);

  // 7. A phone-sized window: the console reflows; wide tables scroll inside their box.
  await page.setViewportSize({ width: 390, height: 800 });
  for (const path of ['/admin', '/admin/users', '/admin/settings/mfa', '/admin/clients']) {
    await page.goto(`${base}${path}`, { waitUntil: 'load' });
    const overflow = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      // For the report: what sticks out, leaving out the insides of a table's scroll box.
      const scrolledInBox = (e) => e.parentElement && e.parentElement.closest('.table-wrap');
      const wide = Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > width + 1 && !scrolledInBox(e))
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + String(e.className).replace(/ /g, '.') : ''} (right edge ${Math.round(e.getBoundingClientRect().right)})`);
      return { by: document.documentElement.scrollWidth - width, wide };
    });
    if (overflow.by > 0) throw new Error(`${path} scrolls sideways by ${overflow.by}px at 390px wide: ${overflow.wide.join(', ')}`);
  }
  await page.goto(`${base}/admin/users`, { waitUntil: 'load' });
  await t.shot(page, 'admin-users-narrow.png');
  t.ok('at 390px wide no console page scrolls sideways');

  t.checkClean('in the console');
  await otherContext.close();
  console.log(`PASS admin console: settings saved as version 1, client created with its secret shown once, ${otherUser}'s session revoked (${t.elapsed()})`);
});
