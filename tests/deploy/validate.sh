#!/usr/bin/env bash
# Validates what deploy/ ships, as CI does (issue 15 items 3 and 5):
#
#   1. the kustomize base in deploy/kubernetes, rendered, and the examples beside it, against the
#      schemas of a pinned Kubernetes version (kubernetes-validate, from PyPI, --strict: unknown
#      fields are errors);
#   2. that the rendered manifests deploy the bridge as deploy/kubernetes/README.md says
#      (tests/deploy/check_manifests.py: replicas, uid 10001, read-only root, probes, secrets only
#      as files of the Secret, production config);
#   3. the Prometheus alert rules with `promtool check rules`, and their unit tests with
#      `promtool test rules` (tests/deploy/alerts_test.yml: each alert fires on its fault and
#      stays quiet on a healthy bridge);
#   4. the Grafana dashboard is well-formed JSON.
#
# That every metric the dashboard and the rules name is exported is a Rust test:
# `cargo test --test api deploy_metrics`.
#
#   bash tests/deploy/validate.sh
#
# Needs python3 with venv. kubernetes-validate is installed, pinned, into a venv under target/;
# promtool comes from Debian's `prometheus` package, installed with apt-get when missing (as
# .ci/run installs Postgres). Every step is bounded in time; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE="$ROOT/tests/deploy"

KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.2
KUBERNETES_VERSION=${DEPLOY_KUBERNETES_VERSION:-1.30}
STEP_TIMEOUT=${DEPLOY_STEP_TIMEOUT:-300}
VENV="$ROOT/target/deploy-venv"
BASE="$ROOT/deploy/kubernetes"

say() { printf 'deploy: %s\n' "$*"; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
bounded() { timeout --kill-after=10 "$STEP_TIMEOUT" "$@"; }

command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is required"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mab-deploy.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- kubernetes-validate (and PyYAML for the renderer), pinned, in a venv -----------------------
if [ ! -x "$VENV/bin/kubernetes-validate" ] ||
   [ "$("$VENV/bin/kubernetes-validate" --version 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ] ||
   [ "$("$VENV/bin/python" -c 'import yaml; print(yaml.__version__)' 2>/dev/null)" != "$PYYAML_VERSION" ]; then
  say "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION PyYAML==$PYYAML_VERSION into $VENV"
  bounded python3 -m venv "$VENV"
  bounded "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION"
fi
PY="$VENV/bin/python"

# --- promtool, from Debian's prometheus package -------------------------------------------------
if ! command -v promtool >/dev/null 2>&1; then
  say "promtool is not installed: installing Debian's prometheus package"
  export DEBIAN_FRONTEND=noninteractive
  bounded apt-get update -qq
  # The package only installs the service; nothing starts it here (no init system in CI).
  bounded apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
say "$(promtool --version 2>&1 | head -n 1)"

# --- 1. render the kustomize base and validate every manifest ------------------------------------
# The in-repo renderer follows the kustomization's `resources:` list (and refuses any other
# kustomization field); where kubectl is installed, its own rendering is validated as well.
say "rendering $BASE"
bounded "$PY" "$HERE/render.py" "$BASE" >"$WORK/rendered.yaml"
manifests=("$WORK/rendered.yaml" "$BASE"/examples/*.yaml)
if command -v kubectl >/dev/null 2>&1 && bounded kubectl kustomize "$BASE" >"$WORK/kubectl-kustomize.yaml" 2>"$WORK/kubectl.err"; then
  say "also validating kubectl kustomize's rendering ($(kubectl version --client 2>/dev/null | head -n 1))"
  manifests+=("$WORK/kubectl-kustomize.yaml")
  # The two renderings hold the same objects (in kustomize's own order).
  bounded "$PY" -c 'import json, sys, yaml
def objects(path):
    return sorted(json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(open(path)) if d)
sys.exit(0 if objects(sys.argv[1]) == objects(sys.argv[2]) else "deploy: render.py and kubectl kustomize render different objects")' \
    "$WORK/rendered.yaml" "$WORK/kubectl-kustomize.yaml"
fi
say "validating ${#manifests[@]} files against Kubernetes $KUBERNETES_VERSION (kubernetes-validate $KUBERNETES_VALIDATE_VERSION, strict)"
bounded "$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$KUBERNETES_VERSION" "${manifests[@]}"

# --- 2. the manifests deploy the bridge as documented --------------------------------------------
bounded "$PY" "$HERE/check_manifests.py" "$WORK/rendered.yaml" "$BASE/examples/secret.example.yaml"

# --- 3. alert rules ------------------------------------------------------------------------------
say "promtool check rules"
bounded promtool check rules "$ROOT/deploy/prometheus/alerts.yml"
say "promtool test rules"
bounded promtool test rules "$HERE/alerts_test.yml"

# --- 4. dashboard --------------------------------------------------------------------------------
for dashboard in "$ROOT"/deploy/grafana/*.json; do
  bounded "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d.get("uid") and d.get("title") and d.get("panels"), "a dashboard needs uid, title and panels"
print("deploy: %s: %d panels" % (sys.argv[1].rsplit("/", 1)[-1], len(d["panels"])))' "$dashboard"
done

say "all checks passed"
