"""Cosine queries on an embedding matrix: nearest neighbours, 3CosAdd analogies, pair similarity.

Everything runs in torch on the matrix's device, batched over queries, so training can call
`nearest_neighbors` on its live `in_embed.weight` for validation without copying it to the CPU.

    >>> words = ["man", "woman", "king", "queen"]           # axes: royalty, gender
    >>> matrix = torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 1.0], [1.0, -1.0]])
    >>> ids, sims = nearest_neighbors(matrix, torch.tensor([2]), k=1)   # closest to king
    >>> words[ids[0, 0]], round(sims[0, 0].item(), 4)
    ('man', 0.7071)
    >>> ids, sims = analogy_neighbors(matrix, [0], [2], [1], k=1)   # man:king :: woman:?
    >>> words[ids[0, 0]]
    'queen'
    >>> pair_similarity(matrix, [0], [1])                   # cosine, shape (1,)
    tensor([-1.])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sgns.eval.lookup import unit_rows

# Queries scored per matmul: (chunk, V) float32 scores stay ~120 MB for V = 30,000.
CHUNK = 1024

Ids = torch.Tensor | np.ndarray | Sequence[int]


def _ids(ids: Ids, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(ids, dtype=torch.long, device=device).reshape(-1)


def _analogy_queries(
    unit: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """3CosAdd query directions for "a is to b as c is to ?": unit(b̂ + ĉ - â), shape (Q, D).

    `unit` (V, D) must have unit rows; `a`, `b`, `c` are (Q,) ids. Scoring a candidate x by
    x̂ · query ranks candidates exactly as cos(x, b̂ + ĉ - â) does (Mikolov et al., 2013), which is
    what gensim's `most_similar(positive=[b, c], negative=[a])` computes.
    """
    # index_select, not unit[b]: advanced indexing is ~1000x slower on a busy multi-threaded CPU.
    query = unit.index_select(0, b) + unit.index_select(0, c) - unit.index_select(0, a)
    return query / query.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def _top_k_excluding(
    unit: torch.Tensor, queries: torch.Tensor, exclude: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-`k` rows of `unit` (V, D) by dot product with `queries` (Q, D), none of `exclude` (Q, E).

    Returns ids (Q, k) long and scores (Q, k), best first.
    """
    k = min(k, unit.shape[0] - exclude.shape[1])
    if k <= 0 or queries.shape[0] == 0:
        empty = torch.empty((queries.shape[0], 0), device=unit.device)
        return empty.long(), empty
    ids, sims = [], []
    for start in range(0, queries.shape[0], CHUNK):
        scores = queries[start : start + CHUNK] @ unit.T
        scores.scatter_(1, exclude[start : start + CHUNK], float("-inf"))
        top = scores.topk(k, dim=1)
        ids.append(top.indices)
        sims.append(top.values)
    return torch.cat(ids), torch.cat(sims)


@torch.no_grad()
def nearest_neighbors(
    vectors: torch.Tensor | np.ndarray, query_ids: Ids, k: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `k` words closest by cosine to each query word, the query itself excluded.

    Args:
        vectors: embedding matrix (V, D), tensor on any device or array.
        query_ids: (Q,) word ids.
        k: neighbours per query; fewer if the vocabulary has fewer other words.

    Returns:
        ids (Q, k) long and sims (Q, k) float32 cosine similarities, best first, on the
        matrix's device.
    """
    unit = unit_rows(vectors)
    query = _ids(query_ids, unit.device)
    return _top_k_excluding(unit, unit.index_select(0, query), query[:, None], k)


@torch.no_grad()
def analogy_neighbors(
    vectors: torch.Tensor | np.ndarray, a_ids: Ids, b_ids: Ids, c_ids: Ids, k: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best `k` answers to "a is to b as c is to ?" by 3CosAdd, question words excluded.

    Returns ids (Q, k) and sims (Q, k): cosine between each answer and unit(b̂ + ĉ - â).
    """
    unit = unit_rows(vectors)
    a, b, c = (_ids(ids, unit.device) for ids in (a_ids, b_ids, c_ids))
    return _top_k_excluding(unit, _analogy_queries(unit, a, b, c), torch.stack([a, b, c], 1), k)


@torch.no_grad()
def pair_similarity(vectors: torch.Tensor | np.ndarray, a_ids: Ids, b_ids: Ids) -> torch.Tensor:
    """Cosine similarity of each word pair (a_ids[i], b_ids[i]), shape (P,) float32."""
    matrix = torch.as_tensor(vectors).detach()
    device = matrix.device
    a, b = _ids(a_ids, device), _ids(b_ids, device)
    # Normalise only the rows asked for: pair lists are short and the matrix may be large.
    return (unit_rows(matrix.index_select(0, a)) * unit_rows(matrix.index_select(0, b))).sum(dim=1)
