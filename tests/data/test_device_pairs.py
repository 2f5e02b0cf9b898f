"""The torch pair generator obeys the same contract as the numpy one (tests run on CPU)."""

import numpy as np
import pytest
import torch

from sgns.data import device_pairs, pairs
from sgns.data.pairs import SHUFFLE_SEGMENT


def gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def test_each_centre_pairs_with_exactly_the_neighbours_inside_its_window():
    window, n = 4, 2000
    inputs, targets = device_pairs.skipgram_pairs(torch.arange(n), window, gen(1))
    radius = torch.randint(1, window + 1, (n,), generator=gen(1))  # the same first draw
    per_centre = torch.bincount(inputs, minlength=n)
    inner = slice(window, n - window)
    torch.testing.assert_close(per_centre[inner], 2 * radius[inner])
    for centre in (10, 500, 1500):
        r = int(radius[centre])
        want = [*range(centre - r, centre), *range(centre + 1, centre + r + 1)]
        assert sorted(targets[inputs == centre].tolist()) == want


def test_pairs_never_cross_a_chunk_boundary():
    inputs, targets = device_pairs.skipgram_pairs(torch.arange(1000), 5, gen(0), chunk=64)
    assert len(inputs) > 0
    assert torch.equal(inputs // 64, targets // 64)


def test_pair_count_matches_the_numpy_generator_in_expectation():
    """Both paths average window + 1 pairs per token; the tolerance is 6 standard errors."""
    ids, window, trials = np.arange(10_000), 5, 10
    counts = {"numpy": [], "torch": []}
    for seed in range(trials):
        counts["numpy"].append(
            len(pairs.skipgram_pairs(ids, window, np.random.default_rng(seed))[0])
        )
        counts["torch"].append(
            len(device_pairs.skipgram_pairs(torch.from_numpy(ids), window, gen(seed))[0])
        )
    expected = pairs.expected_pairs(len(ids), window) - window * (window + 1)  # edges lose some
    for name, got in counts.items():
        got = np.array(got, dtype=float)
        stderr = got.std(ddof=1) / np.sqrt(trials)
        assert abs(got.mean() - expected) < 6 * stderr + 1, name


def test_subsampling_keeps_each_word_at_its_keep_probability():
    n = 200_000
    ids = torch.randint(0, 4, (n,), generator=gen(3))
    keep_prob = torch.tensor([1.0, 0.5, 0.1, 0.0])
    kept = device_pairs.subsample(ids, keep_prob, gen(4))
    for word, p in enumerate(keep_prob.tolist()):
        total = int((ids == word).sum())
        rate = int((kept == word).sum()) / total
        assert abs(rate - p) <= 5 * np.sqrt(p * (1 - p) / total) + 1e-9


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_hold_every_pair_of_every_block_once(shuffle):
    blocks = [torch.arange(0, 700), torch.arange(700, 1500), torch.arange(1500, 1600)]
    keep_prob = torch.ones(1600)
    batches = list(
        device_pairs.iter_pair_batches(iter(blocks), keep_prob, 3, 64, gen(5), shuffle=shuffle)
    )
    assert all(len(x) == 64 for x, _ in batches[:-1])
    assert 0 < len(batches[-1][0]) <= 64
    assert all(x.dtype == torch.int64 for x, _ in batches)
    inputs = torch.cat([x for x, _ in batches]).tolist()
    targets = torch.cat([y for _, y in batches]).tolist()
    got = sorted(zip(inputs, targets, strict=True))
    # the same stream of draws, block by block
    g, want = gen(5), []
    for block in blocks:
        kept = device_pairs.subsample(block, keep_prob, g)
        x, y = device_pairs.skipgram_pairs(kept, 3, g, shuffle=shuffle)
        want += zip(x.tolist(), y.tolist(), strict=True)
    assert got == sorted(want)
    assert all(0 < abs(a - b) <= 3 for a, b in got)


def test_tiny_blocks_give_no_pairs_without_failing():
    x, y = device_pairs.skipgram_pairs(torch.tensor([7]), 5, gen(0))
    assert len(x) == len(y) == 0


def window_offsets(inputs, targets) -> np.ndarray:
    return np.abs(np.asarray(targets) - np.asarray(inputs))


@pytest.mark.parametrize("shuffle", [True, False])
def test_window_sizes_are_uniform_on_one_to_w_as_in_the_numpy_generator(shuffle):
    """With R ~ U[1, W], an offset o is inside the window with probability (W - o + 1) / W,
    so pairs at offset o make a share (W - o + 1) / sum_k (W - k + 1) of all pairs. Both
    generators match it within 5 standard errors of a multinomial share."""
    ids, window = np.arange(100_000), 5
    want = np.arange(window, 0, -1) / np.arange(window, 0, -1).sum()  # o = 1..W
    numpy_pairs = pairs.skipgram_pairs(ids, window, np.random.default_rng(0), shuffle=shuffle)
    torch_pairs = device_pairs.skipgram_pairs(torch.from_numpy(ids), window, gen(0), None, shuffle)
    for name, (x, y) in {"numpy": numpy_pairs, "torch": torch_pairs}.items():
        offsets = window_offsets(x, y)
        share = np.bincount(offsets, minlength=window + 1)[1:] / len(offsets)
        stderr = np.sqrt(want * (1 - want) / len(offsets))
        assert np.all(np.abs(share - want) < 5 * stderr), (name, share, want)


def test_subsampling_rates_match_the_numpy_generator():
    """Each word's kept share on the two paths differs by less than 5 standard errors of the
    difference of two binomial rates."""
    n = 200_000
    ids = np.random.default_rng(1).integers(0, 5, n)
    keep_prob = np.array([1.0, 0.8, 0.3, 0.05, 0.0])
    kept_numpy = pairs.subsample(ids, keep_prob, np.random.default_rng(2))
    kept_torch = device_pairs.subsample(torch.from_numpy(ids), torch.from_numpy(keep_prob), gen(2))
    for word, p in enumerate(keep_prob):
        total = int((ids == word).sum())
        rates = [np.count_nonzero(np.asarray(k) == word) / total for k in (kept_numpy, kept_torch)]
        assert abs(rates[0] - rates[1]) <= 5 * np.sqrt(2 * p * (1 - p) / total) + 1e-12, word


def test_shuffled_pairs_come_offset_by_offset_through_random_centres_as_in_numpy():
    """Shuffled, both generators take the centres in random order, SHUFFLE_SEGMENT at a
    time, and emit a segment's +1 pairs, then its -1 pairs, and so on: consecutive pairs have
    unrelated centres (mean gap n/3 for random positions in [0, n)) and a group of 32
    consecutive pairs (one set of shared negatives) holds 32 different centres almost always."""
    n, window = 5 * SHUFFLE_SEGMENT, 3
    ids = np.arange(n)
    numpy_pairs = pairs.skipgram_pairs(ids, window, np.random.default_rng(4), shuffle=True)
    torch_pairs = device_pairs.skipgram_pairs(torch.from_numpy(ids), window, gen(4), None, True)
    for name, (x, y) in {"numpy": numpy_pairs, "torch": torch_pairs}.items():
        x, y = np.asarray(x), np.asarray(y)
        signed = y - x  # +1, -1, +2, -2, ... in blocks, once per segment
        order = [1, -1, 2, -2, 3, -3] * 5
        blocks = [k for i, k in enumerate(signed) if i == 0 or signed[i - 1] != k]
        assert blocks == order, name
        gap = np.abs(np.diff(x)).mean()
        assert abs(gap - n / 3) < 0.03 * n, (name, gap)
        groups = x[: len(x) // 32 * 32].reshape(-1, 32)
        distinct = np.mean([len(set(g)) == 32 for g in groups])
        assert distinct > 0.95, (name, distinct)


def test_unshuffled_pairs_come_in_text_order_centre_by_centre():
    x, _ = device_pairs.skipgram_pairs(torch.arange(5000), 4, gen(6), shuffle=False)
    assert bool((x[1:] >= x[:-1]).all())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pairs_are_made_on_the_gpu():
    ids = torch.arange(10_000, device="cuda")
    keep_prob = torch.ones(10_000, device="cuda")
    x, y = next(device_pairs.iter_pair_batches(iter([ids]), keep_prob, 5, 256, gen(0, "cuda")))
    assert x.is_cuda
    assert y.is_cuda
    assert len(x) == 256
    assert bool(((x - y).abs() <= 5).all())
