import pytest
import torch

from sgns.model.loss import NegativeSamplingLoss
from sgns.model.sgd import (
    STEP_BOUND,
    RowUpdates,
    Workspace,
    add_row_sums,
    apply_bounded,
    sgd_step,
)
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
    assert len(changed_in) > 0
    assert len(changed_out) > 0


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


def test_rows_under_the_bound_take_word2vec_sgd_unchanged():
    """apply_bounded scales nothing while lr * L <= STEP_BOUND: the summed step is plain SGD."""
    table = torch.zeros(4, 3)
    update = RowUpdates(
        torch.tensor([1, 1, 2]), torch.ones(3, 3), torch.full((3,), STEP_BOUND / 2 / 0.1)
    )
    apply_bounded(table, [update], lr=0.1)  # row 1: lr * L = STEP_BOUND, row 2: half of it
    torch.testing.assert_close(table[1], torch.full((3,), 2.0))
    torch.testing.assert_close(table[2], torch.ones(3))
    assert table[0].eq(0).all()
    assert table[3].eq(0).all()


@pytest.mark.parametrize("repeats", [1, 10, 1000, 100_000])
def test_a_repeated_row_moves_at_most_the_bound_whatever_the_batch(repeats):
    """One word as the centre of every pair, its context's vector fixed: the summed step
    grows with the count until lr * L reaches STEP_BOUND, and never beyond it."""
    model = SkipGramNeg(3, 4, sparse=False)
    with torch.no_grad():
        model.in_embed.weight.zero_()
        model.out_embed.weight.copy_(torch.tensor([[0.0] * 4, [1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    inputs, targets = torch.zeros(repeats, dtype=torch.long), torch.ones(repeats, dtype=torch.long)
    noise = torch.full((repeats, 1), 2)
    lr = 0.5
    sgd_step(model, inputs, targets, n_samples=1, lr=lr, noise=noise)
    # Each pair: gradient (1 - s(0)) v - s(0) n = (0.5, -0.5, 0, 0); curvature (|v|^2 + |n|^2)/4.
    L = repeats * 2 / 4
    expected = lr * repeats * 0.5 * min(1.0, STEP_BOUND / (lr * L))
    torch.testing.assert_close(
        model.in_embed.weight[0], torch.tensor([expected, -expected, 0, 0]), rtol=1e-3, atol=1e-6
    )
    assert expected <= 0.5 * STEP_BOUND / (2 / 4)  # one pair's gradient x bound / its L


def test_the_tiny_vocabulary_that_diverged_now_converges():
    """Three words, 8,192 pairs a step, 20 negatives at word2vec's rate: summed updates
    overflowed to inf within steps; bounded rows bring the loss down instead."""
    torch.manual_seed(0)
    model = SkipGramNeg(3, 8)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(20):
        inputs = torch.randint(3, (8192,), generator=g)
        targets = (inputs + torch.randint(1, 3, (8192,), generator=g)) % 3  # any other word
        losses.append(float(sgd_step(model, inputs, targets, 20, 0.025, generator=g)))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0]


def test_a_bfloat16_step_is_the_float32_step_rounded_once_per_row():
    """From the same (bfloat16-representable) weights, the bfloat16 table ends within one
    bfloat16 rounding of the float32 step: every update is computed in float32."""
    inputs, targets, noise = _batch(batch=64)
    reference, half = _model(), _model()
    for model in (reference, half):
        for table in (model.in_embed, model.out_embed):
            table.weight.data = table.weight.data.to(torch.bfloat16)
    for table in (reference.in_embed, reference.out_embed):
        table.weight.data = table.weight.data.float()
    loss_ref = sgd_step(reference, inputs, targets, n_samples=4, lr=0.05, noise=noise)
    loss_half = sgd_step(half, inputs, targets, n_samples=4, lr=0.05, noise=noise)
    torch.testing.assert_close(loss_half, loss_ref)
    for got, want in ((half.in_embed, reference.in_embed), (half.out_embed, reference.out_embed)):
        assert got.weight.dtype == torch.bfloat16
        torch.testing.assert_close(got.weight.float(), want.weight, rtol=2**-7, atol=1e-6)


def test_many_small_updates_to_a_bfloat16_row_add_up_instead_of_rounding_away():
    """1,000 updates of 1e-4 to a row at 1.0: each alone is below half a bfloat16 step there
    (2^-8), so term-by-term addition would leave 1.0; summed in float32 first they move it."""
    table = torch.zeros(4, 3, dtype=torch.bfloat16)
    table[0], table[2] = 0.5, 1.0
    ids = torch.full((1000,), 2)
    add_row_sums(table, ids, torch.full((1000, 3), 1e-4))
    assert table[2].tolist() == [torch.tensor(1.1, dtype=torch.bfloat16).item()] * 3
    assert table[0].tolist() == [0.5] * 3
    assert table[[1, 3]].abs().sum() == 0
    termwise = torch.ones(3, dtype=torch.bfloat16)
    for _ in range(1000):  # one rounding per term, as atomic adds on a GPU do
        termwise += torch.full((3,), 1e-4, dtype=torch.bfloat16)
    assert termwise.tolist() == [1.0] * 3  # what the row sums avoid


def test_a_bfloat16_table_smaller_than_its_updates_sums_them_the_same_way():
    """With more terms than rows (GPU batches), apply_bounded sums into a float32 buffer of
    the table's shape instead of sorting the terms: the same rows, rounded once each."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(6, 3, generator=g).to(torch.bfloat16)
    ids = torch.randint(6, (1000,), generator=g)
    ids[ids == 4] = 5  # row 4 untouched
    deltas = torch.randn(1000, 3, generator=g) * 1e-3
    sorted_path, dense_path = start.clone(), start.clone()
    add_row_sums(sorted_path, ids, deltas)
    no_bound = torch.zeros(1000)  # L = 0: no row is scaled
    apply_bounded(dense_path, [RowUpdates(ids, deltas.clone(), no_bound)], lr=0.025)
    want = (start.float() + torch.zeros(6, 3).index_add_(0, ids, deltas)).to(torch.bfloat16)
    assert torch.equal(dense_path, want)
    assert torch.equal(sorted_path, want)
    assert torch.equal(dense_path[4], start[4])
