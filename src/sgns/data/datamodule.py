"""SkipGramDataModule: corpus -> vocabulary -> cached token ids -> batches of (input, target) pairs.

    >>> dm = SkipGramDataModule(source="text_file", path="corpus.txt", cache_dir="/tmp/sgns")
    >>> dm.prepare_data(); dm.setup("fit")
    >>> inputs, targets = next(iter(dm.train_dataloader()))   # int64 tensors, (batch_size,)

Every epoch draws a fresh subsample and fresh window sizes from (seed, epoch), so a run is
reproducible and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from sgns.data.corpus import NORMALIZATIONS, expand_paths, wiki_sample_file
from sgns.data.pairs import expected_pairs, iter_pair_batches
from sgns.data.tokens import prepare_tokens
from sgns.data.vocab import SUBSAMPLE_RULES
from sgns.errors import ConfigError

log = logging.getLogger(__name__)

SOURCES = ("wiki_sample", "text_file", "text8")
_VAL_SEED = 0x5EED


class SkipGramPairs(IterableDataset):
    """One epoch of shuffled skip-gram batches from a token-id array (a memmap is fine).

    Each epoch's randomness comes from (seed, epoch). Batches are dealt round-robin to
    ``n_shards`` consumers (DDP ranks x loader workers): every consumer generates the same
    stream and keeps batches ``shard, shard + n_shards, ...``. Only complete rounds are
    dealt, so every consumer yields exactly ``n_batches // n_shards`` batches; the last
    ``n_batches % n_shards`` batches of the epoch are dropped. DDP needs this: a rank that
    runs out of batches first leaves the others waiting in an all-reduce forever.
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

    def blocks(self):
        for start in range(0, len(self.ids), self.block_tokens):
            yield self.ids[start : start + self.block_tokens]

    def __iter__(self):
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        shard, n_shards = self.rank * n_workers + worker_id, self.world_size * n_workers
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
        mine = None
        for i, batch in enumerate(batches):
            if i % n_shards == shard:
                mine = batch
            if i % n_shards == n_shards - 1:  # the round is complete: every shard has one
                yield torch.from_numpy(mine[0]), torch.from_numpy(mine[1])


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
    ):
        super().__init__()
        _check_choice("data.source", source, SOURCES)
        _check_choice("data.normalization", normalization, NORMALIZATIONS)
        _check_choice("data.subsample_rule", subsample_rule, SUBSAMPLE_RULES)
        self.source, self.path, self.cache_dir = source, path, Path(cache_dir).expanduser()
        self.normalization, self.min_count, self.max_vocab = normalization, min_count, max_vocab
        self.subsample_t, self.subsample_rule = subsample_t, subsample_rule
        self.window, self.batch_size, self.context_chunk = window, batch_size, context_chunk
        self.shuffle, self.val_fraction, self.num_workers = shuffle, val_fraction, num_workers
        self.seed, self.block_tokens, self.sha256 = seed, block_tokens, sha256
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
        return max(1, batches // world_size)

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:
            self.train_set.epoch = self.trainer.current_epoch
            self.train_set.rank = self.trainer.global_rank
            self.train_set.world_size = self.trainer.world_size
        return DataLoader(
            self.train_set, batch_size=None, num_workers=self.num_workers, persistent_workers=False
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_batches, batch_size=None)


def _check_choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not one of: {', '.join(choices)}")
