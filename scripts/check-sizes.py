#!/usr/bin/env python3
"""Size limits for src/: no .c/.h file over 1000 lines, no function over 120.

A function is counted from the line whose first character is its opening
'{' to the line whose first character is its closing '}' (our style puts
both at column 0). An exception needs a comment `/* size: <reason> */` on
the line just before the function's first line (the line with its name and
return type), or on the file's first line for a file. Prints every
oversized file and function; exits 1 if any has no such comment.

Usage: scripts/check-sizes.py [ROOT]   (ROOT defaults to the repository)
"""
import os
import re
import sys

MAX_FILE_LINES = 1000
MAX_FUNC_LINES = 120
WAIVER = re.compile(r"/\*\s*size:\s*\S.*\*/")


def function_header(lines, brace):
    """Index of the first line of the declaration whose '{' is lines[brace]:
    up over indented parameter lines to the column-0 line with the name,
    and one more if the return type sits alone on the line above."""
    i = brace - 1
    while i > 0 and lines[i][:1] in (" ", "\t"):
        i -= 1
    if i > 0 and "(" in lines[i] and re.match(r"[A-Za-z_][A-Za-z0-9_]*\s*\(", lines[i]) \
            and lines[i - 1][:1].isalpha() and "(" not in lines[i - 1] \
            and not lines[i - 1].rstrip().endswith((";", "}")):
        i -= 1
    return max(i, 0)


def function_name(header):
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", header)
    return m.group(1) if m else header.strip()


def check_file(path, rel, problems, waived):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_FILE_LINES:
        msg = "%s: %d lines (max %d)" % (rel, len(lines), MAX_FILE_LINES)
        (waived if lines and WAIVER.search(lines[0]) else problems).append(msg)
    if not rel.endswith(".c"):
        return
    start = None
    for n, line in enumerate(lines):
        if line.startswith("{"):
            start = n
        elif line.startswith("}") and start is not None:
            length = n - start + 1
            if length > MAX_FUNC_LINES:
                head = function_header(lines, start)
                text = " ".join(l.strip() for l in lines[head:start])
                msg = "%s:%d: %s() %d lines (max %d)" % (
                    rel, head + 1, function_name(text), length, MAX_FUNC_LINES)
                ok = head > 0 and WAIVER.search(lines[head - 1])
                (waived if ok else problems).append(msg)
            start = None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(root, "src")
    problems, waived = [], []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                path = os.path.join(dirpath, name)
                check_file(path, os.path.relpath(path, root), problems, waived)
    for msg in waived:
        print("waived: " + msg)
    for msg in problems:
        print(msg)
    if problems:
        print("check-sizes: %d over the limit without a /* size: <reason> */ comment"
              % len(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
