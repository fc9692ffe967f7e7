#!/usr/bin/env bash
# Gateway benchmark: direct vs through the gateway (c=1, c=64; CPUs shared, then the bridge on a
# CPU of its own), with a one-write backend and a streaming (SSE, several writes) one, vs nginx
# as a plain reverse proxy when nginx is installed (skipped with a message otherwise), a
# cold-cache stampede, memory with 100,000 cached user contexts; a scratch database on the local
# Postgres (GATEWAY_BENCH_DATABASE_URL), everything else on loopback. See bench/README.md,
# "Gateway".
# Extra arguments go to the example: --duration S --warmup S --users N --stampede N
# --userinfo-delay-ms MS --repeat N.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example gateway_bench -- "$@"
