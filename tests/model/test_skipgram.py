import numpy as np
import pytest
import torch

from sgns.model.skipgram import SkipGramNeg, alias_table


def test_forward_shapes():
    model = SkipGramNeg(50, 7)
    words = torch.tensor([1, 2, 3])
    assert model.forward_input(words).shape == (3, 7)
    assert model.forward_output(words).shape == (3, 7)
    assert model.forward_noise(3, 4).shape == (3, 4, 7)


def test_word2vec_and_uniform_init():
    model = SkipGramNeg(1000, 10, init="word2vec")
    assert model.in_embed.weight.abs().max() <= 0.5 / 10
    assert model.in_embed.weight.std() > 0.01
    assert torch.count_nonzero(model.out_embed.weight) == 0
    model = SkipGramNeg(1000, 10, init="uniform")
    for table in (model.in_embed, model.out_embed):
        assert table.weight.abs().max() <= 1.0
        assert abs(table.weight.std().item() - (1 / 3) ** 0.5) < 0.02  # std of U(-1, 1)
    with pytest.raises(ValueError, match="unknown init"):
        SkipGramNeg(10, 2, init="zeros")


def test_noise_samples_follow_counts_to_the_power():
    """Chi-square goodness of fit: counts ^ 0.75 on a Zipf-like vocabulary."""
    counts = np.array([1000, 400, 200, 90, 50, 20, 10, 5, 2, 1], dtype=np.float64)
    dist = counts**0.75 / (counts**0.75).sum()
    model = SkipGramNeg(len(counts), 4, noise_dist=dist)
    n = 200_000
    generator = torch.Generator().manual_seed(0)
    observed = np.bincount(model.sample_noise(n, generator).numpy(), minlength=len(counts))
    expected = dist * n
    chi2 = ((observed - expected) ** 2 / expected).sum()
    # 9 degrees of freedom: the 99.9th percentile of chi-square(9) is 27.88.
    assert chi2 < 27.88
    # And it is not the raw unigram distribution (power 1), which the test must reject.
    raw = counts / counts.sum() * n
    assert ((observed - raw) ** 2 / raw).sum() > 1000


def test_alias_table_reproduces_distribution_exactly():
    rng = np.random.default_rng(3)
    probs = rng.random(37) ** 4
    probs /= probs.sum()
    prob, alias = alias_table(probs)
    # Mass of word j = (prob[j] + sum over columns i aliased to j of (1 - prob[i])) / n.
    mass = prob.astype(np.float64).copy()
    np.add.at(mass, alias, 1.0 - prob)
    np.testing.assert_allclose(mass / len(probs), probs, atol=1e-6)


def test_noise_generator_makes_sampling_reproducible():
    model = SkipGramNeg(100, 4)
    a = model.sample_noise(50, torch.Generator().manual_seed(5))
    b = model.sample_noise(50, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
