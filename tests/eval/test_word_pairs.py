"""Word-pair benchmarks: agreement with gensim, and Spearman's rho with ties against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gensim.test.utils import datapath
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sgns.errors import DataError
from sgns.eval.word_pairs import (
    SIMLEX999,
    WORDSIM353,
    average_ranks,
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
    assert rho == pytest.approx(1.0) and oov == pytest.approx(1 / 3)


def test_all_pairs_unknown_gives_nan_and_full_oov(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\t1\nc\td\t2\n", "utf8")
    rho, oov = word_pair_scores(np.eye(2, dtype=np.float32), ["x", "y"], path)
    assert math.isnan(rho) and oov == 1.0


def test_missing_pairs_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such word-pair file"):
        word_pair_scores(np.eye(2), ["a", "b"], tmp_path / "missing.tsv")


def test_average_ranks_share_ties():
    ranks = average_ranks(torch.tensor([30.0, 10.0, 20.0, 20.0, 10.0, 20.0]))
    assert ranks.tolist() == [6.0, 1.5, 4.0, 4.0, 1.5, 4.0]


def test_spearman_with_ties_known_value():
    # Ranks x: 1, 2.5, 2.5, 4; y: 1, 3, 2, 4 -> rho = 0.9486832980505138 (scipy agrees).
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.9486832980505138)


def test_spearman_degenerate_samples_are_nan():
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1.0], [2.0]))
    with pytest.raises(ValueError):
        spearman([1.0, 2.0], [1.0, 2.0, 3.0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=40).filter(
        lambda xy: len({x for x, _ in xy}) > 1 and len({y for _, y in xy}) > 1
    )
)
def test_spearman_matches_scipy_on_heavily_tied_data(xy):
    x, y = map(np.array, zip(*xy, strict=True))
    assert spearman(x.astype(float), y.astype(float)) == pytest.approx(
        stats.spearmanr(x, y).statistic, abs=1e-12
    )
