"""DevicePairs: an epoch of skip-gram batches made on the training device (data.pairs_on=device).

    pairs = DevicePairs(ids, keep_prob, window=5, batch_size=1 << 20, seed=0, device="cuda")
    inputs, targets = next(iter(pairs))   # int64 tensors on the device, (batch_size,)

The same contract as SkipGramPairs (sgns.data.host_batches): each epoch's subsample, windows and
shuffle come from (seed, epoch); batches are dealt round-robin to the ``world_size`` ranks, an
incomplete last round split evenly, so every rank takes the same number of steps; the first
``skip_batches`` batches of this rank are generated but not yielded (a resumed run trained on
them). Only the arithmetic moves: sgns.data.device_pairs on torch tensors, so on a GPU the
pairs never cross the PCIe bus and one CPU core no longer has to keep up with the steps.

Every rank draws the whole epoch's stream from the same generator and keeps its own batches:
that is how the ranks agree on their batch count without a collective. It costs each rank the
pair generation of all ranks, which on a GPU is a small part of a step.
"""

from __future__ import annotations

import numpy as np
import torch

from sgns.data import device_pairs
from sgns.data.host_batches import SkipGramPairs

# Corpora up to this many tokens (1 GB of int32) stay on the device for the whole fit.
RESIDENT_TOKENS = 1 << 28


class DevicePairs(SkipGramPairs):
    """One epoch of shuffled skip-gram batches from a token-id array, made on `device`
    (SkipGramPairs' arguments and state; only the making and dealing of batches differ).

    Args:
        ids: (N,) int token ids (a memmap is fine); copied to the device once when they fit
            in RESIDENT_TOKENS, else a block at a time.
        keep_prob: (V,) float keep-probabilities of subsampling.
        device: where pairs are made and batches live; the datamodule sets it to the
            trainer's device before each epoch.
    """

    def __init__(self, *args, device="cpu", **kwargs):
        super().__init__(*args, **kwargs)
        self.device = torch.device(device)
        self._on_device: dict[tuple[str, str], torch.Tensor] = {}  # ids and keep_prob

    def generator(self) -> torch.Generator:
        """The epoch's generator on the device, seeded from (seed, epoch) alone: every rank
        draws the same stream (see the module docstring)."""
        words = np.random.SeedSequence([self.seed, self.epoch]).generate_state(2, np.uint32)
        seed = int(words[0]) << 32 | int(words[1])
        return torch.Generator(device=self.device).manual_seed(seed)

    def __iter__(self):
        keep_prob = self._resident("keep_prob", self.keep_prob)
        batches = device_pairs.iter_pair_batches(
            self._device_blocks(), keep_prob, self.window, self.batch_size, self.generator(),
            self.chunk, self.shuffle,
        )  # fmt: skip
        ranks = self.world_size
        round_ = []  # the batches of the round being dealt, one per rank
        for i, batch in enumerate(batches):
            round_.append(batch)
            if len(round_) == ranks:
                yield from self._mine(round_[self.rank], i // ranks)
                round_ = []
        if round_:
            # An incomplete last round: its pairs are shared out evenly, as in SkipGramPairs.
            inputs = torch.cat([b[0] for b in round_])
            targets = torch.cat([b[1] for b in round_])
            if len(inputs) >= ranks:
                mine = inputs.tensor_split(ranks)[self.rank], targets.tensor_split(ranks)[self.rank]
                yield from self._mine(mine, (i + 1 - len(round_)) // ranks)

    def _mine(self, batch, position: int):
        """This rank's batch number `position` of the epoch, unless a resumed run skips it."""
        if position >= self.skip_batches:
            yield batch

    def _device_blocks(self):
        if len(self.ids) <= RESIDENT_TOKENS:
            ids = self._resident("ids", self.ids)
            for start in range(0, len(ids), self.block_tokens):
                yield ids[start : start + self.block_tokens]
            return
        for block in self.blocks():
            yield torch.from_numpy(np.array(block)).to(self.device)

    def _resident(self, name: str, array) -> torch.Tensor:
        """`array` on the device, copied there once per fit (not once per epoch)."""
        key = (name, str(self.device))
        if key not in self._on_device:
            self._on_device[key] = torch.from_numpy(np.array(array)).to(self.device)
        return self._on_device[key]
