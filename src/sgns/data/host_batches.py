"""SkipGramPairs: an epoch of skip-gram batches made by numpy in the loader (data.pairs_on=host).

    pairs = SkipGramPairs(ids, keep_prob, window=5, batch_size=65536, seed=0)
    inputs, targets = next(iter(pairs))   # int64 tensors, (batch_size,)

sgns.data.device_batches.DevicePairs keeps the same contract with pairs made on the device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from sgns.data.pairs import iter_pair_batches


class SkipGramPairs(IterableDataset):
    """One epoch of shuffled skip-gram batches from a token-id array (a memmap is fine).

    Each epoch's randomness comes from (seed, epoch). Batches are dealt round-robin to
    ``n_shards`` consumers (DDP ranks x loader workers): every consumer generates the same
    stream and keeps its own batches. The pairs of an incomplete last round are split
    evenly among the consumers, so every consumer yields the same number of batches,
    ``ceil(n_batches / n_shards)``. DDP needs this: a rank that runs out of batches first
    leaves the others waiting in a collective forever. The first `skip_batches` batches each
    rank would receive are generated but not yielded: a resumed run trained on them already.
    """

    def __init__(
        self,
        ids,
        keep_prob,
        window,
        batch_size,
        seed,
        chunk=None,
        shuffle=True,
        block_tokens=1 << 20,
    ):
        self.ids, self.keep_prob = ids, keep_prob
        self.window, self.batch_size, self.seed = window, batch_size, seed
        self.chunk, self.shuffle, self.block_tokens = chunk, shuffle, block_tokens
        self.epoch, self.rank, self.world_size = 0, 0, 1
        self.skip_batches = 0

    def blocks(self):
        for start in range(0, len(self.ids), self.block_tokens):
            yield self.ids[start : start + self.block_tokens]

    def __iter__(self):
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = iter_pair_batches(
            self.blocks(),
            self.keep_prob,
            self.window,
            self.batch_size,
            rng,
            self.chunk,
            self.shuffle,
        )
        n_shards = self.world_size * n_workers
        round_ = []  # the batches of the round being dealt
        for i, batch in enumerate(batches):
            round_.append(batch)
            if len(round_) == n_shards:
                yield from self._mine(round_, i - n_shards + 1, n_workers, worker_id)
                round_ = []
        if round_:
            # An incomplete last round (an epoch of fewer batches than ranks, say): its
            # pairs are shared out evenly, so every consumer trains on its part of it.
            inputs = np.concatenate([b[0] for b in round_])
            targets = np.concatenate([b[1] for b in round_])
            if len(inputs) >= n_shards:
                parts = zip(
                    np.array_split(inputs, n_shards), np.array_split(targets, n_shards), strict=True
                )
                yield from self._mine(list(parts), i + 1 - len(round_), n_workers, worker_id)

    def _mine(self, round_, first: int, n_workers: int, worker_id: int):
        """This consumer's batch of a complete round whose first batch is number `first`."""
        for slot, (inputs, targets) in enumerate(round_):
            if self._deals_to(first + slot, n_workers) == worker_id:
                yield torch.from_numpy(inputs), torch.from_numpy(targets)

    def _deals_to(self, i: int, n_workers: int) -> int | None:
        """The loader worker of this rank that yields batch `i` of the epoch, or None.

        Batches go round-robin to ranks x workers. A rank's loader takes one batch from each
        worker in turn, starting with worker 0; so after skipping the rank's first
        `skip_batches` batches, the worker that yields the rank's next batch is worker 0.
        """
        round_, slot = divmod(i, self.world_size * n_workers)
        rank, k = divmod(slot, n_workers)
        position = round_ * n_workers + k  # among this rank's batches
        if rank != self.rank or position < self.skip_batches:
            return None
        return (position - self.skip_batches) % n_workers
