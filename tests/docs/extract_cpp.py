"""Writes the ```cpp blocks of a Markdown file as one C++ translation unit, so that the
examples a reader copies are compiled and linked as they stand (tests/docs/CMakeLists.txt).

Every block's #include lines come first (once each), then each block's other lines in order,
each under a #line directive, so that a compiler error names the Markdown file and line; then
an empty main() unless a block defines one.

    python extract_cpp.py docs/cpp.md out.cc
"""
import pathlib
import re
import sys


def blocks(markdown):
    """(first line number, lines) of each ```cpp block."""
    found, current, start = [], None, 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if current is None and re.fullmatch(r"```(cpp|c\+\+)\s*", line):
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            found.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        raise SystemExit(f"a ```cpp block opened at line {start - 1} is never closed")
    return found


def main(source, output):
    markdown = pathlib.Path(source).read_text()
    found = blocks(markdown)
    if not found:
        raise SystemExit(f"{source} has no ```cpp block")
    includes, body = [], []
    shown = pathlib.Path(source).as_posix()
    for start, lines in found:
        body.append(f'#line {start} "{shown}"')
        for offset, line in enumerate(lines):
            if line.startswith("#include"):
                if line not in includes:
                    includes.append(line)
                body.append("")  # keeps the #line numbering
            else:
                body.append(line)
    has_main = any(re.search(r"\bint\s+main\s*\(", line) for line in body)
    text = [f"// Generated from {shown} by tests/docs/extract_cpp.py: do not edit.", *includes, "", *body]
    if not has_main:
        text += ["", "int main() { return 0; }"]
    pathlib.Path(output).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
