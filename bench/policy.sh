#!/usr/bin/env bash
# Per-tool policy check: the median time the gateway adds per request with a 20-rule policy
# (strict JSON-RPC read, CEL variables, decision by the last rule), against a plain serde_json
# parse of the same body in the same run. See bench/README.md, "Policy check". Extra arguments
# go to the example: --samples N. No database, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example policy_bench -- "$@"
