import math
from collections import Counter

import numpy as np
import pytest

from sgns.data.pairs import subsample
from sgns.data.vocab import Vocab


def test_min_count_max_vocab_and_frequency_order():
    counts = Counter({"the": 10, "cat": 3, "sat": 3, "on": 5, "mat": 1})
    vocab = Vocab.from_counter(counts, min_count=3)
    assert vocab.words == ["the", "on", "cat", "sat"]  # ties alphabetical
    assert vocab.counts.tolist() == [10, 5, 3, 3]
    assert vocab.index["cat"] == 2
    assert vocab.total == 21
    assert Vocab.from_counter(counts, min_count=1, max_vocab=2).words == ["the", "on"]


# Frequencies 0.64, 0.25, 0.09, 0.02 and t = 0.01, so t/f = 1/64, 1/25, 1/9, 1/2:
# Mikolov's rule keeps sqrt(t/f) = 1/8, 1/5, 1/3, sqrt(1/2) of each word; word2vec's keeps
# sqrt(t/f) + t/f = 9/64, 6/25, 4/9 and, for the rare word, 1.21, capped at 1.
SUBSAMPLE_COUNTS = [64, 25, 9, 2]
EXPECTED_KEEP = {
    "mikolov": [1 / 8, 1 / 5, 1 / 3, math.sqrt(1 / 2)],
    "word2vec": [9 / 64, 6 / 25, 4 / 9, 1.0],
}


@pytest.mark.parametrize("rule", EXPECTED_KEEP)
def test_keep_probabilities_of_both_rules(rule):
    vocab = Vocab(["a", "b", "c", "d"], np.array(SUBSAMPLE_COUNTS))
    np.testing.assert_allclose(vocab.keep_prob(0.01, rule), EXPECTED_KEEP[rule], rtol=1e-12)


@pytest.mark.parametrize("rule", EXPECTED_KEEP)
def test_subsampling_keeps_each_word_at_its_rate(rule):
    """A seeded draw over 20,000 copies of each word keeps each within 4.5 binomial standard
    deviations of the rate above (a kept-for-sure word: every copy)."""
    vocab = Vocab(["a", "b", "c", "d"], np.array(SUBSAMPLE_COUNTS))
    n = 20_000
    ids = np.repeat(np.arange(4), n)
    kept = subsample(ids, vocab.keep_prob(0.01, rule), np.random.default_rng(0))
    rate = np.bincount(kept, minlength=4) / n
    expected = np.array(EXPECTED_KEEP[rule])
    tolerance = 4.5 * np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(rate - expected) <= tolerance), (rate, expected, tolerance)


def test_subsampling_off_and_unknown_rules():
    vocab = Vocab(["a", "b"], np.array([9_990, 10]))
    assert vocab.keep_prob(0).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="unknown subsample rule 'fasttext'"):
        vocab.keep_prob(1e-4, "fasttext")


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocab(["a", "b", "c"], np.array([16, 4, 1]))
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.words == vocab.words
    assert again.counts.tolist() == [16, 4, 1]
    assert again.index == {"a": 0, "b": 1, "c": 2}
