"""How evaluation and queries read a (matrix, words) pair: tensors, unit rows, word lookup.

>>> vectors, words = np.array([[3.0, 4.0], [0.0, 2.0]]), ["Paris", "france"]
>>> word_ids(words, ["paris", "France"])                    # case-insensitive fallback
[0, 1]
>>> unit_rows(vectors)                                      # (V, D) float32, norm 1
tensor([[0.6000, 0.8000],
        [0.0000, 1.0000]])
"""

from __future__ import annotations

import numpy as np
import torch

from sgns.errors import SgnsError


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
