"""Properties of vocabulary building, subsampling, pair generation and noise sampling that
hold for every input hypothesis can think of, not only for hand-picked examples.

Token ids are often positions (``np.arange(n)``), so a pair's distance is visible in it.
"""

import atexit
import shutil
import tempfile
from collections import Counter

import numpy as np
import torch
from hypothesis import configuration, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sgns.data.pairs import iter_pair_batches, sample_windows, skipgram_pairs, subsample
from sgns.data.vocab import Vocab
from sgns.model.module import SkipGramModule
from sgns.model.skipgram import SkipGramNeg, alias_table

# No example database, and hypothesis's caches outside the checkout (it fills them while
# collecting tests, before any fixture runs), removed when the session ends.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="sgns-hypothesis-")
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, ignore_errors=True)
configuration.set_hypothesis_home_dir(HYPOTHESIS_HOME)
FAST = settings(max_examples=40, deadline=None, database=None)


words = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
counters = st.dictionaries(words, st.integers(1, 1000), min_size=1, max_size=40).map(Counter)
seeds = st.integers(0, 2**32 - 1)


@FAST
@given(counters, st.integers(1, 20), st.one_of(st.none(), st.integers(1, 50)))
def test_vocab_keeps_the_most_frequent_words_seen_min_count_times(counter, min_count, max_vocab):
    vocab = Vocab.from_counter(counter, min_count, max_vocab)
    eligible = {w for w, n in counter.items() if n >= min_count}
    assert set(vocab.words) <= eligible
    assert len(vocab) == min(len(eligible), max_vocab or len(eligible))
    assert [counter[w] for w in vocab.words] == vocab.counts.tolist()
    # Most frequent first, ties alphabetical: one order for a given corpus.
    assert vocab.words == sorted(vocab.words, key=lambda w: (-counter[w], w))
    # Whatever was cut by max_vocab is no more frequent than what was kept.
    dropped = [counter[w] for w in eligible - set(vocab.words)]
    assert not dropped or max(dropped) <= vocab.counts.min()
    assert vocab.index == {w: i for i, w in enumerate(vocab.words)}


@FAST
@given(counters, st.floats(1e-7, 1.0))
def test_keep_probabilities_are_probabilities_falling_with_frequency(counter, t):
    vocab = Vocab.from_counter(counter, 1)
    for rule in ("mikolov", "word2vec"):
        keep = vocab.keep_prob(t, rule)
        assert keep.shape == (len(vocab),)
        assert np.all((keep > 0) & (keep <= 1))
        assert np.all(np.diff(keep) >= -1e-12)  # ids go from frequent to rare
    # word2vec's rule is sqrt(t/f) + t/f: it never keeps less than the NIPS paper's sqrt(t/f).
    assert np.all(vocab.keep_prob(t, "word2vec") >= vocab.keep_prob(t, "mikolov"))
    assert np.all(vocab.keep_prob(0.0) == 1.0)


@FAST
@given(counters, st.floats(0.0, 1.5))
def test_noise_distribution_is_normalised_and_ordered_like_the_counts(counter, power):
    vocab = Vocab.from_counter(counter, 1)
    module = SkipGramModule(
        vocab.words, vocab.counts, embed_dim=2, noise_power=power, shared_negatives=1,
        sgd_chunk=4096,
        gpu_step="torch",
    )  # fmt: skip
    noise = module.model.noise_dist.double().numpy()
    assert np.isclose(noise.sum(), 1.0)
    assert np.all(noise > 0)
    assert np.all(np.diff(noise) <= 1e-7)
    expected = (vocab.counts[0] / vocab.counts[-1]) ** power
    np.testing.assert_allclose(noise[0] / noise[-1], expected, rtol=1e-6)


@FAST
@given(st.integers(0, 300), seeds, st.floats(0.0, 1.0))
def test_subsampling_keeps_an_ordered_subsequence(n, seed, p):
    ids = np.arange(n)
    keep_prob = np.full(n, p)
    kept = subsample(ids, keep_prob, np.random.default_rng(seed))
    assert np.all(np.diff(kept) > 0)
    assert np.isin(kept, ids).all()
    assert len(subsample(ids, np.ones(n), np.random.default_rng(seed))) == n
    assert len(subsample(ids, np.zeros(n), np.random.default_rng(seed))) == 0


@FAST
@given(st.integers(0, 200), st.integers(1, 12), seeds, st.one_of(st.none(), st.integers(2, 40)))
def test_pairs_are_exactly_each_centres_window(n, window, seed, chunk):
    """Centre i pairs with every j != i with |i - j| <= R_i (same chunk), and nothing else."""
    inputs, targets = skipgram_pairs(np.arange(n), window, np.random.default_rng(seed), chunk)
    radius = sample_windows(n, window, np.random.default_rng(seed))  # the same draws
    expected = Counter(
        (i, j)
        for i in range(n)
        for j in range(max(0, i - radius[i]), min(n, i + radius[i] + 1))
        if j != i and (chunk is None or i // chunk == j // chunk)
    )
    assert Counter(zip(inputs.tolist(), targets.tolist(), strict=True)) == expected


@FAST
@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=4),
    st.integers(1, 6),
    st.integers(1, 100),
    seeds,
)
def test_batches_are_the_blocks_pairs_in_order_when_not_shuffled(sizes, window, batch, seed):
    ids = np.arange(sum(sizes))
    blocks = np.split(ids, np.cumsum(sizes)[:-1])
    keep = np.full(len(ids), 0.7)
    got = list(
        iter_pair_batches(
            iter(blocks), keep, window, batch, np.random.default_rng(seed), shuffle=False
        )
    )
    assert all(len(x) == batch for x, _ in got[:-1])
    assert all(len(x) == len(y) for x, y in got)
    rng = np.random.default_rng(seed)  # replay: subsample, then pairs, block by block
    want = [skipgram_pairs(subsample(b, keep, rng), window, rng) for b in blocks]
    for side in (0, 1):
        np.testing.assert_array_equal(
            np.concatenate([np.empty(0, np.int64)] + [b[side] for b in got]),
            np.concatenate([np.empty(0, np.int64)] + [w[side] for w in want]),
        )


@FAST
@given(st.integers(2, 400), st.integers(1, 6), st.integers(1, 64), seeds)
def test_shuffling_reorders_pairs_without_changing_them(n, window, batch, seed):
    ids, keep = np.arange(n), np.ones(n)

    def pairs(shuffle):
        out = iter_pair_batches(
            iter([ids]), keep, window, batch, np.random.default_rng(seed), shuffle=shuffle
        )
        return Counter((int(x), int(y)) for xs, ys in out for x, y in zip(xs, ys, strict=True))

    assert pairs(True) == pairs(False)


probabilities = arrays(np.float64, st.integers(1, 60), elements=st.floats(0.0, 1.0)).filter(
    lambda p: p.sum() > 1e-6
)


@FAST
@given(probabilities)
def test_alias_table_holds_exactly_the_distribution(weights):
    probs = weights / weights.sum()
    prob, alias = alias_table(probs)
    assert np.all((prob >= 0) & (prob <= 1))
    assert np.all((alias >= 0) & (alias < len(probs)))
    mass = prob.astype(np.float64)
    np.add.at(mass, alias, 1.0 - prob.astype(np.float64))
    np.testing.assert_allclose(mass / len(probs), probs, atol=1e-6)


@FAST
@given(probabilities, seeds)
def test_noise_samples_only_words_with_noise_mass(weights, seed):
    model = SkipGramNeg(len(weights), 2, noise_dist=weights / weights.sum())
    drawn = model.sample_noise(2000, torch.Generator().manual_seed(seed)).numpy()
    assert drawn.min() >= 0
    assert drawn.max() < len(weights)
    assert np.all(weights[drawn] > 0)
