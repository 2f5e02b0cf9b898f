"""Word vectors in and out, in one place: word2vec text files (read by numpy's parser, as gensim
reads them but several times faster; GloVe's, without a header, too), binary files (gensim's
reader), training checkpoints, and run directories.

>>> save_word2vec("vectors.txt", np.eye(2), ["the", "cat"])   # text, most frequent word first
>>> print(open("vectors.txt").read(), end="")
2 2
the 1 0
cat 0 1
>>> matrix, words = load_vectors("vectors.txt")    # a run directory, a vectors file or a .ckpt
>>> matrix.shape, matrix.dtype, words
((2, 2), dtype('float32'), ['the', 'cat'])
>>> save_vocab("vocab.txt", ["the", "cat"], [9, 4])   # "the 9", "cat 4": word2vec -save-vocab

A checkpoint names its own tables (SkipGramModule.on_save_checkpoint writes ``tables``, the
state_dict keys of the input and output vectors, beside ``vocab``), so reading one needs
neither Lightning nor the model class. It is read with ``weights_only=True``: tensors and plain
containers only, so a crafted checkpoint cannot run code when loaded.
"""

from __future__ import annotations

import codecs
import itertools
import logging
from pathlib import Path

import numpy as np

from sgns.errors import DataError
from sgns.eval import VECTORS
from sgns.io import atomic_path, atomic_write_text, load_checkpoint

VECTOR_FILES = ("vectors.txt", "vectors.bin")
RUN_CHECKPOINT = "checkpoints/last.ckpt"  # a run's, rewritten while it trains


def save_word2vec(
    path: str | Path, vectors: np.ndarray, words: list[str], binary: bool = False
) -> None:
    """Write `vectors` (V, D) with their `words` in word2vec format, atomically.

    The file is written beside its destination and renamed into place, so an interrupted
    write never leaves a half-written file where a previous one stood.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"vectors of shape {vectors.shape} do not match {len(words)} words")
    with atomic_path(path) as tmp:
        if binary:
            from gensim.models import KeyedVectors  # a second's import, for binary files only

            kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
            kv.add_vectors(words, vectors)
            # Without word counts gensim keeps the order given, which is the one wanted, and
            # warns that it does: not news to whoever reads the run's log.
            gensim_log = logging.getLogger("gensim.models.keyedvectors")
            gensim_log.addFilter(_not_about_counts)
            try:
                kv.save_word2vec_format(str(tmp), binary=True, write_header=True)
            finally:
                gensim_log.removeFilter(_not_about_counts)
        else:
            _write_text(tmp, vectors, words)


def _not_about_counts(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("attribute %s not present")


def _write_text(path: Path, vectors: np.ndarray, words: list[str]) -> None:
    """word2vec text format; %.9g round-trips every float32 exactly, and one C-level
    format per row is several times faster than gensim's per-value repr()."""
    row = " ".join(["%.9g"] * vectors.shape[1])
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for start in range(0, len(words), 4096):
            block = vectors[start : start + 4096].tolist()
            names = words[start : start + 4096]
            f.write("".join(f"{w} {row % tuple(v)}\n" for w, v in zip(names, block, strict=True)))


def save_vocab(path: str | Path, words: list[str], counts) -> None:
    """Write "word count" lines, atomically: the C tool's ``-save-vocab`` file, which gensim
    reads beside the vectors (``KeyedVectors.load_word2vec_format(vectors, fvocab=path)``)."""
    counts = np.asarray(counts).tolist()
    if len(counts) != len(words):
        raise ValueError(f"{len(counts)} counts do not match {len(words)} words")
    atomic_write_text(path, "".join(f"{w} {int(c)}\n" for w, c in zip(words, counts, strict=True)))


def load_word2vec(path: str | Path, binary: bool | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a word2vec text or binary file; `binary=None` guesses from the file's first line."""
    path = Path(path)
    if binary is None:
        binary = _looks_binary(path)
    if not binary:
        return _read_text(path)
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    return kv.vectors, list(kv.index_to_key)


# Rows parsed at a time: numpy's C parser on a block, rather than Python on every value
# (gensim's reader), is 5-6x faster; a block bounds the text held beside the matrix.
_TEXT_BLOCK = 16_384


def _read_text(path: Path) -> tuple[np.ndarray, list[str]]:
    """word2vec text: a "count dim" line, then a word and `dim` numbers a line, split on
    single spaces as gensim splits them (trailing whitespace ignored). As in gensim, a word
    seen twice keeps its first vector; lines after `count` are not read. GloVe's files, the
    same lines without the header, are read whole (gensim's ``no_header=True``)."""
    with open(path, "rb") as f:
        first = f.readline()
        header = first.split()
        if len(header) == 2 and all(field.isdigit() for field in header):
            count, dim = int(header[0]), int(header[1])
            matrix, words = _read_rows(f, dim, count, first_line=2)
        elif len(header) > 2 and _numbers(header[1:]):  # GloVe: a vector on line 1
            dim = len(header) - 1
            matrix, words = _read_rows(itertools.chain([first], f), dim, None, first_line=1)
        else:
            shown = first[:80].decode("utf-8", "replace").rstrip()
            raise ValueError(f"line 1 is not a word2vec header (vector count and size): {shown!r}")
    seen: dict[str, int] = {}
    for row, word in enumerate(words):
        seen.setdefault(word, row)
    if len(seen) < len(words):
        rows = sorted(seen.values())
        return matrix[rows], [words[row] for row in rows]
    return matrix, words


def _read_rows(lines, dim: int, count: int | None, first_line: int):
    """(matrix, words) of `count` lines of `lines` (None: every line), parsed a block at a
    time; `first_line` is the file line of the first, for errors."""
    blocks: list[np.ndarray] = []
    matrix = np.empty((count, dim), dtype=np.float32) if count is not None else None
    words: list[str] = []
    rests: list[bytes] = []

    def parse() -> None:
        start = len(words) - len(rests)
        block = _parse_rows(rests, dim, first_line + start)
        if matrix is None:
            blocks.append(block)
        else:
            matrix[start : start + len(rests)] = block
        rests.clear()

    for line in lines:
        if count is None and not line.strip():
            continue  # GloVe: a blank line, as at the end of a file
        word, _, rest = line.rstrip().partition(b" ")
        words.append(word.decode("utf-8"))
        rests.append(rest)
        if len(rests) == _TEXT_BLOCK or len(words) == count:
            parse()
        if len(words) == count:
            break
    if rests:
        parse()
    if count is not None and len(words) < count:
        raise EOFError(f"the file ends after {len(words)} of the {count} vectors its header names")
    if matrix is None:
        matrix = np.concatenate(blocks) if blocks else np.empty((0, dim), dtype=np.float32)
    return matrix, words


def _numbers(fields: list[bytes]) -> bool:
    try:
        for field in fields:
            float(field)
    except ValueError:
        return False
    return True


def _parse_rows(rests: list[bytes], dim: int, line: int) -> np.ndarray:
    """The numbers of `rests`, one line each, the first on file line `line`, as (len, dim)
    float32; a line with another count of numbers, or a value that is no number, raises
    naming its file line."""
    for offset, rest in enumerate(rests):
        if rest.count(b" ") != dim - 1 or not rest:
            found = len(rest.split(b" ")) if rest else 0
            raise ValueError(f"line {line + offset} has {found} values, not {dim}")
    try:
        return np.loadtxt(rests, dtype=np.float32, delimiter=" ", comments=None, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"lines {line}-{line + len(rests) - 1}: {exc}") from None


def _looks_binary(path: Path) -> bool:
    """Whether the bytes after line 1 are no UTF-8 text (raw float32 are, almost surely) or
    hold a NUL (as a 0.0 does, and text never)."""
    with open(path, "rb") as f:
        f.readline()
        sample = f.read(4096)
    if b"\0" in sample:
        return True
    try:
        # Incremental: a character the sample's end cuts in two (a word such as 東京) is text.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def load_vectors_from_checkpoint(
    path: str | Path, vectors: str = "in"
) -> tuple[np.ndarray, list[str]]:
    """The word vectors (V, D) float32 and their words (most frequent first) in `path`.

    `vectors` is ``in`` (the input table, word2vec's output) or ``in+out`` (input plus
    output vectors; Levy et al. 2015). Raises DataError for a missing or unreadable file
    and for a checkpoint without sgns weights or vocabulary.
    """
    if vectors not in VECTORS:
        raise ValueError(f"vectors={vectors!r} is not one of: {', '.join(VECTORS)}")
    checkpoint = load_checkpoint(path)
    state, vocab, tables = (
        checkpoint["state_dict"],
        checkpoint.get("vocab"),
        checkpoint.get("tables"),
    )
    if not vocab or "words" not in vocab:
        raise DataError(f"{path} holds no vocabulary; it was not written by sgns training")
    names = tables if isinstance(tables, dict) else {}
    keys = [names.get(side) for side in ("in", "out")]
    if not isinstance(state, dict) or not all(key in state for key in keys):
        raise DataError(f"{path} holds no skip-gram weights; is it an sgns checkpoint?")
    weight = state[keys[0]]
    if vectors == "in+out":
        weight = weight + state[keys[1]]
    words = list(vocab["words"])
    if weight.shape[0] != len(words):
        raise DataError(f"{path}: {weight.shape[0]} vectors but {len(words)} words")
    return weight.float().numpy(), words


def vectors_file(path: str | Path) -> Path:
    """The vectors file for `path`: the path itself, or RUN_DIR/vectors.txt (else vectors.bin),
    or, where the run has written neither yet (it is training, or it stopped), its checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in (*VECTOR_FILES, RUN_CHECKPOINT):
            if (path / name).is_file():
                return path / name
        names = ", ".join((*VECTOR_FILES, RUN_CHECKPOINT))
        raise DataError(f"none of {names} in run directory {str(path)!r}")
    if not path.exists():
        raise DataError(f"no such file or directory: {str(path)!r}")
    return path


def load_vectors(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read (vectors (V, D), words) from a run directory, a word2vec text/binary file or a
    training checkpoint (``.ckpt``, which carries its vocabulary)."""
    file = vectors_file(path)
    if file.suffix == ".ckpt":
        return load_vectors_from_checkpoint(file)
    try:
        return load_word2vec(file)
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"cannot read word2vec vectors from {str(file)!r}: {exc}") from exc
