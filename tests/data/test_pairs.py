import numpy as np

from sgns.data.pairs import (
    SHUFFLE_SEGMENT,
    iter_pair_batches,
    sample_windows,
    skipgram_pairs,
    subsample,
)


def test_every_pair_lies_within_the_window():
    rng = np.random.default_rng(0)
    positions = np.arange(5000)  # ids equal positions, so a pair's distance is visible
    inputs, targets = skipgram_pairs(positions, 5, rng)
    distance = np.abs(inputs - targets)
    assert distance.min() >= 1
    assert distance.max() <= 5
    pairs = np.stack([inputs, targets])
    assert np.unique(pairs, axis=1).shape[1] == len(inputs)  # no duplicate pairs


def test_pairs_match_each_centres_window():
    """Centre i pairs with exactly the 2 * R_i neighbours inside its window (away from edges)."""
    window, n = 4, 2000
    inputs, targets = skipgram_pairs(np.arange(n), window, np.random.default_rng(1))
    radius = sample_windows(n, window, np.random.default_rng(1))  # same stream as above
    per_centre = np.bincount(inputs, minlength=n)
    inner = slice(window, n - window)
    np.testing.assert_array_equal(per_centre[inner], 2 * radius[inner])
    for centre in (10, 500, 1500):
        got = np.sort(targets[inputs == centre])
        r = radius[centre]
        want = np.concatenate(
            [np.arange(centre - r, centre), np.arange(centre + 1, centre + r + 1)]
        )
        np.testing.assert_array_equal(got, want)


def test_unshuffled_pairs_come_in_text_order():
    inputs, targets = skipgram_pairs(np.arange(3000), 5, np.random.default_rng(4))
    assert np.all(np.diff(inputs) >= 0)  # centre by centre, as word2vec visits them
    assert np.abs(inputs - targets).max() <= 5


def test_shuffled_neighbouring_pairs_belong_to_different_random_centres():
    """Groups of consecutive pairs share negatives and SGD steps: with shuffle, 32 pairs in a
    row come from 32 distinct centres spread over the whole text."""
    n = 20_000
    plain = skipgram_pairs(np.arange(n), 5, np.random.default_rng(5))
    inputs, targets = skipgram_pairs(np.arange(n), 5, np.random.default_rng(5), shuffle=True)
    # The same pairs (window sizes are drawn before shuffling), in another order.
    np.testing.assert_array_equal(np.sort(inputs * n + targets), np.sort(plain[0] * n + plain[1]))
    groups = inputs[: len(inputs) // 32 * 32].reshape(-1, 32)
    distinct = np.array([len(np.unique(g)) for g in groups])
    assert distinct.mean() > 31.5
    assert np.abs(np.diff(groups, axis=1)).mean() > n / 5  # far apart in the text


def test_shuffled_pairs_spread_every_offset_over_the_block():
    """Far contexts must not all come at the end of a block (nor of an epoch, when a block
    is the whole corpus), where the decayed step size would leave them."""
    n = 20 * SHUFFLE_SEGMENT
    inputs, targets = skipgram_pairs(np.arange(n), 5, np.random.default_rng(6), shuffle=True)
    distance = np.abs(targets - inputs)
    tenths = [part.mean() for part in np.array_split(distance, 10)]
    overall = distance.mean()  # E|o| = 7/3 for W = 5
    assert abs(overall - 7 / 3) < 0.02
    assert max(abs(t - overall) for t in tenths) < 0.15


def test_window_sizes_are_uniform_on_1_to_w():
    window, n = 5, 100_000
    radius = sample_windows(n, window, np.random.default_rng(2))
    observed = np.bincount(radius, minlength=window + 1)
    assert observed[0] == 0
    assert radius.max() == window
    expected = n / window
    chi2 = ((observed[1:] - expected) ** 2 / expected).sum()
    assert chi2 < 18.47  # chi-square(4) 99.9th percentile


def test_pairs_never_cross_chunks():
    inputs, targets = skipgram_pairs(np.arange(2048), 5, np.random.default_rng(3), chunk=512)
    assert np.array_equal(inputs // 512, targets // 512)
    assert len(inputs) > 0


def test_subsampling_rates():
    """Frequent words kept at keep_prob, rare ones (keep_prob 1) always kept."""
    rng = np.random.default_rng(4)
    ids = np.repeat(np.arange(3), [100_000, 50_000, 1_000])
    keep_prob = np.array([0.1, 0.5, 1.0])
    kept = np.bincount(subsample(ids, keep_prob, rng), minlength=3)
    assert kept[2] == 1_000
    for word, n in ((0, 100_000), (1, 50_000)):
        p = keep_prob[word]
        sd = np.sqrt(n * p * (1 - p))
        assert abs(kept[word] - n * p) < 4 * sd


def test_batches_are_full_shuffled_and_complete():
    rng = np.random.default_rng(5)
    ids = np.arange(10_000)
    blocks = iter([ids[:3000], ids[3000:7000], ids[7000:]])
    batches = list(iter_pair_batches(blocks, np.ones(10_000), 3, 128, rng))
    assert all(len(x) == 128 for x, _ in batches[:-1])
    assert 0 < len(batches[-1][0]) <= 128
    inputs = np.concatenate([x for x, _ in batches])
    targets = np.concatenate([y for _, y in batches])
    assert np.abs(inputs - targets).max() <= 3
    assert not np.all(np.diff(inputs[:500]) >= 0)  # shuffled, not in text order
    # Expected pairs: 2 * E[R] = 4 per token, minus a few at block edges.
    assert abs(len(inputs) - 4 * 10_000) < 4 * np.sqrt(10_000) * 3
