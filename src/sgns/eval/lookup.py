"""How evaluation and queries read a (matrix, words) pair: tensors, unit rows, word lookup, files.

>>> from sgns.export import save_word2vec
>>> save_word2vec("vectors.txt", np.array([[3.0, 4.0], [0.0, 2.0]]), ["Paris", "france"])
>>> vectors, words = load_vectors("vectors.txt")           # a run dir or a vectors file
>>> word_ids(words, ["paris", "France"])                    # case-insensitive fallback
[0, 1]
>>> unit_rows(vectors)                                      # (V, D) float32, norm 1
tensor([[0.6000, 0.8000],
        [0.0000, 1.0000]])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sgns.errors import DataError, SgnsError
from sgns.export import load_word2vec

VECTOR_FILES = ("vectors.txt", "vectors.bin")


def as_matrix(vectors: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Return `vectors` (V, D) as a detached float32 tensor, on its own device if it is a tensor."""
    matrix = torch.as_tensor(vectors).detach()
    if matrix.ndim != 2:
        raise ValueError(f"expected a (V, D) matrix, got shape {tuple(matrix.shape)}")
    return matrix.float()


def unit_rows(vectors: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Rows of `vectors` (V, D) scaled to unit L2 norm, float32 on the matrix's device.

    An all-zero row stays zero (its cosine with anything is 0) rather than turning into NaNs.
    """
    matrix = as_matrix(vectors)
    return matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)


def upper_index(words: list[str], restrict_vocab: int | None = None) -> dict[str, int]:
    """Map each upper-cased word among the first `restrict_vocab` to its first (most frequent) id.

    This is gensim's `case_insensitive=True` lookup (`KeyedVectors.evaluate_word_analogies`):
    when several case variants exist, the lowest id wins.
    """
    index: dict[str, int] = {}
    for i, word in enumerate(words[:restrict_vocab]):
        index.setdefault(word.upper(), i)
    return index


def word_ids(words: list[str], queries: list[str]) -> list[int]:
    """Ids of `queries` in `words`: the exact word, else its most frequent case variant.

    Raises SgnsError naming the first unknown word and the vocabulary size.
    """
    exact = {word: i for i, word in reversed(list(enumerate(words)))}
    upper = None
    ids = []
    for query in queries:
        if query in exact:
            ids.append(exact[query])
            continue
        upper = upper if upper is not None else upper_index(words)
        if query.upper() not in upper:
            raise SgnsError(f"{query!r} is not in the vocabulary ({len(words):,} words)")
        ids.append(upper[query.upper()])
    return ids


def vectors_file(path: str | Path) -> Path:
    """The vectors file for `path`: the path itself, or RUN_DIR/vectors.txt (else vectors.bin)."""
    path = Path(path)
    if path.is_dir():
        for name in VECTOR_FILES:
            if (path / name).is_file():
                return path / name
        raise DataError(f"no {' or '.join(VECTOR_FILES)} in run directory {str(path)!r}")
    if not path.exists():
        raise DataError(f"no such file or directory: {str(path)!r}")
    return path


def load_vectors(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read (vectors (V, D), words) from a run directory, a word2vec text/binary file or a
    training checkpoint (``.ckpt``, which carries its vocabulary)."""
    if Path(path).suffix == ".ckpt":
        from sgns.checkpoint import load_vectors_from_checkpoint

        return load_vectors_from_checkpoint(path)
    file = vectors_file(path)
    try:
        return load_word2vec(file)
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"cannot read word2vec vectors from {str(file)!r}: {exc}") from exc
