// End-to-end OpenID Connect: a relying party the project did not write (openid-client,
// the OpenID-certified RP library by panva, on oauth4webapi and jose) drives the portal's
// provider, with the person's part done in a real headless Chromium (see signin.mjs):
//
//   1. discovery (issuer = BASE_URL), a confidential client with client_secret_basic;
//   2. sign-in through the Jellyfin popup, then the authorization code flow with PKCE
//      S256, state and nonce through the consent page ("Allow"), and the code exchange,
//      where the library checks the authorization response (state, iss) and the ID token
//      (RS256 signature against the JWKS, iss, aud, exp, iat, nonce, auth_time, with
//      enableNonRepudiationChecks: without it the library skips the signature);
//   3. userinfo (sub must equal the ID token's);
//   4. refresh token rotation, reuse of the old refresh token ending the family, and a
//      second redemption of the first code refused;
//   5. a second authorization with the consent remembered (straight back, no page) and
//      max_age, introspection, then revocation of the refresh token ending its access
//      token; a third, silent one whose token response has one bit of the ID token's
//      signature flipped, which the library must refuse (the signature check is live);
//   6. RP-initiated logout with id_token_hint and post_logout_redirect_uri, after which
//      the portal has no session and prompt=none answers login_required.
//
// Usage: node oidc.mjs BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD [POST_LOGOUT_URI]
// REDIRECT_URI must be http://127.0.0.1:PORT/PATH with a free PORT: this script answers
// it (and POST_LOGOUT_URI, by default http://127.0.0.1:PORT/logged-out) with a tiny HTTP
// server of its own. The client must be registered with both, confidential, allowed the
// scopes "openid profile email groups offline_access", and not trusted (so consent is
// asked once). Run by tests/integration/oidc_rp.rs. Prints an "ok" line per check;
// exits 1 with the reason on the first failure, like signin.mjs.

import { createServer } from 'node:http';
import { die, openLoginPage, runInBrowser, signInThroughPopup } from './lib.mjs';

let client;
try {
  client = await import('openid-client');
} catch (e) {
  die(`openid-client is not installed (${e.message}): run \`npm ci --prefix tests/e2e\``);
}

const [argBase, clientId, clientSecret, redirectUri, username, password, argPostLogout] = process.argv.slice(2);
if (!argBase || !clientId || !clientSecret || !redirectUri || !username || !password) {
  die('usage: node oidc.mjs BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD [POST_LOGOUT_URI]');
}
const base = argBase.replace(/\/+$/, '');
if (!/^https?:\/\/[^/]+$/.test(base)) die(`BASE_URL must be scheme://host[:port], got ${base}`);
const redirect = new URL(redirectUri);
if (redirect.protocol !== 'http:' || redirect.hostname !== '127.0.0.1' || !redirect.port) {
  die(`REDIRECT_URI must be http://127.0.0.1:PORT/..., got ${redirectUri}`);
}
const postLogoutUri = argPostLogout || `${redirect.origin}/logged-out`;
const SCOPE = 'openid profile email groups offline_access';

// What the library sent and got, shown when something fails.
const wire = [];
// Every request the callback server answered.
const callbackHits = [];
// When set, changes the next successful token response (to see the library refuse it).
let tamper = null;

// The relying party's own web server: answers the redirect_uri and the post-logout URI.
const server = createServer((req, res) => {
  callbackHits.push(`${req.method} ${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end('ok');
});
await new Promise((resolve, reject) => {
  server.once('error', (e) => reject(new Error(`cannot listen on ${redirect.host} for the redirect_uri: ${e.message}`)));
  server.listen(Number(redirect.port), '127.0.0.1', resolve);
}).catch((e) => die(e.message));

// Expects `promise` to reject with an OAuth error response `error` (RFC 6749 5.2).
async function expectOAuthError(promise, error, what) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof client.ResponseBodyError && e.error === error) return e;
    throw new Error(`${what}: expected the error ${error}, got ${e.name}: ${e.message} ` +
      `(error=${e.error}, status=${e.status}, cause=${JSON.stringify(e.cause)})`);
  }
  throw new Error(`${what}: expected the error ${error}, but it succeeded`);
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Authorization request parameters with fresh PKCE, state and nonce.
async function newRequest(extra = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const expectedNonce = client.randomNonce();
  const params = {
    redirect_uri: redirectUri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    nonce: expectedNonce,
    ...extra,
  };
  return { params, checks: { pkceCodeVerifier, expectedState, expectedNonce } };
}

const isCallback = (u) => u.origin === redirect.origin && u.pathname === redirect.pathname;

try {
  await runInBrowser({ wholeRunTimeoutMs: 90_000 }, async (t) => {
    try {
      await flow(t);
    } catch (e) {
      if (wire.length) console.error(`what openid-client sent and got:\n  ${wire.join('\n  ')}`);
      if (callbackHits.length) console.error(`what the callback server got:\n  ${callbackHits.join('\n  ')}`);
      throw e;
    }
  });
} finally {
  server.close();
  server.closeAllConnections?.();
}

async function flow(t) {
  // 1. Discovery, with a confidential client using client_secret_basic. Every request
  // the library makes goes through `logged` (and `tamper` may change one answer).
  const logged = async (url, options) => {
    const auth = new Headers(options.headers).get('authorization')?.split(' ')[0] || 'no auth';
    let r = await fetch(url, options);
    wire.push(`${options.method} ${new URL(url).pathname} (${auth}) -> ${r.status}`);
    if (tamper && new URL(url).pathname === '/oidc/token' && r.ok) {
      r = await tamper(r);
      tamper = null;
    }
    return r;
  };
  const config = await client.discovery(
    new URL(base),
    clientId,
    { redirect_uris: [redirectUri], post_logout_redirect_uris: [postLogoutUri] },
    client.ClientSecretBasic(clientSecret),
    {
      // The portal runs on plain http on loopback in the test. Without
      // enableNonRepudiationChecks the library would trust an ID token from the token
      // endpoint without checking its signature (OIDC Core 3.1.3.7 step 6 allows that
      // over TLS); with it, every ID token is verified against the JWKS.
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      timeout: 10,
      [client.customFetch]: logged,
    },
  );
  const meta = config.serverMetadata();
  expect(meta.issuer === base, `issuer is ${meta.issuer}, expected ${base}`);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
    'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']) {
    expect(typeof meta[k] === 'string' && meta[k].startsWith(`${base}/`), `discovery ${k} is ${meta[k]}`);
  }
  expect(meta.code_challenge_methods_supported?.includes('S256'), 'discovery does not offer PKCE S256');
  t.ok(`discovery: issuer ${meta.issuer}, PKCE S256, end_session ${new URL(meta.end_session_endpoint).pathname}`);

  // 2. Sign in through the Jellyfin popup, as a person would before the application asks.
  const page = await t.context.newPage();
  t.watch(page, 'main');
  await openLoginPage(t, page, base);
  await signInThroughPopup(t, page, { username, password, landOn: '/home' });
  const whoami = await page.evaluate(async () => (await fetch('/whoami')).json());
  expect(whoami.authenticated === true && whoami.username === username, `/whoami says ${JSON.stringify(whoami)}`);
  t.ok(`signed in as ${whoami.username} (uuid ${whoami.uuid})`);

  // The authorization request, built by the library, through the consent page.
  const first = await newRequest();
  const authUrl = client.buildAuthorizationUrl(config, first.params);
  const consentResp = await page.goto(authUrl.href, { waitUntil: 'load' });
  expect(consentResp?.status() === 200, `GET ${authUrl.pathname} answered ${consentResp?.status()}`);
  expect(new URL(page.url()).pathname === '/oidc/authorize', `the authorization request landed on ${page.url()}`);
  const allow = page.getByRole('button', { name: 'Allow' });
  await allow.waitFor({ state: 'visible' });
  const consentText = await page.locator('body').innerText();
  expect(consentText.includes('wants to sign you in') && consentText.includes(`Signed in as ${username}`),
    `the consent page says:\n${consentText}`);
  await t.shot(page, 'oidc-consent.png');
  t.ok('the authorization request showed the consent page');

  await Promise.all([page.waitForURL((u) => isCallback(u)), allow.click()]);
  const callback1 = new URL(page.url());
  expect(callback1.searchParams.get('code'), `the callback carries no code: ${callback1.href}`);
  t.checkClean('during sign-in and consent');
  t.ok(`"Allow" returned to ${callback1.pathname} with a code, state and iss=${callback1.searchParams.get('iss')}`);

  // The code exchange: the library checks state, iss, the ID token and its signature.
  const tokens1 = await client.authorizationCodeGrant(config, callback1, first.checks);
  const claims = tokens1.claims();
  console.log(`id_token claims: ${JSON.stringify(claims)}`);
  const header = JSON.parse(Buffer.from(tokens1.id_token.split('.')[0], 'base64url').toString());
  expect(header.alg === 'RS256', `the ID token is signed with ${header.alg}, expected RS256`);
  expect(claims.sub === whoami.uuid, `sub ${claims.sub} is not the user's uuid ${whoami.uuid}`);
  expect(claims.preferred_username === username, `preferred_username is ${claims.preferred_username}`);
  expect(Array.isArray(claims.groups) && claims.groups.includes('jellyfin-user'), `groups are ${JSON.stringify(claims.groups)}`);
  expect(Array.isArray(claims.amr) && claims.amr.length > 0, `amr is ${JSON.stringify(claims.amr)}`);
  expect(Number.isInteger(claims.auth_time) && Math.abs(claims.auth_time - whoami.auth_time) <= 1,
    `auth_time is ${claims.auth_time}, the session's is ${whoami.auth_time}`);
  expect(typeof claims.sid === 'string' && claims.sid.length > 0, `sid is ${JSON.stringify(claims.sid)}`);
  expect(typeof tokens1.refresh_token === 'string', 'no refresh_token although offline_access was granted');
  expect(tokens1.token_type.toLowerCase() === 'bearer', `token_type is ${tokens1.token_type}`);
  t.ok(`code exchanged (PKCE): ID token ${header.alg} kid ${header.kid} verified against the JWKS; ` +
    `sub, preferred_username, groups ${JSON.stringify(claims.groups)}, amr ${JSON.stringify(claims.amr)}, ` +
    'auth_time, sid present; refresh token issued');

  // 3. Userinfo.
  const info = await client.fetchUserInfo(config, tokens1.access_token, claims.sub);
  expect(info.preferred_username === username, `userinfo preferred_username is ${info.preferred_username}`);
  expect(Array.isArray(info.groups) && info.groups.includes('jellyfin-user'), `userinfo groups are ${JSON.stringify(info.groups)}`);
  t.ok(`userinfo: ${JSON.stringify(info)}`);

  // 4. Refresh rotation; the old refresh token again ends the whole family.
  const oldRefresh = tokens1.refresh_token;
  const refreshed = await client.refreshTokenGrant(config, oldRefresh);
  expect(typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== oldRefresh,
    'refreshing did not return a new refresh token');
  expect(refreshed.access_token !== tokens1.access_token, 'refreshing returned the same access token');
  if (refreshed.id_token) {
    const rc = refreshed.claims();
    expect(rc.sub === claims.sub && rc.auth_time === claims.auth_time,
      `the refreshed ID token changed sub or auth_time: ${JSON.stringify(rc)}`);
  }
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  t.ok(`refresh: a new refresh token and access token${refreshed.id_token ? ' and ID token' : ''}; the new access token works`);

  await expectOAuthError(client.refreshTokenGrant(config, oldRefresh), 'invalid_grant', 'reusing the old refresh token');
  t.ok('the old refresh token again: invalid_grant');
  await expectOAuthError(client.refreshTokenGrant(config, refreshed.refresh_token), 'invalid_grant',
    'the new refresh token after the old one was reused');
  const afterReuse = await client.tokenIntrospection(config, refreshed.access_token);
  expect(afterReuse.active === false, `the refreshed access token is still active: ${JSON.stringify(afterReuse)}`);
  t.ok('after the reuse the new refresh token is refused too (invalid_grant) and its access token is inactive');

  // A code is good once.
  await expectOAuthError(client.authorizationCodeGrant(config, callback1, first.checks), 'invalid_grant',
    'redeeming the first code a second time');
  t.ok('the first code a second time: invalid_grant');

  // 5. Consent remembered: straight back to the application, no page (with max_age, so
  // the library must also check auth_time).
  const second = await newRequest({ max_age: '3600' });
  const straight = await page.goto(client.buildAuthorizationUrl(config, second.params).href, { waitUntil: 'load' });
  expect(isCallback(new URL(page.url())), `the second authorization landed on ${page.url()}`);
  const hops = [];
  for (let r = straight.request().redirectedFrom(); r; r = r.redirectedFrom()) hops.unshift(new URL(r.url()).pathname);
  expect(hops.length === 1 && hops[0] === '/oidc/authorize',
    `expected one hop through /oidc/authorize, went through ${JSON.stringify(hops)}`);
  t.checkClean('during the remembered-consent authorization');
  const tokens2 = await client.authorizationCodeGrant(config, new URL(page.url()), { ...second.checks, maxAge: 3600 });
  t.ok('consent remembered: /oidc/authorize went straight back with a code; exchanged');

  const live = await client.tokenIntrospection(config, tokens2.access_token);
  expect(live.active === true && live.sub === claims.sub && live.client_id === clientId,
    `introspection of a fresh access token says ${JSON.stringify(live)}`);
  t.ok(`introspection: active, sub, client_id ${live.client_id}, scope "${live.scope}"`);

  await client.tokenRevocation(config, tokens2.refresh_token);
  const revoked = await client.tokenIntrospection(config, tokens2.access_token);
  expect(revoked.active === false, `after revoking the refresh token its access token is ${JSON.stringify(revoked)}`);
  const revokedRefresh = await client.tokenIntrospection(config, tokens2.refresh_token);
  expect(revokedRefresh.active === false, `the revoked refresh token is ${JSON.stringify(revokedRefresh)}`);
  try {
    await client.fetchUserInfo(config, tokens2.access_token, claims.sub);
    throw new Error('userinfo accepted an access token whose grant was revoked');
  } catch (e) {
    const challenge = e instanceof client.WWWAuthenticateChallengeError ? e.cause?.[0] : null;
    expect(e.status === 401 && challenge?.parameters?.error === 'invalid_token',
      `userinfo with a revoked token: expected 401 invalid_token, got ${e.name}: ${e.message}`);
  }
  await expectOAuthError(client.refreshTokenGrant(config, tokens2.refresh_token), 'invalid_grant',
    'the revoked refresh token');
  t.ok('revocation of the refresh token: it and its access token are inactive, userinfo 401 invalid_token');

  // The signature check is live: the same kind of response with one bit of the ID
  // token's signature flipped is refused. (Consent remembered: a silent request.)
  const forged = await newRequest({ prompt: 'none' });
  await page.goto(client.buildAuthorizationUrl(config, forged.params).href, { waitUntil: 'load' });
  expect(isCallback(new URL(page.url())) && new URL(page.url()).searchParams.get('code'),
    `the silent authorization landed on ${page.url()}`);
  tamper = async (r) => {
    const body = await r.json();
    const [h, p, sig] = body.id_token.split('.');
    const bytes = Buffer.from(sig, 'base64url');
    bytes[0] ^= 1;
    body.id_token = [h, p, bytes.toString('base64url')].join('.');
    return new Response(JSON.stringify(body), { status: r.status, headers: r.headers });
  };
  try {
    await client.authorizationCodeGrant(config, new URL(page.url()), forged.checks);
    throw new Error('the library accepted an ID token with a broken signature');
  } catch (e) {
    const why = `${e.message}: ${e.cause?.message ?? ''}`;
    expect(/signature verification failed/i.test(why), `a broken ID token signature: expected a signature error, got ${e.name}: ${why}`);
    t.ok(`an ID token with one signature bit flipped is refused (${why})`);
  }
  expect(wire.some((w) => w.startsWith('GET /oidc/jwks.json ')), 'the library never fetched the JWKS');

  // 6. RP-initiated logout.
  const logoutState = client.randomState();
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens2.id_token,
    post_logout_redirect_uri: postLogoutUri,
    state: logoutState,
  });
  await page.goto(endSession.href, { waitUntil: 'load' });
  const back = new URL(page.url());
  expect(back.origin + back.pathname === postLogoutUri && back.searchParams.get('state') === logoutState,
    `logout landed on ${page.url()}, expected ${postLogoutUri}?state=${logoutState}`);
  t.ok(`logout returned to ${back.pathname} with the state`);

  await page.goto(`${base}/`, { waitUntil: 'load' });
  const after = await page.evaluate(async () => (await fetch('/whoami')).json());
  expect(after.authenticated === false, `after logout /whoami says ${JSON.stringify(after)}`);
  t.ok('after logout /whoami says authenticated:false');

  // Signed out: a silent authorization request comes back with login_required.
  const third = await newRequest({ prompt: 'none' });
  await page.goto(client.buildAuthorizationUrl(config, third.params).href, { waitUntil: 'load' });
  try {
    await client.authorizationCodeGrant(config, new URL(page.url()), third.checks);
    throw new Error('prompt=none after logout gave a code');
  } catch (e) {
    expect(e instanceof client.AuthorizationResponseError && e.error === 'login_required',
      `prompt=none after logout: expected login_required, got ${e.name}: ${e.message}`);
  }
  t.ok('prompt=none after logout: login_required (state and iss checked by the library)');
  t.checkClean('during the whole flow');

  console.log(`library calls:\n  ${wire.join('\n  ')}`);
  console.log(`PASS openid-client drove discovery, code+PKCE, consent, ID token, userinfo, refresh rotation, ` +
    `revocation and logout in ${t.elapsed()}`);
}
