"""The compiled CPU step (sgns.model.sgd_cpu) against sgd_step's torch operations."""

import os
import subprocess
import sys

import pytest
import torch

from sgns.model import sgd
from sgns.model.sgd import runs_compiled, sgd_step
from sgns.model.skipgram import SkipGramNeg
from sgns.model.updates import RowUpdates


def _pair(n_vocab=50, dim=24, scale=0.5):
    """Two identical models with non-zero output vectors, so every term of the step moves."""
    models = []
    for _ in range(2):
        g = torch.Generator().manual_seed(0)
        model = SkipGramNeg(n_vocab, dim, init="uniform", generator=g)
        with torch.no_grad():
            model.in_embed.weight.mul_(scale)
            model.out_embed.weight.mul_(scale)
        models.append(model)
    return models


def _batches(steps, batch, n_vocab, n_samples, shared, seed=1):
    g = torch.Generator().manual_seed(seed)
    groups = -(-batch // shared)
    return [
        (
            torch.randint(n_vocab, (batch,), generator=g),
            torch.randint(n_vocab, (batch,), generator=g),
            torch.randint(n_vocab, (groups, n_samples), generator=g),
        )
        for _ in range(steps)
    ]


def _assert_same_tables(a: SkipGramNeg, b: SkipGramNeg, atol=1e-6):
    torch.testing.assert_close(a.in_embed.weight, b.in_embed.weight, rtol=1e-5, atol=atol)
    torch.testing.assert_close(a.out_embed.weight, b.out_embed.weight, rtol=1e-5, atol=atol)


def test_float32_cpu_tables_take_the_compiled_step_and_others_do_not():
    assert runs_compiled(torch.zeros(3, 2))
    assert not runs_compiled(torch.zeros(3, 2, dtype=torch.bfloat16))
    assert not runs_compiled(torch.zeros(3, 2, device="meta"))


# n_samples 1, 5, 7 and 12: blocks of 5 negatives that are partial, exact, one and a bit,
# two and a bit. 301 pairs leave the last group of shared negatives padded.
@pytest.mark.parametrize("n_samples", [1, 5, 7, 12])
@pytest.mark.parametrize("shared", [1, 32])
def test_compiled_step_equals_torch_operations(n_samples, shared):
    compiled, reference = _pair()
    for inputs, targets, noise in _batches(4, 301, 50, n_samples, shared):
        # lr 0.5 on 50 words: most rows repeat and reach the step bound.
        got = sgd_step(compiled, inputs, targets, n_samples, 0.5, shared, noise, compiled=True)
        want = sgd_step(reference, inputs, targets, n_samples, 0.5, shared, noise, compiled=False)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    _assert_same_tables(compiled, reference)
    moved = (compiled.in_embed.weight - _pair()[0].in_embed.weight).abs().max()
    assert moved > 0.1  # the steps did move the tables


def test_padded_pairs_move_nothing_in_the_compiled_step():
    """n_valid=10 of 32 pairs: the same tables as a step over those 10 pairs alone."""
    (inputs, targets, noise), = _batches(1, 32, 50, 5, 32)  # fmt: skip
    padded, alone = _pair()
    loss_padded = sgd_step(padded, inputs, targets, 5, 0.3, 32, noise, n_valid=10)
    loss_alone = sgd_step(alone, inputs[:10], targets[:10], 5, 0.3, 32, noise)
    torch.testing.assert_close(loss_padded, loss_alone)
    _assert_same_tables(padded, alone, atol=0)


# In its own process: numba's thread pool is sized once per process, from torch's thread
# count at the first CPU step, and the test workers keep to one thread.
ONE_AND_TWO_THREADS = """
import torch
from sgns.model.sgd import sgd_step
from sgns.model.updates import Workspace
from sgns.model.skipgram import SkipGramNeg

torch.set_num_threads(2)
tables = []
for threads in (1, 2):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    model = SkipGramNeg(400, 40, init="uniform", generator=g)
    work = Workspace()
    for _ in range(5):
        inputs, targets = torch.randint(400, (2, 2048), generator=g)
        noise = torch.randint(400, (64, 5), generator=g)
        sgd_step(model, inputs, targets, 5, 0.05, 32, noise, workspace=work)
    tables.append((model.in_embed.weight.clone(), model.out_embed.weight.clone()))
import numba
print(numba.get_num_threads(), all(torch.equal(a, b) for a, b in zip(*tables)))
"""


@pytest.mark.slow  # a fresh interpreter, for numba's thread count
def test_compiled_step_is_bit_identical_on_one_thread_and_on_two():
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-c", ONE_AND_TWO_THREADS], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert run.stdout.split() == ["2", "True"]


def test_compiled_step_applies_what_the_exchange_returns():
    """Under DDP the ranks' updates are concatenated before they are applied: an exchange
    that returns every update twice (two ranks with the same batch) gives the same tables
    as torch operations given the same exchange."""

    def two_identical_ranks(updates: list[RowUpdates]):
        both = [
            RowUpdates(u.ids.repeat(2), u.deltas.repeat(2, 1), u.curvature.repeat(2))
            for u in updates
        ]
        return both[:1], both[1:]

    compiled, reference = _pair()
    for inputs, targets, noise in _batches(3, 256, 50, 5, 32):
        for model, flag in ((compiled, True), (reference, False)):
            sgd_step(model, inputs, targets, 5, 0.2, 32, noise, exchange=two_identical_ranks,
                     compiled=flag)  # fmt: skip
    _assert_same_tables(compiled, reference)


def test_per_row_sums_add_every_term_in_order_compiled_or_not(monkeypatch):
    """The small-vocabulary DDP exchange sums each table's terms into one row per word:
    compiled or with index_add_, the same float32 sums as adding term after term."""
    g = torch.Generator().manual_seed(0)
    parts = [
        RowUpdates(torch.randint(6, (n,), generator=g), torch.randn(n, 3, generator=g),
                   torch.rand(n, generator=g))
        for n in (40, 7)
    ]  # fmt: skip
    want = torch.zeros(6, 4)
    for u in parts:
        for row, delta, curvature in zip(u.ids.tolist(), u.deltas, u.curvature, strict=True):
            want[row, :3] += delta
            want[row, 3] += curvature
    compiled = torch.zeros(6, 4)
    sgd.sum_per_row(compiled, parts)
    monkeypatch.setattr(sgd, "_has_numba", lambda: False)
    with_torch = torch.zeros(6, 4)
    sgd.sum_per_row(with_torch, parts)
    assert torch.equal(compiled, want)
    assert torch.equal(with_torch, want)


def test_scores_far_past_float32_exp_give_the_loss_torch_gives():
    """Scores of +-100: e^100 overflows float32, yet the loss stays finite and right (a
    diverging run is then reported with its loss, not inf) and no gradient is NaN."""
    compiled, reference = _pair(n_vocab=4, dim=4)
    for model in (compiled, reference):
        with torch.no_grad():
            model.in_embed.weight.copy_(torch.eye(4) * 10)
            model.out_embed.weight.copy_(torch.eye(4) * 10 * torch.tensor([1, -1, 1, -1.0]))
    inputs, targets = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 3, 2])  # +100, -100, 0, 0
    noise = torch.tensor([[0, 1, 2, 3, 0]])  # scores of -100 .. +100 against each input
    got = sgd_step(compiled, inputs, targets, 5, 0.01, 4, noise, compiled=True)
    want = sgd_step(reference, inputs, targets, 5, 0.01, 4, noise, compiled=False)
    assert 100 < float(want) < 1000
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    _assert_same_tables(compiled, reference)


def test_without_numba_a_cpu_steps_with_torch_operations(monkeypatch):
    """A GPU machine given only what its runs need may lack numba: its CPU runs (gpu_check's
    comparison run) then take the torch step."""
    from sgns.model import sgd, sgd_cpu

    monkeypatch.setattr(sgd, "_has_numba", lambda: False)
    monkeypatch.setattr(sgd_cpu, "row_updates", lambda *args: pytest.fail("compiled step ran"))
    model, reference = _pair()
    (inputs, targets, noise), = _batches(1, 64, 50, 5, 32)  # fmt: skip
    loss = sgd_step(model, inputs, targets, 5, 0.1, 32, noise)
    torch.testing.assert_close(loss, sgd_step(reference, inputs, targets, 5, 0.1, 32, noise,
                                              compiled=False))  # fmt: skip
    assert not runs_compiled(model.in_embed.weight)
