"""DevicePairs (data.pairs_on=device) keeps SkipGramPairs' contract, tested on the CPU."""

import numpy as np
import pytest
import torch

from sgns.data.datamodule import SkipGramDataModule
from sgns.data.device_batches import DevicePairs
from sgns.data.pairs import expected_pairs
from sgns.errors import ConfigError


def device_pairs(epoch=0, rank=0, world_size=1, n_tokens=3_000, seed=1, skip=0) -> DevicePairs:
    ids = np.random.default_rng(0).integers(0, 50, size=n_tokens).astype(np.int32)
    pairs = DevicePairs(ids, np.full(50, 0.7), window=3, batch_size=97, seed=seed, block_tokens=700)
    pairs.epoch, pairs.rank, pairs.world_size, pairs.skip_batches = epoch, rank, world_size, skip
    return pairs


def batches(**kwargs) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in device_pairs(**kwargs)]


def test_an_epoch_is_full_int64_batches_reproducible_from_seed_and_epoch():
    first, again = batches(), batches()
    assert all(len(x) == 97 for x, _ in first[:-1])
    assert 0 < len(first[-1][0]) <= 97
    assert all(x.dtype == np.int64 for x, _ in first)
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(first[0][0], batches(epoch=1)[0][0])
    assert not np.array_equal(first[0][0], batches(seed=2)[0][0])


def test_an_epoch_holds_the_expected_number_of_pairs():
    """About keep * n * (window + 1) pairs (a few are lost at block edges): within 3 %."""
    n_pairs = sum(len(x) for x, _ in batches(n_tokens=20_000))
    assert abs(n_pairs / expected_pairs(0.7 * 20_000, 3) - 1) < 0.03


@pytest.mark.parametrize("world_size", [2, 3, 5])
def test_ranks_share_out_the_single_process_stream(world_size):
    whole = batches()
    shards = [batches(rank=rank, world_size=world_size) for rank in range(world_size)]
    per_rank = -(-len(whole) // world_size)
    assert [len(s) for s in shards] == [per_rank] * world_size  # else DDP would hang
    for step in range(len(whole) // world_size):  # whole rounds: batch for batch
        for rank, shard in enumerate(shards):
            np.testing.assert_array_equal(shard[step][0], whole[step * world_size + rank][0])
            np.testing.assert_array_equal(shard[step][1], whole[step * world_size + rank][1])
    dealt = np.concatenate([b[0] for s in shards for b in s])
    np.testing.assert_array_equal(np.sort(dealt), np.sort(np.concatenate([b[0] for b in whole])))


def test_a_resumed_epoch_skips_the_batches_already_trained():
    whole = batches(rank=1, world_size=2)
    resumed = batches(rank=1, world_size=2, skip=3)
    assert len(resumed) == len(whole) - 3
    for (x, _), (x2, _) in zip(whole[3:], resumed, strict=True):
        np.testing.assert_array_equal(x, x2)


def datamodule(tmp_path, **kwargs) -> SkipGramDataModule:
    corpus = tmp_path / "corpus.txt"
    words = np.random.default_rng(0).integers(0, 300, size=60_000)
    corpus.write_text(" ".join(f"w{i}" for i in words))
    dm = SkipGramDataModule(
        source="text_file", path=str(corpus), cache_dir=str(tmp_path / "cache"),
        normalization="lower", min_count=1, subsample_t=1e-3, batch_size=1000,
        block_tokens=1 << 20, **kwargs,
    )  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_the_datamodule_makes_device_pairs_when_asked_and_counts_its_batches(tmp_path):
    dm = datamodule(tmp_path, pairs_on="device")
    assert isinstance(dm.train_set, DevicePairs)
    got = list(dm.train_dataloader())
    assert all(isinstance(x, torch.Tensor) and x.dtype == torch.int64 for x, _ in got)
    assert abs(len(got) / dm.expected_batches_per_epoch() - 1) < 0.03
    host = list(datamodule(tmp_path, pairs_on="host").train_dataloader())
    assert abs(len(got) / len(host) - 1) < 0.03


def test_device_pairs_refuse_loader_workers(tmp_path):
    with pytest.raises(ConfigError, match="data.num_workers=2 with data.pairs_on=device"):
        SkipGramDataModule(pairs_on="device", num_workers=2, batch_size=64, block_tokens=1024)
