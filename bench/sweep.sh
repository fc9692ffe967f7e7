#!/usr/bin/env bash
# Sweeper benchmark: one sweep of 200,000 expired authorization codes on a scratch database of
# the local Postgres, with a concurrent INSERT/UPDATE loop. See bench/README.md, "Sweeper".
# Extra arguments go to the example: --rows N --live N --batch N.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example sweep_bench -- "$@"
