#!/usr/bin/env python3
"""Interop: the official MCP Python SDK (`mcp`, pinned in requirements.txt) as the OAuth client.

Its `OAuthClientProvider` discovers the bridge (RFC 9728 / RFC 8414), registers (RFC 7591),
sends the user to the authorization URL — here `form_filler.complete`, the user at the browser —
exchanges the code with PKCE, and then lists the tools of the demo MCP server through the gateway
and calls `echo`. Bounded by INTEROP_TIMEOUT_S (default 60). Never prints a token.

    BRIDGE_URL=http://127.0.0.1:8080 python3 tests/interop/python_client.py
"""

import asyncio
import os
import sys
import urllib.parse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import form_filler  # noqa: E402

BRIDGE = os.environ.get("BRIDGE_URL", "http://127.0.0.1:8080").rstrip("/")
SERVER_URL = f"{BRIDGE}/t/{os.environ.get('TENANT', 'demo')}/mcp/{os.environ.get('MCP_SERVER', 'demo')}"
TIMEOUT = float(os.environ.get("INTEROP_TIMEOUT_S", "60"))
# Never listened on: the form filler hands the redirect back instead of a browser following it.
REDIRECT_URI = "http://127.0.0.1:65500/callback"


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


async def run():
    redirected = {}

    async def redirect_handler(authorization_url):
        redirected["url"] = await asyncio.to_thread(form_filler.complete, authorization_url)

    async def callback_handler():
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(redirected.pop("url")).query)
        if "code" not in query:
            raise SystemExit(f"python client: the redirect carries no code (error={query.get('error')})")
        return AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )

    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=SERVER_URL,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-auth-bridge interop (Python SDK)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=10) as http:
        async with streamable_http_client(SERVER_URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                print("ok   1 OAuth (discovery, registration, consent, dev login, PKCE code exchange) and initialize")
                tools = await session.list_tools()
                names = sorted(t.name for t in tools.tools)
                if "echo" not in names:
                    raise SystemExit(f"python client: tools/list through the gateway lacks echo: {names}")
                print(f"ok   2 tools/list through the gateway: {', '.join(names)}")
                text = "hello from the Python SDK"
                result = await session.call_tool("echo", {"text": text})
                shown = " ".join(getattr(c, "text", "") for c in result.content)
                is_error = getattr(result, "is_error", getattr(result, "isError", None))
                if is_error or text not in shown:
                    raise SystemExit(f"python client: echo answered {shown!r} (is_error={is_error})")
                print("ok   3 tools/call echo through the gateway")
    if storage.tokens is None or storage.client_info is None:
        raise SystemExit("python client: the SDK stored no tokens or client registration")


def main():
    form_filler._loopback(BRIDGE)
    try:
        asyncio.run(asyncio.wait_for(run(), TIMEOUT))
    except asyncio.TimeoutError:
        raise SystemExit(f"python client: the whole run exceeded {TIMEOUT:.0f} s")
    print("python client: 3 passed")


if __name__ == "__main__":
    main()
