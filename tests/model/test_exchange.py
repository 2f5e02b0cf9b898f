"""How DDP ranks exchange the closed-form step's row updates (SkipGramModule._exchange),
checked without processes: a stand-in strategy answers as two ranks holding the same batch."""

from types import SimpleNamespace

import pytest
import torch

from sgns.model.module import SkipGramModule
from sgns.model.sgd import sgd_step
from sgns.model.updates import RowUpdates


def _module(n_vocab: int, rank: int = 0) -> SkipGramModule:
    words = [f"w{i}" for i in range(n_vocab)]
    module = SkipGramModule(
        words,
        list(range(n_vocab + 10, 10, -1)),
        embed_dim=8,
        shared_negatives=1,
        sgd_chunk=4096,
        gpu_step="torch",
    )
    with torch.no_grad():
        module.model.out_embed.weight.uniform_(
            -0.3, 0.3, generator=torch.Generator().manual_seed(1)
        )
    # One of two ranks with the same tensors: a gather fills the other rank's row with a
    # copy of this rank's, a sum doubles.
    module._gather_into = lambda gathered, tensor: gathered[1 - rank].copy_(tensor)
    module._sum_over_ranks = lambda tensor: tensor.mul_(2)
    module._trainer = SimpleNamespace(world_size=2, global_rank=rank)
    return module


def _twice(updates: list[RowUpdates]) -> tuple[list[RowUpdates], list[RowUpdates]]:
    """What the exchange must come to: every rank's updates, in_embed's and out_embed's."""
    both = [
        RowUpdates(u.ids.repeat(2), u.deltas.repeat(2, 1), u.curvature.repeat(2)) for u in updates
    ]
    return both[:1], both[1:]


# 50 words: a 40-pair piece is smaller than the vocabulary (ids and updates gathered), a
# 64-pair one is not (one summed update per word, all-reduced).
@pytest.mark.parametrize("pairs", [40, 64])
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("rank", [0, 1])
def test_both_forms_of_the_exchange_apply_every_ranks_updates(pairs, compiled, rank):
    exchanged, reference = _module(50, rank), _module(50)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        inputs, targets = torch.randint(50, (2, pairs), generator=g)
        noise = torch.randint(50, (pairs // 4, 5), generator=g)
        for module, exchange in ((exchanged, exchanged._exchange), (reference, _twice)):
            sgd_step(module.model, inputs, targets, 5, 0.3, 4, noise, exchange=exchange,
                     compiled=compiled)  # fmt: skip
    for name in ("in_embed", "out_embed"):
        got = getattr(exchanged.model, name).weight
        want = getattr(reference.model, name).weight
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.equal(exchanged.model.in_embed.weight, _module(50).model.in_embed.weight)
