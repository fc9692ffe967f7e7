#!/usr/bin/env python3
"""The Python MCP server of the gateway benchmark (examples/gateway_bench/python_backend.rs).

The official MCP Python SDK (`mcp`, pinned in requirements.txt; its `FastMCP`, called
`MCPServer` since mcp 2) with one `echo` tool, on the streamable HTTP transport with the SDK's
defaults: stateful sessions (`initialize` hands out an `mcp-session-id`) and every POST answered
with an SSE stream (`text/event-stream`, written in several pieces), which is what MCP servers
written with the SDK do in the field, and what issue 13 measured.

It binds 127.0.0.1:0 itself and prints `listening PORT` on stdout once the socket is bound, so
the benchmark gets a free port without a race. It runs until SIGTERM (uvicorn's own handler).

    python3 bench/python/echo_server.py
"""

import socket
import sys

import uvicorn
from mcp.server import MCPServer

server = MCPServer("gateway-bench-python")


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    return text


def main() -> None:
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets whose `proto` is
    # TCP, and the accepted ones inherit it. `MCPServer.run("streamable-http")` lets uvicorn
    # bind host and port through getaddrinfo, which gives IPPROTO_TCP; with proto 0 every answer
    # written in several pieces would wait ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # The SDK's app; its DNS-rebinding guard is on for a 127.0.0.1 host (Host 127.0.0.1:*).
    app = server.streamable_http_app(host="127.0.0.1")
    # The access log would cost a line per request, which a deployed server does not pay either.
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
