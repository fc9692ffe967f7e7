#!/usr/bin/env bash
# Runs the interoperability test (tests/interop/interop.mjs, the official MCP TypeScript SDK as
# the OAuth client) against a freshly started bridge and demo MCP server on loopback.
#
#   bash tests/interop/run.sh [--with-gateway] [--verbose] [--python-client] [--mcp-remote]
#
# --python-client: then also the official MCP Python SDK (tests/interop/python_client.py, `mcp`
# pinned in requirements.txt, installed into a scratch virtualenv) against the same services.
# --mcp-remote: then also mcp-remote (npm, pinned in package.json; tests/interop/mcp_remote.mjs),
# its browser step done by browser_shim.sh.
#
# Needs: Rust (builds the binary when missing or stale), PostgreSQL on 127.0.0.1:5432 (or
# $INTEROP_PG_HOST:$INTEROP_PG_PORT) trusting user postgres (as for `cargo test`), node + npm (installed from Debian's packages when missing
# and running as root). Ports 8080 and 9000 on 127.0.0.1 must be free. The bridge uses a scratch
# database, created by the service and dropped on exit; both processes are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
INTEROP="$ROOT/tests/interop"

# Our own flags; the rest go to interop.mjs.
PYTHON_CLIENT=
MCP_REMOTE=
NODE_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --python-client) PYTHON_CLIENT=1 ;;
    --mcp-remote) MCP_REMOTE=1 ;;
    *) NODE_ARGS+=("$arg") ;;
  esac
done

BRIDGE_ADDR=127.0.0.1:8080
MCP_ADDR=127.0.0.1:9000
PG_HOST=${INTEROP_PG_HOST:-127.0.0.1}
PG_PORT=${INTEROP_PG_PORT:-5432}  # another cluster: INTEROP_PG_PORT=5443 bash tests/interop/run.sh
DB_NAME="mab_interop_$$"
READY_TIMEOUT=${INTEROP_READY_TIMEOUT:-60}  # seconds for the service to answer /readyz
TEST_TIMEOUT=${INTEROP_TEST_TIMEOUT:-60}    # seconds for the node script (it bounds itself to 30 s)
BIN="$ROOT/target/debug/mcp-auth-bridge"
DEMO_BIN="$ROOT/target/debug/demo-mcp-server"

say() { printf 'interop: %s\n' "$*"; }
die() { printf 'interop: %s\n' "$*" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
# GET /readyz answers 200 (node is there by then; curl need not be).
readyz() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
    .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://$BRIDGE_ADDR/readyz"
}

# --- node and npm --------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "node/npm not found: installing nodejs and npm from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  else
    die "node and npm are required (Node >= 18); install them (e.g. apt-get install nodejs npm) and rerun"
  fi
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "Node >= 18 is required (found $(node --version))"

# --- preconditions -------------------------------------------------------------------------
(exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
port_busy "$BRIDGE_ADDR" && die "port $BRIDGE_ADDR is busy: stop what listens there (the bridge must own it)"
port_busy "$MCP_ADDR" && die "port $MCP_ADDR is busy: stop what listens there (the demo MCP server must own it)"

# --- build ---------------------------------------------------------------------------------
say "cargo build --locked"
cargo build --locked --quiet

# --- JavaScript dependencies (exact versions from package-lock.json) ------------------------
if [ ! -d "$INTEROP/node_modules" ]; then
  say "npm ci"
  (cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- start the services, and always stop them -----------------------------------------------
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/mab-interop.XXXXXX")
BRIDGE_PID=
MCP_PID=
TEST_PID=

drop_database() {
  if command -v psql >/dev/null 2>&1; then
    psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
      say "warning: could not drop database $DB_NAME"
  else
    say "warning: psql not found; database $DB_NAME was left behind"
  fi
}

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
  drop_database
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

say "starting the demo MCP server on $MCP_ADDR"
"$DEMO_BIN" --bind "$MCP_ADDR" >"$LOGDIR/demo-mcp-server.log" 2>&1 &
MCP_PID=$!

say "starting the bridge on $BRIDGE_ADDR (database $DB_NAME)"
MCP_AUTH_BRIDGE__DATABASE__URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable" \
  MCP_AUTH_BRIDGE__LOG__FORMAT=json \
  "$BIN" serve --config config/dev.toml >"$LOGDIR/bridge.log" 2>&1 &
BRIDGE_PID=$!

ready=
deadline=$((SECONDS + READY_TIMEOUT))
while [ "$SECONDS" -lt "$deadline" ]; do
  kill -0 "$BRIDGE_PID" 2>/dev/null || die "the bridge exited during start-up"
  kill -0 "$MCP_PID" 2>/dev/null || die "the demo MCP server exited during start-up"
  if readyz && port_busy "$MCP_ADDR"; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || die "the bridge did not answer /readyz with 200 within ${READY_TIMEOUT}s"
say "services ready after $((SECONDS + READY_TIMEOUT - deadline))s"

# --- the test ------------------------------------------------------------------------------
# In the background and waited for, so that INT/TERM reach the traps at once.
BRIDGE_URL="http://$BRIDGE_ADDR" timeout --kill-after=5 "$TEST_TIMEOUT" node "$INTEROP/interop.mjs" ${NODE_ARGS[@]+"${NODE_ARGS[@]}"} &
TEST_PID=$!
wait "$TEST_PID"

if [ -n "$MCP_REMOTE" ]; then
  say "mcp-remote (pinned in tests/interop/package.json) driven over stdio"
  command -v python3 >/dev/null 2>&1 || die "python3 is required for --mcp-remote (the browser shim)"
  BRIDGE_URL="http://$BRIDGE_ADDR" timeout --kill-after=5 "$TEST_TIMEOUT" node "$INTEROP/mcp_remote.mjs" &
  TEST_PID=$!
  wait "$TEST_PID"
fi

if [ -n "$PYTHON_CLIENT" ]; then
  say "official MCP Python SDK client (pinned in tests/interop/requirements.txt)"
  VENV="$LOGDIR/venv"
  python3 -m venv "$VENV" || die "python3 with venv is required for --python-client (apt-get install python3-venv)"
  timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$INTEROP/requirements.txt" ||
    die "could not install the Python SDK (tests/interop/requirements.txt)"
  BRIDGE_URL="http://$BRIDGE_ADDR" timeout --kill-after=5 "$TEST_TIMEOUT" "$VENV/bin/python" "$INTEROP/python_client.py" &
  TEST_PID=$!
  wait "$TEST_PID"
fi
