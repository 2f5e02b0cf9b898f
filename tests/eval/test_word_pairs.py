"""Word-pair benchmarks: agreement with gensim, and Spearman's rho with ties by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gensim.test.utils import datapath
from hypothesis import given, settings
from hypothesis import strategies as st

from sgns.errors import DataError
from sgns.eval.word_pairs import (
    SIMLEX999,
    WORDSIM353,
    spearman,
    word_pair_scores,
)


@pytest.mark.parametrize("name", [WORDSIM353, SIMLEX999])
@pytest.mark.parametrize("restrict_vocab", [300_000, 1_500])
def test_agrees_with_gensim(planted, planted_kv, name, restrict_vocab):
    vectors, words = planted
    rho, oov = word_pair_scores(vectors, words, name, restrict_vocab=restrict_vocab)
    _, (g_rho, _), g_oov_percent = planted_kv.evaluate_word_pairs(
        datapath(name), restrict_vocab=restrict_vocab
    )
    assert rho == pytest.approx(g_rho, abs=0.005)
    assert oov == pytest.approx(g_oov_percent / 100)


def test_planted_similarities_correlate(planted):
    """b was pulled towards a by the gold score, so rho must be clearly positive; OOV ~4-10%."""
    rho, oov = word_pair_scores(*planted, WORDSIM353)
    assert rho > 0.3
    assert 0.02 < oov < 0.2


def test_case_insensitive_and_restricted(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\nCat\tdog\t9\ncat\tcar\t1\ncat\tzebra\t5\nbad line\n", "utf8")
    words = ["cat", "DOG", "car", "zebra"]
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [1, 1]], dtype=np.float32)
    rho, oov = word_pair_scores(vectors, words, path)
    assert rho == pytest.approx(1.0)  # dog 9 > zebra 5 > car 1, in gold and in cosine
    assert oov == 0.0
    rho, oov = word_pair_scores(vectors, words, path, restrict_vocab=3)  # zebra unknown
    assert rho == pytest.approx(1.0)
    assert oov == pytest.approx(1 / 3)


def test_all_pairs_unknown_gives_nan_and_full_oov(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\t1\nc\td\t2\n", "utf8")
    rho, oov = word_pair_scores(np.eye(2, dtype=np.float32), ["x", "y"], path)
    assert math.isnan(rho)
    assert oov == 1.0


def test_missing_pairs_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such word-pair file"):
        word_pair_scores(np.eye(2), ["a", "b"], tmp_path / "missing.tsv")


def test_spearman_with_ties_hand_computed():
    # x = 1, 2, 2, 3 ranks 1, 2.5, 2.5, 4 (centred -1.5, 0, 0, 1.5); y = 1, 3, 2, 4 ranks
    # 1, 3, 2, 4 (centred -1.5, 0.5, -0.5, 1.5): rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9), abs=1e-15)
    # Ties in both: ranks 1.5, 1.5, 3.5, 3.5 (centred -1, -1, 1, 1) and 1, 2.5, 2.5, 4
    # (centred -1.5, 0, 0, 1.5): rho = 3 / (2 * sqrt(4.5)) = sqrt(0.5).
    x = torch.tensor([1.0, 1.0, 2.0, 2.0])
    assert spearman(x, np.array([1, 2, 2, 3])) == pytest.approx(math.sqrt(0.5), abs=1e-15)


def test_spearman_degenerate_samples_are_nan(recwarn):
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))
    assert math.isnan(spearman([1.0], [2.0]))
    assert len(recwarn) == 0  # no ConstantInputWarning from scipy
    with pytest.raises(ValueError, match="expected two samples of the same length"):
        spearman([1.0, 2.0], [1.0, 2.0, 3.0])


def mean_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks by definition: values below, plus the mean position among equal values."""
    below = (values[None, :] < values[:, None]).sum(axis=1)
    equal = (values[None, :] == values[:, None]).sum(axis=1)
    return below + (equal + 1) / 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=40).filter(
        lambda xy: len({x for x, _ in xy}) > 1 and len({y for _, y in xy}) > 1
    )
)
def test_spearman_is_the_correlation_of_mean_ranks_on_heavily_tied_data(xy):
    x, y = (np.array(v, dtype=float) for v in zip(*xy, strict=True))
    expected = np.corrcoef(mean_ranks(x), mean_ranks(y))[0, 1]
    assert spearman(torch.tensor(x), y) == pytest.approx(expected, abs=1e-12)
