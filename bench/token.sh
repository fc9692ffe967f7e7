#!/usr/bin/env bash
# Token-endpoint benchmark: concurrent refresh_token chains at c = 1, 8, 32, then one family at
# its 10th and its 10,000th generation, against a scratch database of the local Postgres. See
# bench/README.md, "Token endpoint". Extra arguments go to the example: --duration S
# --generations N. TOKEN_BENCH_DATABASE_URL names the (loopback) server.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example token_bench -- "$@"
