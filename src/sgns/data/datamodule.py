"""SkipGramDataModule: corpus -> vocabulary -> cached token ids -> batches of (input, target) pairs.

    >>> dm = SkipGramDataModule(source="text_file", path="corpus.txt", cache_dir="/tmp/sgns")
    >>> dm.prepare_data(); dm.setup("fit")
    >>> inputs, targets = next(iter(dm.train_dataloader()))   # int64 tensors, (batch_size,)

Every epoch draws a fresh subsample and fresh window sizes from (seed, epoch), so a run is
reproducible and a resumed run sees the same data as an uninterrupted one: a run resumed
mid-epoch skips the batches of that epoch it had already trained on (see ResumableLoader).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from sgns.data.corpus import NORMALIZATIONS, expand_paths, wiki_sample_file
from sgns.data.device_batches import DevicePairs
from sgns.data.pairs import expected_pairs, iter_pair_batches
from sgns.data.tokens import prepare_tokens
from sgns.data.vocab import SUBSAMPLE_RULES
from sgns.errors import ConfigError

log = logging.getLogger(__name__)

SOURCES = ("wiki_sample", "text_file", "text8")
PAIRS_ON = ("host", "device")  # numpy in the loader (SkipGramPairs), or torch (DevicePairs)
_VAL_SEED = 0x5EED


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


class SkipGramDataModule(L.LightningDataModule):
    """Skip-gram pairs from a text source; see conf/data/*.yaml for every argument's meaning."""

    def __init__(
        self,
        source="wiki_sample",
        path=None,
        cache_dir="~/.cache/sgns",
        normalization="text8",
        min_count=5,
        max_vocab=None,
        subsample_t=1e-5,
        subsample_rule="mikolov",
        window=5,
        batch_size=4096,
        context_chunk=None,
        shuffle=True,
        val_fraction=0.01,
        num_workers=0,
        seed=0,
        block_tokens=1 << 20,
        sha256=None,
        pairs_on="host",
    ):
        super().__init__()
        _check_choice("data.source", source, SOURCES)
        _check_choice("data.pairs_on", pairs_on, PAIRS_ON)
        if pairs_on == "device" and num_workers:
            raise ConfigError(
                f"data.num_workers={num_workers} with data.pairs_on=device: device pairs are "
                "made in the training process; set data.num_workers=0"
            )
        _check_choice("data.normalization", normalization, NORMALIZATIONS)
        _check_choice("data.subsample_rule", subsample_rule, SUBSAMPLE_RULES)
        self.source, self.path, self.cache_dir = source, path, Path(cache_dir).expanduser()
        self.normalization, self.min_count, self.max_vocab = normalization, min_count, max_vocab
        self.subsample_t, self.subsample_rule = subsample_t, subsample_rule
        self.window, self.batch_size, self.context_chunk = window, batch_size, context_chunk
        self.shuffle, self.val_fraction, self.num_workers = shuffle, val_fraction, num_workers
        self.seed, self.block_tokens, self.sha256 = seed, block_tokens, sha256
        self.pairs_on = pairs_on
        self.vocab = None

    def corpus_files(self) -> list[Path]:
        if self.source == "wiki_sample":
            return [wiki_sample_file(self.cache_dir)]
        if self.source == "text8":
            from sgns.data.text8 import fetch_text8

            return [fetch_text8(self.cache_dir, sha256=self.sha256)]
        if self.path is None:
            raise ConfigError(
                "data.path must name a file, folder or glob when data.source=text_file"
            )
        return expand_paths(self.path)

    def _tokens(self):
        return prepare_tokens(
            self.corpus_files(), self.cache_dir, self.normalization, self.min_count, self.max_vocab
        )

    def prepare_data(self) -> None:
        self._tokens()  # builds the cache once (rank zero only under DDP)

    def setup(self, stage: str | None = None) -> None:
        if self.vocab is not None:
            return
        ids, self.vocab = self._tokens()
        n_val = int(len(ids) * self.val_fraction)
        if n_val < 2 * self.window + 2:
            # Too small to hold out: validate on the tail of the training tokens instead.
            n_val = 0
            val_ids = ids[-min(len(ids), 10 * (self.window + 1)) :]
            log.info("corpus too small for a held-out slice; validation loss is on training text")
        else:
            val_ids = ids[-n_val:]
        self.train_ids = ids[: len(ids) - n_val]
        self.keep_prob = self.vocab.keep_prob(self.subsample_t, self.subsample_rule)
        self.train_set = SkipGramPairs(
            self.train_ids,
            self.keep_prob,
            self.window,
            self.batch_size,
            self.seed,
            self.context_chunk,
            self.shuffle,
            self.block_tokens,
        )
        if self.pairs_on == "device":  # in the device's own blocks (DEVICE_BLOCK_TOKENS)
            self.train_set = DevicePairs(
                self.train_ids, self.keep_prob, self.window, self.batch_size, self.seed,
                self.context_chunk, self.shuffle,
            )  # fmt: skip
        rng = np.random.default_rng([self.seed, _VAL_SEED])
        self.val_batches = [
            (torch.from_numpy(x), torch.from_numpy(y))
            for x, y in iter_pair_batches(
                iter([np.asarray(val_ids)]),
                self.keep_prob,
                self.window,
                self.batch_size,
                rng,
                self.context_chunk,
            )
        ]
        log.info(
            "vocabulary %d words; %d training tokens, %d held out",
            len(self.vocab),
            len(self.train_ids),
            n_val,
        )

    @property
    def train_tokens(self) -> int:
        return len(self.train_ids)

    def expected_batches_per_epoch(self, world_size: int = 1) -> int:
        """Expected number of training batches in one epoch on each of `world_size` ranks
        (the optimiser steps per epoch), for learning-rate schedules."""
        kept = sum(float(self.keep_prob[block].sum()) for block in self.train_set.blocks())
        batches = round(expected_pairs(kept, self.window) / self.batch_size)
        return max(1, -(-batches // world_size))

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:
            self.train_set.rank = self.trainer.global_rank
            self.train_set.world_size = self.trainer.world_size
            if self.pairs_on == "device":
                self.train_set.device = self.trainer.strategy.root_device
        self.start_epoch(self.trainer.current_epoch if self.trainer is not None else 0)
        return ResumableLoader(
            self.train_set,
            batches_done=self._batches_done,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=False,
            generator=_own_generator(self.seed),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_batches, batch_size=None, generator=_own_generator(self.seed))

    def start_epoch(self, epoch: int) -> None:
        """Draw the next training iterator from (seed, `epoch`), from its first batch on
        (load_state_dict moves a resumed epoch's start before Lightning iterates)."""
        self.train_set.epoch = epoch
        self.train_set.skip_batches = 0

    def _batches_done(self) -> int:
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed


class EpochData(L.Callback):
    """Gives every epoch its own data: SkipGramDataModule.start_epoch at each epoch's start.

    Lightning makes each epoch's training iterator after on_train_epoch_start, from the one
    DataLoader. Rebuilding the DataLoader every epoch instead (reload_dataloaders_every_n_epochs)
    makes Lightning iterate it twice per epoch, generating the first block of pairs twice.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's own test for making a new iterator (TrainingEpochLoop.on_run_start):
        # epoch 0's, and a resumed epoch's, was made with the DataLoader already.
        loop = trainer.fit_loop
        new_iterator = trainer.current_epoch > 0 and not (
            loop.is_resuming or loop.epoch_loop.restarting
        )
        if new_iterator and isinstance(trainer.datamodule, SkipGramDataModule):
            trainer.datamodule.start_epoch(trainer.current_epoch)


class ResumableLoader(DataLoader):
    """A DataLoader over SkipGramPairs whose position Lightning saves in checkpoints.

    Lightning stores ``state_dict()`` with every checkpoint and, when a run resumes mid-epoch,
    hands it to ``load_state_dict`` before the epoch's first batch: the dataset then skips
    the batches already trained instead of training them twice.
    """

    def __init__(self, dataset: SkipGramPairs, batches_done, **kwargs):
        super().__init__(dataset, **kwargs)
        self._batches_done = batches_done  # () -> batches of this epoch trained so far

    def state_dict(self) -> dict:
        return {"epoch": self.dataset.epoch, "batches_done": int(self._batches_done())}

    def load_state_dict(self, state: dict) -> None:
        if state.get("epoch") == self.dataset.epoch:
            self.dataset.skip_batches = int(state.get("batches_done", 0))


def _own_generator(seed: int) -> torch.Generator:
    # Starting a loader draws a seed from its generator; the default is torch's global one,
    # which would shift the negative samples of a resumed run against an uninterrupted one.
    return torch.Generator().manual_seed(seed)


def _check_choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not one of: {', '.join(choices)}")
