// Every console and user page on a phone (390x844, touch) in a real headless Chromium:
// each page is opened and must be no wider than the screen
// (document.scrollingElement.scrollWidth <= 390), tables shown as cards with no column
// off the screen, long values wrapping or scrolling in their own box; the console nav
// is a closed menu that opens on a tap; and the two-factor set-up offers an otpauth://
// link and a copy button beside the key, shown in groups of four that never break
// across lines.
//
// Usage: node phone.mjs BASE_URL SESSION_COOKIE PAGES_JSON PENDING_MFA_COOKIE SETUP_BASE_URL SETUP_COOKIE
// PAGES_JSON is [{route, url, as}], built by tests/integration/browser.rs from the route
// table (so a new page is not forgotten). `as` is "admin" (the admin's session cookie),
// "pending" (a sign-in waiting for its second factor) or "anon" (signed out). SETUP_BASE_URL is a portal not set up yet,
// whose `/` is the first-run wizard; SETUP_COOKIE unlocks its second step. Screenshots (phone-*.png) go to
// AUTHPORTAL_E2E_SCREENSHOTS when set, else to a new directory under the temp dir.

import { join } from 'node:path';

import { die, runInBrowser } from './lib.mjs';

const WIDTH = 390;
const HEIGHT = 844;
const [argBase, session, pagesJson, pendingCookie, argSetupBase, setupCookie] = process.argv.slice(2);
const base = (argBase || '').replace(/\/+$/, '');
const setupBase = (argSetupBase || '').replace(/\/+$/, '');
if (!base || !session || !pagesJson || !pendingCookie || !setupBase || !setupCookie) {
  die('usage: node phone.mjs BASE_URL SESSION_COOKIE PAGES_JSON PENDING_MFA_COOKIE SETUP_BASE_URL SETUP_COOKIE');
}
const pages = JSON.parse(pagesJson);

const slug = (url) => url.split('?')[0].replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '') || 'index';

// How wide the document is, and the elements that stick out past the screen's right edge
// (the innermost ones, to say what to fix).
const measure = (page) => page.evaluate((width) => {
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    // A closed menu's links are laid out but not shown.
    if (r.right > width + 0.5 && r.width > 0 && el.checkVisibility()) {
      // Inside a box that scrolls or clips: not the page's overflow.
      let clipped = false;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o !== 'visible') { clipped = true; break; }
      }
      if (!clipped) wide.push(el);
    }
  }
  // Table cells past the edge are columns a person has to find by scrolling the table:
  // on a phone a table shows as cards (the roles matrix excepted: it scrolls as one).
  const hiddenColumns = Array.from(document.querySelectorAll('table.data:not(.grid) td'))
    .filter((td) => td.checkVisibility() && td.getBoundingClientRect().right > width + 0.5)
    .map((td) => td.closest('table').id || td.closest('table').className);
  const innermost = wide.filter((el) => !wide.some((o) => o !== el && el.contains(o)));
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} (right ${Math.round(el.getBoundingClientRect().right)})`;
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    culprits: innermost.slice(0, 6).map(describe),
    hiddenColumns: [...new Set(hiddenColumns)],
  };
}, WIDTH);

// What the phone's screen shows (not the whole page): the README's pictures.
async function screen(t, page, file) {
  const path = join(t.shotDir, file);
  await page.screenshot({ path });
  console.log(`screenshot ${path}`);
}

async function fits(page, what) {
  const m = await measure(page);
  if (m.scrollWidth > WIDTH) {
    throw new Error(`${what} is ${m.scrollWidth}px wide on a ${WIDTH}px screen; sticking out: ${m.culprits.join(', ') || '?'}`);
  }
  if (m.hiddenColumns.length) throw new Error(`${what}: table columns off the screen in ${m.hiddenColumns.join(', ')}`);
  return m;
}

await runInBrowser({ wholeRunTimeoutMs: 140_000 }, async (t) => {
  const browser = t.context.browser();
  const phone = { viewport: { width: WIDTH, height: HEIGHT }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const anon = await browser.newContext(phone);
  const admin = await browser.newContext(phone);
  await admin.addCookies([{ name: 'authportal_session', value: session, url: base }]);
  const pending = await browser.newContext(phone);
  await pending.addCookies([{ name: 'authportal_mfa', value: pendingCookie, url: base }]);
  const contexts = { anon, admin, pending };
  await admin.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

  for (const { route, url, as } of pages) {
    if (!contexts[as]) throw new Error(`${url}: no browser context for ${as}`);
    const page = await contexts[as].newPage();
    t.watch(page, slug(url));
    // The "no access" page answers 403 by design.
    if (route === '/restricted') t.expect(403, '/restricted');
    const resp = await page.goto(`${base}${url}`, { waitUntil: 'load' });
    if (!resp) throw new Error(`${url}: no answer`);
    const type = resp.headers()['content-type'] || '';
    if (!type.startsWith('text/html')) throw new Error(`${url} answered ${resp.status()} ${type}, not a page`);
    const landed = new URL(page.url()).pathname;
    if (landed !== url.split('?')[0]) throw new Error(`${url} went to ${page.url()} instead of showing its page`);
    // Pages that fill themselves in (admin.js) do so right after load.
    await page.waitForLoadState('networkidle');
    const m = await fits(page, url);
    await t.shot(page, `phone-${slug(route)}.png`);

    const menu = page.locator('details.console-menu');
    if (await menu.count()) {
      // The console nav is a closed menu: a short bar, the links behind a tap.
      const bar = await page.locator('header.console-bar').boundingBox();
      if (bar.height > 120) throw new Error(`${url}: the console bar is ${Math.round(bar.height)}px tall with the menu closed`);
      if (await page.locator('nav[aria-label="Console"] a[href="/admin/users"]').isVisible()) {
        throw new Error(`${url}: the console links show before the menu is opened`);
      }
      if (route === '/admin') {
        await page.locator('details.console-menu > summary').tap();
        await page.locator('nav[aria-label="Console"] a[href="/admin/users"]').waitFor({ state: 'visible' });
        await fits(page, `${url} with the menu open`);
        await t.shot(page, 'phone-admin-menu.png');
        await screen(t, page, 'phone-admin-menu-screen.png');
        t.ok('the console menu opens on a tap and fits');
      }
    }
    t.checkClean(`on ${url}`);
    t.ok(`${url} fits (${m.scrollWidth}px)`);

    if (route === '/mfa/enroll') await enrolment(t, page);
    await page.close();
  }

  // The first-run wizard (`/` of a portal not set up yet): the code form, then the
  // server form once the code was entered (its cookie).
  const wizard = await browser.newContext(phone);
  for (const [step, cookie] of [['code', null], ['server', setupCookie]]) {
    if (cookie) await wizard.addCookies([{ name: 'authportal_setup', value: cookie, url: setupBase }]);
    const page = await wizard.newPage();
    t.watch(page, `setup-${step}`);
    await page.goto(`${setupBase}/`, { waitUntil: 'load' });
    const form = step === 'code' ? 'input[name="code"]' : 'input[name="url"]';
    await page.locator(form).first().waitFor({ state: 'visible' });
    const m = await fits(page, `the setup wizard's ${step} step`);
    await t.shot(page, `phone-setup-${step}.png`);
    t.checkClean(`on the setup wizard's ${step} step`);
    t.ok(`the setup wizard's ${step} step fits (${m.scrollWidth}px)`);
    await page.close();
  }
  console.log(`PASS: ${pages.length} pages and the setup wizard fit a ${WIDTH}px screen`);
});

// The two-factor set-up on a phone: an otpauth:// link to open the authenticator app on
// the same phone, the key in groups of four that do not break, a copy button beside it.
async function enrolment(t, page) {
  await page.locator('#mfa-start').tap();
  await page.locator('#mfa-setup').waitFor({ state: 'visible' });
  const link = page.getByRole('link', { name: /open in your authenticator app/i });
  await link.waitFor({ state: 'visible' });
  const href = await link.getAttribute('href');
  const uri = new URL(href);
  if (uri.protocol !== 'otpauth:' || !href.startsWith('otpauth://totp/')) throw new Error(`the app link is ${href}`);
  const secret = uri.searchParams.get('secret');
  const groups = await page.locator('#mfa-secret .group').evaluateAll((spans) => spans.map((s) => ({
    text: s.textContent, lines: s.getClientRects().length,
  })));
  const shown = await page.locator('#mfa-secret').textContent();
  if (groups.map((g) => g.text).join('') !== secret) {
    throw new Error(`the key shows ${JSON.stringify(groups.map((g) => g.text))}, the link has ${secret}`);
  }
  if (groups.slice(0, -1).some((g) => g.text.length !== 4) || groups.at(-1).text.length > 4) {
    throw new Error(`the key is not grouped by four: ${shown}`);
  }
  const broken = groups.filter((g) => g.lines !== 1);
  if (broken.length) throw new Error(`key groups break across lines: ${broken.map((g) => g.text).join(', ')}`);
  const keyBox = await page.locator('#mfa-secret').boundingBox();
  const copy = page.locator('#mfa-copy');
  const copyBox = await copy.boundingBox();
  if (!copyBox || copyBox.y > keyBox.y + keyBox.height + 40) throw new Error('the copy button is not beside the key');
  await copy.tap();
  await page.locator('#mfa-status').filter({ hasText: 'Copied' }).waitFor({ state: 'visible' });
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== secret) throw new Error(`the copy button copied ${JSON.stringify(copied)}, not the key`);
  await fits(page, '/mfa/enroll with the set-up open');
  t.checkClean('on the phone set-up');
  await t.shot(page, 'phone-mfa-enroll-setup.png');
  await page.locator('#mfa-qr').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, document.getElementById('mfa-qr').getBoundingClientRect().top - 120));
  await screen(t, page, 'phone-mfa-enroll-screen.png');
  t.ok(`set-up: ${href.split('?')[0]} link, key "${shown.trim()}" in ${groups.length} unbroken groups, copy copies it`);
}
