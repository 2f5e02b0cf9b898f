"""The fused GPU step (sgns.model.sgd_fused), run by Triton's interpreter on the CPU
(tests/conftest.py sets TRITON_INTERPRET=1 where there is no GPU), against its float64
description: group after group, each computed from the tables the previous groups left."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from sgns.model.sgd_fused import (  # noqa: E402
    GPU_SHAPE,
    INTERPRETER_SHAPE,
    default_programs,
    fused_available,
    fused_sgd_step,
    reference_step,
    row_multiple,
)
from sgns.model.skipgram import SkipGramNeg  # noqa: E402
from sgns.model.updates import STEP_BOUND  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def model_with(w_in: torch.Tensor, w_out: torch.Tensor) -> SkipGramNeg:
    model = SkipGramNeg(len(w_in), w_in.shape[1]).to(DEVICE)
    with torch.no_grad():
        model.in_embed.weight.copy_(w_in)
        model.out_embed.weight.copy_(w_out)
    return model


def check_against_reference(
    vocab, dim, n_samples, shared, pairs, lr=0.1, scale=1.0, n_valid=None, programs=1, seed=0,
    shape=None,
):  # fmt: skip
    """Train one step both ways from the same tables, pairs and negatives; return the
    starting tables, the kernel's and the reference's (float64)."""
    gen = torch.Generator().manual_seed(seed)
    w_in = torch.randn(vocab, dim, generator=gen) * scale
    w_out = torch.randn(vocab, dim, generator=gen) * scale
    inputs = torch.randint(vocab, (pairs,), generator=gen)
    targets = torch.randint(vocab, (pairs,), generator=gen)
    noise = torch.randint(vocab, (-(-pairs // shared), n_samples), generator=gen)
    model = model_with(w_in, w_out)
    loss = fused_sgd_step(
        model, inputs.to(DEVICE), targets.to(DEVICE), n_samples, lr, shared,
        noise=noise.to(DEVICE), n_valid=n_valid, programs=programs, shape=shape,
    )  # fmt: skip
    ref_in, ref_out = w_in.double(), w_out.double()
    total = reference_step(ref_in, ref_out, inputs, targets, noise, lr, shared, n_valid)
    got_in = model.in_embed.weight.detach().cpu().double()
    got_out = model.out_embed.weight.detach().cpu().double()
    torch.testing.assert_close(got_in, ref_in, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_out, ref_out, rtol=1e-5, atol=1e-5)
    counted = pairs if n_valid is None else n_valid
    assert float(loss) == pytest.approx(total / counted, rel=1e-5)
    return (w_in, w_out), (got_in, got_out)


def test_the_interpreter_or_a_gpu_runs_it():
    assert fused_available(DEVICE)


def test_rows_repeated_inside_a_group_get_every_term():
    """Three words: every group repeats each row several times, as centre, context and
    negative at once; atomic adds keep every term."""
    before, after = check_against_reference(vocab=3, dim=16, n_samples=5, shared=8, pairs=32)
    assert not torch.equal(before[0].double(), after[0])


@pytest.mark.parametrize("n_samples", [1, 2, 5, 12])
def test_any_number_of_negatives_from_1_to_12(n_samples):
    check_against_reference(vocab=50, dim=24, n_samples=n_samples, shared=16, pairs=48)


@pytest.mark.parametrize(
    ("dim", "shared", "pairs"),
    [(40, 8, 61), (150, 32, 70), (7, 1, 5)],
    ids=["dim-40-last-group-short", "dim-150-two-slices", "one-pair-groups"],
)
def test_padding_of_groups_negatives_and_dimensions(dim, shared, pairs):
    """Groups, negatives and the dimension are padded to the kernel's block sizes (powers of
    two, at least 16); the padding moves nothing."""
    check_against_reference(vocab=40, dim=dim, n_samples=5, shared=shared, pairs=pairs)


def test_the_gpus_32_column_slices_give_the_same_step():
    """A GPU walks the dimension in 32-column slices (GPU_SHAPE), the interpreter in 128:
    150 columns in five slices, the last one short, step as in two."""
    assert (GPU_SHAPE.block_d, INTERPRETER_SHAPE.block_d) == (32, 128)
    check_against_reference(vocab=40, dim=150, n_samples=5, shared=32, pairs=70, shape=GPU_SHAPE)


def test_rows_move_4_floats_at_a_time_only_where_every_row_starts_aligned():
    assert row_multiple(torch.empty(5, 300), torch.empty(5, 300)) == 4
    assert row_multiple(torch.empty(5, 300), torch.empty(5, 50)) == 1  # 50 floats a row
    assert row_multiple(torch.empty(5, 9)[:, :8]) == 1  # rows 9 floats apart
    assert row_multiple(torch.empty(41)[1:].view(5, 8)) == 1  # starts 4 bytes in


def test_pairs_past_n_valid_count_for_nothing():
    """Pairs that pad a batch (n_valid) neither move rows nor count in the loss: a row that
    only they touch keeps its value."""
    gen = torch.Generator().manual_seed(1)
    model = model_with(torch.randn(10, 16, generator=gen), torch.randn(10, 16, generator=gen))
    before_in = model.in_embed.weight.detach().clone()
    before_out = model.out_embed.weight.detach().clone()
    inputs = torch.tensor([1, 2, 3, 9, 9, 9]).to(DEVICE)  # 9 only in the padding
    targets = torch.tensor([4, 5, 6, 9, 9, 9]).to(DEVICE)
    noise = torch.tensor([[1, 2], [3, 4]]).to(DEVICE)  # 9 is never a negative either
    fused_sgd_step(model, inputs, targets, 2, 0.1, shared=3, noise=noise, n_valid=3)
    assert torch.equal(model.in_embed.weight[9], before_in[9])
    assert torch.equal(model.out_embed.weight[9], before_out[9])
    assert not torch.equal(model.in_embed.weight[1], before_in[1])
    check_against_reference(vocab=10, dim=16, n_samples=2, shared=3, pairs=6, n_valid=3)


def test_scores_of_plus_and_minus_100_stay_finite_and_bounded():
    """Vectors of norm ~40 give scores near +-100: sigmoid saturates, log-sigmoid stays finite,
    and every part's step is cut to STEP_BOUND / L (L ~ 400 here, lr L far above the bound)."""
    before, after = check_against_reference(
        vocab=20, dim=16, n_samples=5, shared=8, pairs=40, lr=0.5, scale=10.0
    )
    scores = before[0] @ before[1].T
    assert scores.abs().max() > 100
    for start, end in zip(before, after, strict=True):
        assert torch.isfinite(end).all()
        # A row's move is bounded: without the bound a saturated pair would move a row by
        # lr * |x| ~ 20 per term.
        step = (end - start.double()).norm(dim=1)
        norm = start.double().norm(dim=1)
        assert (step <= 4 * STEP_BOUND * norm).all()


def test_programs_take_consecutive_runs_of_groups():
    """Under the interpreter programs run one after another, each over its own consecutive
    groups: three programs take the same steps as one."""
    if DEVICE == "cuda":
        pytest.skip("programs run side by side on a GPU")
    check_against_reference(vocab=30, dim=16, n_samples=3, shared=8, pairs=72, programs=3)


def test_programs_in_flight_are_capped_by_the_vocabulary():
    """Never more pairs in flight than words: 30 words in groups of 8 go through 3 programs."""
    assert default_programs(torch.device("cpu"), vocab=30, shared=8, groups=1000) == 3
    assert default_programs(torch.device("cpu"), vocab=10, shared=32, groups=1000) == 1
    assert default_programs(torch.device("cpu"), vocab=10**6, shared=32, groups=7) == 7


def test_the_loss_is_what_negative_sampling_loss_reports_for_a_fresh_group():
    """One group, untouched tables: its loss is NegativeSamplingLoss's on the same pairs and
    negatives (log 2 per score at zero vectors)."""
    model = SkipGramNeg(5, 8).to(DEVICE)
    with torch.no_grad():
        model.in_embed.weight.zero_()
        model.out_embed.weight.zero_()
    ids = torch.tensor([0, 1, 2, 3]).to(DEVICE)
    noise = torch.tensor([[4, 4, 4]]).to(DEVICE)
    loss = fused_sgd_step(model, ids, ids, 3, 0.025, shared=4, noise=noise)
    assert float(loss) == pytest.approx(4 * math.log(2), rel=1e-6)


def test_reduced_precision_tables_are_refused():
    model = SkipGramNeg(5, 8).to(DEVICE).to(torch.bfloat16)
    ids = torch.tensor([0, 1]).to(DEVICE)
    with pytest.raises(ValueError, match="float32 tables only"):
        fused_sgd_step(model, ids, ids, 2, 0.025, shared=2)


@pytest.mark.slow
def test_the_kernel_compiles_for_ampere_and_hopper_gpus_within_their_registers():
    """Triton compiles the kernel for sm_80 and sm_90 here, with no GPU (its wheel carries
    ptxas): what the interpreter cannot check, the kernel's types and layouts, is. As a GPU
    run compiles it, a program keeps to 128 registers a thread, so two programs of 8 warps
    fit an SM's 64k, and spills at most a few values (128-column slices spilled 600-4,000
    bytes a thread and held one program an SM). In a process of its own, as Triton's
    interpreter, once on, stays on in a process."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("compile_kernel.py"))],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = json.loads(done.stdout)
    assert {(c["arch"], c["shared"], c["dim"]) for c in compiled} == {
        (arch, shared, dim) for arch in (80, 90) for shared, dim in ((32, 300), (8, 300), (1, 7))
    }
    for kernel in compiled:
        assert kernel["entry"]
        assert kernel["registers"] * 32 * kernel["num_warps"] * 2 <= 65536, kernel
        assert kernel["spilled_bytes"] <= 64, kernel
        assert kernel["atomic_adds"] > 0  # the row updates, added in place, relaxed
        assert kernel["row_multiple"] == (4 if kernel["dim"] % 4 == 0 else 1)
        if kernel["arch"] == 90 and kernel["row_multiple"] == 4:  # Hopper: 4 floats an add
            assert kernel["vector_atomic_adds"] == kernel["atomic_adds"], kernel


def test_a_gpu_runs_it_from_ampere_on(monkeypatch):
    """Outside the interpreter: a CUDA GPU of compute capability 8.0 or later, not a CPU."""
    from sgns.model import sgd_fused

    monkeypatch.setattr(sgd_fused, "interpreted", lambda: False)
    assert not fused_available("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for capability, runs in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d, c=capability: c)
        assert fused_available("cuda") is runs


@pytest.mark.parametrize(("release", "refused"), [("3.6.0", True), ("3.7.0", False)])
def test_an_interpreter_that_cannot_run_the_kernel_is_named_with_the_remedy(
    monkeypatch, release, refused
):
    """Triton's interpreter before 3.7 calls int() of 1-element arrays, which recent numpy
    refuses: one clear error rather than a trace from deep inside Triton."""
    import numpy as np
    import triton

    from sgns.model.sgd_fused import interpreter_problem

    try:
        int(np.ones(1, dtype=np.int32))
        numpy_refuses = False
    except TypeError:
        numpy_refuses = True
    monkeypatch.setattr(triton, "__version__", release)
    problem = interpreter_problem()
    if refused and numpy_refuses:
        assert problem == (
            f"Triton {release}'s CPU interpreter (TRITON_INTERPRET=1) cannot run the fused "
            f"kernel with numpy {np.__version__}, which refuses int() of a 1-element array: "
            "install triton>=3.7"
        )
    else:
        assert problem is None
