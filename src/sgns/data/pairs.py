"""Skip-gram pair generation as pure, vectorised functions of arrays and a numpy Generator.

The flow for one block of token ids:

    kept = subsample(ids, keep_prob, rng)               # drop frequent words
    inputs, targets = skipgram_pairs(kept, window, rng) # random window per centre word
    for inputs_b, targets_b in iter_batches(...)        # shuffled, fixed-size batches

No function here knows about files, torch or Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def subsample(ids: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep each token independently with probability ``keep_prob[token]``."""
    return ids[rng.random(len(ids)) < keep_prob[ids]]


def sample_windows(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """One window size per centre word, uniform on [1, window] (word2vec's reduced window)."""
    return rng.integers(1, window + 1, size=n, dtype=np.int32)


def skipgram_pairs(
    ids: np.ndarray, window: int, rng: np.random.Generator, chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs of `ids`, each centre with its own random window R.

    A centre at position i pairs with every context at i +- o for o = 1..R_i.
    With `chunk`, pairs never cross a multiple of `chunk` positions: the notebook forms
    pairs only inside consecutive 512-word batches. Returns (inputs, targets), the centre
    words and their context words, grouped by offset (shuffle before batching).
    """
    n = len(ids)
    radius = sample_windows(n, window, rng)
    inputs, targets = [], []
    for offset in range(1, min(window, n - 1) + 1):
        left, right = ids[:-offset], ids[offset:]
        forward = radius[:-offset] >= offset  # centre on the left, context on the right
        backward = radius[offset:] >= offset  # centre on the right, context on the left
        if chunk is not None:
            start = np.arange(n - offset)
            same_chunk = start // chunk == (start + offset) // chunk
            forward &= same_chunk
            backward &= same_chunk
        inputs += [left[forward], right[backward]]
        targets += [right[forward], left[backward]]
    if not inputs:
        empty = np.empty(0, dtype=ids.dtype)
        return empty, empty.copy()
    return np.concatenate(inputs), np.concatenate(targets)


def expected_pairs(n_kept: float, window: int) -> float:
    """Expected number of pairs from `n_kept` tokens far from any edge: 2 * E[R] each."""
    return n_kept * (window + 1)


def iter_pair_batches(
    blocks: Iterator[np.ndarray],
    keep_prob: np.ndarray,
    window: int,
    batch_size: int,
    rng: np.random.Generator,
    chunk: int | None = None,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (inputs, targets) from blocks of token ids; only the last batch may be short.

    Pairs are generated and shuffled a block at a time, so memory is bounded by the block
    size, never by the corpus. Leftover pairs of a block are carried into the next one.
    """
    carry_in = carry_out = np.empty(0, dtype=np.int64)
    for block in blocks:
        kept = subsample(np.asarray(block), keep_prob, rng)
        inputs, targets = skipgram_pairs(kept, window, rng, chunk)
        if shuffle:
            order = rng.permutation(len(inputs))
            inputs, targets = inputs[order], targets[order]
        inputs = np.concatenate([carry_in, inputs.astype(np.int64, copy=False)])
        targets = np.concatenate([carry_out, targets.astype(np.int64, copy=False)])
        full = len(inputs) - len(inputs) % batch_size
        for start in range(0, full, batch_size):
            yield inputs[start : start + batch_size], targets[start : start + batch_size]
        carry_in, carry_out = inputs[full:], targets[full:]
    if len(carry_in):
        yield carry_in, carry_out
