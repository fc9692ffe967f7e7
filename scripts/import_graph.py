#!/usr/bin/env python3
"""Print the module-level import graph of `src/` from `use crate::...` lines and check it.

Two claims are checked:
  * no import runs back up: a module only imports modules in its own layer or below
    (the layer list is declared in LAYERS, bottom first);
  * no circle of files: the file-level graph (`use crate::a::b` -> the file that defines
    `a::b`, or its nearest enclosing module file) has no cycle. Parent/child edges
    (`mod.rs` re-exporting its children, a child using its parent's items) are left out:
    they are how Rust modules are built, not a circle of responsibilities.

Usage: python3 scripts/import_graph.py [--files]   (exit 1 when a check fails)
"""
import os
import re
import sys

SRC = os.environ.get(
    "IMPORT_GRAPH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
)

# Bottom first. A module may import from its own layer or any layer below.
LAYERS = [
    ["domain", "public_ip", "self_wake"],
    ["crypto", "pages", "browser_session", "policy"],
    ["config", "telemetry"],
    ["store", "net_guard", "embedded_postgres", "coherent_cache"],
    ["error", "tokens", "tenancy", "urls", "sweeper", "client_cache"],
    ["upstream", "coherence"],
    # The shared services every surface's state is built on, and the flow's signed cookies.
    ["services", "cookies"],
    # The surfaces: peers over the services below, each with its own state (or `Services`).
    ["oauth", "gateway", "admin", "health", "dev_idp", "remote", "account", "console"],
    # Composes the surfaces' states (`FromRef`); only startup above it knows it.
    ["state"],
    ["bootstrap", "missing_keys", "serve"],
    ["startup"],
    ["cli"],
]
LAYER_OF = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def rust_files():
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(root, f)


def module_path(path):
    """`src/a/b.rs` -> ["a", "b"]; `src/a/mod.rs` -> ["a"]; lib.rs/main.rs -> []."""
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def strip_tests(text):
    """Drop `#[cfg(test)] mod tests { ... }` blocks: test-only imports are not the design."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def expand(tree):
    """Expand a use tree `a::{b, c::{d}}` into paths ["a::b", "a::c::d"]."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + head, rest[:-1])
            else:
                out.append(prefix + p.split(" as ")[0])

    walk("", tree)
    return out


USE_RE = re.compile(r"\buse\s+crate::(.*?);", re.S)
INLINE_RE = re.compile(r"(?<![:\w])crate::((?:\w+::)*\w+)")


SUPER_RE = re.compile(r"\buse\s+super::(.*?);", re.S)


def imports(path, mod=()):
    """Absolute paths imported by a file; `super::` is resolved against the file's module."""
    text = strip_tests(open(path, encoding="utf-8").read())
    text = re.sub(r"//[^\n]*", "", text)
    paths = []
    parent = "::".join(mod[:-1])
    for m in SUPER_RE.finditer(text):
        for p in expand(m.group(1)):
            p = p.split(" as ")[0]
            paths.append(f"{parent}::{p}" if parent else p)
    for m in USE_RE.finditer(text):
        paths += [p.replace("as", " as ").split(" as ")[0] for p in expand(m.group(1))]
    body = USE_RE.sub("", text)
    paths += INLINE_RE.findall(body)
    return [p.split("::") for p in paths if p]


def main():
    show_files = "--files" in sys.argv
    files = {tuple(module_path(p)): p for p in rust_files()}
    mod_edges, file_edges = {}, {}
    for mod, path in files.items():
        if not mod:
            continue
        for segs in imports(path, mod):
            segs = [s for s in segs if s not in ("self", "*")]
            if not segs or segs[0] == mod[0] and False:
                continue
            target = segs[0]
            if target != mod[0]:
                mod_edges.setdefault(mod[0], set()).add(target)
            # Nearest file defining the path.
            for n in range(len(segs), 0, -1):
                if tuple(segs[:n]) in files:
                    dst = tuple(segs[:n])
                    break
            else:
                continue
            related = dst[: len(mod)] == mod or mod[: len(dst)] == dst
            if not related:
                file_edges.setdefault(mod, set()).add(dst)

    print("module imports (layer: module -> imports):")
    for mod in sorted(mod_edges, key=lambda m: (LAYER_OF.get(m, 99), m)):
        print(f"  {LAYER_OF.get(mod, '?')}: {mod} -> {', '.join(sorted(mod_edges[mod]))}")

    failed = False
    for mod, targets in sorted(mod_edges.items()):
        for t in sorted(targets):
            if mod not in LAYER_OF or t not in LAYER_OF:
                print(f"UNLAYERED: {mod} -> {t} (add it to LAYERS)")
                failed = True
            elif LAYER_OF[t] > LAYER_OF[mod]:
                print(f"BACK-EDGE: {mod} (layer {LAYER_OF[mod]}) -> {t} (layer {LAYER_OF[t]})")
                failed = True

    # Module-level cycles within a layer and file-level cycles (Tarjan's SCC).
    for name, graph in (("module", mod_edges), ("file", file_edges)):
        for scc in sccs(graph):
            if len(scc) > 1:
                fmt = (lambda n: n) if name == "module" else (lambda n: "::".join(n))
                print(f"CYCLE ({name}s): " + " <-> ".join(sorted(fmt(n) for n in scc)))
                failed = True
    if show_files:
        for f in sorted(file_edges):
            print("  " + "::".join(f) + " -> " + ", ".join(sorted("::".join(t) for t in file_edges[f])))
    print("FAILED" if failed else "OK: no back-edges, no cycles")
    return 1 if failed else 0


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    nodes = set(graph) | {t for ts in graph.values() for t in ts}

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
