#!/usr/bin/env bash
# Runs the browser tests of the consoles (tests/browser/consoles.mjs): headless Chromium from
# Debian's packages, driven by Playwright (playwright-core, pinned in package.json), against a
# freshly started bridge (dev mode, the dev provider) and demo MCP server on loopback.
#
#   bash tests/browser/run.sh
#
# Needs: Rust (builds the binaries), PostgreSQL trusting user postgres on 127.0.0.1 (port
# BROWSER_PG_PORT, default 5432), node + npm and chromium (installed from Debian's packages when
# missing and running as root). Ports BROWSER_BRIDGE_PORT (8180) and BROWSER_MCP_PORT (9180)
# must be free. The scratch database is dropped on exit; both processes are stopped.
# Screenshots are written to docs/screenshots/ (SCREENSHOTS overrides).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE="$ROOT/tests/browser"

PG_HOST=127.0.0.1
PG_PORT=${BROWSER_PG_PORT:-5432}
BRIDGE_ADDR=127.0.0.1:${BROWSER_BRIDGE_PORT:-8180}
MCP_ADDR=127.0.0.1:${BROWSER_MCP_PORT:-9180}
DB_NAME="mab_browser_$$"
READY_TIMEOUT=${BROWSER_READY_TIMEOUT:-60}
TEST_TIMEOUT=${BROWSER_TEST_TIMEOUT:-120}
BIN="$ROOT/target/debug/mcp-auth-bridge"
DEMO_BIN="$ROOT/target/debug/demo-mcp-server"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

say() { printf 'browser: %s\n' "$*"; }
die() { printf 'browser: %s\n' "$*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $* from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
  else
    die "$* required: install them (apt-get install $*) and rerun"
  fi
}

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
[ -x "$CHROMIUM" ] || apt_install chromium
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM"
(exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
port_busy "$BRIDGE_ADDR" && die "port $BRIDGE_ADDR is busy"
port_busy "$MCP_ADDR" && die "port $MCP_ADDR is busy"

say "cargo build --locked"
cargo build --locked --quiet
if [ ! -d "$HERE/node_modules" ]; then
  say "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/mab-browser.XXXXXX")
BRIDGE_PID=
MCP_PID=
TEST_PID=
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop "$TEST_PID"
  stop "$BRIDGE_PID"
  stop "$MCP_PID"
  wait 2>/dev/null || true
  if command -v psql >/dev/null 2>&1; then
    psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres \
      -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ]; then
    say "failed (status $status); last lines of the service logs:"
    for f in "$LOGDIR"/*.log; do
      [ -f "$f" ] || continue
      printf -- '--- %s\n' "$(basename "$f")"
      tail -n 30 "$f"
    done
  fi
  rm -rf "$LOGDIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A throwaway admin token for this run; the configuration holds only its SHA-256.
ADMIN_TOKEN=$(node -e 'console.log(require("node:crypto").randomBytes(24).toString("hex"))')
ADMIN_SHA=$(printf '%s' "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$LOGDIR/bridge.toml" <<TOML
dev_mode = true
public_url = "http://$BRIDGE_ADDR"
[server]
bind = "$BRIDGE_ADDR"
[database]
url = "postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable"
[log]
format = "json"
[admin]
allowed_upstream_hosts = ["127.0.0.0/8"]
[[admin.tokens]]
name = "browser-test"
sha256 = "$ADMIN_SHA"
[[tenants]]
slug = "demo"
display_name = "Demo tenant"
scopes = ["mcp", "mcp:tools"]
[[tenants.providers]]
name = "dev"
kind = "dev"
dev_user = { subject = "demo-user", email = "demo@example.test", name = "Demo User" }
[[tenants.mcp_servers]]
name = "demo"
url = "http://$MCP_ADDR/mcp"
TOML

say "starting the demo MCP server on $MCP_ADDR and the bridge on $BRIDGE_ADDR"
"$DEMO_BIN" --bind "$MCP_ADDR" >"$LOGDIR/demo-mcp-server.log" 2>&1 &
MCP_PID=$!
"$BIN" serve --config "$LOGDIR/bridge.toml" >"$LOGDIR/bridge.log" 2>&1 &
BRIDGE_PID=$!
ready=
deadline=$((SECONDS + READY_TIMEOUT))
while [ "$SECONDS" -lt "$deadline" ]; do
  kill -0 "$BRIDGE_PID" 2>/dev/null || die "the bridge exited during start-up"
  if curl -fsS --max-time 2 "http://$BRIDGE_ADDR/readyz" >/dev/null 2>&1 && port_busy "$MCP_ADDR"; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || die "the bridge did not answer /readyz within ${READY_TIMEOUT}s"

say "running consoles.mjs (headless $("$CHROMIUM" --version 2>/dev/null || echo chromium))"
BRIDGE_URL="http://$BRIDGE_ADDR" ADMIN_TOKEN="$ADMIN_TOKEN" CHROMIUM="$CHROMIUM" \
  MCP_URL="http://$MCP_ADDR/mcp" SCREENSHOTS="${SCREENSHOTS:-$ROOT/docs/screenshots}" \
  timeout --kill-after=5 "$TEST_TIMEOUT" node "$HERE/consoles.mjs" &
TEST_PID=$!
wait "$TEST_PID"
