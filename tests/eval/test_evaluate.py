"""The flat benchmark dict that training logs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import SCORE_KEYS
from sgns.eval.analogy import analogy_scores, section_accuracies
from sgns.eval.benchmarks import evaluate, evaluate_sections, score_keys
from sgns.eval.word_pairs import SIMLEX999, WORDSIM353, word_pair_scores


def test_keys_and_values_come_from_the_benchmarks(planted, planted_counts):
    vectors, words = planted
    scores = evaluate(torch.from_numpy(vectors), words)
    assert list(scores) == list(SCORE_KEYS) == list(score_keys())
    assert all(isinstance(v, float) for v in scores.values())
    assert {k: scores[k] for k in SCORE_KEYS[:4]} == analogy_scores(planted_counts)
    assert (scores["ws353_spearman"], scores["ws353_oov"]) == pytest.approx(
        word_pair_scores(vectors, words, WORDSIM353)
    )
    assert (scores["simlex_spearman"], scores["simlex_oov"]) == pytest.approx(
        word_pair_scores(vectors, words, SIMLEX999)
    )


def test_sections_in_file_order(planted, planted_counts):
    sections = evaluate_sections(*planted)
    assert sections == section_accuracies(planted_counts)
    assert list(sections)[-1] == "gram9-plural-verbs"


def test_unrelated_vocabulary_gives_nan_not_an_error():
    words = [f"zz{i}" for i in range(20)]
    scores = evaluate(np.random.default_rng(0).normal(size=(20, 8)), words)
    assert scores["analogy_coverage"] == 0.0
    assert scores["ws353_oov"] == scores["simlex_oov"] == 1.0
    nan_keys = [k for k in SCORE_KEYS if k not in ("analogy_coverage", "ws353_oov", "simlex_oov")]
    assert all(math.isnan(scores[k]) for k in nan_keys)


def test_mismatched_words_rejected():
    with pytest.raises(ValueError, match="3 vectors but 2 words"):
        evaluate(np.zeros((3, 4)), ["a", "b"])
