"""SkipGramPairs under DDP: every rank gets the same number of batches, none shared."""

import numpy as np
import pytest

from sgns.data.datamodule import SkipGramPairs


def epoch_batches(world_size: int, rank: int, epoch: int = 0) -> list[tuple]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=3_000)
    pairs = SkipGramPairs(ids, np.full(50, 0.7), window=3, batch_size=97, seed=1)
    pairs.epoch, pairs.rank, pairs.world_size = epoch, rank, world_size
    return [(x.numpy(), y.numpy()) for x, y in pairs]


@pytest.mark.parametrize("world_size", [2, 3, 5])
def test_ranks_share_out_whole_rounds_of_the_single_process_stream(world_size):
    whole = epoch_batches(1, 0)
    shards = [epoch_batches(world_size, rank) for rank in range(world_size)]
    per_rank = len(whole) // world_size
    assert [len(s) for s in shards] == [per_rank] * world_size  # else DDP would hang
    for step in range(per_rank):
        for rank, shard in enumerate(shards):
            expected = whole[step * world_size + rank]
            np.testing.assert_array_equal(shard[step][0], expected[0])
            np.testing.assert_array_equal(shard[step][1], expected[1])


def test_an_odd_batch_count_is_cut_to_equal_counts():
    assert len(epoch_batches(1, 0, epoch=2)) == 85  # odd: rank 0 would get one more
    assert len(epoch_batches(2, 0, epoch=2)) == len(epoch_batches(2, 1, epoch=2)) == 42
