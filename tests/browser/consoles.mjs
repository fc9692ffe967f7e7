#!/usr/bin/env node
// End-to-end test of the two web consoles (issue 17) in a real browser: Debian's headless
// Chromium driven by Playwright (playwright-core, no bundled browser).
//
//   1. An MCP client (this script, over HTTP) registers, and the user authorizes it in the
//      browser (consent page, dev provider); the client's token works at the gateway.
//   2. The user signs in to the account page through the dev provider, sees that client's
//      grant, revokes it (confirmation page) and the client's next MCP request gets 401.
//   3. An operator signs in to the admin console with an admin token, creates a tenant, a
//      provider and an MCP server, revokes another grant and reads the audit entry.
// Screenshots of both consoles go to docs/screenshots/.
//
// Environment: BRIDGE_URL, ADMIN_TOKEN, CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a
// directory; default docs/screenshots), BROWSER_TIMEOUT_MS (60000 for the whole run).
// Loopback only. Tokens are never printed.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';

const BRIDGE = (process.env.BRIDGE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS ?? 'docs/screenshots';
const TOTAL_MS = Number(process.env.BROWSER_TIMEOUT_MS ?? 60000);
const TENANT = 'demo';
const REDIRECT = 'http://127.0.0.1:7777/callback';

if (!['127.0.0.1', 'localhost'].includes(new URL(BRIDGE).hostname)) throw new Error('loopback only');
if (!ADMIN_TOKEN) throw new Error('ADMIN_TOKEN is required');
mkdirSync(SHOTS, { recursive: true });
const overall = setTimeout(() => { console.error('browser: the whole run took too long'); process.exit(1); }, TOTAL_MS);

class Check extends Error {}
const expect = (cond, message) => { if (!cond) throw new Check(message); };
let failures = 0;
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures += 1;
    console.log(`FAIL ${name}: ${e instanceof Check ? e.message : e.stack}`);
    throw e;
  }
}

async function http(method, path, { body, form, token } = {}) {
  const headers = {};
  let payload;
  if (body) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body); }
  if (form) { headers['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(form).toString(); }
  if (token) headers.authorization = `Bearer ${token}`;
  headers.accept = 'application/json, text/event-stream';
  const r = await fetch(`${BRIDGE}${path}`, { method, headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(10000) });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

const b64url = (buf) => buf.toString('base64url');

/** An MCP client: registers, has the user authorize it in `page`, redeems the code. */
async function mcpClientToken(page, clientName) {
  const reg = await http('POST', `/t/${TENANT}/register`, { body: {
    client_name: clientName, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  } });
  expect(reg.status === 201, `registration answered ${reg.status}: ${reg.text.slice(0, 200)}`);
  const clientId = JSON.parse(reg.text).client_id;
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const url = new URL(`${BRIDGE}/t/${TENANT}/authorize`);
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT,
    code_challenge: challenge, code_challenge_method: 'S256', state: 's1', resource: `${BRIDGE}/t/${TENANT}/mcp/demo`, scope: 'mcp' })) {
    url.searchParams.set(k, v);
  }
  // The client's own redirect listener, played by the browser's request routing.
  let received;
  await page.route(`${REDIRECT}**`, (route) => { received = route.request().url(); route.fulfill({ status: 200, body: 'done' }); });
  await page.goto(url.toString());
  if (await page.getByRole('button', { name: 'Approve' }).count()) {
    await page.getByRole('button', { name: 'Approve' }).click();
  }
  await page.getByRole('button', { name: /Sign in as/ }).click();
  await page.waitForURL(`${REDIRECT}**`);
  await page.unroute(`${REDIRECT}**`);
  const code = new URL(received).searchParams.get('code');
  expect(code, 'no code came back to the client');
  const tok = await http('POST', `/t/${TENANT}/token`, { form: {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: clientId, code_verifier: verifier } });
  expect(tok.status === 200, `token endpoint answered ${tok.status}`);
  return JSON.parse(tok.text).access_token;
}

async function mcpStatus(token) {
  const r = await http('POST', `/t/${TENANT}/mcp/demo`, { token, body: {
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser-test', version: '1' } } } });
  return r.status;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const user = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await user.newPage();
  page.setDefaultTimeout(10000);
  let token;

  await step('an MCP client is authorized by the user in the browser, and its token works at the gateway', async () => {
    token = await mcpClientToken(page, 'Browser Test Client');
    const status = await mcpStatus(token);
    expect(status === 200, `initialize through the gateway answered ${status}`);
  });

  await step('account page: sign in through the dev provider and see the client\'s grant', async () => {
    await page.goto(`${BRIDGE}/t/${TENANT}/account`);
    await page.getByRole('link', { name: /Sign in with/ }).click();
    await page.getByRole('button', { name: /Sign in as/ }).click();
    await page.waitForURL(`${BRIDGE}/t/${TENANT}/account`);
    await page.getByRole('heading', { name: 'Browser Test Client' }).waitFor();
    const text = await page.textContent('main');
    expect(text.includes('127.0.0.1:7777'), 'the redirect host is not shown');
    expect(text.includes('Demo tenant'), 'the tenant\'s display name is not shown');
    await page.screenshot({ path: `${SHOTS}/account-page.png`, fullPage: true });
  });

  await step('account page: revoke the grant (confirmation page), then the client\'s next MCP request gets 401', async () => {
    const card = page.locator('.card', { has: page.getByRole('heading', { name: 'Browser Test Client' }) });
    await card.getByRole('link', { name: 'Revoke access' }).click();
    await page.getByRole('heading', { name: 'Revoke access?' }).waitFor();
    await page.screenshot({ path: `${SHOTS}/account-revoke-confirm.png` });
    await page.getByRole('button', { name: 'Revoke access' }).click();
    await page.getByText('Access revoked').waitFor();
    const status = await mcpStatus(token);
    expect(status === 401, `the revoked client's request answered ${status}, not 401`);
  });

  // A second grant, for the operator to revoke from the console.
  let second;
  await step('a second MCP client is authorized', async () => {
    second = await mcpClientToken(page, 'Second Client');
    expect((await mcpStatus(second)) === 200, 'the second client\'s token does not work');
  });

  const admin = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const console_ = await admin.newPage();
  console_.setDefaultTimeout(10000);

  await step('admin console: sign in with an admin token', async () => {
    await console_.goto(`${BRIDGE}/admin/console`);
    await console_.screenshot({ path: `${SHOTS}/admin-console-sign-in.png` });
    await console_.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await console_.getByRole('button', { name: 'Sign in' }).click();
    await console_.getByRole('heading', { name: 'Tenants' }).waitFor();
    const cookies = await admin.cookies();
    const session = cookies.find((c) => c.name.endsWith('mab-console'));
    expect(session && session.httpOnly && session.sameSite === 'Strict', 'the console session cookie is not HttpOnly + SameSite=Strict');
  });

  await step('admin console: create a tenant, a provider and an MCP server', async () => {
    await console_.getByLabel(/^Slug/).fill('beta');
    await console_.getByLabel(/^Display name/).fill('Beta Corp');
    await console_.getByRole('button', { name: 'Create tenant' }).click();
    await console_.getByRole('heading', { name: 'Tenant beta' }).waitFor();
    await console_.screenshot({ path: `${SHOTS}/admin-console-tenant.png`, fullPage: true });
    await console_.goto(`${BRIDGE}/admin/console/t/beta/providers`);
    await console_.getByLabel(/^Name/).fill('dev');
    await console_.getByLabel(/^Kind/).selectOption('dev');
    await console_.getByRole('button', { name: 'Create' }).click();
    await console_.getByText('Done: created').waitFor();
    await console_.goto(`${BRIDGE}/admin/console/t/beta/servers`);
    await console_.getByLabel(/^Name/).fill('tools');
    await console_.getByLabel(/^Upstream URL/).fill(process.env.MCP_URL ?? 'http://127.0.0.1:9000/mcp');
    await console_.getByLabel(/^Scopes/).fill('mcp');
    await console_.getByRole('button', { name: 'Create' }).click();
    await console_.getByText('Done: created').waitFor();
    const text = await console_.textContent('main');
    expect(text.includes(`${BRIDGE}/t/beta/mcp/tools`), 'the resource URL is not shown');
    expect(text.includes(`/.well-known/oauth-protected-resource/t/beta/mcp/tools`), 'the PRM URL is not shown');
    await console_.screenshot({ path: `${SHOTS}/admin-console-servers.png`, fullPage: true });
  });

  await step('admin console: find the second grant, revoke it, and read the audit entry', async () => {
    await console_.goto(`${BRIDGE}/admin/console/t/${TENANT}/grants?status=active`);
    const row = console_.locator('tbody tr').first();
    const grantId = (await row.locator('td').first().textContent()).trim();
    await console_.screenshot({ path: `${SHOTS}/admin-console-grants.png`, fullPage: true });
    await row.getByLabel('confirm').check();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await console_.getByText('Done: revoked').waitFor();
    expect((await mcpStatus(second)) === 401, 'the grant revoked in the console still works at the gateway');
    await console_.goto(`${BRIDGE}/admin/console/audit?action=grant.revoke`);
    const audit = await console_.textContent('main');
    expect(audit.includes(grantId), 'the audit log does not show the revocation');
    expect(audit.includes('browser-test'), 'the audit entry does not name the operator\'s token');
    await console_.screenshot({ path: `${SHOTS}/admin-console-audit.png`, fullPage: true });
  });

  await step('admin console: the status page draws its charts as inline SVG', async () => {
    await console_.goto(`${BRIDGE}/admin/console/status`);
    expect((await console_.locator('svg.chart').count()) === 3, 'three charts expected');
    await console_.screenshot({ path: `${SHOTS}/admin-console-status.png`, fullPage: true });
  });

  await step('both consoles render on a phone-sized screen without horizontal scrolling of the page', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p = await phone.newPage();
    await p.goto(`${BRIDGE}/t/${TENANT}/account`);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 390, `the account page is ${width}px wide on a 390px screen`);
    await p.screenshot({ path: `${SHOTS}/account-page-phone.png` });
    await phone.close();
  });
} finally {
  await browser.close();
  clearTimeout(overall);
}
console.log(failures ? `browser: ${failures} failed` : 'browser: all steps passed');
process.exit(failures ? 1 : 0);
