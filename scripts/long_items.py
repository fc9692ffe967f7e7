#!/usr/bin/env python3
"""List the files of `src/` over 400 lines and the functions over 80 lines (the limits of
issue 14 and /work/shared/STYLE.md's "files small, functions short").

A function is counted from its `fn` line to the line of its closing brace; braces inside
string literals, char literals and comments are skipped. Functions in `#[cfg(test)]` modules
are reported separately (tests read as flows and may be longer).

Usage: python3 scripts/long_items.py [--max-file N] [--max-fn N]   (exit 1 when over)
"""
import os
import re
import sys

SRC = os.environ.get(
    "LONG_ITEMS_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
)
FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def arg(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


def code_only(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("\n" * text.count("\n", i, j + 1))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1 if text[i + 1] != "\\" else i + 2)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, length, in_tests) of every fn with a body."""
    text = code_only(open(path, encoding="utf-8").read())
    lines = text.split("\n")
    test_from = None
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if m:
        test_from = text.count("\n", 0, m.start())
    found = []
    for i, line in enumerate(lines):
        fm = FN_RE.match(line)
        if not fm:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not started and depth == 0:
                    break
            else:
                if started and depth == 0:
                    found.append((fm.group(1), i + 1, j - i + 1, test_from is not None and i >= test_from))
                    break
                continue
            break
    return found


def main():
    max_file, max_fn = arg("--max-file", 400), arg("--max-fn", 80)
    over = False
    for root, _, files in sorted(os.walk(SRC)):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, os.path.join(SRC, ".."))
            count = sum(1 for _ in open(path, encoding="utf-8"))
            if count > max_file:
                print(f"FILE {rel}: {count} lines")
                over = True
            for name, line, length, in_tests in functions(path):
                if length > max_fn:
                    kind = "TEST-FN" if in_tests else "FN"
                    print(f"{kind} {rel}:{line} {name}: {length} lines")
                    over = over or not in_tests
    print("over the limits" if over else f"OK: no file over {max_file} lines, no fn over {max_fn}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
