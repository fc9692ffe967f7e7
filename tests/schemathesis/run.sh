#!/usr/bin/env bash
# Runs schemathesis (property-based API testing, from PyPI) against the admin API of a freshly
# started bridge: every operation of /admin/v1/openapi.json with generated valid and invalid
# input, checking that nothing answers 5xx and every response matches the documented schema.
#
#   bash tests/schemathesis/run.sh [extra schemathesis arguments]
#
# Needs: Rust (builds the binary), PostgreSQL on 127.0.0.1:5432 trusting user postgres (as for
# `cargo test`), python3 with venv. Port 8090 on 127.0.0.1 must be free. schemathesis is
# installed, pinned, into a venv under target/; the bridge uses a scratch database, created by
# the service and dropped on exit; the bridge is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE="$ROOT/tests/schemathesis"

SCHEMATHESIS_VERSION=4.32.5
BRIDGE_ADDR=127.0.0.1:8090
PG_HOST=127.0.0.1
PG_PORT=5432
DB_NAME="mab_schemathesis_$$"
TOKEN=schemathesis-admin-token-not-a-secret   # its sha256 is in tests/schemathesis/config.toml
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
READY_TIMEOUT=${SCHEMATHESIS_READY_TIMEOUT:-60}
BIN="$ROOT/target/debug/mcp-auth-bridge"
VENV="$ROOT/target/schemathesis-venv"

say() { printf 'schemathesis: %s\n' "$*"; }
die() { printf 'schemathesis: %s\n' "$*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# --- preconditions -------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is required"
(exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
port_busy "$BRIDGE_ADDR" && die "port $BRIDGE_ADDR is busy: stop what listens there"

# --- schemathesis, pinned, in a venv ---------------------------------------------------------
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- build ---------------------------------------------------------------------------------
say "cargo build --locked"
cargo build --locked --quiet

# --- start the bridge, and always stop it ----------------------------------------------------
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/mab-schemathesis.XXXXXX")
BRIDGE_PID=

drop_database() {
  if command -v psql >/dev/null 2>&1; then
    psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
      say "warning: could not drop database $DB_NAME"
  else
    say "warning: psql not found; database $DB_NAME was left behind"
  fi
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$BRIDGE_PID" ]; then
    kill -TERM "$BRIDGE_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$BRIDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BRIDGE_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  drop_database
  if [ "$status" -ne 0 ]; then
    say "failed (status $status); last lines of the bridge log:"
    tail -n 40 "$LOGDIR/bridge.log" 2>/dev/null || true
  fi
  rm -rf "$LOGDIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the bridge on $BRIDGE_ADDR (database $DB_NAME)"
MCP_AUTH_BRIDGE__DATABASE__URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable" \
  "$BIN" serve --config "$HERE/config.toml" >"$LOGDIR/bridge.log" 2>&1 &
BRIDGE_PID=$!

ready() {
  python3 -c 'import sys, urllib.request
try: sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception: sys.exit(1)' "http://$BRIDGE_ADDR/readyz"
}
deadline=$((SECONDS + READY_TIMEOUT))
until ready; do
  kill -0 "$BRIDGE_PID" 2>/dev/null || die "the bridge exited during start-up"
  [ "$SECONDS" -lt "$deadline" ] || die "the bridge did not answer /readyz within ${READY_TIMEOUT}s"
  sleep 0.2
done

# --- the run -------------------------------------------------------------------------------
# Every check that applies to this API. `positive_data_acceptance` is left out: schema-valid
# input is still refused when it breaks a rule JSON Schema cannot state (a provider kind that
# needs an issuer, a dev provider outside dev_mode, a name already taken → 409/422).
# From the scratch directory: schemathesis keeps a `.schemathesis/` cache in its working directory.
cd "$LOGDIR"
say "running against http://$BRIDGE_ADDR/admin/v1/openapi.json (max $MAX_EXAMPLES examples per operation)"
"$VENV/bin/schemathesis" run "http://$BRIDGE_ADDR/admin/v1/openapi.json" \
  --url "http://$BRIDGE_ADDR" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$MAX_EXAMPLES" \
  --seed 1 \
  --no-color \
  "$@"
