#!/usr/bin/env python3
"""Renders a kustomize base the way `kubectl kustomize` does for the subset the base uses: the
documents of each file in `resources:`, in order, as one multi-document YAML stream on stdout.

Used by tests/deploy/validate.sh where kubectl/kustomize is not installed. Any other
kustomization field is refused rather than silently ignored, so the rendering never differs from
what `kubectl apply -k` would apply.

    python3 tests/deploy/render.py deploy/kubernetes > rendered.yaml
"""

import pathlib
import sys

import yaml

SUPPORTED = {"apiVersion", "kind", "resources"}


def render(base: pathlib.Path) -> list:
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        sys.exit(f"render.py: unsupported kustomization fields {sorted(unsupported)}: use kubectl kustomize")
    documents = []
    for resource in kustomization.get("resources", []):
        path = base / resource
        if path.is_dir():
            documents.extend(render(path))
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append(document)
    return documents


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: render.py KUSTOMIZE_BASE_DIR")
    documents = render(pathlib.Path(sys.argv[1]))
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
