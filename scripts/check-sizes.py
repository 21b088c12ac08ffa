#!/usr/bin/env python3
"""Fails when a file under src/ is over 600 lines or a function over 80.

The limits of docs/architecture.md ("Layers"): one concept per file, and
functions a reader can hold in their head. `main`'s flag table is the one
exception. Functions are found by their shape (a line that opens a body
after a parameter list, at namespace or class level) and end at the brace
that closes them at the same indentation; run by scripts/test.sh (stage
`sizes`).
"""
import re
import subprocess
import sys

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
EXCEPTIONS = {("src/cli/main.cc", "main")}

OPENS_BODY = re.compile(
    r"^( {0,2})(?!(if|for|while|switch|else|return|namespace|struct|class|enum|union|catch|do)\b)"
    r"[A-Za-z_~].*?([A-Za-z_~][\w:~]*)\s*\(.*[)\]]"
    r"(\s*(const|override|noexcept|final|mutable|->\s*[\w:<>]+))*\s*\{$")


def problems(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    count = len(lines) - (1 if lines and lines[-1] == "" else 0)
    if count > MAX_FILE_LINES:
        yield f"{path}: {count} lines (at most {MAX_FILE_LINES}: split it by concept)"
    for i, line in enumerate(lines):
        m = OPENS_BODY.match(line)
        if not m or "=" in line.split("(")[0]:
            continue
        indent, name = m.group(1), m.group(3).split("::")[-1]
        end = i + 1
        while end < len(lines) and not re.match(re.escape(indent) + r"\}[;) ,]*$", lines[end]):
            end += 1
        length = end - i + 1
        if length > MAX_FUNCTION_LINES and (path, name) not in EXCEPTIONS:
            yield (f"{path}:{i + 1}: {name} is {length} lines "
                   f"(at most {MAX_FUNCTION_LINES}: give its steps names)")


def main():
    files = subprocess.check_output(["git", "ls-files", "src/*.cc", "src/*.h"], text=True).split()
    found = [p for f in files for p in problems(f)]
    for p in found:
        print("check-sizes: " + p, file=sys.stderr)
    if found:
        return 1
    print(f"check-sizes: {len(files)} files under src/, none over {MAX_FILE_LINES} lines, "
          f"no function over {MAX_FUNCTION_LINES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
