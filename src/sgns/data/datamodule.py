"""SkipGramDataModule: corpus -> vocabulary -> cached token ids -> batches of (input, target) pairs.

    dm = SkipGramDataModule(source="text_file", path="corpus.txt", cache_dir="/tmp/sgns",
                            normalization="none", subsample_t=1e-3, subsample_rule="word2vec")
    dm.describe()   # "data: text_file corpus.txt, normalization=none (tokens as written, ..."
    dm.prepare_data(); dm.setup("fit")
    inputs, targets = next(iter(dm.train_dataloader()))   # int64 tensors, (batch_size,)

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
from torch.utils.data import DataLoader

from sgns.data import SOURCES
from sgns.data.corpus import NORMALIZATION_MEANINGS, expand_paths, wiki_sample_file
from sgns.data.device_batches import DevicePairs
from sgns.data.host_batches import SkipGramPairs
from sgns.data.pairs import expected_pairs, iter_pair_batches
from sgns.data.tokens import prepare_tokens, warn_if_unsegmented
from sgns.errors import ConfigError

log = logging.getLogger(__name__)

# Where the usual subsampling settings come from, named in the run's log (conf/data/*.yaml
# says which source uses which).
SUBSAMPLE_ORIGINS = {
    (1e-5, "mikolov"): "the notebook's value, for English Wikipedia",
    (1e-3, "word2vec"): "word2vec's and gensim's default, for user text",
}
_VAL_SEED = 0x5EED
PAIR_MAKERS = {"host": SkipGramPairs, "device": DevicePairs}  # data.pairs_on: PAIRS_ON


class SkipGramDataModule(L.LightningDataModule):
    """Skip-gram pairs from a text source; sgns.config.schema.DataConfig says what each
    argument means.

    The defaults are DataConfig's (data=wiki_sample); conf/data/text_file.yaml's differ
    (normalization "none", word2vec's subsampling), so pass those for your own text.
    `batch_size`, `pairs_on` and `block_tokens`, ``auto`` in the config, have no default here:
    sgns.run.auto decides them for the training device.
    """

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
        context_chunk=None,
        shuffle=True,
        val_fraction=0.01,
        num_workers=0,
        seed=0,
        sha256=None,
        *,
        batch_size: int,
        pairs_on: str,
        block_tokens: int,
    ):
        super().__init__()
        if pairs_on == "device" and num_workers:
            raise ConfigError(
                f"data.num_workers={num_workers} with data.pairs_on=device: device pairs are "
                "made in the training process; set data.num_workers=0"
            )
        self.source, self.path, self.cache_dir = source, path, Path(cache_dir).expanduser()
        self.normalization, self.min_count, self.max_vocab = normalization, min_count, max_vocab
        self.subsample_t, self.subsample_rule = subsample_t, subsample_rule
        self.window, self.batch_size, self.context_chunk = window, batch_size, context_chunk
        self.shuffle, self.val_fraction, self.num_workers = shuffle, val_fraction, num_workers
        self.seed, self.block_tokens, self.sha256 = seed, block_tokens, sha256
        self.pairs_on = pairs_on
        self._pairs_per_epoch: float | None = None  # expected_pairs_per_epoch
        self._prepared = None  # (ids, vocab) that prepare_data loaded in this process
        self.vocab = None

    def corpus_files(self) -> list[Path]:
        if self.source == "wiki_sample":
            return [wiki_sample_file(self.cache_dir)]
        if self.source == "text8":
            from sgns.data.text8 import fetch_text8

            return [fetch_text8(self.cache_dir, sha256=self.sha256)]
        if self.source != "text_file":
            raise ConfigError(f"data.source={self.source!r} is not one of: {', '.join(SOURCES)}")
        if self.path is None:
            raise ConfigError(
                "data.path must name a file, folder or glob when data.source=text_file"
            )
        return expand_paths(self.path)

    def describe(self) -> str:
        """One line naming the source, the normalisation and the subsampling that apply."""
        source = self.source if self.path is None else f"{self.source} {self.path}"
        how = NORMALIZATION_MEANINGS[self.normalization]
        if self.subsample_t <= 0:
            sampling = "subsample_t=0 (no subsampling)"
        else:
            sampling = f"subsample_t={self.subsample_t:g}, subsample_rule={self.subsample_rule}"
            origin = SUBSAMPLE_ORIGINS.get((self.subsample_t, self.subsample_rule))
            sampling += f" ({origin})" if origin else ""
        return f"data: {source}, normalization={self.normalization} ({how}), {sampling}"

    def _tokens(self):
        return prepare_tokens(
            self.corpus_files(), self.cache_dir, self.normalization, self.min_count, self.max_vocab
        )

    def prepare_data(self) -> None:
        if self.vocab is None and self._prepared is None:  # fit calls it after setup too
            self._prepared = self._tokens()  # builds the cache once (rank zero under DDP)

    def setup(self, stage: str | None = None) -> None:
        if self.vocab is not None:
            return
        # Ranks that did not prepare load the cache themselves.
        ids, self.vocab = self._prepared or self._tokens()
        self._prepared = None
        warn_if_unsegmented(self.vocab)
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
        pairs = PAIR_MAKERS[self.pairs_on]  # numpy in the loader, or torch on the device
        self.train_set = pairs(
            self.train_ids, self.keep_prob, self.window, self.batch_size, self.seed,
            self.context_chunk, self.shuffle, self.block_tokens,
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

    def expected_pairs_per_epoch(self) -> float:
        """Expected number of training pairs in one epoch, all ranks together (one pass over
        the corpus, then kept: the schedule, the progress bar and `auto` all ask)."""
        if self._pairs_per_epoch is None:
            kept = sum(float(self.keep_prob[block].sum()) for block in self.train_set.blocks())
            self._pairs_per_epoch = expected_pairs(kept, self.window)
        return self._pairs_per_epoch

    def expected_batches_per_epoch(self, world_size: int = 1) -> int:
        """Expected number of training batches in one epoch on each of `world_size` ranks
        (the optimiser steps per epoch), for learning-rate schedules."""
        batches = round(self.expected_pairs_per_epoch() / self.batch_size)
        return max(1, -(-batches // world_size))

    def set_batch_size(self, batch_size: int) -> None:
        """Training batches of `batch_size` pairs from the next epoch on (after setup)."""
        self.batch_size = self.train_set.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        epoch = 0
        if self.trainer is not None:
            self.train_set.rank = self.trainer.global_rank
            self.train_set.world_size = self.trainer.world_size
            epoch = self.trainer.current_epoch
            if self.pairs_on == "device":
                self.train_set.device = self.trainer.strategy.root_device
        return ResumableLoader(
            self.train_set,
            epoch=epoch,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=False,
            generator=_own_generator(self.seed),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_batches, batch_size=None, generator=_own_generator(self.seed))


# Lightning reads one batch ahead from a loader without __len__, to know which batch is an
# epoch's last (lightning.pytorch.loops.fetchers._PrefetchDataFetcher). So when a checkpoint
# is saved, the batch handed out last has not been trained yet, unless the epoch has run out.
LOOKAHEAD = 1


class ResumableLoader(DataLoader):
    """A DataLoader over SkipGramPairs that knows its place: the epoch it draws and how many
    of that epoch's batches were trained.

    Lightning makes one iterator per epoch. The first draws epoch `epoch` (from the batch a
    restored state names), every later one the next epoch from its start, each from
    (seed, epoch). Lightning stores ``state_dict()`` in every checkpoint and, when a run
    resumes, hands it to ``load_state_dict`` before making the first iterator: a resumed
    epoch skips the batches already trained instead of training them twice.
    """

    def __init__(self, dataset: SkipGramPairs, epoch: int = 0, **kwargs):
        super().__init__(dataset, **kwargs)
        self.epoch, self._skip = epoch, 0  # where the current (or first) iterator starts
        self._started = self._ran_out = False
        self._handed_out = 0  # batches the current iterator has yielded

    def __iter__(self):
        if self._started:
            self.epoch, self._skip = self.epoch + 1, 0
        self._started, self._ran_out, self._handed_out = True, False, 0
        self.dataset.epoch, self.dataset.skip_batches = self.epoch, self._skip
        return self._counted(super().__iter__())

    def _counted(self, batches):
        for batch in batches:
            self._handed_out += 1
            yield batch
        self._ran_out = True

    def state_dict(self) -> dict:
        """The next batch to train: its epoch, and how many of that epoch's come before it."""
        if self._ran_out:
            return {"epoch": self.epoch + 1, "batches_done": 0}
        trained = max(0, self._handed_out - LOOKAHEAD)
        return {"epoch": self.epoch, "batches_done": self._skip + trained}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self._skip = int(state["epoch"]), int(state.get("batches_done", 0))
        self._started = False


def _own_generator(seed: int) -> torch.Generator:
    # Starting a loader draws a seed from its generator; the default is torch's global one,
    # which would shift the negative samples of a resumed run against an uninterrupted one.
    return torch.Generator().manual_seed(seed)
