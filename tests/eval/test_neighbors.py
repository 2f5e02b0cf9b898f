"""Cosine nearest neighbours, 3CosAdd answers and pair similarity on planted geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgns.eval.neighbors import analogy_neighbors, nearest_neighbors, pair_similarity


@pytest.fixture
def groups() -> np.ndarray:
    """Three groups of five words (ids 0-4, 5-9, 10-14) around orthogonal centres, dim 16."""
    rng = np.random.default_rng(0)
    centres = np.eye(16, dtype=np.float32)[:3] * 5
    members = centres.repeat(5, axis=0) + rng.normal(size=(15, 16)).astype(np.float32)
    return members * rng.uniform(0.5, 3.0, size=(15, 1)).astype(
        np.float32
    )  # lengths must not matter


def test_neighbors_are_the_planted_group_without_the_query(groups):
    ids, sims = nearest_neighbors(groups, [0, 7, 14], k=4)
    assert ids.shape == sims.shape == (3, 4)
    for query, row in zip([0, 7, 14], ids.tolist(), strict=True):
        group = set(range(query // 5 * 5, query // 5 * 5 + 5)) - {query}
        assert set(row) == group


def test_similarities_are_cosines_best_first(groups):
    ids, sims = nearest_neighbors(torch.from_numpy(groups), torch.tensor([3]), k=14)
    unit = groups / np.linalg.norm(groups, axis=1, keepdims=True)
    expected = unit[ids[0].numpy()] @ unit[3]
    np.testing.assert_allclose(sims[0].numpy(), expected, rtol=1e-5)
    assert torch.all(sims[0, :-1] >= sims[0, 1:])
    assert 3 not in ids[0].tolist()
    assert len(set(ids[0].tolist())) == 14


def test_k_beyond_vocabulary_is_clipped(groups):
    ids, _ = nearest_neighbors(groups, [0], k=100)
    assert ids.shape == (1, 14)


def test_live_parameter_gives_detached_results(groups):
    embed = torch.nn.Embedding.from_pretrained(torch.from_numpy(groups), freeze=False)
    ids, sims = nearest_neighbors(embed.weight, [0], k=3)
    assert not sims.requires_grad
    assert ids.dtype == torch.long


def test_analogy_answer_excludes_question_words():
    # man:king :: woman:? -- woman itself is closer to the 3CosAdd target than queen is.
    man, woman, royal, other = np.eye(4, dtype=np.float32)
    words = {"man": man, "woman": woman, "king": man + royal, "queen": woman + royal + 1.5 * other}
    words["knave"] = man - royal
    vectors = np.stack(list(words.values()))
    ids, sims = analogy_neighbors(vectors, [0], [2], [1], k=2)  # man:king :: woman:?
    assert ids[0, 0].item() == 3
    assert not {0, 1, 2} & set(ids[0].tolist())
    target = vectors[2] / np.linalg.norm(vectors[2]) + vectors[1] - vectors[0]
    target /= np.linalg.norm(target)
    queen = vectors[3] / np.linalg.norm(vectors[3])
    assert sims[0, 0].item() == pytest.approx(float(queen @ target), abs=1e-6)
    assert float(vectors[1] @ target) > float(queen @ target)  # so the exclusion mattered


def test_pair_similarity_is_cosine(groups):
    got = pair_similarity(groups, [0, 1, 5], [1, 12, 5])
    unit = groups / np.linalg.norm(groups, axis=1, keepdims=True)
    expected = [unit[0] @ unit[1], unit[1] @ unit[12], 1.0]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_zero_vector_has_zero_similarity_not_nan():
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert pair_similarity(vectors, [0], [1]).item() == 0.0
    _, sims = nearest_neighbors(vectors, [0], k=2)
    assert torch.isfinite(sims).all()
