#!/usr/bin/env bash
# Gateway benchmark: direct vs through the gateway (c=1, c=64; CPUs shared, then the bridge on a
# CPU of its own), a cold-cache stampede, memory with 100,000 cached user contexts; a scratch
# database on the local Postgres, everything else in one process on loopback. See
# bench/README.md, "Gateway".
# Extra arguments go to the example: --duration S --warmup S --users N --stampede N
# --userinfo-delay-ms MS.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example gateway_bench -- "$@"
