"""Reading text sources and normalising them into word streams.

Every source yields text in chunks, so no corpus is ever held whole in memory:

    for chunk in read_text(["corpus.txt.gz"]):
        words = normalize(chunk, "none").split()

Normalisations (every one is followed by ``str.split()``, which splits on any Unicode
whitespace, as gensim's readers do):
- ``none``: the text as written: words are exactly the whitespace-separated strings, in any
  script, with their case, punctuation and digits (``Straße``, ``東京``, ``user_id_42``,
  ``C++``, ``3.14``, ``n5_507``). What word2vec, fastText and gensim train on.
- ``lower``: the same, lower-cased by Unicode's rules (``Über`` -> ``über``, ``ΟΔΟΣ`` ->
  ``οδος``); every script is kept.
- ``text8``: Matt Mahoney's text8 rules: lower-case, digits spelled out ("1" -> " one "),
  every other character a space, so words are runs of a-z. For English only: ``Straße``
  becomes ``stra e``.
- ``punct``: the teaching notebook's preprocessing: lower-case and punctuation replaced by
  tokens such as ``<PERIOD>``, so sentence structure survives as words.

No Unicode normalisation is applied: a word spelled with a combining accent (NFD) and the
same word precomposed (NFC) are two words, as in gensim.
"""

from __future__ import annotations

import bz2
import codecs
import glob
import gzip
import logging
import lzma
import os
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from sgns.errors import DataError
from sgns.io import atomic_write, gensim_data_path

log = logging.getLogger(__name__)

# What each normalisation does, in the words the run's log uses.
NORMALIZATION_MEANINGS = {
    "none": "tokens as written, split on whitespace",
    "lower": "tokens as written, lower-cased",
    "text8": "text8's rules: lower-case a-z only, digits spelled out, all else a space",
    "punct": "the notebook's: lower-cased, punctuation as <PERIOD>-style tokens",
}
NORMALIZATIONS = tuple(NORMALIZATION_MEANINGS)
CHUNK_CHARS = 1 << 22  # ~4 MB of text per chunk: big enough for C-speed string ops

_DIGITS = [b"zero", b"one", b"two", b"three", b"four", b"five", b"six", b"seven", b"eight", b"nine"]
# text8's rules as one 256-byte table: A-Z folded to a-z, a-z and digits kept, every other byte
# (UTF-8 continuation bytes included) a space. bytes.translate runs at memory speed.
_TEXT8 = bytes(
    c + 32 if 65 <= c <= 90 else c if (97 <= c <= 122 or 48 <= c <= 57) else 32 for c in range(256)
)


def _text8(text: str) -> str:
    data = text.encode("utf-8", "replace").translate(_TEXT8)
    for digit, name in enumerate(_DIGITS):
        data = data.replace(b"%d" % digit, b" " + name + b" ")
    return data.decode("ascii")


# The notebook's replacements, in its order (its list names "?" twice; once is enough).
# Each inserted token is made of characters no later rule touches, so order does not matter.
_PUNCT = (
    (".", " <PERIOD> "),
    (",", " <COMMA> "),
    ('"', " <QUOTATION_MARK> "),
    (";", " <SEMICOLON> "),
    ("!", " <EXCLAMATION_MARK> "),
    ("?", " <QUESTION_MARK> "),
    ("(", " <LEFT_PAREN> "),
    (")", " <RIGHT_PAREN> "),
    ("--", " <HYPHENS> "),
    (":", " <COLON> "),
)


def _punct(text: str) -> str:
    text = text.lower()
    for mark, token in _PUNCT:  # one C-speed pass each: far faster than a regex callback
        text = text.replace(mark, token)
    return text


def normalize(text: str, how: str = "text8") -> str:
    """Return `text` normalised by rule `how` (one of NORMALIZATIONS), ready for ``.split()``."""
    if how == "none":
        return text
    if how == "text8":
        return _text8(text)
    if how == "lower":
        return text.lower()
    if how == "punct":
        return _punct(text)
    raise ValueError(f"unknown normalisation {how!r}; choose one of {', '.join(NORMALIZATIONS)}")


def expand_paths(spec: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Turn a file, a folder (every file inside, recursively) or a glob into a file list.

    Folders are listed in sorted order; hidden files and folders (names starting with a
    dot) are skipped. A file named twice is read once.
    """
    specs = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    files: list[Path] = []
    for item in specs:
        path = Path(item).expanduser()
        if path.exists():
            matches = [path]
        elif glob.has_magic(str(path)):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        else:
            raise DataError(f"corpus file not found: {path}")
        for match in matches:
            files += _folder_files(match) if match.is_dir() else [match]
    if not files:
        raise DataError(f"no corpus files match {spec}")
    return list(dict.fromkeys(files))


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


_decode_errors = threading.local()


def _replace_counting(err: UnicodeDecodeError) -> tuple[str, int]:
    """The "replace" error handler that also counts the invalid bytes it replaces."""
    _decode_errors.count = getattr(_decode_errors, "count", 0) + err.end - err.start
    return "\ufffd", err.end


codecs.register_error("sgns-replace", _replace_counting)


def _open_text(path: Path):
    """Open plain, .gz, .bz2 or .xz text as UTF-8; invalid bytes become U+FFFD and are counted.

    A leading byte-order mark is dropped ("utf-8-sig"), so it never sticks to the first word.
    """
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding="utf-8-sig", errors="sgns-replace", newline="")


# Every character str.split() splits on (ASCII whitespace, U+0085, no-break and ideographic
# spaces, line and paragraph separators, ...): a chunk cut at any of them never cuts a word.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


def _last_space(block: str) -> int:
    """Index of the last whitespace character in `block`, or -1; looks at the tail first."""
    for start in (max(0, len(block) - 4096), 0):
        cut = max(block.rfind(c, start) for c in _SPACES)
        if cut >= 0:
            return cut
    return -1


def read_text(files: Iterable[Path], chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """Yield the files' text in chunks of about `chunk_chars` that never split a word.

    Every chunk ends in whitespace (any character str.split() splits on), so words never
    join across chunks or files (only a run of more than 16 chunks without any whitespace
    is cut, to bound memory). Invalid UTF-8 is replaced by U+FFFD and the number of
    invalid bytes logged per file: under ``none`` and ``lower`` a word with
    a bad byte stays one word, with U+FFFD in its place.
    """
    for path in files:
        check_is_text(path)
        invalid = 0
        try:
            with _open_text(path) as f:
                carry = ""
                while True:
                    before = getattr(_decode_errors, "count", 0)
                    block = f.read(chunk_chars)
                    invalid += getattr(_decode_errors, "count", 0) - before
                    if not block:
                        break
                    block = carry + block
                    cut = _last_space(block)
                    if cut < 0 and len(block) < 16 * chunk_chars:
                        carry = block  # one giant word so far: keep reading, bounded
                        continue
                    cut = len(block) - 1 if cut < 0 else cut
                    carry = block[cut + 1 :]
                    yield block[: cut + 1]
                if carry:
                    yield carry + " "
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
            raise DataError(f"cannot read corpus file {path}: {err}") from err
        if invalid:
            log.warning("%s: %d invalid UTF-8 bytes replaced by U+FFFD", path, invalid)


# Control characters other than whitespace, and U+FFFD (what an invalid UTF-8 byte decodes to).
_NOT_TEXT = dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F, 0xFFFD])
NOT_TEXT_LIMIT = 0.3
SNIFF_CHARS = 1 << 20


def check_is_text(path: Path) -> None:
    """Raise DataError when the start of `path` is not UTF-8 text (a binary or UTF-16 file).

    Over NOT_TEXT_LIMIT of the first SNIFF_CHARS characters being invalid bytes or control
    characters means training would learn from noise; Latin-1 text, with a few invalid bytes
    per line, passes (its bytes are replaced and counted).
    """
    try:
        with _open_text(path) as f:
            sample = f.read(SNIFF_CHARS)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise DataError(f"cannot read corpus file {path}: {err}") from err
    bad = len(sample) - len(sample.translate(_NOT_TEXT))
    if sample and bad > NOT_TEXT_LIMIT * len(sample):
        raise DataError(
            f"{path} does not look like UTF-8 text: {bad / len(sample):.0%} of its first "
            f"{len(sample)} characters are invalid bytes or control characters "
            "(a binary file? UTF-16? convert it to UTF-8 first)"
        )


WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def wiki_sample_file(cache_dir: str | Path) -> Path:
    """The English Wikipedia sample shipped inside gensim's wheel, as plain text in `cache_dir`.

    About 470k words from 206 articles; wiki markup is stripped once with gensim's
    `filter_wiki` and the result kept, so later runs skip the slow XML parsing.
    """
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    out = Path(cache_dir).expanduser() / "wiki_sample.txt"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with bz2.open(gensim_data_path(WIKI_SAMPLE)) as dump, atomic_write(out) as f:
        for _title, text, _page_id in extract_pages(dump):
            f.write(filter_wiki(text))
            f.write("\n")
    return out
