#!/usr/bin/env python3
"""Checks what a schema cannot: that the rendered kustomize base (stdin or a file) deploys the
bridge the way README.md in deploy/kubernetes promises.

- the Deployment runs 2 replicas as uid 10001, non-root, read-only root filesystem, every
  capability dropped, no privilege escalation, probes on /readyz and /healthz, CPU and memory
  requests and a memory limit, the config and the Secret mounted read-only;
- the ConfigMap's config.toml is valid TOML, production-mode (`dev_mode = false`, https
  public_url, trusted proxies set) and holds no secret inline: every secret is a `…_file` key
  pointing into the Secret's mount, and every such file is a key of the example Secret;
- a PodDisruptionBudget, a HorizontalPodAutoscaler (minReplicas >= 2), a Service and a
  NetworkPolicy select the Deployment's pods.

    python3 tests/deploy/check_manifests.py RENDERED.yaml deploy/kubernetes/examples/secret.example.yaml
"""

import sys
import tomllib

import yaml

SECRET_MOUNT = "/run/secrets/mcp-auth-bridge"


def is_inline_secret(path, key):
    """The secret keys of the configuration (issue 15 item 2), written inline rather than as
    their `…_file` form: database.url, admin token hashes, provider and token-exchange client
    secrets, crypto keys."""
    return (path == "database.url"
            or (path.startswith("admin.tokens[") and key == "sha256")
            or key == "client_secret"
            or path.startswith("crypto.keys."))


def is_secret_file(path, key):
    """A secret read from a file: `X_file = PATH`, or an entry of `[crypto.keys_file]`."""
    return key.endswith("_file") or path.startswith("crypto.keys_file.")

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def by_kind(documents):
    kinds = {}
    for d in documents:
        kinds.setdefault(d["kind"], []).append(d)
    return kinds


def walk(value, path=""):
    """Yields (dotted key path, key, value) for every key of a TOML document."""
    if isinstance(value, dict):
        for k, v in value.items():
            p = f"{path}.{k}" if path else k
            yield p, k, v
            yield from walk(v, p)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


def check_deployment(deployment, config_name, secret_name):
    spec = deployment["spec"]
    check(spec.get("replicas") == 2, "Deployment: replicas must be 2")
    pod = spec["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    check(pod_sc.get("runAsNonRoot") is True, "Deployment: pod runAsNonRoot")
    check(pod_sc.get("runAsUser") == 10001, "Deployment: pod runAsUser 10001")
    check(pod.get("automountServiceAccountToken") is False, "Deployment: no service account token")
    containers = pod["containers"]
    check(len(containers) == 1, "Deployment: one container")
    c = containers[0]
    sc = c.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation false")
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == 10001, "container: uid 10001")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], "container: capabilities drop ALL")
    check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readinessProbe on /readyz")
    check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "livenessProbe on /healthz")
    resources = c.get("resources", {})
    check({"cpu", "memory"} <= set(resources.get("requests", {})), "container: cpu and memory requests")
    check("memory" in resources.get("limits", {}), "container: memory limit")
    check(any(p.get("containerPort") == 8080 and p.get("name") == "http" for p in c.get("ports", [])),
          "container: port 8080 named http")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    config_mount = mounts.get("/etc/mcp-auth-bridge", {})
    secret_mount = mounts.get(SECRET_MOUNT, {})
    check(config_mount.get("readOnly") is True, "config mounted read-only at /etc/mcp-auth-bridge")
    check(secret_mount.get("readOnly") is True, f"Secret mounted read-only at {SECRET_MOUNT}")
    check(volumes.get(config_mount.get("name"), {}).get("configMap", {}).get("name") == config_name,
          "config volume is the ConfigMap")
    check(volumes.get(secret_mount.get("name"), {}).get("secret", {}).get("secretName") == secret_name,
          "secret volume is the Secret")
    check("/etc/mcp-auth-bridge/config.toml" in c.get("args", []), "serve --config the mounted file")
    return spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]


def check_config(config_map, secret_keys):
    text = config_map["data"].get("config.toml")
    check(text is not None, "ConfigMap: config.toml")
    if text is None:
        return
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        failures.append(f"config.toml is not valid TOML: {e}")
        return
    check(config.get("dev_mode") is False, "config: dev_mode = false")
    check(str(config.get("public_url", "")).startswith("https://"), "config: https public_url")
    check(config.get("server", {}).get("trusted_proxies"), "config: server.trusted_proxies set")
    check(config.get("server", {}).get("bind") == "0.0.0.0:8080", "config: server.bind 0.0.0.0:8080")
    check(config.get("crypto", {}).get("keys_file"), "config: a crypto key file")
    for path, key, value in walk(config):
        if is_inline_secret(path, key):
            failures.append(f"config: secret {path} is inline: use {key}_file")
        if is_secret_file(path, key) and not isinstance(value, dict):
            check(isinstance(value, str) and value.startswith(SECRET_MOUNT + "/"),
                  f"config: {path} points outside {SECRET_MOUNT}")
            name = str(value).rsplit("/", 1)[-1]
            check(name in secret_keys, f"config: {path} reads {name}, which the example Secret lacks")


def main():
    rendered_path, secret_path = sys.argv[1], sys.argv[2]
    with open(rendered_path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    with open(secret_path) as f:
        secret = yaml.safe_load(f)
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    kinds = by_kind(documents)
    for kind in ["Deployment", "ConfigMap", "Service", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceAccount"]:
        check(len(kinds.get(kind, [])) == 1, f"exactly one {kind}")
    if failures:
        sys.exit("\n".join(failures))
    config_map = kinds["ConfigMap"][0]
    selector, pod_labels = check_deployment(kinds["Deployment"][0], config_map["metadata"]["name"],
                                            secret["metadata"]["name"])
    check(all(pod_labels.get(k) == v for k, v in selector.items()), "Deployment selects its pods")
    check_config(config_map, secret_keys)

    def selects(match_labels, what):
        check(match_labels and all(pod_labels.get(k) == v for k, v in match_labels.items()),
              f"{what} selects the bridge's pods")

    selects(kinds["Service"][0]["spec"]["selector"], "Service")
    selects(kinds["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"], "PodDisruptionBudget")
    selects(kinds["NetworkPolicy"][0]["spec"]["podSelector"]["matchLabels"], "NetworkPolicy")
    hpa = kinds["HorizontalPodAutoscaler"][0]["spec"]
    check(hpa.get("minReplicas", 1) >= 2, "HPA: minReplicas >= 2")
    check(hpa["scaleTargetRef"]["name"] == kinds["Deployment"][0]["metadata"]["name"], "HPA targets the Deployment")
    netpol = kinds["NetworkPolicy"][0]["spec"]
    check(set(netpol.get("policyTypes", [])) == {"Ingress", "Egress"}, "NetworkPolicy: ingress and egress")
    ingress_ports = [p.get("port") for rule in netpol.get("ingress", []) for p in rule.get("ports", [])]
    check(ingress_ports and all(p in ("http", 8080) for p in ingress_ports), "NetworkPolicy: ingress only to the HTTP port")
    check(all(rule.get("ports") for rule in netpol.get("ingress", [])), "NetworkPolicy: every ingress rule names its port")
    if failures:
        sys.exit("check_manifests: " + "\ncheck_manifests: ".join(failures))
    print(f"check_manifests: {len(documents)} manifests deploy the bridge as documented")


if __name__ == "__main__":
    main()
