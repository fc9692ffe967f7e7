#!/usr/bin/env bash
# The "browser" for mcp-remote (tests/interop/mcp_remote.mjs): its `open` package runs its bundled
# xdg-open, which on a machine without a desktop opens URLs with $BROWSER. This completes the
# bridge's forms and delivers the redirect to mcp-remote's callback server.
exec timeout 60 python3 "$(dirname "$0")/form_filler.py" --visit "$1" >&2
