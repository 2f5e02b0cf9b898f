"""A real-text English corpus from what this machine already has: the docstrings of the Python
modules installed here, and the documentation (text, markdown, reStructuredText, HTML, manual
pages) that ships with installed software. For benchmarks on real text with no download:
generated Zipf corpora flatter speed.

    python scripts/bench/real_text_corpus.py /tmp/real.txt          # this interpreter's paths
    python scripts/bench/real_text_corpus.py /tmp/real.txt --root /usr/share/doc --root ~/.rustup \
        --min-tokens 10000000
    python scripts/bench/real_text_corpus.py /tmp/small.txt --max-tokens 5000   # the first 5,000
    python scripts/bench/real_text_corpus.py /tmp/real.txt --system-docs   # + /usr/share/{doc,man}

One paragraph of text per line; identical texts (vendored copies) are written once. Prints the
number of tokens written. Code, markup-only lines and non-text files are skipped.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import html
import os
import re
import sys
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

DOC_SUFFIXES = {".rst", ".md", ".txt", ".html"}
_NOT_PROSE = re.compile(r"[^A-Za-z ,.;:'()\-]")
_HTML_SKIP = re.compile(r"<(script|style|pre|code)\b.*?</\1>", re.S | re.I)
_HTML_BLOCK_END = re.compile(r"</(p|li|h\d|div|td|dd|dt|section|blockquote)>|<br\s*/?>", re.I)
_HTML_TAG = re.compile(r"<[^>]+>")
_MAN_PAGE = re.compile(r"\.\d\w*$")  # name.1, name.3pm (after any .gz)
_ROFF_ESCAPE = re.compile(r"\\(f[BIRP]|f\(..|\(..|\*.|[-&e|^ ])")


SYSTEM_DOCS = (Path("/usr/share/doc"), Path("/usr/share/man"))


def default_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return sorted({Path(paths[key]) for key in ("stdlib", "purelib", "platlib")})


def docstrings(source: str) -> Iterator[str]:
    """The module, class and function docstrings of one Python source file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes in old sources
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=True)
            if text:
                yield text


def html_text(page: str) -> str:
    """The visible text of an HTML page, one line per block element, without code."""
    page = _HTML_BLOCK_END.sub("\n\n", _HTML_SKIP.sub(" ", page))
    return html.unescape(_HTML_TAG.sub(" ", page))


def is_prose(paragraph: str) -> bool:
    """Four words or more, nearly all letters, spaces and punctuation (not code or tables)."""
    return len(paragraph.split()) >= 4 and len(_NOT_PROSE.findall(paragraph)) <= len(paragraph) / 20


def man_text(page: str) -> str:
    """The text of a roff manual page: requests (.SH, .PP, ...) end paragraphs, escapes go."""
    lines = ("" if line.startswith((".", "'")) else line for line in page.splitlines())
    return _ROFF_ESCAPE.sub(lambda m: "-" if m.group(1) == "-" else "", "\n".join(lines))


def prose_lines(text: str) -> Iterator[str]:
    """The prose paragraphs of `text`, each joined onto one line; examples are left out."""
    paragraph: list[str] = []
    for line in text.splitlines() + [""]:
        line = line.strip()
        if line and not line.startswith((">>>", "...", "$ ")):
            paragraph.append(line)
            continue
        joined = " ".join(paragraph)
        if is_prose(joined):
            yield joined
        paragraph = []


def texts(roots: list[Path]) -> Iterator[str]:
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in sorted(names):
                path = Path(dirpath) / name
                stem = path.name[: -len(".gz")] if path.suffix == ".gz" else path.name
                suffix = Path(stem).suffix
                is_man = _MAN_PAGE.search(stem) is not None and "man" in path.parts[-2]
                try:
                    if path.suffix == ".py":
                        yield from docstrings(path.read_text(encoding="utf-8", errors="replace"))
                    elif suffix in DOC_SUFFIXES or is_man:
                        opener = gzip.open if path.suffix == ".gz" else open
                        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                            text = f.read()
                        if is_man:
                            text = man_text(text)
                        yield html_text(text) if suffix == ".html" else text
                except (OSError, EOFError):
                    continue


def unique_lines(roots: list[Path], seen: set[bytes]) -> Iterator[str]:
    """Every prose line under `roots`, each text once (`seen` holds their digests)."""
    for text in texts(roots):
        for line in prose_lines(text):
            digest = hashlib.blake2b(line.encode(), digest_size=16).digest()
            if digest not in seen:
                seen.add(digest)
                yield line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--root", type=Path, action="append", help="folder to read (repeatable)")
    ap.add_argument("--min-tokens", type=int, default=0, help="fail if fewer were found")
    ap.add_argument("--max-tokens", type=int, default=0, help="stop after this many (0: all)")
    ap.add_argument("--system-docs", action="store_true",
                    help="also read /usr/share/doc and /usr/share/man")  # fmt: skip
    args = ap.parse_args(argv)
    seen: set[bytes] = set()
    tokens = 0
    tmp = args.out.with_name(f".{args.out.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            roots = args.root or default_roots()
            if args.system_docs:
                roots += [p for p in SYSTEM_DOCS if p.is_dir()]
            for line in unique_lines(roots, seen):
                out.write(line + "\n")
                tokens += len(line.split())
                if args.max_tokens and tokens >= args.max_tokens:
                    break
        if tokens < args.min_tokens:
            print(f"error: found {tokens} tokens, fewer than --min-tokens {args.min_tokens}",
                  file=sys.stderr)  # fmt: skip
            return 2
        os.replace(tmp, args.out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{tokens} tokens in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
