#!/usr/bin/env bash
# Gateway cache memory per user: fills the gateway's caches for N users (100,000 by default)
# and reports bytes per user from a counting allocator, against the layout before issue 13
# item 4 in the same run. See bench/README.md, "Gateway cache memory". Extra arguments go to
# the example: --users N. No database, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example cache_memory -- "$@"
