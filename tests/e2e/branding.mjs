// The branding page in a real headless Chromium: the admin signs in, opens
// /admin/branding, names the portal, picks an accent colour, writes a welcome text,
// adds a service, uploads a logo and a background (real PNG files made here), sees a bad
// service address refused next to its field, saves, and then sees it all on /home:
// the name in the title and header, the logo and background loaded, the service listed.
//
// Usage: node branding.mjs BASE_URL ADMIN_USER ADMIN_PASSWORD
// Run by tests/integration/browser.rs against a portal with a fake Jellyfin and
// ADMIN_BOOTSTRAP_USERS naming the admin. Screenshots (branding-*.png) go to
// AUTHPORTAL_E2E_SCREENSHOTS when set, else to a new directory under the temp dir.

import { deflateSync } from 'node:zlib';

import { expectText, openLoginPage, parseArgs, runInBrowser, signInThroughPopup } from './lib.mjs';

const { base, username, password } = parseArgs('branding.mjs');

// --- A PNG of one colour, written from the PNG spec (RFC 2083), no image library. ---

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function solidPng(width, height, [r, g, b]) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const status = async (page, id) => ((await page.locator(`#${id}`).textContent()) || '').trim();

async function waitForStatus(page, id, pattern) {
  await page.waitForFunction(
    ([sel, src]) => new RegExp(src).test(document.getElementById(sel)?.textContent || ''),
    [id, pattern.source],
  ).catch(async () => {
    throw new Error(`#${id} says ${JSON.stringify(await status(page, id))}, expected ${pattern}`);
  });
}

await runInBrowser({ wholeRunTimeoutMs: 120_000 }, async (t) => {
  const page = await t.context.newPage();
  t.watch(page, 'admin');
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, popupName: 'admin-popup' });
  await page.goto(`${base}/admin/branding`, { waitUntil: 'load' });
  await expectText(t, page, 'Services on the home page');

  // Images first: each uploads as soon as it is chosen.
  await page.locator('.image-slot[data-slot=logo] input[type=file]').setInputFiles({
    name: 'logo.png', mimeType: 'image/png', buffer: solidPng(64, 64, [229, 160, 13]),
  });
  await waitForStatus(page, 'logo-status', /^Uploaded/);
  await page.locator('.image-slot[data-slot=background] input[type=file]').setInputFiles({
    name: 'background.png', mimeType: 'image/png', buffer: solidPng(320, 200, [20, 60, 40]),
  });
  await waitForStatus(page, 'background-status', /^Uploaded/);
  // "Uploaded" shows once the preview's new src is set; the image loads after that.
  const previewsLoaded = () => Array.from(document.querySelectorAll('.image-slot img.preview'))
    .every((i) => !i.hidden && i.complete && i.naturalWidth > 0);
  if (!(await page.waitForFunction(previewsLoaded).then(() => true, () => false))) {
    const previews = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.image-slot img.preview')).map((i) => [i.hidden, i.naturalWidth]));
    throw new Error(`the previews did not show the uploads: ${JSON.stringify(previews)}`);
  }
  t.ok('logo and background uploaded, previews shown');

  // A service with a bad address: refused, and the field is marked.
  await page.locator('#br-name').fill('Smith Media');
  await page.locator('#br-accent-default').uncheck();
  await page.locator('#br-accent').fill('#e5a00d');
  await page.locator('#br-welcome').fill('Films and shows for the Smith family.');
  await page.locator('#br-add-link').click();
  const row = page.locator('#br-links .link-row').last();
  await row.locator('[data-link=name]').fill('Requests');
  // The browser takes any URL; the portal wants http(s).
  await row.locator('[data-link=url]').fill('ftp://requests.example.com');
  t.expect(400, '/api/admin/config/branding');
  await page.locator('#br-save').click();
  await page.locator('#br-error').waitFor({ state: 'visible' });
  const error = await status(page, 'br-error');
  if (!/links\[0\]\.url/.test(error)) throw new Error(`the refusal says ${JSON.stringify(error)}`);
  const marked = await row.locator('[data-link=url]').getAttribute('aria-invalid');
  if (marked !== 'true') throw new Error('the bad address field is not marked invalid');
  t.ok(`a bad service address is refused at its field: "${error}"`);

  await row.locator('[data-link=url]').fill('https://requests.example.com');
  await row.locator('[data-link=description]').fill('Ask for a film');
  await page.locator('#br-save').click();
  await waitForStatus(page, 'br-status', /^Saved as version 1/);
  if (!(await page.locator('#br-error').isHidden())) throw new Error('the old error is still shown');
  t.ok('saved as version 1');
  await t.shot(page, 'branding-page.png');

  // What a person sees now.
  await page.goto(`${base}/home`, { waitUntil: 'load' });
  const home = await page.evaluate(() => {
    const logo = document.querySelector('header.brand img');
    const link = document.querySelector('ul.services a');
    return {
      title: document.title,
      brand: document.querySelector('header.brand span')?.textContent,
      logoWidth: logo ? logo.naturalWidth : 0,
      background: getComputedStyle(document.body).backgroundImage,
      link: link ? [link.getAttribute('href'), link.textContent] : null,
      lead: document.querySelector('.lead')?.textContent,
    };
  });
  if (home.title !== 'Home · Smith Media' || home.brand !== 'Smith Media') {
    throw new Error(`the home page is not named: ${JSON.stringify(home)}`);
  }
  if (home.logoWidth !== 64) throw new Error(`the uploaded logo did not load: ${JSON.stringify(home)}`);
  if (!/\/branding\/background\?v=/.test(home.background)) {
    throw new Error(`no background image: ${home.background}`);
  }
  const bgLoaded = await page.evaluate(() => fetch('/branding/background').then((r) => r.headers.get('content-type')));
  if (bgLoaded !== 'image/png') throw new Error(`/branding/background served ${bgLoaded}`);
  if (!home.link || home.link[0] !== 'https://requests.example.com' || !home.link[1].includes('Requests')) {
    throw new Error(`the service is not listed: ${JSON.stringify(home)}`);
  }
  if (home.lead !== 'Films and shows for the Smith family.') throw new Error(`welcome text: ${home.lead}`);
  t.ok('home page: named "Smith Media", logo and background loaded, the service listed');
  await t.shot(page, 'branding-home.png');
  t.checkClean('after the branding run');
  console.log(`PASS branding: named, coloured, two images uploaded, a service added (${t.elapsed()})`);
});
