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
pairs on the two paths; and here a shuffle permutes the pairs themselves (one randperm on the
device), where the numpy path shuffles the centres and takes their pairs offset by offset.
Pure functions of tensors and a torch.Generator on their device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def subsample(ids: torch.Tensor, keep_prob: torch.Tensor, generator: torch.Generator):
    """Keep each token independently with probability ``keep_prob[token]``."""
    draw = torch.rand(len(ids), generator=generator, device=ids.device)
    return ids[draw < keep_prob[ids.long()]]


def skipgram_pairs(
    ids: torch.Tensor, window: int, generator: torch.Generator, chunk: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) pairs of `ids`, each centre with its own random window R.

    As sgns.data.pairs.skipgram_pairs; every candidate pair is masked first and selected
    once at the end, so a GPU synchronises once per block, not once per offset.
    """
    n, device = len(ids), ids.device
    radius = torch.randint(1, window + 1, (n,), generator=generator, device=device)
    position = torch.arange(n, device=device)
    inputs, targets, keep = [], [], []
    for offset in range(1, min(window, n - 1) + 1):
        left, right = ids[:-offset], ids[offset:]
        same_chunk = True
        if chunk is not None:
            start = position[:-offset]
            same_chunk = start // chunk == (start + offset) // chunk
        inputs += [left, right]
        targets += [right, left]
        keep += [
            (radius[:-offset] >= offset) & same_chunk,
            (radius[offset:] >= offset) & same_chunk,
        ]
    if not inputs:
        empty = ids.new_empty(0)
        return empty, empty.clone()
    mask = torch.cat(keep)
    return torch.cat(inputs)[mask], torch.cat(targets)[mask]


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
        inputs, targets = skipgram_pairs(kept, window, generator, chunk)
        if shuffle:
            order = torch.randperm(len(inputs), generator=generator, device=inputs.device)
            inputs, targets = inputs[order], targets[order]
        inputs, targets = inputs.long(), targets.long()
        if carry_in is not None:
            inputs, targets = torch.cat([carry_in, inputs]), torch.cat([carry_out, targets])
        full = len(inputs) - len(inputs) % batch_size
        for start in range(0, full, batch_size):
            yield inputs[start : start + batch_size], targets[start : start + batch_size]
        carry_in, carry_out = inputs[full:], targets[full:]
    if carry_in is not None and len(carry_in):
        yield carry_in, carry_out
