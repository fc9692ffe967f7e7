#!/usr/bin/env node
// Interoperability test: the official MCP TypeScript SDK (@modelcontextprotocol/sdk) acting as an
// OAuth client of mcp-auth-bridge. The SDK does discovery (RFC 9728, RFC 8414), dynamic
// registration (RFC 7591), the authorization request (PKCE S256, RFC 8707 resource, state), the
// code exchange and the refresh; this script only plays the user's browser (a cookie jar and
// plain form posts, no JavaScript) and checks what comes back.
//
//   node interop.mjs [--with-gateway] [--verbose]
//
// Environment: BRIDGE_URL (default http://127.0.0.1:8080), TENANT (demo), MCP_SERVER (demo),
// EXPECT_SUBJECT (demo-user), INTEROP_TIMEOUT_MS (30000 for the whole run), STEP_UP_SERVER
// (demo-admin) and STEP_UP_SCOPE (mcp:admin) for the step-up steps.
// Only loopback URLs are accepted. Tokens are never printed, only short SHA-256 fingerprints.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

import { auth, refreshAuthorization } from '@modelcontextprotocol/sdk/client/auth.js';
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!['--with-gateway', '--verbose'].includes(a)) {
    console.error(`interop: unknown argument ${a} (known: --with-gateway, --verbose)`);
    process.exit(2);
  }
}
const WITH_GATEWAY = args.has('--with-gateway');
const VERBOSE = args.has('--verbose');

const BRIDGE = (process.env.BRIDGE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TENANT = process.env.TENANT ?? 'demo';
const SERVER = process.env.MCP_SERVER ?? 'demo';
const EXPECT_SUBJECT = process.env.EXPECT_SUBJECT ?? 'demo-user';
const TOTAL_MS = Number(process.env.INTEROP_TIMEOUT_MS ?? 30000);
const REQUEST_MS = Math.min(10000, TOTAL_MS);

const ISSUER = `${BRIDGE}/t/${TENANT}`;
const SERVER_URL = `${ISSUER}/mcp/${SERVER}`;
const PRM_PATH = `/.well-known/oauth-protected-resource/t/${TENANT}/mcp/${SERVER}`;
// A server whose policy needs STEP_UP_SCOPE for the `add` tool (config/dev.toml: demo-admin).
const STEP_UP_URL = `${ISSUER}/mcp/${process.env.STEP_UP_SERVER ?? 'demo-admin'}`;
const STEP_UP_SCOPE = process.env.STEP_UP_SCOPE ?? 'mcp:admin';

// ---------------------------------------------------------------------------------------------
// Small helpers

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
function assertLoopback(url) {
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname)) throw new Error(`refusing to contact a non-loopback URL: ${u.origin}`);
  return u;
}
assertLoopback(BRIDGE);

class Check extends Error {}
function expect(cond, message) {
  if (!cond) throw new Check(message);
}
function expectEq(actual, wanted, what) {
  if (actual !== wanted) throw new Check(`${what}: expected ${JSON.stringify(wanted)}, got ${JSON.stringify(actual)}`);
}

/** A short fingerprint of a secret: never the secret itself. */
const fp = (secret) => (secret ? `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 10)}` : '(none)');

function jwtPayload(token) {
  const parts = token.split('.');
  expect(parts.length === 3, 'the access token is not a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** Paths only (no query: queries carry codes and states). */
const where = (url) => {
  const u = new URL(url);
  return `${u.pathname}${u.search ? '?…' : ''}`;
};

// Every HTTP request (the SDK's and the browser's) goes through here: loopback only, bounded,
// and recorded (method, path, status) so steps can assert what the SDK actually called.
const httpLog = [];
async function boundedFetch(url, init = {}) {
  assertLoopback(String(url));
  // The caller's signal (the SDK transport passes one) is kept; every request also ends after
  // REQUEST_MS. (No AbortSignal.any: it needs Node 20.3, and Debian bookworm ships Node 18.)
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`${where(String(url))}: no answer within ${REQUEST_MS} ms`)), REQUEST_MS);
  timer.unref();
  if (init.signal) {
    if (init.signal.aborted) controller.abort(init.signal.reason);
    else init.signal.addEventListener('abort', () => controller.abort(init.signal.reason), { once: true });
  }
  const signal = controller.signal;
  const method = (init.method ?? 'GET').toUpperCase();
  const body = init.body instanceof URLSearchParams ? init.body : typeof init.body === 'string' ? init.body : undefined;
  // The timer bounds the wait for the response head; bodies (SSE streams included) are bounded
  // by the whole run's deadline.
  const response = await fetch(url, { ...init, signal }).finally(() => clearTimeout(timer));
  const entry = {
    method,
    url: String(url),
    status: response.status,
    body: body ? String(body) : undefined,
    cacheControl: response.headers.get('cache-control') ?? '',
  };
  httpLog.push(entry);
  if (VERBOSE) console.log(`       ${method} ${where(String(url))} -> ${response.status}`);
  return response;
}
const sdkFetch = (url, init) => boundedFetch(url, init);
const logSince = (mark) => httpLog.slice(mark);

// ---------------------------------------------------------------------------------------------
// Steps: one line each; the first failure stops the run (later steps depend on earlier ones).

let passed = 0;
let failed = 0;
const started = Date.now();
async function step(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    passed += 1;
    console.log(`ok   ${String(passed + failed).padStart(2)} ${name}${detail ? ` — ${detail}` : ''} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${String(passed + failed).padStart(2)} ${name}: ${e instanceof Check ? e.message : e?.stack ?? e}`);
    finish();
  }
}
let cleanups = [];
function finish() {
  for (const c of cleanups) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
  cleanups = [];
  console.log(`interop: ${passed} passed, ${failed} failed (${Date.now() - started} ms)`);
  process.exit(failed === 0 ? 0 : 1);
}
const deadline = setTimeout(() => {
  failed += 1;
  console.log(`FAIL    the whole run exceeded ${TOTAL_MS} ms`);
  finish();
}, TOTAL_MS);

// ---------------------------------------------------------------------------------------------
// The redirect URI: a loopback listener (RFC 8252), as a desktop MCP client runs one.

class RedirectListener {
  async start() {
    this.waiters = [];
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, `http://${req.headers.host}`);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('Authorization finished; you can close this window.\n');
      const w = this.waiters.shift();
      if (w) w(url);
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}/callback`;
    cleanups.push(() => this.server.close());
    return this;
  }
  next() {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

// ---------------------------------------------------------------------------------------------
// The SDK's OAuthClientProvider: an in-memory session, as a CLI client would keep.

class InteropProvider {
  constructor(redirectUrl, label, { refreshTokens = true } = {}) {
    this.redirectUrlValue = redirectUrl;
    this.label = label;
    this.grantTypes = refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'];
    this.client = undefined;
    this.savedTokens = undefined;
    this.verifier = undefined;
    this.discovery = undefined;
    this.lastState = undefined;
    this.authorizationUrl = undefined;
    this.allowRedirect = true;
  }
  get redirectUrl() {
    return this.redirectUrlValue;
  }
  get clientMetadata() {
    return {
      client_name: `mcp-auth-bridge interop (${this.label})`,
      redirect_uris: [this.redirectUrlValue],
      grant_types: this.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  state() {
    this.lastState = randomBytes(24).toString('base64url');
    return this.lastState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens) {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url) {
    if (!this.allowRedirect) throw new Error(`the SDK unexpectedly started a new authorization (${where(String(url))})`);
    this.authorizationUrl = new URL(url);
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
  saveDiscoveryState(s) {
    this.discovery = s;
  }
  discoveryState() {
    return this.discovery;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.savedTokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The headless browser: fetch with redirect: 'manual', a cookie jar, plain HTML forms.

const decodeEntities = (s) =>
  s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e) => {
    const k = e.toLowerCase();
    if (k === 'amp') return '&';
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos') return "'";
    if (k.startsWith('#x')) return String.fromCodePoint(parseInt(k.slice(2), 16));
    return String.fromCodePoint(parseInt(k.slice(1), 10));
  });

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-\w:.]*)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    out[m[1].toLowerCase()] = decodeEntities(m[3] ?? m[4] ?? m[5] ?? '');
  }
  return out;
}

/** The single form of a page: method, action (resolved), hidden inputs, submit buttons. */
function parseForm(html, pageUrl) {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
  expectEq(forms.length, 1, `number of <form> elements on ${where(pageUrl)}`);
  const [, formAttrs, inner] = forms[0];
  const a = attrs(formAttrs);
  const hidden = {};
  for (const m of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const i = attrs(m[1]);
    if ((i.type ?? 'text').toLowerCase() === 'hidden' && i.name) hidden[i.name] = i.value ?? '';
  }
  const buttons = [...inner.matchAll(/<button\b([^>]*)>/gi)].map((m) => attrs(m[1]));
  return {
    method: (a.method ?? 'get').toLowerCase(),
    action: new URL(a.action ?? '', pageUrl).toString(),
    hidden,
    buttons,
  };
}

class Browser {
  constructor() {
    this.jar = new Map(); // hostname -> Map(name -> value); every cookie here is Path=/
  }
  cookieHeader(url) {
    const cookies = this.jar.get(new URL(url).hostname);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  store(url, response) {
    const host = new URL(url).hostname;
    // getSetCookie() is Node >= 19.7; older fetch joins the headers with ", " (our cookies
    // carry no Expires, so splitting before each "name=" is safe).
    const lines =
      typeof response.headers.getSetCookie === 'function'
        ? response.headers.getSetCookie()
        : (response.headers.get('set-cookie') ?? '').split(/,\s*(?=[^;,=\s]+=)/).filter(Boolean);
    for (const line of lines) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const maxAge = attributes.find((x) => /^max-age=/i.test(x));
      const expired = maxAge !== undefined && Number(maxAge.split('=')[1]) <= 0;
      if (!this.jar.has(host)) this.jar.set(host, new Map());
      if (expired || value === '') this.jar.get(host).delete(name);
      else this.jar.get(host).set(name, value);
    }
  }
  cookieNames(url) {
    return [...(this.jar.get(new URL(url).hostname)?.keys() ?? [])];
  }
  async request(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html' };
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const response = await boundedFetch(url, { method, headers, body, redirect: 'manual' });
    this.store(url, response);
    const text = await response.text();
    const location = response.headers.get('location');
    return { response, status: response.status, text, location: location ? new URL(location, url).toString() : undefined };
  }
}

/** What every HTML page of the flow must be: a complete page without JavaScript, never framed. */
function checkPlainHtml(page, what) {
  const ct = page.response.headers.get('content-type') ?? '';
  expect(ct.startsWith('text/html'), `${what}: content-type is ${ct}`);
  expect(!/<script\b/i.test(page.text), `${what}: contains a <script> element`);
  expect(!/\son[a-z]+\s*=/i.test(page.text), `${what}: contains an inline event handler`);
  expect(!/<(link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?https?:/i.test(page.text), `${what}: loads an external asset`);
  const xfo = page.response.headers.get('x-frame-options') ?? '';
  const csp = page.response.headers.get('content-security-policy') ?? '';
  expect(/deny/i.test(xfo) || /frame-ancestors\s+'none'/.test(csp), `${what}: framing is not denied`);
}

/**
 * Plays the user through the authorization URL the SDK produced: consent page → approve → dev
 * login page → sign in → bridge callback → redirect URI (the loopback listener).
 * Returns the query the listener received.
 */
async function browse(authorizationUrl, listener, { quiet = false, serverUrl = SERVER_URL, scopes = [] } = {}) {
  const browser = new Browser();
  const sub = async (name, fn) => (quiet ? fn() : step(name, fn));
  let consent, afterConsent, login, afterLogin, received;

  await sub('browser: GET /authorize shows the consent page (plain HTML form, no JavaScript)', async () => {
    consent = await browser.request(authorizationUrl.toString());
    expectEq(consent.status, 200, `GET ${where(authorizationUrl)} status (body: ${consent.text.slice(0, 200)})`);
    checkPlainHtml(consent, 'consent page');
    const form = parseForm(consent.text, authorizationUrl.toString());
    consent.form = form;
    expectEq(form.method, 'post', 'consent form method');
    expectEq(form.action, `${ISSUER}/consent`, 'consent form action');
    expect(form.hidden.pending && form.hidden.csrf, `consent form lacks hidden pending/csrf (has ${Object.keys(form.hidden)})`);
    expect(
      form.buttons.some((b) => b.name === 'decision' && b.value === 'approve'),
      'consent form has no decision=approve button',
    );
    expect(browser.cookieNames(authorizationUrl).length > 0, 'the consent page set no cookie');
    expect(consent.text.includes(serverUrl), 'the consent page does not name the MCP server');
    for (const scope of scopes) expect(consent.text.includes(scope), `the consent page does not show the scope ${scope}`);
    return `form POST ${where(form.action)}, hidden [${Object.keys(form.hidden).join(', ')}], cookie [${browser.cookieNames(authorizationUrl).join(', ')}]`;
  });

  await sub('browser: POST consent decision=approve → 303 to the dev provider', async () => {
    const { form } = consent;
    afterConsent = await browser.request(form.action, { method: 'POST', form: { ...form.hidden, decision: 'approve' } });
    expectEq(afterConsent.status, 303, `POST ${where(form.action)} status (body: ${afterConsent.text.slice(0, 200)})`);
    expect(afterConsent.location, 'no Location after consent');
    const loc = assertLoopback(afterConsent.location);
    expect(loc.pathname.startsWith(`/dev-idp/t/${TENANT}/`), `consent redirected to ${where(afterConsent.location)}, not the dev provider`);
    return `Location ${loc.pathname}`;
  });

  await sub('browser: GET the dev login page (plain HTML form, no JavaScript)', async () => {
    login = await browser.request(afterConsent.location);
    expectEq(login.status, 200, `GET ${where(afterConsent.location)} status (body: ${login.text.slice(0, 200)})`);
    checkPlainHtml(login, 'dev login page');
    const form = parseForm(login.text, afterConsent.location);
    login.form = form;
    expectEq(form.method, 'post', 'login form method');
    expect(login.text.includes(EXPECT_SUBJECT), `the login page does not name ${EXPECT_SUBJECT}`);
    return `form POST to the same URL, hidden [${Object.keys(form.hidden).join(', ')}]`;
  });

  await sub('browser: POST the login form → 303 to the bridge callback', async () => {
    const { form } = login;
    afterLogin = await browser.request(form.action, { method: 'POST', form: form.hidden });
    expectEq(afterLogin.status, 303, `POST login status (body: ${afterLogin.text.slice(0, 200)})`);
    expect(afterLogin.location, 'no Location after login');
    const loc = assertLoopback(afterLogin.location);
    expect(loc.pathname.startsWith(`/t/${TENANT}/callback/`), `login redirected to ${loc.pathname}, not the bridge callback`);
    return `Location ${loc.pathname}`;
  });

  await sub('browser: GET the bridge callback → 302 to the redirect URI with code, state, iss (RFC 9207)', async () => {
    const callback = await browser.request(afterLogin.location);
    expectEq(callback.status, 302, `GET callback status (body: ${callback.text.slice(0, 200)})`);
    expect(callback.location, 'no Location after the callback');
    const loc = new URL(callback.location);
    expectEq(`${loc.origin}${loc.pathname}`, listener.url, 'final redirect target');
    expect(!loc.searchParams.has('error'), `the bridge answered error=${loc.searchParams.get('error')}: ${loc.searchParams.get('error_description')}`);
    // Follow it, as the browser does: the loopback listener receives the authorization response.
    const arrived = listener.next();
    const hop = await browser.request(callback.location);
    expectEq(hop.status, 200, 'redirect URI listener status');
    received = await Promise.race([arrived, new Promise((_, rej) => setTimeout(() => rej(new Check('the redirect listener got nothing')), 5000))]);
    return `Location ${where(callback.location)} (port ${listener.port}), code ${fp(received.searchParams.get('code'))}`;
  });
  return received;
}

function checkAuthorizationResponse(received, provider, asMetadata) {
  const code = received.searchParams.get('code');
  expect(code, 'no code in the authorization response');
  expectEq(received.searchParams.get('state'), provider.lastState, 'state in the authorization response');
  expectEq(received.searchParams.get('iss'), asMetadata.issuer, 'iss in the authorization response (RFC 9207)');
  return code;
}

// ---------------------------------------------------------------------------------------------
// The run

const listener = await new RedirectListener().start();
const provider = new InteropProvider(listener.url, 'official MCP TypeScript SDK');
let asMetadata;
let receivedQuery;
let firstTokens;
let refreshedTokens;

console.log(`interop: @modelcontextprotocol/sdk ${await sdkVersion()} against ${SERVER_URL}${WITH_GATEWAY ? ' (with gateway)' : ''}`);

let mark = httpLog.length;
let firstAuthResult;
await step('sdk auth(): discovery, registration and authorization request', async () => {
  firstAuthResult = await auth(provider, { serverUrl: SERVER_URL, fetchFn: sdkFetch });
  expectEq(firstAuthResult, 'REDIRECT', 'auth() result');
  return `auth() returned ${firstAuthResult} after ${logSince(mark).length} requests`;
});

await step('RFC 9728: protected-resource metadata found at the path-suffixed well-known URL', async () => {
  const prm = logSince(mark).find((e) => new URL(e.url).pathname === PRM_PATH);
  expect(prm, `the SDK did not fetch ${PRM_PATH} (fetched: ${logSince(mark).map((e) => where(e.url)).join(', ')})`);
  expectEq(prm.status, 200, `GET ${PRM_PATH} status`);
  const d = provider.discovery;
  expect(d?.resourceMetadata, 'the SDK saved no protected-resource metadata');
  expectEq(d.resourceMetadata.resource, SERVER_URL, 'resource');
  expectEq(String(d.authorizationServerUrl).replace(/\/$/, ''), ISSUER, 'authorization server chosen by the SDK');
  return `resource ${d.resourceMetadata.resource}, authorization_servers [${d.resourceMetadata.authorization_servers}]`;
});

await step('RFC 8414: authorization-server metadata (issuer, S256, iss parameter)', async () => {
  asMetadata = provider.discovery.authorizationServerMetadata;
  expect(asMetadata, 'the SDK saved no authorization-server metadata');
  const fetched = logSince(mark).filter((e) => e.url.includes('/.well-known/') && !e.url.includes('oauth-protected-resource'));
  const ok = fetched.find((e) => e.status === 200);
  expect(ok, `no authorization-server metadata document answered 200 (${fetched.map((e) => `${where(e.url)} ${e.status}`)})`);
  expectEq(asMetadata.issuer, ISSUER, 'issuer');
  expect(asMetadata.code_challenge_methods_supported?.includes('S256'), 'S256 not advertised');
  expectEq(asMetadata.authorization_response_iss_parameter_supported, true, 'authorization_response_iss_parameter_supported');
  for (const k of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint', 'userinfo_endpoint']) {
    expect(asMetadata[k], `${k} missing`);
    assertLoopback(asMetadata[k]);
  }
  return `from ${where(ok.url)}`;
});

await step('RFC 7591: dynamic client registration (public client, loopback redirect URI)', async () => {
  const reg = logSince(mark).find((e) => e.method === 'POST' && e.url === asMetadata.registration_endpoint);
  expect(reg, 'the SDK did not POST to the registration endpoint');
  expectEq(reg.status, 201, 'registration status');
  expect(provider.client?.client_id, 'no client_id saved');
  expect(!provider.client.client_secret, 'a public client (token_endpoint_auth_method none) received a client_secret');
  expect(provider.client.redirect_uris?.includes(listener.url), 'the registered redirect_uris do not include ours');
  return `client_id ${provider.client.client_id}`;
});

await step('authorization request: response_type=code, PKCE S256, resource, state, scope', async () => {
  const u = provider.authorizationUrl;
  expect(u, 'the SDK did not call redirectToAuthorization');
  expectEq(`${u.origin}${u.pathname}`, asMetadata.authorization_endpoint, 'authorization endpoint');
  const q = u.searchParams;
  expectEq(q.get('response_type'), 'code', 'response_type');
  expectEq(q.get('client_id'), provider.client.client_id, 'client_id');
  expectEq(q.get('code_challenge_method'), 'S256', 'code_challenge_method');
  expectEq(q.get('code_challenge'), createHash('sha256').update(provider.verifier).digest('base64url'), 'code_challenge = S256(verifier)');
  expectEq(q.get('resource'), SERVER_URL, 'resource (RFC 8707)');
  expectEq(q.get('redirect_uri'), listener.url, 'redirect_uri');
  expectEq(q.get('state'), provider.lastState, 'state');
  return `scope "${q.get('scope') ?? ''}", verifier ${provider.verifier.length} chars`;
});

receivedQuery = await browse(provider.authorizationUrl, listener);

await step('authorization response: state and iss match', async () => {
  const code = checkAuthorizationResponse(receivedQuery, provider, asMetadata);
  return `state ok, iss ${receivedQuery.searchParams.get('iss')}, code ${fp(code)}`;
});

mark = httpLog.length;
await step('sdk auth() with the code: token exchange (PKCE verifier, resource)', async () => {
  provider.allowRedirect = false;
  const result = await auth(provider, {
    serverUrl: SERVER_URL,
    authorizationCode: receivedQuery.searchParams.get('code'),
    fetchFn: sdkFetch,
  });
  expectEq(result, 'AUTHORIZED', 'auth() result');
  const tokenCall = logSince(mark).find((e) => e.method === 'POST' && e.url === asMetadata.token_endpoint);
  expect(tokenCall, 'the SDK did not call the token endpoint');
  expectEq(tokenCall.status, 200, 'token endpoint status');
  expect(/no-store/.test(tokenCall.cacheControl), `token response Cache-Control: ${tokenCall.cacheControl} (RFC 6749 section 5.1: no-store)`);
  const sent = new URLSearchParams(tokenCall.body ?? '');
  expectEq(sent.get('grant_type'), 'authorization_code', 'grant_type sent');
  expectEq(sent.get('resource'), SERVER_URL, 'resource sent to /token');
  expect(sent.get('code_verifier'), 'no code_verifier sent');
  firstTokens = provider.savedTokens;
  expect(firstTokens?.access_token && firstTokens.refresh_token, 'no access and refresh token');
  expectEq(firstTokens.token_type.toLowerCase(), 'bearer', 'token_type');
  const claims = jwtPayload(firstTokens.access_token);
  expectEq(claims.iss, ISSUER, 'access token iss');
  expect([claims.aud].flat().includes(SERVER_URL), `access token aud ${JSON.stringify(claims.aud)} is not the MCP server`);
  return `access ${fp(firstTokens.access_token)} (aud ok, expires_in ${firstTokens.expires_in}), refresh ${fp(firstTokens.refresh_token)}`;
});

async function userinfo(token) {
  const r = await boundedFetch(asMetadata.userinfo_endpoint, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body, wwwAuthenticate: r.headers.get('www-authenticate') };
}

await step('userinfo with the access token → the dev user', async () => {
  const r = await userinfo(firstTokens.access_token);
  expectEq(r.status, 200, `GET userinfo status (body: ${JSON.stringify(r.body)})`);
  expectEq(r.body.sub, EXPECT_SUBJECT, 'sub');
  return `sub ${r.body.sub}, email ${r.body.email}`;
});

mark = httpLog.length;
await step('sdk auth() again: refresh through the SDK (refresh_token grant, rotation)', async () => {
  const result = await auth(provider, { serverUrl: SERVER_URL, fetchFn: sdkFetch });
  expectEq(result, 'AUTHORIZED', 'auth() result');
  const calls = logSince(mark).filter((e) => e.method === 'POST' && e.url === asMetadata.token_endpoint);
  expectEq(calls.length, 1, 'token endpoint calls');
  expectEq(calls[0].status, 200, 'refresh status');
  expect(/no-store/.test(calls[0].cacheControl), `refresh response Cache-Control: ${calls[0].cacheControl}`);
  const sent = new URLSearchParams(calls[0].body ?? '');
  expectEq(sent.get('grant_type'), 'refresh_token', 'grant_type sent');
  expectEq(sent.get('resource'), SERVER_URL, 'resource sent on refresh');
  refreshedTokens = provider.savedTokens;
  expect(refreshedTokens.access_token !== firstTokens.access_token, 'the access token did not change');
  expect(refreshedTokens.refresh_token !== firstTokens.refresh_token, 'the refresh token did not rotate');
  return `access ${fp(refreshedTokens.access_token)}, refresh ${fp(firstTokens.refresh_token)} → ${fp(refreshedTokens.refresh_token)}`;
});

await step('userinfo with the refreshed access token', async () => {
  const r = await userinfo(refreshedTokens.access_token);
  expectEq(r.status, 200, `GET userinfo status (body: ${JSON.stringify(r.body)})`);
  expectEq(r.body.sub, EXPECT_SUBJECT, 'sub');
  return `sub ${r.body.sub}`;
});

if (WITH_GATEWAY) await gatewaySteps();
if (WITH_GATEWAY) await stepUpSteps();

await step('RFC 7009: revoke the refresh token → 200', async () => {
  // The SDK has no revocation helper; this is the plain RFC 7009 request a public client sends.
  const r = await boundedFetch(asMetadata.revocation_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      token: refreshedTokens.refresh_token,
      token_type_hint: 'refresh_token',
      client_id: provider.client.client_id,
    }),
  });
  const body = await r.text();
  expectEq(r.status, 200, `revoke status (body: ${body.slice(0, 200)})`);
  return `revoked ${fp(refreshedTokens.refresh_token)}`;
});

await step('after revocation: the SDK refresh is refused with invalid_grant', async () => {
  try {
    await refreshAuthorization(ISSUER, {
      metadata: asMetadata,
      clientInformation: provider.client,
      refreshToken: refreshedTokens.refresh_token,
      resource: new URL(SERVER_URL),
      fetchFn: sdkFetch,
    });
  } catch (e) {
    expect(e instanceof InvalidGrantError, `expected InvalidGrantError, got ${e?.constructor?.name}: ${e?.message}`);
    const last = httpLog.at(-1);
    expectEq(last.status, 400, 'refresh status after revocation');
    return `${last.status} invalid_grant`;
  }
  throw new Check('the revoked refresh token was accepted');
});

await step('after revocation: the access token of that grant is refused at userinfo (401)', async () => {
  // RFC 7009 section 2.1: revoking a refresh token SHOULD also invalidate the access tokens of
  // the same grant; docs/architecture.md: revocation bites immediately.
  const r = await userinfo(refreshedTokens.access_token);
  expectEq(r.status, 401, `userinfo status after revocation (body: ${JSON.stringify(r.body)})`);
  expect(/invalid_token/.test(r.wwwAuthenticate ?? ''), `WWW-Authenticate: ${r.wwwAuthenticate}`);
  return `401, WWW-Authenticate ${r.wwwAuthenticate}`;
});

clearTimeout(deadline);
finish();

// ---------------------------------------------------------------------------------------------
// Through the gateway (off by default until the gateway is mounted): the SDK's transport drives
// the whole flow itself, as Claude Desktop / Cursor / mcp-remote do.

async function gatewaySteps() {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js');

  await step('gateway: MCP request without a token → 401 with WWW-Authenticate resource_metadata', async () => {
    const r = await boundedFetch(SERVER_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    await r.text();
    expectEq(r.status, 401, `POST ${where(SERVER_URL)} status`);
    const h = r.headers.get('www-authenticate') ?? '';
    expect(/^Bearer\b/i.test(h), `WWW-Authenticate: ${h}`);
    expect(h.includes(`resource_metadata="${BRIDGE}${PRM_PATH}"`), `WWW-Authenticate lacks resource_metadata: ${h}`);
    return `WWW-Authenticate ${h}`;
  });

  const gwListener = await new RedirectListener().start();
  const gwProvider = new InteropProvider(gwListener.url, 'official MCP TypeScript SDK, transport');
  const newClient = () => new Client({ name: 'mcp-auth-bridge-interop', version: '0.0.0' });
  const newTransport = () => new StreamableHTTPClientTransport(new URL(SERVER_URL), { authProvider: gwProvider, fetch: sdkFetch });
  let transport = newTransport();
  let client = newClient();

  await step('gateway: client.connect() without a token → the SDK starts the authorization', async () => {
    try {
      await client.connect(transport);
    } catch (e) {
      expect(e instanceof UnauthorizedError, `expected UnauthorizedError, got ${e?.constructor?.name}: ${e?.message}`);
      expect(gwProvider.authorizationUrl, 'the SDK did not call redirectToAuthorization');
      return `UnauthorizedError; authorization URL ${where(gwProvider.authorizationUrl)}`;
    }
    throw new Check('connect succeeded without authorization');
  });

  let received;
  await step('gateway: browser completes consent and login (same pages as above)', async () => {
    received = await browse(gwProvider.authorizationUrl, gwListener, { quiet: true });
    const code = checkAuthorizationResponse(received, gwProvider, asMetadata);
    return `code ${fp(code)}`;
  });

  await step('gateway: transport.finishAuth(code), then client.connect() → initialized', async () => {
    gwProvider.allowRedirect = false;
    await transport.finishAuth(received.searchParams.get('code'));
    expect(gwProvider.savedTokens?.access_token, 'no tokens after finishAuth');
    transport = newTransport();
    client = newClient();
    await client.connect(transport);
    cleanups.push(() => client.close());
    const info = client.getServerVersion();
    return `server ${info?.name} ${info?.version}, access ${fp(gwProvider.savedTokens.access_token)}`;
  });

  await step('gateway: tools/list includes echo', async () => {
    const { tools } = await client.listTools();
    expect(tools.some((t) => t.name === 'echo'), `tools: ${tools.map((t) => t.name)}`);
    return `tools [${tools.map((t) => t.name).join(', ')}]`;
  });

  await step('gateway: tools/call echo returns its text', async () => {
    const text = `interop ${randomBytes(4).toString('hex')}`;
    const result = await client.callTool({ name: 'echo', arguments: { text } });
    expect(!result.isError, `isError: ${JSON.stringify(result)}`);
    expectEq(result.content?.[0]?.text, text, 'echoed text');
    return `"${text}"`;
  });

  await step('gateway: the provider token from the first flow is accepted too (same resource)', async () => {
    const r = await boundedFetch(SERVER_URL, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${refreshedTokens.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'interop-raw', version: '0' } },
      }),
    });
    await r.text();
    expectEq(r.status, 200, 'initialize status with the refreshed token');
    return '200';
  });

  await client.close();
}

// ---------------------------------------------------------------------------------------------
// Step-up (issue 16): the policy of STEP_UP_URL lets `add` through only with STEP_UP_SCOPE. The
// SDK's StreamableHTTPClientTransport (1.32.2) answers a 403 `insufficient_scope` by calling
// auth() with the challenge's scope. auth() refreshes first when the provider holds a refresh
// token, and a refresh cannot widen a grant (RFC 6749 section 6): the retry gets the same 403
// and the transport gives up. Without a refresh token, auth() starts a new authorization with
// the wider scope: the user consents to it, finishAuth() stores the new token, the call is
// retried and succeeds. Both are checked, from the requests the SDK made.

async function stepUpSteps() {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport, StreamableHTTPError } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js');
  const adminPath = new URL(STEP_UP_URL).pathname;
  const tokenPath = new URL(asMetadata.token_endpoint).pathname;
  const wider = `mcp ${STEP_UP_SCOPE}`;
  const posts = (mark) => logSince(mark).filter((e) => e.method === 'POST').map((e) => `POST ${new URL(e.url).pathname} ${e.status}`);
  const addArgs = { name: 'add', arguments: { a: 2, b: 3 } };

  /**
   * A client of STEP_UP_URL that logged in as the SDK does on its own: client.connect() gets
   * the 401, whose scope is the server's base scope (`mcp`: the bridge leaves the policy's
   * step-up scope out of it), the SDK registers with that scope and authorizes with it.
   */
  async function narrowClient(label, options) {
    const listener = await new RedirectListener().start();
    const p = new InteropProvider(listener.url, label, options);
    const newTransport = () => new StreamableHTTPClientTransport(new URL(STEP_UP_URL), { authProvider: p, fetch: sdkFetch });
    const newClient = () => new Client({ name: `mcp-auth-bridge-interop-${label}`, version: '0.0.0' });
    let transport = newTransport();
    try {
      await newClient().connect(transport);
      throw new Check('connect succeeded without authorization');
    } catch (e) {
      if (e instanceof Check) throw e;
      expect(e instanceof UnauthorizedError, `expected UnauthorizedError, got ${e?.constructor?.name}: ${e?.message}`);
    }
    expect(p.authorizationUrl, 'the SDK did not call redirectToAuthorization');
    expectEq(p.authorizationUrl.searchParams.get('scope'), 'mcp', 'scope the SDK took from the 401');
    const received = await browse(p.authorizationUrl, listener, { quiet: true, serverUrl: STEP_UP_URL });
    const code = checkAuthorizationResponse(received, p, asMetadata);
    p.allowRedirect = false;
    await transport.finishAuth(code);
    expectEq(jwtPayload(p.savedTokens.access_token).scope, 'mcp', 'scope of the first token');
    transport = newTransport();
    const client = newClient();
    await client.connect(transport);
    cleanups.push(() => client.close());
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'no step-up for echo' } });
    expectEq(echoed.content?.[0]?.text, 'no step-up for echo', 'echo with the mcp token');
    return { p, listener, transport, client };
  }

  let refreshing;
  await step(`step-up: an SDK client with an "mcp" token connects to ${adminPath}; echo needs no step-up`, async () => {
    refreshing = await narrowClient('step-up, refresh token');
    expect(refreshing.p.savedTokens.refresh_token, 'no refresh token');
    return `access ${fp(refreshing.p.savedTokens.access_token)} (scope mcp)`;
  });

  await step('step-up: with a refresh token the SDK refreshes (scope unchanged), gets the same 403 and gives up', async () => {
    const mark = httpLog.length;
    const before = refreshing.p.savedTokens.access_token;
    try {
      await refreshing.client.callTool(addArgs);
    } catch (e) {
      expect(e instanceof StreamableHTTPError && e.code === 403, `expected StreamableHTTPError 403, got ${e?.constructor?.name}: ${e?.message}`);
      expect(/after trying upscoping/.test(e.message), `error message: ${e.message}`);
      const seen = posts(mark);
      const wanted = [`POST ${adminPath} 403`, `POST ${tokenPath} 200`, `POST ${adminPath} 403`];
      expectEq(JSON.stringify(seen), JSON.stringify(wanted), 'requests the SDK made');
      const refresh = new URLSearchParams(logSince(mark).find((x) => x.method === 'POST' && x.url === asMetadata.token_endpoint).body);
      expectEq(refresh.get('grant_type'), 'refresh_token', 'grant_type of the SDK retry');
      expectEq(refresh.get('scope'), null, 'scope sent with the refresh');
      expect(refreshing.p.savedTokens.access_token !== before, 'the SDK did not refresh');
      expectEq(jwtPayload(refreshing.p.savedTokens.access_token).scope, 'mcp', 'scope after the refresh');
      return seen.join(', ');
    }
    throw new Check('add succeeded without the step-up scope');
  });
  await refreshing.client.close();

  let stepping;
  await step('step-up: a client without a refresh token (grant_types [authorization_code]) connects', async () => {
    stepping = await narrowClient('step-up', { refreshTokens: false });
    expect(!stepping.p.savedTokens.refresh_token, 'a refresh token came to a client that did not register the grant');
    stepping.p.allowRedirect = true;
    stepping.p.authorizationUrl = undefined;
    return `access ${fp(stepping.p.savedTokens.access_token)} (scope mcp)`;
  });

  let challenge;
  await step(`step-up: tools/call add → 403 insufficient_scope; the SDK asks for "${wider}"`, async () => {
    const mark = httpLog.length;
    try {
      await stepping.client.callTool(addArgs);
    } catch (e) {
      expect(e instanceof UnauthorizedError, `expected UnauthorizedError, got ${e?.constructor?.name}: ${e?.message}`);
      expectEq(JSON.stringify(posts(mark)), JSON.stringify([`POST ${adminPath} 403`]), 'requests the SDK made');
      const u = stepping.p.authorizationUrl;
      expect(u, 'the SDK did not call redirectToAuthorization');
      expectEq(`${u.origin}${u.pathname}`, asMetadata.authorization_endpoint, 'authorization endpoint');
      expectEq(u.searchParams.get('scope'), wider, 'scope of the new authorization request');
      expectEq(u.searchParams.get('resource'), STEP_UP_URL, 'resource of the new authorization request');
      challenge = u;
      return `UnauthorizedError; authorization request scope "${u.searchParams.get('scope')}"`;
    }
    throw new Check('add succeeded without the step-up scope');
  });

  let received;
  await step(`step-up: the consent page shows ${STEP_UP_SCOPE}; the user approves and signs in`, async () => {
    received = await browse(challenge, stepping.listener, { quiet: true, serverUrl: STEP_UP_URL, scopes: [STEP_UP_SCOPE] });
    return `code ${fp(checkAuthorizationResponse(received, stepping.p, asMetadata))}`;
  });

  await step('step-up: transport.finishAuth(code), then the retried tools/call add succeeds', async () => {
    stepping.p.allowRedirect = false;
    let mark = httpLog.length;
    await stepping.transport.finishAuth(received.searchParams.get('code'));
    expectEq(JSON.stringify(posts(mark)), JSON.stringify([`POST ${tokenPath} 200`]), 'requests of finishAuth');
    expectEq(jwtPayload(stepping.p.savedTokens.access_token).scope, wider, 'scope of the new token');
    mark = httpLog.length;
    const result = await stepping.client.callTool(addArgs);
    expect(!result.isError, `isError: ${JSON.stringify(result)}`);
    expectEq(JSON.stringify(posts(mark)), JSON.stringify([`POST ${adminPath} 200`]), 'requests of the retried call');
    return `add(2, 3) → ${result.content?.[0]?.text}`;
  });
  await stepping.client.close();
}

async function sdkVersion() {
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  try {
    // The package's exports hide package.json; find it from the resolved entry point.
    const entry = require.resolve('@modelcontextprotocol/sdk/client/auth.js');
    const root = entry.slice(0, entry.lastIndexOf('/dist/'));
    return JSON.parse(await readFile(`${root}/package.json`, 'utf8')).version;
  } catch {
    return '(unknown version)';
  }
}
