"""The GPU's SGD step as one fused Triton kernel: word2vec's small, immediate updates.

A batch is cut into groups of `shared` pairs that share one set of `n_samples` negatives
(Ji et al. 2016, as sgns.model.sgd). One program of the kernel takes a run of consecutive
groups and, for each group in turn:

1. gathers the group's centre rows U (G, D), context rows V (G, D) and negative rows N (K, D)
   in slices of the dimension, accumulating the scores u.v and U N^T (a small matrix
   product) and the squared norms the row bound needs;
2. turns the scores into the per-pair step sizes lr (label - sigmoid(score)), each part's
   bounded by STEP_BOUND / L for the curvature L of that part's terms (sgns.model.sgd);
3. gathers the slices again and adds every row's update into the tables with atomic adds,
   so a row repeated inside a group gets every one of its terms.

Nothing of size (batch, dim) is ever written to memory: a pair costs its rows' reads and
writes, no more. The next group starts from the tables as they are then, so a program's
updates are immediate, as in word2vec's C code; programs run side by side and see each
other's updates as they land (Hogwild, as GraphVite and cusim do). The number of programs is
capped by the vocabulary (PAIRS_IN_FLIGHT_PER_WORD), so that a small vocabulary never has
many stale updates of the same row in flight at once: 30 words train through 3 programs.

    loss = fused_sgd_step(model, inputs, targets, n_samples=5, lr=0.025, shared=32)

The bound is applied to each part of a group (a row as a centre in one pair, as a context in
one pair, as a negative of the group) rather than to a row's sum over the batch as the torch
step does: a group holds few repeats, and no row's sum is ever formed.

Reproducibility: on a GPU, atomic adds land in any order and programs race, so two runs
differ in the last bits and then drift apart. Under Triton's interpreter (TRITON_INTERPRET=1,
on the CPU) programs run one after another and the step is exactly `reference_step`, the
float64 description that the tests compare it with.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass

import torch

from sgns.model.skipgram import SkipGramNeg
from sgns.model.updates import STEP_BOUND

# Programs in flight at most one per this many words of the vocabulary, times the group size:
# pairs in flight stay below the vocabulary's size, so each row has about one stale update
# in flight on average.
PAIRS_IN_FLIGHT_PER_WORD = 1
PROGRAMS_PER_SM = 8  # more than fit at once (two): an SM that finishes early takes the next
DOT_MIN = 16  # tl.dot wants every side at least 16: smaller groups and K are padded
MIN_CAPABILITY = (8, 0)  # Ampere: the oldest GPUs the kernel is compiled for in the tests


@dataclass(frozen=True)
class KernelShape:
    """How the kernel is compiled: the dimension is walked in slices of at most `block_d`
    columns, by `num_warps` warps, with `num_stages` loads in flight in a slice loop.

    The default keeps a program in its registers on Ampere and Hopper (at most 128 a thread,
    so two programs fit an SM, and no spills: tests/model/compile_kernel.py): the tiles of a
    group's rows and the operands of its small products take registers in proportion to the
    slice, and 128-column slices with pipelined loads spilled. Triton's interpreter has no
    registers and pays a few ms for every slice, so it takes 128-column slices."""

    block_d: int = 32
    num_warps: int = 8
    num_stages: int = 1

    def launch_options(self) -> dict:
        # Fused multiply-adds asked for by name: Triton 3.9 warns when left to its default,
        # which its next release changes.
        return {"num_warps": self.num_warps, "num_stages": self.num_stages,
                "enable_fp_fusion": True}  # fmt: skip


GPU_SHAPE = KernelShape()
INTERPRETER_SHAPE = KernelShape(block_d=128)


def fused_available(device: torch.device | str) -> bool:
    """Whether the fused step can run on `device`: a CUDA GPU of compute capability
    MIN_CAPABILITY or later (what tests/model/compile_kernel.py compiles for) with Triton
    installed, or anywhere under Triton's interpreter (TRITON_INTERPRET=1, for tests)."""
    if importlib.util.find_spec("triton") is None:
        return False
    if interpreted():
        return True
    device = torch.device(device)
    return (
        device.type == "cuda"
        and torch.cuda.is_available()
        and torch.cuda.get_device_capability(device) >= MIN_CAPABILITY
    )


def interpreted() -> bool:
    """Whether Triton runs kernels in its CPU interpreter: TRITON_INTERPRET=1, which must be
    set before the process first imports triton (Lightning does), as Triton reads it then."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@torch.no_grad()
def fused_sgd_step(
    model: SkipGramNeg,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    lr: float,
    shared: int = 32,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    n_valid: int | None = None,
    programs: int | None = None,
    shape: KernelShape | None = None,
) -> torch.Tensor:
    """One pass of fused SGD over the batch; returns the mean loss each group saw.

    Args:
        inputs, targets: (batch,) centre and context word ids.
        noise: (ceil(batch / shared), n_samples) negative word ids; drawn from the model's
            noise distribution with `generator` when None.
        n_valid: only the first n_valid pairs count; all when None.
        programs: how many programs share the batch; by default `default_programs`.
        shape: how the kernel is compiled; by default GPU_SHAPE, or INTERPRETER_SHAPE under
            Triton's interpreter.
    Both tables must be float32 (the kernel adds float32 updates in place).
    """
    w_in, w_out = model.in_embed.weight, model.out_embed.weight
    if w_in.dtype != torch.float32 or w_out.dtype != torch.float32:
        raise ValueError("the fused step trains float32 tables only")
    batch = len(inputs) if n_valid is None else n_valid
    groups = -(-len(inputs) // shared)
    if noise is None:
        noise = model.sample_noise(groups * n_samples, generator).view(groups, n_samples)
    if programs is None:
        programs = default_programs(w_in.device, len(w_in), shared, groups)
    programs = max(1, min(programs, groups))
    per_program = -(-groups // programs)
    programs = -(-groups // per_program)
    partial_loss = torch.zeros(programs, dtype=torch.float32, device=w_in.device)
    dim = w_in.shape[1]
    if shape is None:
        shape = INTERPRETER_SHAPE if interpreted() else GPU_SHAPE
    _kernel()[(programs,)](
        w_in, w_out, inputs.contiguous(), targets.contiguous(), noise.contiguous(),
        partial_loss, batch, groups, per_program, float(lr), float(STEP_BOUND), dim,
        w_in.stride(0), w_out.stride(0),
        **kernel_sizes(shared, n_samples, dim, shape.block_d, row_multiple(w_in, w_out)),
        **shape.launch_options(),
    )  # fmt: skip
    return partial_loss.sum() / max(1, batch)


def default_programs(device: torch.device, vocab: int, shared: int, groups: int) -> int:
    """Programs for a batch of `groups` groups: enough to fill the GPU, but never more pairs in
    flight than PAIRS_IN_FLIGHT_PER_WORD per word of the vocabulary."""
    by_vocab = max(1, vocab * PAIRS_IN_FLIGHT_PER_WORD // shared)
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return min(groups, by_vocab, sms * PROGRAMS_PER_SM)
    return min(groups, by_vocab)


def kernel_sizes(
    shared: int, n_samples: int, dim: int, block_d: int, row_multiple: int
) -> dict[str, int]:
    """The kernel's compile-time sizes: a group, its negatives and a slice of the dimension (at
    most `block_d` columns), each padded to a power of two (and to tl.dot's 16), and what the
    rows' strides are multiples of (`row_multiple`)."""
    return {
        "SHARED": shared, "K": n_samples, "BLOCK_G": max(DOT_MIN, _pow2(shared)),
        "BLOCK_K": max(DOT_MIN, _pow2(n_samples)),
        "BLOCK_D": max(DOT_MIN, min(block_d, _pow2(dim))), "ROW_MULTIPLE": row_multiple,
    }  # fmt: skip


def row_multiple(*tables: torch.Tensor) -> int:
    """4 where every table's rows are 4 floats apart in whole numbers (row length and stride
    multiples of 4) from a 16-byte aligned start, so that the kernel moves rows 4 floats at a
    time; else 1. Torch's own allocations are aligned: the dimension decides (300 and 100 do,
    a dimension of 50 does not)."""
    aligned = all(
        t.shape[1] % 4 == 0 and t.stride(0) % 4 == 0 and t.data_ptr() % 16 == 0 for t in tables
    )
    return 4 if aligned else 1


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@functools.cache
def _kernel():
    """The Triton kernel, imported on first use: triton is loaded only by runs that step with it
    (and after TRITON_INTERPRET is read from the environment)."""
    if interpreted():
        if problem := interpreter_problem():
            raise RuntimeError(problem)
        _patch_nested_calls_once()
    from sgns.model.fused_kernel import sgns_groups

    return sgns_groups


def interpreter_problem() -> str | None:
    """Why Triton's interpreter cannot run the kernel here, or None. Before 3.7 it turns a
    kernel's scalar arguments into 1-element arrays and loops over int() of them, which
    recent numpy refuses ("only 0-dimensional arrays can be converted"; 2.4 does)."""
    import numpy as np
    import triton

    try:
        int(np.ones(1, dtype=np.int32))
        return None
    except TypeError:
        pass
    release = tuple(int(part) for part in re.findall(r"\d+", triton.__version__)[:2])
    if release >= (3, 7):
        return None
    return (
        f"Triton {triton.__version__}'s CPU interpreter (TRITON_INTERPRET=1) cannot run the "
        f"fused kernel with numpy {np.__version__}, which refuses int() of a 1-element array: "
        "install triton>=3.7"
    )


def _patch_nested_calls_once() -> None:
    """Triton's interpreter re-patches triton.language for every call of a nested jit function
    (tl.sum, for one), about 2 ms each, half of a group's time. Those patches are never undone
    while the process lives, so once per module is the same: do that. Left as it is where
    Triton's internals differ from those this was written against (3.x)."""
    from triton.runtime import interpreter

    patch = getattr(interpreter, "_patch_lang", None)
    nested = getattr(interpreter, "InterpretedFunction", None)
    if not callable(patch) or not isinstance(nested, type):
        return
    patched: set[int] = set()

    def once(fn):
        if id(fn.__globals__) not in patched:
            patched.add(id(fn.__globals__))
            patch(fn)

    call = nested.__call__

    def call_patching_once(self, *args, **kwargs):
        interpreter._patch_lang = once
        try:
            return call(self, *args, **kwargs)
        finally:
            interpreter._patch_lang = patch

    nested.__call__ = call_patching_once


@torch.no_grad()
def reference_step(
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    noise: torch.Tensor,
    lr: float,
    shared: int,
    n_valid: int | None = None,
) -> float:
    """What the fused step does when its programs run one after another, in float64 torch
    operations: group by group, each group's updates computed from the tables as the previous
    groups left them. Updates `w_in` and `w_out` in place; returns the summed loss."""
    n_valid = len(inputs) if n_valid is None else n_valid
    total = 0.0
    for group, negatives in enumerate(noise):
        pairs = slice(group * shared, min((group + 1) * shared, n_valid))
        u_ids, v_ids = inputs[pairs], targets[pairs]
        if len(u_ids) == 0:
            continue
        u, v, n = w_in[u_ids], w_out[v_ids], w_out[negatives]
        pos, neg = (u * v).sum(1), u @ n.T
        total -= float(torch.nn.functional.logsigmoid(pos).sum())
        total -= float(torch.nn.functional.logsigmoid(-neg).sum())
        g_pos, g_neg = lr * (1 - torch.sigmoid(pos)), -lr * torch.sigmoid(neg)

        def scale(curvature_x4):
            step = lr * curvature_x4 / 4
            return torch.where(step > STEP_BOUND, STEP_BOUND / step, torch.ones_like(step))

        u_scale = scale((v * v).sum(1) + (n * n).sum())
        u_sq = (u * u).sum(1)
        v_scale, n_scale = scale(u_sq), scale(u_sq.sum())
        w_in.index_add_(0, u_ids, u_scale[:, None] * (g_pos[:, None] * v + g_neg @ n))
        w_out.index_add_(0, v_ids, (v_scale * g_pos)[:, None] * u)
        w_out.index_add_(0, negatives, n_scale * (g_neg.T @ u))
    return total
