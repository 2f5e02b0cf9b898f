"""SkipGramPairs under DDP: every rank gets the same number of batches, no pair twice or lost."""

import numpy as np
import pytest

from sgns.data.host_batches import SkipGramPairs


def epoch_batches(world_size: int, rank: int, epoch: int = 0, n_tokens=3_000) -> list[tuple]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=n_tokens)
    pairs = SkipGramPairs(ids, np.full(50, 0.7), window=3, batch_size=97, seed=1)
    pairs.epoch, pairs.rank, pairs.world_size = epoch, rank, world_size
    return [(x.numpy(), y.numpy()) for x, y in pairs]


@pytest.mark.parametrize("world_size", [2, 3, 5])
def test_ranks_share_out_the_single_process_stream(world_size):
    whole = epoch_batches(1, 0)
    shards = [epoch_batches(world_size, rank) for rank in range(world_size)]
    per_rank = -(-len(whole) // world_size)
    assert [len(s) for s in shards] == [per_rank] * world_size  # else DDP would hang
    complete = len(whole) // world_size
    for step in range(complete):  # whole rounds: batch for batch
        for rank, shard in enumerate(shards):
            expected = whole[step * world_size + rank]
            np.testing.assert_array_equal(shard[step][0], expected[0])
            np.testing.assert_array_equal(shard[step][1], expected[1])
    # Every pair of the epoch is trained exactly once, across ranks.
    dealt = np.concatenate([b[0] for s in shards for b in s])
    np.testing.assert_array_equal(np.sort(dealt), np.sort(np.concatenate([b[0] for b in whole])))


def test_an_odd_batch_count_shares_the_last_batch_out():
    whole = epoch_batches(1, 0, epoch=2)
    assert len(whole) == 85  # odd: the last batch is split between the two ranks
    rank0, rank1 = epoch_batches(2, 0, epoch=2), epoch_batches(2, 1, epoch=2)
    assert len(rank0) == len(rank1) == 43
    last = len(whole[-1][0])
    assert {len(rank0[-1][0]), len(rank1[-1][0])} == {last // 2, last - last // 2}


def test_an_epoch_smaller_than_one_batch_per_rank_gives_every_rank_pairs():
    whole = epoch_batches(1, 0, n_tokens=30)
    assert len(whole) == 1
    assert len(whole[0][0]) < 97
    shards = [epoch_batches(4, rank, n_tokens=30) for rank in range(4)]
    assert [len(s) for s in shards] == [1, 1, 1, 1]
    assert sum(len(s[0][0]) for s in shards) == len(whole[0][0])
