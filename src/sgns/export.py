"""Word vectors out of training: word2vec text and binary files (gensim reads both).

>>> save_word2vec("vectors.txt", np.eye(2), ["the", "cat"])   # text, most frequent word first
>>> print(open("vectors.txt").read(), end="")
2 2
the 1 0
cat 0 1
>>> matrix, words = load_word2vec("vectors.txt")
>>> matrix.shape, matrix.dtype, words
((2, 2), dtype('float32'), ['the', 'cat'])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

from sgns.io import atomic_path


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
            kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
            kv.add_vectors(words, vectors)
            kv.save_word2vec_format(str(tmp), binary=True, write_header=True)
        else:
            _write_text(tmp, vectors, words)


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


def load_word2vec(path: str | Path, binary: bool | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a word2vec text or binary file; `binary=None` guesses from the file's first line."""
    path = Path(path)
    if binary is None:
        binary = _looks_binary(path)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    return kv.vectors, list(kv.index_to_key)


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        f.readline()
        sample = f.read(4096)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
