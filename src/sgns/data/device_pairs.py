"""Skip-gram pair generation on torch tensors, so pairs are made where training runs.

The same method as sgns.data.pairs (subsample, a random window R ~ U[1, window] per centre,
shuffle, fixed-size batches), written with torch ops: on a GPU a block of token ids becomes
shuffled batches without a round trip through the CPU, and one CPU core (about 30M pairs/s
with numpy) no longer has to keep up with a GPU step.

    gen = torch.Generator("cuda").manual_seed(0)
    keep = torch.as_tensor(vocab.keep_prob(1e-5), device="cuda")
    blocks = (torch.from_numpy(np.asarray(b)).to("cuda") for b in id_blocks)
    for inputs, targets in iter_pair_batches(blocks, keep, 5, 4096, gen): ...

The random streams differ from numpy's, so the same seed gives different (equally valid)
pairs on the two paths; the method is the same, a shuffle included (the centres are put in
random order and their pairs taken offset by offset). Pure functions of tensors and a
torch.Generator on their device; sgns.data.device_batches deals them out as an epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sgns.data.pairs import SHUFFLE_SEGMENT


def subsample(ids: torch.Tensor, keep_prob: torch.Tensor, generator: torch.Generator):
    """Keep each token independently with probability ``keep_prob[token]``."""
    draw = torch.rand(len(ids), generator=generator, device=ids.device)
    return ids[draw < keep_prob[ids.long()]]


def skipgram_pairs(
    ids: torch.Tensor,
    window: int,
    generator: torch.Generator,
    chunk: int | None = None,
    shuffle: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) pairs of `ids`, each centre with its own random window R.

    As sgns.data.pairs.skipgram_pairs, in the same order of operations: R drawn in
    text order; with `shuffle`, the centres in random order, cut into segments of
    SHUFFLE_SEGMENT and each segment's pairs taken offset by offset (+1, -1, +2, -2, ...);
    without, centre by centre. Every
    candidate is masked first and selected once at the end, so a GPU synchronises once per
    call. Positions are int32 (half the memory of int64) while candidates are masked.
    """
    n, device = len(ids), ids.device
    reach = max(0, min(window, n - 1))
    radius = torch.randint(1, window + 1, (n,), generator=generator, device=device)
    if reach == 0:
        empty = ids.new_empty(0, dtype=torch.int64)
        return empty, empty.clone()
    steps = torch.arange(1, reach + 1, dtype=torch.int32, device=device)
    offsets = torch.stack([steps, -steps], 1).flatten()  # (2 reach,) +1, -1, +2, -2, ...
    if shuffle:
        centre = torch.randperm(n, generator=generator, device=device, dtype=torch.int32)
    else:
        centre = torch.arange(n, dtype=torch.int32, device=device)
    context = offsets[:, None] + centre  # (2 reach, n) candidate positions, offset-major
    keep = (offsets.abs()[:, None] <= radius[centre]) & (context >= 0) & (context < n)
    if chunk is not None:
        keep &= context.div(chunk, rounding_mode="floor") == centre.div(
            chunk, rounding_mode="floor"
        )
    centres = centre.expand_as(context)
    if not shuffle:  # centre-major
        keep, context, centres = keep.T, context.T, centres.T
    elif n > SHUFFLE_SEGMENT:  # segment-major, then offset-major within a segment
        keep, context, centres = (_by_segment(a) for a in (keep, context, centres))
    return ids[centres[keep].long()].long(), ids[context[keep].long()].long()


def _by_segment(a: torch.Tensor) -> torch.Tensor:
    """(offsets, n) -> (segments, offsets, SHUFFLE_SEGMENT), as sgns.data.pairs does; the
    last segment is padded with pairs that are never kept (`keep` pads with False)."""
    n_offsets, n = a.shape
    segments = -(-n // SHUFFLE_SEGMENT)
    padded = a.new_zeros((n_offsets, segments * SHUFFLE_SEGMENT))
    padded[:, :n] = a
    return padded.view(n_offsets, segments, SHUFFLE_SEGMENT).transpose(0, 1)


def iter_pair_batches(
    blocks: Iterator[torch.Tensor],
    keep_prob: torch.Tensor,
    window: int,
    batch_size: int,
    generator: torch.Generator,
    chunk: int | None = None,
    shuffle: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of int64 (inputs, targets) on the blocks' device; only the last may be short.

    As sgns.data.pairs.iter_pair_batches: pairs are made and shuffled one block at a time
    and leftovers carried into the next block, so memory is bounded by the block size.
    """
    carry_in = carry_out = None
    for block in blocks:
        kept = subsample(block, keep_prob, generator)
        inputs, targets = skipgram_pairs(kept, window, generator, chunk, shuffle)
        if carry_in is not None:
            inputs, targets = torch.cat([carry_in, inputs]), torch.cat([carry_out, targets])
        full = len(inputs) - len(inputs) % batch_size
        for start in range(0, full, batch_size):
            yield inputs[start : start + batch_size], targets[start : start + batch_size]
        carry_in, carry_out = inputs[full:], targets[full:]
    if carry_in is not None and len(carry_in):
        yield carry_in, carry_out
