#!/usr/bin/env bash
# Gateway benchmark: direct vs through the gateway (c=1, c=64; CPUs shared, then the bridge on a
# CPU of its own), with a one-write backend, a streaming (SSE, several writes) one and a real
# Python MCP server (the official SDK, SSE answers; issue 13's "≥ 0.9 × direct" row), vs nginx as
# a plain reverse proxy when nginx is installed (skipped with a message otherwise), a cold-cache
# stampede, memory with 100,000 cached user contexts; a scratch database on the local Postgres
# (GATEWAY_BENCH_DATABASE_URL), everything else on loopback. See bench/README.md, "Gateway".
# Extra arguments go to the example: --duration S --warmup S --users N --stampede N
# --userinfo-delay-ms MS --repeat N --skip-memory --only fast|sse|python.
#
# The Python server runs in a virtualenv made here, target/bench-venv, with
# bench/python/requirements.txt (pinned; reused while that file is unchanged). When it cannot be
# made (no python3 or venv module, the package index unreachable), the example is told so
# (GATEWAY_BENCH_PYTHON set empty) and skips that row with a message. A GATEWAY_BENCH_PYTHON set
# by the caller is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/bench-venv
REQUIREMENTS=bench/python/requirements.txt

say() { printf 'gateway.sh: %s\n' "$*" >&2; }

# Prints the virtualenv's interpreter, or fails with a message on stderr.
python_env() {
  if [ -x "$VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$VENV/.requirements"; then
    printf '%s\n' "$PWD/$VENV/bin/python"
    return 0
  fi
  rm -rf "$VENV"
  command -v python3 >/dev/null 2>&1 || { say "no python3"; return 1; }
  python3 -m venv "$VENV" >&2 || { say "python3 -m venv failed (Debian: apt-get install python3-venv)"; return 1; }
  say "installing $REQUIREMENTS into $VENV"
  # Bounded: a few retries with short time-outs, then the row is skipped, not the benchmark.
  timeout 300 "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
    --timeout 30 --retries 2 -r "$REQUIREMENTS" >&2 || { say "pip install -r $REQUIREMENTS failed"; rm -rf "$VENV"; return 1; }
  cp "$REQUIREMENTS" "$VENV/.requirements"
  printf '%s\n' "$PWD/$VENV/bin/python"
}

# `--only fast` or `--only sse` needs no Python.
wants_python=1
previous=
for arg in "$@"; do
  if [ "$previous" = --only ] && [ "$arg" != python ]; then wants_python=; fi
  previous=$arg
done

if [ -n "$wants_python" ] && [ -z "${GATEWAY_BENCH_PYTHON+set}" ]; then
  if python=$(python_env); then
    export GATEWAY_BENCH_PYTHON="$python"
  else
    say "the Python MCP server row will be skipped"
    export GATEWAY_BENCH_PYTHON=
  fi
fi
exec cargo run --quiet --release --example gateway_bench -- "$@"
