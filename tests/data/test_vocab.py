from collections import Counter

import numpy as np
import pytest

from sgns.data.vocab import Vocab


def test_min_count_max_vocab_and_frequency_order():
    counts = Counter({"the": 10, "cat": 3, "sat": 3, "on": 5, "mat": 1})
    vocab = Vocab.from_counter(counts, min_count=3)
    assert vocab.words == ["the", "on", "cat", "sat"]  # ties alphabetical
    assert vocab.counts.tolist() == [10, 5, 3, 3]
    assert vocab.index["cat"] == 2 and vocab.total == 21
    assert Vocab.from_counter(counts, min_count=1, max_vocab=2).words == ["the", "on"]


def test_keep_probabilities_of_both_rules():
    vocab = Vocab(["a", "b"], np.array([9_990, 10]))
    f = np.array([0.999, 0.001])
    np.testing.assert_allclose(vocab.keep_prob(1e-4, "mikolov"), np.minimum(np.sqrt(1e-4 / f), 1))
    w2v = (np.sqrt(f / 1e-4) + 1) * 1e-4 / f
    np.testing.assert_allclose(vocab.keep_prob(1e-4, "word2vec"), np.minimum(w2v, 1))
    assert vocab.keep_prob(0).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="unknown subsample rule"):
        vocab.keep_prob(1e-4, "fasttext")


def test_noise_distribution_is_counts_to_the_power(tmp_path):
    vocab = Vocab(["a", "b", "c"], np.array([16, 4, 1]))
    dist = vocab.noise_dist(0.5)
    np.testing.assert_allclose(dist, np.array([4, 2, 1]) / 7)
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.words == vocab.words and again.counts.tolist() == [16, 4, 1]
