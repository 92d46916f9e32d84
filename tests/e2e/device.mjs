// The device authorization grant (RFC 8628) driven by a client the project did not write:
// openid-client (panva) plays the TV, asking for a code and polling the token endpoint,
// while a person in headless Chromium approves the code at /device:
//
//   1. discovery names the device endpoint and the grant; a public client (no secret);
//   2. initiateDeviceAuthorization: the library checks the response; the user code is
//      XXXX-XXXX from RFC 8628's consonant alphabet;
//   3. pollDeviceAuthorizationGrant runs (authorization_pending until the person acts;
//      slow_down once after an extra poll of our own, so the library waits 5 s longer)
//      while the browser opens verification_uri_complete, signs in through the Jellyfin
//      popup (coming back to /device), reads the review page (client, warning) and
//      approves; the library then gets the tokens and checks the ID token (signature
//      against the JWKS, iss, aud, exp, iat); a refresh token comes with offline_access;
//   4. a second request, the code typed by hand (lower case, no dash) at the plain
//      verification_uri and denied: the library's poll ends with access_denied.
//
// Usage: node device.mjs BASE_URL CLIENT_ID USERNAME PASSWORD
// The client must be public, registered with --device, allowed "openid profile
// offline_access". Run by tests/integration/device.rs. Prints an "ok" line per check;
// exits 1 with the reason on the first failure, like oidc.mjs.

import { die, runInBrowser, signInThroughPopup } from './lib.mjs';

let client;
try {
  client = await import('openid-client');
} catch (e) {
  die(`openid-client is not installed (${e.message}): run \`npm ci --prefix tests/e2e\``);
}

const [argBase, clientId, username, password] = process.argv.slice(2);
if (!argBase || !clientId || !username || !password) {
  die('usage: node device.mjs BASE_URL CLIENT_ID USERNAME PASSWORD');
}
const base = argBase.replace(/\/+$/, '');
if (!/^https?:\/\/[^/]+$/.test(base)) die(`BASE_URL must be scheme://host[:port], got ${base}`);
const SCOPE = 'openid profile offline_access';
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

// What the library sent and got, shown when something fails.
const wire = [];

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Waits (up to 20 s) until the library's requests got the OAuth error `error`.
async function waitForWire(error) {
  for (let i = 0; i < 200; i++) {
    if (wire.some((w) => w.endsWith(` ${error}`))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the library never got ${error}:\n  ${wire.join('\n  ')}`);
}

await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
  try {
    await flow(t);
  } catch (e) {
    if (wire.length) console.error(`what openid-client sent and got:\n  ${wire.join('\n  ')}`);
    throw e;
  }
});

async function flow(t) {
  // 1. Discovery, as a public client.
  const logged = async (url, options) => {
    const r = await fetch(url, options);
    const sent = options.body ? new URLSearchParams(options.body.toString()).get('grant_type') || '' : '';
    let error = '';
    if (!r.ok) error = ` ${(await r.clone().json().catch(() => ({}))).error || ''}`;
    wire.push(`${options.method} ${new URL(url).pathname} ${sent} -> ${r.status}${error}`);
    return r;
  };
  const config = await client.discovery(new URL(base), clientId, {}, client.None(), {
    // Plain http on loopback in the test; every ID token is checked against the JWKS.
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    timeout: 10,
    [client.customFetch]: logged,
  });
  const meta = config.serverMetadata();
  expect(meta.device_authorization_endpoint === `${base}/oidc/device_authorization`,
    `discovery device_authorization_endpoint is ${meta.device_authorization_endpoint}`);
  expect(meta.grant_types_supported?.includes('urn:ietf:params:oauth:grant-type:device_code'),
    `discovery grant types: ${meta.grant_types_supported}`);
  t.ok(`discovery: device endpoint ${new URL(meta.device_authorization_endpoint).pathname}`);

  // 2. The TV asks for a code.
  const dar = await client.initiateDeviceAuthorization(config, { scope: SCOPE });
  expect(USER_CODE.test(dar.user_code), `user_code ${dar.user_code}`);
  expect(dar.verification_uri === `${base}/device`, `verification_uri ${dar.verification_uri}`);
  expect(dar.verification_uri_complete === `${base}/device?user_code=${dar.user_code}`,
    `verification_uri_complete ${dar.verification_uri_complete}`);
  expect(dar.expires_in === 600 && dar.interval === 5, `expires_in ${dar.expires_in}, interval ${dar.interval}`);
  t.ok(`device authorization: user code ${dar.user_code}, every ${dar.interval} s for ${dar.expires_in} s`);

  // 3. The library polls while the person approves in the browser.
  const polling = client.pollDeviceAuthorizationGrant(config, dar);
  polling.catch(() => {}); // awaited below; a rejection meanwhile is not unhandled
  const page = await t.context.newPage();
  t.watch(page, 'phone');
  await page.goto(dar.verification_uri_complete, { waitUntil: 'load' });
  expect(new URL(page.url()).pathname === '/', `signed out, /device went to ${page.url()}`);
  t.ok('signed out: /device sent the browser to sign in');
  await signInThroughPopup(t, page, { username, password, landOn: '/device' });
  const review = await page.locator('body').innerText();
  for (const text of ['Device Test TV', 'Only approve a device you are holding', dar.user_code]) {
    expect(review.includes(text), `the review page does not say "${text}":\n${review}`);
  }
  t.ok('the review page names the client, the code and warns');
  await t.shot(page, 'device-review.png');
  // Before approving: the library has polled (authorization_pending); a poll of our own
  // right after it is too fast (slow_down), so the library's next poll is too and the
  // library must wait 5 s longer from then on.
  await waitForWire('authorization_pending');
  const own = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: dar.device_code, client_id: clientId }),
  });
  const ownError = (await own.json()).error;
  expect(own.status === 400 && ownError === 'slow_down', `an extra poll answered ${own.status} ${ownError}`);
  await waitForWire('slow_down');
  t.ok('the library saw authorization_pending, then slow_down after an extra poll');
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForLoadState('load');
  expect((await page.locator('#device-outcome').innerText()).includes('is signed in'),
    `after Approve the page says ${await page.locator('body').innerText()}`);
  t.ok('approved at /device');

  const tokens = await polling;
  const claims = tokens.claims();
  expect(claims && claims.aud === clientId && typeof claims.sub === 'string', `ID token claims ${JSON.stringify(claims)}`);
  expect(claims.preferred_username === username, `preferred_username ${claims.preferred_username}`);
  expect(!('nonce' in claims), 'the ID token has a nonce');
  expect(typeof tokens.access_token === 'string' && typeof tokens.refresh_token === 'string',
    `token response keys ${Object.keys(tokens)}`);
  t.ok(`the library got tokens for ${claims.preferred_username}; ID token verified`);

  // 4. Another request, typed by hand and denied.
  const second = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
  const denied = client.pollDeviceAuthorizationGrant(config, second);
  denied.catch(() => {});
  await page.goto(second.verification_uri, { waitUntil: 'load' });
  await page.getByLabel('Code').fill(second.user_code.replace('-', '').toLowerCase());
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForLoadState('load');
  await page.getByRole('button', { name: 'Deny' }).click();
  await page.waitForLoadState('load');
  expect((await page.locator('#device-outcome').innerText()).includes('was not signed in'),
    `after Deny the page says ${await page.locator('body').innerText()}`);
  try {
    await denied;
    throw new Error('a denied device got tokens');
  } catch (e) {
    expect(e instanceof client.ResponseBodyError && e.error === 'access_denied',
      `a denied device: expected access_denied, got ${e.name}: ${e.message}`);
  }
  t.ok('typed by hand and denied: the library ended with access_denied');
  t.checkClean('during the whole flow');

  console.log(`library calls:\n  ${wire.join('\n  ')}`);
  console.log(`PASS openid-client ran the device grant (approved and denied at /device) in ${t.elapsed()}`);
}
