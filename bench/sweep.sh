#!/usr/bin/env bash
# Sweeper benchmark: 1,000,000 expired authorization codes on a scratch database of the local
# Postgres, swept twice from identical copies (expiry order = reference, then heap order), each
# with a concurrent INSERT/UPDATE loop. See bench/README.md, "Sweeper".
# Server: SWEEP_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres.
# Extra arguments go to the example: --rows N --live N --batch N.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example sweep_bench -- "$@"
