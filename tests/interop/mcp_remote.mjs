#!/usr/bin/env node
// Interop: mcp-remote (npm, pinned in package.json), the stdio bridge many desktop clients use for
// remote MCP servers, driven end to end through the bridge. The TypeScript SDK's stdio client
// plays the desktop client; mcp-remote does discovery, registration, the browser step (here
// browser_shim.sh via $BROWSER, completing the plain HTML forms) and PKCE, then proxies
// tools/list and tools/call through the gateway. Loopback only; bounded; never prints tokens
// (mcp-remote's own output is shown only on failure, and it keeps tokens in a scratch directory).
//
//   BRIDGE_URL=http://127.0.0.1:8080 node tests/interop/mcp_remote.mjs

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BRIDGE = (process.env.BRIDGE_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SERVER_URL = `${BRIDGE}/t/${process.env.TENANT ?? 'demo'}/mcp/${process.env.MCP_SERVER ?? 'demo'}`;
const TOTAL_MS = Number(process.env.INTEROP_TIMEOUT_MS ?? 60000);
const CALLBACK_PORT = process.env.MCP_REMOTE_CALLBACK_PORT ?? '33418';

if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(BRIDGE).hostname)) {
  console.error('mcp-remote: refusing a non-loopback BRIDGE_URL');
  process.exit(2);
}

const configDir = mkdtempSync(path.join(tmpdir(), 'mab-mcp-remote-'));
let stderrText = '';
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [path.join(HERE, 'node_modules/mcp-remote/dist/proxy.js'), SERVER_URL, CALLBACK_PORT, '--host', '127.0.0.1'],
  env: {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: configDir,
    MCP_REMOTE_CONFIG_DIR: configDir,
    BROWSER: path.join(HERE, 'browser_shim.sh'),
    // No desktop: xdg-open's generic path, which honours $BROWSER.
    XDG_CURRENT_DESKTOP: '',
    DISPLAY: '',
    NO_PROXY: '127.0.0.1,localhost',
  },
  stderr: 'pipe',
});
transport.stderr?.on('data', (chunk) => {
  stderrText += chunk.toString();
});

let passed = 0;
const client = new Client({ name: 'mcp-auth-bridge-interop-mcp-remote', version: '0.0.0' });
function finish(code, message) {
  if (message) console.log(message);
  if (code !== 0) {
    // Its log without anything that looks like a bearer token or a code.
    const redacted = stderrText.replace(/(eyJ[\w-]+\.[\w-]+\.[\w-]+|(code|token|state)=[^&\s"]+)/g, '[redacted]');
    console.log(`--- mcp-remote stderr (last 40 lines, redacted)\n${redacted.split('\n').slice(-40).join('\n')}`);
  }
  client.close().catch(() => {});
  rmSync(configDir, { recursive: true, force: true });
  console.log(`mcp-remote: ${passed} passed${code === 0 ? '' : ', 1 failed'}`);
  process.exit(code);
}
setTimeout(() => finish(1, `FAIL the whole run exceeded ${TOTAL_MS} ms`), TOTAL_MS).unref();

try {
  await client.connect(transport);
  passed += 1;
  console.log('ok   1 mcp-remote: OAuth through the browser shim (consent, dev login) and initialize');
  const tools = await client.listTools();
  const names = tools.tools.map((t) => t.name).sort();
  if (!names.includes('echo')) finish(1, `FAIL tools/list lacks echo: ${names.join(', ')}`);
  passed += 1;
  console.log(`ok   2 tools/list through mcp-remote and the gateway: ${names.join(', ')}`);
  const text = 'hello from mcp-remote';
  const result = await client.callTool({ name: 'echo', arguments: { text } });
  const shown = (result.content ?? []).map((c) => c.text ?? '').join(' ');
  if (result.isError || !shown.includes(text)) finish(1, `FAIL echo answered ${JSON.stringify(shown)}`);
  passed += 1;
  console.log('ok   3 tools/call echo through mcp-remote and the gateway');
  finish(0);
} catch (e) {
  finish(1, `FAIL ${e?.message ?? e}`);
}
