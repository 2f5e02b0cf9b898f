"""ResumableLoader: the training loader counts its own batches and epochs."""

import numpy as np
import pytest

from sgns.data.datamodule import LOOKAHEAD, ResumableLoader
from sgns.data.host_batches import SkipGramPairs


def loader(epoch=0) -> ResumableLoader:
    ids = np.random.default_rng(0).integers(0, 50, 3000).astype(np.int32)
    pairs = SkipGramPairs(ids, np.full(50, 0.9), window=5, batch_size=128, seed=0)
    return ResumableLoader(pairs, epoch=epoch, batch_size=None)


def first_pairs(batches) -> list[list[int]]:
    return [inputs[:4].tolist() for inputs, _ in batches]


def test_state_counts_the_batches_trained_behind_lightnings_lookahead():
    source = loader()
    batches = iter(source)
    for _ in range(7 + LOOKAHEAD):  # 7 trained, LOOKAHEAD more fetched ahead
        next(batches)
    assert source.state_dict() == {"epoch": 0, "batches_done": 7}


def test_restored_loader_continues_the_epoch_then_draws_the_next():
    uninterrupted = loader()
    epoch0, epoch1 = first_pairs(uninterrupted), first_pairs(uninterrupted)
    assert epoch0 != epoch1
    assert len(epoch0) > 10

    resumed = loader(epoch=5)  # the saved state wins over the epoch it was made with
    resumed.load_state_dict({"epoch": 0, "batches_done": 7})
    assert first_pairs(resumed) == epoch0[7:]
    assert first_pairs(resumed) == epoch1


@pytest.mark.parametrize("skip", [0, 3])
def test_a_finished_epoch_saves_the_start_of_the_next(skip):
    source = loader(epoch=2)
    source.load_state_dict({"epoch": 2, "batches_done": skip})
    assert source.state_dict() == {"epoch": 2, "batches_done": skip}  # nothing drawn yet
    n = len(first_pairs(source))
    assert n > 10
    assert source.state_dict() == {"epoch": 3, "batches_done": 0}


def test_every_pairs_on_choice_has_its_pair_maker():
    from sgns.data import PAIRS_ON
    from sgns.data.datamodule import PAIR_MAKERS

    assert tuple(PAIR_MAKERS) == PAIRS_ON
