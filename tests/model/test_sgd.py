import pytest
import torch

from sgns.model.loss import NegativeSamplingLoss
from sgns.model.sgd import Workspace, sgd_step
from sgns.model.skipgram import SkipGramNeg


def _model(seed=0, n_vocab=40, dim=6):
    torch.manual_seed(seed)
    model = SkipGramNeg(n_vocab, dim, init="uniform")
    with torch.no_grad():  # small values keep sigmoids away from saturation
        model.in_embed.weight.mul_(0.3)
        model.out_embed.weight.mul_(0.3)
    return model


def _batch(seed=1, batch=23, n_vocab=40, n_samples=4):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(n_vocab, (batch,), generator=g)
    targets = torch.randint(n_vocab, (batch,), generator=g)
    noise = torch.randint(n_vocab, (batch, n_samples), generator=g)
    return inputs, targets, noise


def test_fast_loss_equals_notebook_loss_on_the_same_batch():
    model = _model()
    inputs, targets, noise = _batch()
    expected = NegativeSamplingLoss()(
        model.forward_input(inputs), model.forward_output(targets), model.out_embed(noise)
    )
    got = sgd_step(model, inputs, targets, n_samples=4, lr=0.0, noise=noise)
    torch.testing.assert_close(got, expected.detach())


@pytest.mark.parametrize("shared", [1, 5])
def test_update_equals_autograd_sgd_on_the_summed_loss(shared):
    """The closed-form step is exactly SGD on the summed loss, repeated rows included."""
    inputs, targets, _ = _batch(batch=23)
    groups = -(-23 // shared)
    noise = torch.randint(40, (groups, 4), generator=torch.Generator().manual_seed(2))
    lr = 0.05
    fast, reference = _model(), _model()
    sgd_step(fast, inputs, targets, n_samples=4, lr=lr, shared=shared, noise=noise)
    # Reference: expand the shared negatives to every pair and let autograd do the work.
    per_pair = noise.repeat_interleave(shared, dim=0)[:23]
    loss = NegativeSamplingLoss()(
        reference.forward_input(inputs), reference.forward_output(targets),
        reference.out_embed(per_pair),
    ) * len(inputs)  # fmt: skip
    loss.backward()
    with torch.no_grad():
        for table in (reference.in_embed, reference.out_embed):
            table.weight -= lr * table.weight.grad.to_dense()
    torch.testing.assert_close(fast.in_embed.weight, reference.in_embed.weight)
    torch.testing.assert_close(fast.out_embed.weight, reference.out_embed.weight)


def test_only_rows_in_the_batch_change():
    model = _model()
    before_in, before_out = model.in_embed.weight.clone(), model.out_embed.weight.clone()
    inputs, targets, noise = _batch(batch=5)
    sgd_step(model, inputs, targets, n_samples=4, lr=0.1, noise=noise)
    changed_in = (model.in_embed.weight != before_in).any(1).nonzero().flatten()
    changed_out = (model.out_embed.weight != before_out).any(1).nonzero().flatten()
    assert set(changed_in.tolist()) <= set(inputs.tolist())
    assert set(changed_out.tolist()) <= set(targets.tolist()) | set(noise.flatten().tolist())
    assert len(changed_in) > 0 and len(changed_out) > 0


def test_a_workspace_reused_across_steps_changes_nothing_but_allocations():
    """Steps of different sizes through one Workspace (its buffers re-made when the size
    changes, reused when it repeats) update the tables exactly as fresh allocations do."""
    fresh, reused, work = _model(), _model(), Workspace()
    for seed, batch in ((1, 23), (2, 23), (3, 9), (4, 23)):
        inputs, targets, _ = _batch(seed, batch)
        noise = torch.randint(
            40, (-(-batch // 5), 4), generator=torch.Generator().manual_seed(seed)
        )
        want = sgd_step(fresh, inputs, targets, 4, 0.05, shared=5, noise=noise)
        got = sgd_step(reused, inputs, targets, 4, 0.05, shared=5, noise=noise, workspace=work)
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(reused.in_embed.weight, fresh.in_embed.weight)
    torch.testing.assert_close(reused.out_embed.weight, fresh.out_embed.weight)
    buffer = work.get("u", (25, 6), reused.in_embed.weight)
    assert work.get("u", (25, 6), reused.in_embed.weight).data_ptr() == buffer.data_ptr()
