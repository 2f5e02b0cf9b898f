"""Skip-gram pair generation as pure, vectorised functions of arrays and a numpy Generator.

The flow for one block of token ids:

    kept = subsample(ids, keep_prob, rng)                # drop frequent words
    inputs, targets = skipgram_pairs(kept, window, rng)  # random window per centre word
    for inputs_b, targets_b in iter_pair_batches(...)    # fixed-size batches

No function here knows about files, torch or Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Shuffled centres are paired offset by offset this many at a time (see skipgram_pairs).
SHUFFLE_SEGMENT = 4096


def subsample(ids: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keep each token independently with probability ``keep_prob[token]``."""
    return ids[rng.random(len(ids)) < keep_prob[ids]]


def sample_windows(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """One window size per centre word, uniform on [1, window] (word2vec's reduced window)."""
    return rng.integers(1, window + 1, size=n, dtype=np.int32)


def skipgram_pairs(
    ids: np.ndarray,
    window: int,
    rng: np.random.Generator,
    chunk: int | None = None,
    shuffle: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs of `ids`, each centre with its own random window R.

    A centre at position i pairs with every context at i +- o for o = 1..R_i.
    With `chunk`, pairs never cross a multiple of `chunk` positions: the notebook forms
    pairs only inside consecutive 512-word batches. Returns int64 (inputs, targets), the
    centre words and their context words.

    Unshuffled, pairs come in text order, centre by centre, as word2vec and the notebook
    visit them. With `shuffle`, the centres are put in random order, cut into segments of
    SHUFFLE_SEGMENT, and each segment's pairs taken offset by offset (+1, -1, +2, -2, ...):
    neighbouring pairs then belong to different random centres, which is what SGD steps and
    shared negatives need, at the cost of permuting the tokens rather than the ~6x more pairs.
    The segments keep every offset spread over the whole block: taken offset by offset
    through all of a block's centres, the far contexts came last in every epoch, where the
    decayed step size left them (random walks over a graph lost 0.08 of their nodes'
    nearest neighbours within their community).
    """
    n = len(ids)
    reach = max(0, min(window, n - 1))
    offsets = np.arange(1, reach + 1, dtype=np.int32).repeat(2) * np.tile([1, -1], reach)
    radius = sample_windows(n, window, rng)  # drawn in text order: shuffling moves, not redraws
    centre = rng.permutation(n).astype(np.int32) if shuffle else np.arange(n, dtype=np.int32)
    context = offsets[:, None] + centre  # (2 * reach, n) candidate positions, offset-major
    keep = (np.abs(offsets)[:, None] <= radius[centre]) & (context >= 0) & (context < n)
    if chunk is not None:
        keep &= context // chunk == centre // chunk
    centres = np.broadcast_to(centre, keep.shape)
    if not shuffle:  # centre-major
        keep, context, centres = keep.T, context.T, centres.T
    elif n > SHUFFLE_SEGMENT:  # segment-major, then offset-major within a segment
        keep, context, centres = (_by_segment(a) for a in (keep, context, centres))
    ids = np.asarray(ids, dtype=np.int64)
    return ids[centres[keep]], ids[context[keep]]


def _by_segment(a: np.ndarray) -> np.ndarray:
    """(offsets, n) -> (segments, offsets, SHUFFLE_SEGMENT), the last segment padded with
    pairs that are never kept (`keep` pads with False)."""
    n_offsets, n = a.shape
    segments = -(-n // SHUFFLE_SEGMENT)
    padded = np.zeros((n_offsets, segments * SHUFFLE_SEGMENT), dtype=a.dtype)
    padded[:, :n] = a
    return padded.reshape(n_offsets, segments, SHUFFLE_SEGMENT).transpose(1, 0, 2)


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

    Pairs are generated (and with `shuffle`, their centres shuffled) a block at a time, so
    memory is bounded by the block size, never by the corpus. Leftover pairs of a block are
    carried into the next one.
    """
    carry_in = carry_out = np.empty(0, dtype=np.int64)
    for block in blocks:
        kept = subsample(np.asarray(block), keep_prob, rng)
        inputs, targets = skipgram_pairs(kept, window, rng, chunk, shuffle)
        if len(carry_in):
            inputs = np.concatenate([carry_in, inputs])
            targets = np.concatenate([carry_out, targets])
        full = len(inputs) - len(inputs) % batch_size
        for start in range(0, full, batch_size):
            yield inputs[start : start + batch_size], targets[start : start + batch_size]
        carry_in, carry_out = inputs[full:], targets[full:]
    if len(carry_in):
        yield carry_in, carry_out
