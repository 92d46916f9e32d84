"""A second relying party the project did not write: Python Authlib drives the portal's
OpenID Connect provider through the whole flow, the way a Flask or Django app using
Authlib would (its framework-neutral OAuth2Mixin + OpenIDMixin app, on requests).

Two confidential clients: A authenticates with client_secret_basic, B with
client_secret_post. The person's browser is plain HTTP with the portal's cookies: it
signs in with the Jellyfin form, follows the portal's redirects, clicks "Allow" on the
consent page by posting its form, and stops at the application's redirect URI (whose URL
it hands to Authlib, as a browser's address bar would). Steps, each printing an "ok" line:

  1. discovery (issuer, endpoints, PKCE S256, both secret methods);
  2. sign-in; A's authorization request (code + PKCE S256 + state + nonce, all made by
     Authlib) through the consent page; the code exchange with client_secret_basic; the
     ID token validated by Authlib against the JWKS (signature, iss, aud, exp, iat,
     nonce, at_hash);
  3. what Authlib itself must refuse: an ID token with one signature bit flipped, one
     whose claims were changed, one checked against another nonce, and B's ID token
     offered to A (aud);
  4. userinfo; refresh with rotation (the old refresh token refused afterwards); the
     code a second time refused;
  5. B's authorization and exchange with client_secret_post; introspection; revocation;
  6. RP-initiated logout by GET, a second sign-in (A's consent remembered), and
     RP-initiated logout by POST (a cross-site form POST, as an application's page
     sends it); then prompt=none answers login_required.

Usage: python authlib_rp.py BASE_URL USERNAME PASSWORD CLIENTS_JSON
CLIENTS_JSON: {"basic": {...}, "post": {...}}, each with client_id, client_secret,
redirect_uri and post_logout_redirect_uri (registered for that client, which must be
confidential, allowed "openid profile email groups offline_access", not trusted, and
allowed only its own token endpoint auth method). Run by tests/integration/oidc_rp.rs.
Exits 1 with the reason on the first failed check; "PASS" on the last line otherwise.
"""

import base64
import json
import os
import sys
import time
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

# The portal runs on plain http on loopback in the test; Authlib refuses non-https
# endpoints (other than loopback redirect URIs) without this.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

try:
    import authlib
    import requests
    from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OAuthError, OpenIDMixin
    from authlib.integrations.requests_client import OAuth2Session
    from joserfc.errors import BadSignatureError, InvalidClaimError, MissingClaimError
except ImportError as e:
    print(f"Authlib is not installed ({e}): run `bash .ci/run` (it makes target/authlib-venv)",
          file=sys.stderr)
    sys.exit(1)

SCOPE = "openid profile email groups offline_access"
TIMEOUT = 10


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def ok(msg):
    print(f"ok - {msg}", flush=True)


# What Authlib sent and got: method, path, how the client authenticated, status.
WIRE = []
CLIENT_NAMES = {}


class LoggedSession(OAuth2Session):
    """Authlib's requests session, noting each request it makes in WIRE."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default_timeout", TIMEOUT)
        super().__init__(*args, **kwargs)
        self.hooks["response"].append(self._note)

    def _note(self, resp, *args, **kwargs):
        req = resp.request
        auth = (req.headers.get("Authorization") or "").split(" ")[0]
        body = req.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if auth:
            how = auth
        elif "client_secret=" in body:
            how = "secret in body"
        else:
            how = "no auth"
        who = CLIENT_NAMES.get(self.client_id, "-")
        WIRE.append(f"{req.method} {urlsplit(req.url).path} [{who}: {how}] -> {resp.status_code}")


class NoFramework:
    """Authlib's apps tell their web framework about refreshed tokens; there is none here."""

    def update_token(self, token, refresh_token=None, access_token=None):
        pass


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """What `oauth.register(...)` makes in Authlib's Flask integration, without Flask."""

    client_cls = LoggedSession

    def __init__(self, base, client, method):
        super().__init__(
            NoFramework(),
            name=method,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            server_metadata_url=f"{base}/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": method,
                "revocation_endpoint_auth_method": method,
            },
        )
        self.method = method
        self.redirect_uri = client["redirect_uri"]
        self.post_logout_uri = client["post_logout_redirect_uri"]
        CLIENT_NAMES[self.client_id] = method

    def meta(self):
        return self.load_server_metadata()

    def session(self):
        """A token-endpoint session (refresh, introspection, revocation) for this client."""
        return LoggedSession(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.method,
            revocation_endpoint_auth_method=self.method,
        )

    def exchange(self, callback, request):
        """The code exchange: Authlib checks the state in the callback, sends the PKCE
        verifier, and authenticates with this client's method."""
        return self.fetch_access_token(
            redirect_uri=self.redirect_uri,
            authorization_response=callback,
            state=request["state"],
            code_verifier=request["code_verifier"],
        )

    def id_claims(self, token, nonce):
        """Authlib's own ID token validation (what its Flask app's authorize_access_token
        does), also requiring this client as the audience: the signature against the
        JWKS, iss, aud, exp, iat, nonce and at_hash."""
        options = {
            "iss": {"essential": True, "value": self.meta()["issuer"]},
            "aud": {"essential": True, "value": self.client_id},
        }
        return self.parse_id_token(token, nonce, claims_options=options)


class FormFields(HTMLParser):
    """The hidden inputs of the form posting to `action`."""

    def __init__(self, action):
        super().__init__()
        self.action = action
        self.inside = False
        self.found = False
        self.fields = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("action") == self.action:
            self.inside = self.found = True
        elif tag == "input" and self.inside and a.get("type") == "hidden":
            self.fields.append((a.get("name"), a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form_fields(html, action):
    p = FormFields(action)
    p.feed(html)
    return p.fields if p.found else None


class Browser:
    """The person's browser: the portal's cookies, the portal's redirects followed, and a
    stop at the first address outside the portal (the application's), not loaded."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.hops = []

    def _follow(self, resp):
        while resp.is_redirect:
            url = urljoin(resp.url, resp.headers["Location"])
            self.hops.append(f"{resp.status_code} -> {url}")
            if not url.startswith(self.base + "/"):
                return url, None
            expect(len(self.hops) < 10, f"too many redirects: {self.hops}")
            resp = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        return resp.url, resp

    def get(self, url):
        self.hops = []
        return self._follow(self.http.get(url, allow_redirects=False, timeout=TIMEOUT))

    def post(self, url, data):
        """A form on a portal page: same origin, the portal's cookies sent."""
        self.hops = []
        resp = self.http.post(url, data=data, headers={"Origin": self.base},
                              allow_redirects=False, timeout=TIMEOUT)
        return self._follow(resp)

    def post_from(self, origin, url, data):
        """A form on another site's page: its Origin, and none of the portal's SameSite=Lax
        cookies (a browser leaves them off a cross-site POST); the redirects that follow
        are top-level GETs, which carry them again."""
        self.hops = []
        resp = requests.post(url, data=data, headers={"Origin": origin},
                             allow_redirects=False, timeout=TIMEOUT)
        return self._follow(resp)

    def whoami(self):
        return self.http.get(f"{self.base}/whoami", timeout=TIMEOUT).json()

    def sign_in(self, username, password):
        url, resp = self.post(f"{self.base}/auth/forward?provider=jellyfin",
                              {"username": username, "password": password})
        expect(resp is not None and resp.status_code == 200,
               f"signing in ended at {url} ({resp and resp.status_code}) after {self.hops}")
        me = self.whoami()
        expect(me.get("authenticated") is True and me.get("username") == username,
               f"after signing in /whoami says {me}")
        return me


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize(rp, browser, **extra):
    """Authlib's authorization request (PKCE S256, state and nonce of its own making),
    through the consent page when the portal shows one. Returns (callback URL, the
    request Authlib made, whether consent was asked)."""
    request = rp.create_authorization_url(rp.redirect_uri, **extra)
    q = query(request["url"])
    expect(q.get("code_challenge_method") == "S256" and q.get("code_challenge")
           and q.get("nonce") and q.get("state") and q.get("response_type") == "code",
           f"Authlib's authorization request lacks PKCE, nonce or state: {request['url']}")
    url, resp = browser.get(request["url"])
    asked = False
    if resp is not None:
        fields = form_fields(resp.text, "/oidc/authorize/decision")
        expect(resp.status_code == 200 and fields is not None,
               f"the authorization request ended at {url} ({resp.status_code}), "
               f"no consent form:\n{resp.text[:2000]}")
        asked = True
        url, resp = browser.post(f"{browser.base}/oidc/authorize/decision",
                                 fields + [("decision", "allow")])
        expect(resp is None, f"'Allow' ended at {url} ({resp and resp.status_code}), "
                             f"not the application")
    expect(url.split("?")[0] == rp.redirect_uri,
           f"the authorization ended at {url}, not {rp.redirect_uri}")
    return url, request, asked


def expect_oauth_error(call, error, what):
    try:
        call()
    except OAuthError as e:
        expect(e.error == error, f"{what}: expected {error}, got {e.error}: {e.description}")
        return
    raise Failure(f"{what}: expected {error}, but it succeeded")


def expect_refused(call, kinds, what):
    """Authlib must raise one of `kinds`; returns what it said."""
    try:
        call()
    except kinds as e:
        return f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - anything else is a failure worth showing
        raise Failure(f"{what}: Authlib raised {type(e).__name__}: {e}, "
                      f"expected {' or '.join(k.__name__ for k in kinds)}") from e
    raise Failure(f"{what}: Authlib accepted it")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flipped_signature(id_token):
    h, p, s = id_token.split(".")
    sig = bytearray(unb64(s))
    sig[0] ^= 1
    return ".".join([h, p, b64(bytes(sig))])


def changed_claims(id_token, **changes):
    h, p, s = id_token.split(".")
    claims = json.loads(unb64(p))
    claims.update(changes)
    return ".".join([h, b64(json.dumps(claims).encode()), s])


def flow(base, username, password, clients):
    a = RelyingParty(base, clients["basic"], "client_secret_basic")
    b = RelyingParty(base, clients["post"], "client_secret_post")

    # 1. Discovery.
    meta = a.meta()
    expect(meta["issuer"] == base, f"issuer is {meta['issuer']}, expected {base}")
    for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
              "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        expect(str(meta.get(k, "")).startswith(base + "/"), f"discovery {k} is {meta.get(k)}")
    expect("S256" in meta.get("code_challenge_methods_supported", []), "no PKCE S256")
    methods = meta.get("token_endpoint_auth_methods_supported", [])
    expect("client_secret_basic" in methods and "client_secret_post" in methods,
           f"token_endpoint_auth_methods_supported is {methods}")
    ok(f"discovery: issuer {meta['issuer']}, PKCE S256, token auth {methods}")

    # 2. Sign in, authorize A through the consent page, exchange with client_secret_basic.
    browser = Browser(base)
    me = browser.sign_in(username, password)
    ok(f"signed in as {me['username']} (uuid {me['uuid']})")

    callback, req_a, asked = authorize(a, browser)
    expect(asked, "A's first authorization did not ask for consent")
    cb = query(callback)
    expect(cb.get("state") == req_a["state"] and cb.get("code"), f"callback {callback}")
    ok(f"A's authorization request (PKCE S256, state, nonce) went through the consent page; "
       f"'Allow' returned a code to {urlsplit(callback).path}")

    token_a = a.exchange(callback, req_a)
    claims = a.id_claims(token_a, req_a["nonce"])
    header = json.loads(unb64(token_a["id_token"].split(".")[0]))
    now = time.time()
    expect(header.get("alg") == "RS256", f"the ID token is signed with {header.get('alg')}")
    expect(claims["sub"] == me["uuid"], f"sub {claims['sub']} is not the user's {me['uuid']}")
    expect(claims["aud"] in (a.client_id, [a.client_id]), f"aud is {claims['aud']}")
    expect(claims["nonce"] == req_a["nonce"], "nonce")
    expect(now < claims["exp"] <= now + 86400, f"exp is {claims['exp']}, now {now:.0f}")
    expect(claims.get("preferred_username") == username, f"claims {dict(claims)}")
    expect("jellyfin-user" in claims.get("groups", []), f"groups {claims.get('groups')}")
    expect(token_a.get("refresh_token"), "no refresh token although offline_access was asked")
    expect(str(token_a.get("token_type", "")).lower() == "bearer", f"token {token_a}")
    print(f"  A's ID token claims: {json.dumps(dict(claims), sort_keys=True)}")
    ok(f"code exchanged with client_secret_basic; Authlib validated the ID token (RS256 "
       f"kid {header.get('kid')} against the JWKS; iss, aud {a.client_id}, exp in "
       f"{claims['exp'] - now:.0f} s, nonce{', at_hash' if 'at_hash' in claims else ''})")

    # 3. What Authlib itself refuses.
    for what, changed in (
        ("one signature bit flipped", flipped_signature(token_a["id_token"])),
        ("sub changed, signature kept", changed_claims(token_a["id_token"], sub="mallory")),
    ):
        said = expect_refused(lambda t=changed: a.id_claims({**token_a, "id_token": t},
                                                            req_a["nonce"]),
                              (BadSignatureError,), f"an ID token with {what}")
        ok(f"Authlib refuses an ID token with {what} ({said})")
    said = expect_refused(lambda: a.id_claims(token_a, "another-nonce"),
                          (InvalidClaimError,), "the ID token checked against a wrong nonce")
    expect("nonce" in said, f"the wrong nonce was refused for another reason: {said}")
    ok(f"Authlib refuses the ID token for a wrong nonce ({said})")

    # 4. Userinfo, refresh rotation, the code once.
    info = a.userinfo(token=token_a)
    expect(info["sub"] == claims["sub"] and info.get("preferred_username") == username,
           f"userinfo says {dict(info)}")
    ok(f"userinfo: {json.dumps(dict(info), sort_keys=True)}")

    s_a = a.session()
    old_refresh = token_a["refresh_token"]
    refreshed = s_a.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    expect(refreshed["refresh_token"] != old_refresh, "refreshing kept the same refresh token")
    expect(refreshed["access_token"] != token_a["access_token"], "the same access token again")
    if "id_token" in refreshed:
        rc = a.id_claims(refreshed, None)
        expect(rc["sub"] == claims["sub"], f"the refreshed ID token is about {rc['sub']}")
    a.userinfo(token=refreshed)
    ok("refresh (client_secret_basic): a new refresh token and access token"
       f"{' and a valid ID token' if 'id_token' in refreshed else ''}; the new access token works")
    expect_oauth_error(lambda: s_a.refresh_token(meta["token_endpoint"], refresh_token=old_refresh),
                       "invalid_grant", "the old refresh token after rotation")
    ok("the old refresh token after rotation: invalid_grant")
    expect_oauth_error(lambda: a.exchange(callback, req_a), "invalid_grant",
                       "the first code a second time")
    ok("the code a second time: invalid_grant")

    # 5. B: client_secret_post, introspection, revocation.
    callback_b, req_b, asked = authorize(b, browser)
    expect(asked, "B's first authorization did not ask for consent")
    token_b = b.exchange(callback_b, req_b)
    claims_b = b.id_claims(token_b, req_b["nonce"])
    expect(claims_b["sub"] == claims["sub"], "B's ID token names another user")
    ok(f"B: consent, code exchanged with client_secret_post, ID token validated (aud {b.client_id})")
    said = expect_refused(lambda: a.id_claims(token_b, req_b["nonce"]),
                          (InvalidClaimError, MissingClaimError), "B's ID token offered to A")
    ok(f"Authlib (as A) refuses B's ID token ({said})")

    s_b = b.session()
    live = s_b.introspect_token(meta["introspection_endpoint"], token=token_b["access_token"]).json()
    expect(live.get("active") is True and live.get("sub") == claims["sub"]
           and live.get("client_id") == b.client_id, f"introspection says {live}")
    ok(f"introspection (client_secret_post): active, sub, client_id, scope \"{live.get('scope')}\"")

    resp = s_b.revoke_token(meta["revocation_endpoint"], token=token_b["refresh_token"],
                            token_type_hint="refresh_token")
    expect(resp.status_code == 200, f"revocation answered {resp.status_code}: {resp.text}")
    for kind in ("access_token", "refresh_token"):
        gone = s_b.introspect_token(meta["introspection_endpoint"], token=token_b[kind]).json()
        expect(gone.get("active") is False, f"after revocation the {kind} is {gone}")
    expect_oauth_error(lambda: s_b.refresh_token(meta["token_endpoint"],
                                                 refresh_token=token_b["refresh_token"]),
                       "invalid_grant", "the revoked refresh token")
    resp = b.get(meta["userinfo_endpoint"], token=token_b)
    expect(resp.status_code == 401 and "invalid_token" in resp.headers.get("WWW-Authenticate", ""),
           f"userinfo with a revoked grant answered {resp.status_code} "
           f"{resp.headers.get('WWW-Authenticate')}")
    ok("revocation of B's refresh token: both tokens inactive, refresh invalid_grant, "
       "userinfo 401 invalid_token")

    # 6. Logout by GET, with B's ID token as the hint.
    out = b.create_logout_url(post_logout_redirect_uri=b.post_logout_uri,
                              id_token_hint=token_b["id_token"])
    url, resp = browser.get(out["url"])
    expect(resp is None and url.split("?")[0] == b.post_logout_uri
           and query(url).get("state") == out["state"],
           f"logout by GET ended at {url}, expected {b.post_logout_uri}?state={out['state']}")
    expect(browser.whoami().get("authenticated") is False, "still signed in after logout")
    ok(f"RP-initiated logout by GET returned to {urlsplit(url).path} with Authlib's state; "
       "/whoami says authenticated:false")

    # Sign in again: A's consent is remembered, then logout by POST from A's page.
    browser.sign_in(username, password)
    callback, req_a2, asked = authorize(a, browser)
    expect(not asked, "A's consent was asked again")
    token_a2 = a.exchange(callback, req_a2)
    a.id_claims(token_a2, req_a2["nonce"])
    ok("signed in again: A's consent remembered (straight back with a code); exchanged, validated")

    out = a.create_logout_url(post_logout_redirect_uri=a.post_logout_uri,
                              id_token_hint=token_a2["id_token"])
    rp_origin = "{0.scheme}://{0.netloc}".format(urlsplit(a.redirect_uri))
    url, resp = browser.post_from(rp_origin, meta["end_session_endpoint"],
                                  query(out["url"]))
    expect(resp is None and url.split("?")[0] == a.post_logout_uri
           and query(url).get("state") == out["state"],
           f"logout by POST ended at {url} after {browser.hops}")
    expect(browser.whoami().get("authenticated") is False, "still signed in after logout by POST")
    ok(f"RP-initiated logout by POST (cross-site form) returned to {urlsplit(url).path} "
       "with the state; /whoami says authenticated:false")

    callback, req, _ = authorize(a, browser, prompt="none")
    cb = query(callback)
    expect(cb.get("error") == "login_required" and cb.get("state") == req["state"],
           f"prompt=none after logout came back as {callback}")
    ok("prompt=none after logout: login_required with Authlib's state")

    for w in WIRE:
        if "/oidc/token" in w or "/oidc/introspect" in w or "/oidc/revoke" in w:
            who = w.split("[")[1].split(":")[0]
            how = "Basic" if who == "client_secret_basic" else "secret in body"
            expect(f"{who}: {how}]" in w, f"a request was not authenticated as {who}: {w}")
    expect(any(w.startswith("GET /oidc/jwks.json") for w in WIRE), "Authlib never fetched the JWKS")
    ok("every token, introspection and revocation request used its client's own auth method")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base, username, password, clients = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], \
        json.loads(sys.argv[4])
    print(f"Authlib {authlib.__version__}, requests {requests.__version__}, "
          f"Python {sys.version.split()[0]}")
    try:
        flow(base, username, password, clients)
    except Exception as e:  # noqa: BLE001 - Authlib refusing the portal's answer is a failure too
        if not isinstance(e, Failure):
            traceback.print_exc()
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        print("what Authlib sent and got:\n  " + "\n  ".join(WIRE), file=sys.stderr)
        sys.exit(1)
    print("what Authlib sent and got:\n  " + "\n  ".join(WIRE))
    print("PASS Authlib drove discovery, code + PKCE, consent, ID token validation, userinfo, "
          "refresh rotation, introspection, revocation and logout (GET and POST)")


if __name__ == "__main__":
    main()
