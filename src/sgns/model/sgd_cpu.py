"""sgd_step's two phases for float32 tables on a CPU, each one compiled loop (numba).

The same closed-form step as the torch code in sgns.model.sgd, with the same result up to
float rounding, but without its (batch, dim) intermediates: torch's version makes about a
dozen passes over (batch, dim) temporaries and its scatter (index_add_) sorts the row ids
first; here each pair's rows are read once, its scores, gradients and curvature are formed
in registers, and each row's bounded update is added in one pass.

    loss, updates = row_updates(w_in, w_out, inputs, targets, noise, n_valid, lr, work)
    apply_updates(w_in, w_out, updates[:1], updates[1:], lr, work)  # in_embed's, out_embed's

Both phases are deterministic whatever the thread count: the first hands out the pairs by
group of shared negatives to threads, each group writing only its own slots; the second
gives each table a thread, every row taking its updates in the order they come.
"""

from __future__ import annotations

import math
import os

import torch

# numba starts its thread pool once, with NUMBA_NUM_THREADS threads (by default one per core),
# and threads it does not use still wait actively: two CPU DDP ranks on two cores, each with
# a pool of two, ran at half speed. This module is imported at the first CPU step, after
# sgns.run.train has set torch's thread count for this process: the pool starts at that size.
os.environ.setdefault("NUMBA_NUM_THREADS", str(torch.get_num_threads()))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from sgns.model.updates import STEP_BOUND, RowUpdates, Workspace

# Negatives are taken this many at a time: their scores come out of one pass over the
# dimensions with one accumulator each, and their gradients go out in one more, instead of
# two passes per negative (measured 1.9x faster at n_samples=5 on a CPU with AVX-512).
# A last, partial block repeats a real negative with a zero gradient.
NEGATIVE_BLOCK = 5


# fastmath's reassociation lets the dot products run in vector registers; infinities and NaN
# keep their meaning (a diverging run must see its loss become inf or NaN).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Threads take groups of shared negatives this many at a time, as they come free, rather
# than half the groups each: with another process busy on one of two cores, a 4,096-pair
# step's median went from 2.6-4.4 ms to 2.2-2.4 ms (two runs); on a quiet machine it is the
# same either way.
GROUPS_PER_CHUNK = 16


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _softplus(x):
    """log(1 + e^x) without overflow, in float64."""
    x = np.float64(x)
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(fastmath=FASTMATH, cache=True, inline="always")
def _negative(score, lr):
    """A negative's step, -lr * s(score) = -lr / (1 + e^-score), and its factor in the pair's
    loss product, 1 + e^score."""
    e = np.exp(-score)
    return -lr / (np.float32(1.0) + e), 1.0 + 1.0 / np.float64(e)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _row_updates(w_in, w_out, inputs, targets, noise, n_valid, lr,
                 grad_u, grad_v, grad_n, in_curv, out_curv, neg_curv, group_loss):  # fmt: skip
    """One group of shared negatives per iteration: pairs g*S .. g*S+S-1 and noise[g]."""
    groups, n_samples = noise.shape
    shared = inputs.shape[0] // groups
    dim = w_in.shape[1]
    lr, one, zero = np.float32(lr), np.float32(1.0), np.float32(0.0)
    for g in prange(groups):
        first = g * n_samples  # grad_n's rows for this group's negatives
        n_sq = zero
        for k in range(n_samples):
            for d in range(dim):
                n_sq += w_out[noise[g, k], d] * w_out[noise[g, k], d]
                grad_n[first + k, d] = 0.0
        loss = 0.0
        u_sq_sum = zero
        for s in range(shared):
            i = g * shared + s
            if i >= n_valid:  # padding: moves nothing
                for d in range(dim):
                    grad_u[i, d] = 0.0
                    grad_v[i, d] = 0.0
                in_curv[i] = 0.0
                out_curv[i] = 0.0
                continue
            a, b = inputs[i], targets[i]
            for k0 in range(0, n_samples, NEGATIVE_BLOCK):
                # Slots of the block: negatives k0..k0+4, past the last one repeated.
                last = n_samples - 1
                k1, k2 = min(k0 + 1, last), min(k0 + 2, last)
                k3, k4 = min(k0 + 3, last), min(k0 + 4, last)
                c0, c1, c2 = noise[g, k0], noise[g, k1], noise[g, k2]
                c3, c4 = noise[g, k3], noise[g, k4]
                pos, u_sq, v_sq = zero, zero, zero
                s0, s1, s2, s3, s4 = zero, zero, zero, zero, zero
                for d in range(dim):
                    x, y = w_in[a, d], w_out[b, d]
                    pos += x * y
                    u_sq += x * x
                    v_sq += y * y
                    s0 += x * w_out[c0, d]
                    s1 += x * w_out[c1, d]
                    s2 += x * w_out[c2, d]
                    s3 += x * w_out[c3, d]
                    s4 += x * w_out[c4, d]
                # d(log-likelihood)/d(score) times lr: lr * (1 - s(pos)) = lr / (1 + e^pos),
                # -lr * s(score) = -lr / (1 + e^-score). The pair's loss, the sum of
                # log(1 + e^-pos) and the log(1 + e^score), is the log of one product.
                terms = 1.0
                if k0 == 0:
                    e = np.exp(pos)
                    pos_grad = lr / (one + e)
                    terms = 1.0 + 1.0 / np.float64(e)
                g0, factor = _negative(s0, lr)
                terms *= factor
                # Spelled out slot by slot: the same in a helper that takes a slot's
                # presence as an argument gave the same results 8 % slower (one process,
                # alternating, 4,096-pair pieces).
                g1 = g2 = g3 = g4 = zero  # slots past the last negative
                if k0 + 1 < n_samples:
                    g1, factor = _negative(s1, lr)
                    terms *= factor
                if k0 + 2 < n_samples:
                    g2, factor = _negative(s2, lr)
                    terms *= factor
                if k0 + 3 < n_samples:
                    g3, factor = _negative(s3, lr)
                    terms *= factor
                if k0 + 4 < n_samples:
                    g4, factor = _negative(s4, lr)
                    terms *= factor
                # A factor over 1e30 may come from an e^-|score| below float32's normal range
                # (|score| > 87: diverging), too coarse to trust: each term on its own then.
                if terms < 1e30:
                    loss += math.log(terms)
                else:
                    loss += _softplus(s0) + (_softplus(-pos) if k0 == 0 else 0.0)
                    for j, score in enumerate((s1, s2, s3, s4)):
                        if k0 + 1 + j < n_samples:
                            loss += _softplus(score)
                if k0 == 0:
                    for d in range(dim):
                        grad_u[i, d] = (pos_grad * w_out[b, d] + g0 * w_out[c0, d]
                                        + g1 * w_out[c1, d] + g2 * w_out[c2, d]
                                        + g3 * w_out[c3, d] + g4 * w_out[c4, d])  # fmt: skip
                        grad_v[i, d] = pos_grad * w_in[a, d]
                else:
                    for d in range(dim):
                        grad_u[i, d] += (g0 * w_out[c0, d] + g1 * w_out[c1, d]
                                         + g2 * w_out[c2, d] + g3 * w_out[c3, d]
                                         + g4 * w_out[c4, d])  # fmt: skip
                for d in range(dim):
                    x = w_in[a, d]
                    grad_n[first + k0, d] += g0 * x
                    grad_n[first + k1, d] += g1 * x
                    grad_n[first + k2, d] += g2 * x
                    grad_n[first + k3, d] += g3 * x
                    grad_n[first + k4, d] += g4 * x
                if k0 == 0:
                    # Each term's share of its row's curvature bound: |other vector|^2 / 4.
                    in_curv[i] = (v_sq + n_sq) / 4
                    out_curv[i] = u_sq / 4
                    u_sq_sum += u_sq
        for k in range(n_samples):
            neg_curv[first + k] = u_sq_sum / 4
        group_loss[g] = loss


@njit(fastmath=FASTMATH, cache=True)
def _apply_bounded(table, curvature, ids, deltas, curv, lr_over_bound):
    """table[ids] += deltas, every row's sum scaled by min(1, 1 / (lr * L / STEP_BOUND)).

    ids, deltas, curv: tuples of the updates' arrays. `curvature` is a zeroed (V,) float32
    buffer, left zeroed again."""
    for j in range(len(ids)):
        for i in range(ids[j].shape[0]):
            curvature[ids[j][i]] += curv[j][i]
    dim = table.shape[1]
    for j in range(len(ids)):
        row_ids, rows = ids[j], deltas[j]
        for i in range(row_ids.shape[0]):
            r = row_ids[i]
            scale = np.float32(1.0 / max(1.0, curvature[r] * lr_over_bound))
            for d in range(dim):
                table[r, d] += scale * rows[i, d]
    for j in range(len(ids)):
        for i in range(ids[j].shape[0]):
            curvature[ids[j][i]] = 0.0


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _apply_both(w_in, in_curvature, in_ids, in_deltas, in_curv,
                w_out, out_curvature, out_ids, out_deltas, out_curv, lr_over_bound):  # fmt: skip
    """_apply_bounded on both tables, one thread each. Splitting one table's rows over
    threads instead was 2.5x slower (neighbouring rows share cache lines at their ends)."""
    for table in prange(2):
        if table == 0:
            _apply_bounded(w_in, in_curvature, in_ids, in_deltas, in_curv, lr_over_bound)
        else:
            _apply_bounded(w_out, out_curvature, out_ids, out_deltas, out_curv, lr_over_bound)


def row_updates(
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    noise: torch.Tensor,
    n_valid: int,
    lr: float,
    work: Workspace,
) -> tuple[torch.Tensor, list[RowUpdates]]:
    """The batch's summed loss and its row updates, as sgd_step's torch code makes them.

    inputs, targets: (G * S,) pairs, S per group; noise: (G, K) each group's negatives."""
    _match_threads()
    (groups, n_samples), dim, n = noise.shape, w_in.shape[1], len(inputs)
    f32 = w_in.new_empty(0)
    grad_u = work.get("u", (n, dim), f32)
    grad_v = work.get("v", (n, dim), f32)
    grad_n = work.get("grad_n", (groups * n_samples, dim), f32)
    in_curv, out_curv = work.get("in_curv", (n,), f32), work.get("out_curv", (n,), f32)
    neg_curv = work.get("neg_curv", (groups * n_samples,), f32)
    group_loss = work.get("group_loss", (groups,), f32.double())
    noise_ids = noise.reshape(-1).contiguous()
    inputs, targets = inputs.contiguous(), targets.contiguous()
    with numba.parallel_chunksize(GROUPS_PER_CHUNK):
        _row_updates(
            w_in.detach().numpy(), w_out.detach().numpy(), inputs.numpy(), targets.numpy(),
            noise_ids.numpy().reshape(groups, n_samples), n_valid, lr, grad_u.numpy(),
            grad_v.numpy(), grad_n.numpy(), in_curv.numpy(), out_curv.numpy(),
            neg_curv.numpy(), group_loss.numpy(),
        )  # fmt: skip
    return group_loss.sum().float(), [
        RowUpdates(inputs, grad_u, in_curv),
        RowUpdates(targets, grad_v, out_curv),
        RowUpdates(noise_ids, grad_n, neg_curv),
    ]


def apply_updates(
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    in_parts: list[RowUpdates],
    out_parts: list[RowUpdates],
    lr: float,
    work: Workspace,
) -> None:
    """sgns.model.sgd.apply_bounded of in_parts to w_in and out_parts to w_out, for float32
    CPU tables (the deltas are left as they are)."""
    tables = []
    for name, table, parts in (("in", w_in, in_parts), ("out", w_out, out_parts)):
        curvature = work.zeros(f"{name}_row_curvature", table.shape[:1], table)  # kept zero
        tables += [table.detach().numpy(), curvature.numpy(), *_arrays(parts)]
    _apply_both(*tables, lr / STEP_BOUND)


def _arrays(parts: list[RowUpdates]) -> tuple[tuple[np.ndarray, ...], ...]:
    """The parts' ids, deltas and curvature, each a tuple of arrays, as the loops take them."""
    return tuple(
        tuple(getattr(u, field).contiguous().numpy() for u in parts)
        for field in ("ids", "deltas", "curvature")
    )


@njit(cache=True)
def _sum_per_row(out, ids, deltas, curv):
    """out[r, :D] += each term's delta and out[r, D] += its curvature, r its row id, part by
    part and term by term (the order index_add_ adds them in)."""
    dim = out.shape[1] - 1
    for j in range(len(ids)):
        for i in range(ids[j].shape[0]):
            r = ids[j][i]
            for d in range(dim):
                out[r, d] += deltas[j][i, d]
            out[r, dim] += curv[j][i]


def sum_per_row(out: torch.Tensor, parts: list[RowUpdates]) -> None:
    """sgns.model.sgd.sum_per_row for a float32 CPU `out`: one pass over the terms, where
    index_add_ on a CPU adds them a row slice at a time (the 5,376 terms of a 2,048-pair
    piece of the walks: 0.22-0.26 ms against 0.45-1.17 ms, one thread)."""
    _sum_per_row(out.numpy(), *_arrays(parts))


def _match_threads() -> None:
    """Use as many threads as torch does (set by trainer.cpu_threads or torch's default)."""
    threads = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != threads:
        numba.set_num_threads(threads)


def load() -> None:
    """Load the step's loops for the types a one-process run passes them (from numba's cache,
    or compiled where there is none) by stepping throwaway tables: about a second, once a
    process, that the first training step would otherwise spend."""
    w_in, w_out = torch.zeros(2, 4), torch.zeros(2, 4)
    ids, noise = torch.zeros(2, dtype=torch.long), torch.zeros((1, 1), dtype=torch.long)
    work = Workspace()
    _, updates = row_updates(w_in, w_out, ids, ids, noise, 2, 0.0, work)
    apply_updates(w_in, w_out, updates[:1], updates[1:], 0.0, work)


def warm_cache() -> None:
    """Compile every loop above for the argument types training passes (one process, and the
    parts of 2- and 4-rank DDP exchanges), into numba's cache beside this file. Run once after
    installing (`make`): without it every process that starts before the cache exists, test
    workers and DDP ranks alike, compiles the same loops for 10-20 s of CPU."""
    from sgns.model.skipgram import SkipGramNeg

    generator = torch.Generator().manual_seed(0)
    model = SkipGramNeg(50, 8, np.full(50, 1 / 50), generator=generator)
    ids = torch.randint(0, 50, (64,), generator=generator)
    work = Workspace()
    noise = torch.randint(0, 50, (2, 5), generator=generator)
    _, updates = row_updates(model.in_embed.weight, model.out_embed.weight, ids, ids, noise,
                             64, 0.025, work)  # fmt: skip
    out = torch.zeros(50, 9)
    # One process; DDP's every-rank exchange of 2 and 4 ranks; its one-sum-per-word form.
    for in_parts, out_parts in [(updates[:1] * n, updates[1:] * n) for n in (1, 2, 4)] + [
        (updates[:1], updates[1:2])
    ]:
        apply_updates(model.in_embed.weight, model.out_embed.weight, in_parts, out_parts,
                      0.025, work)  # fmt: skip
        sum_per_row(out, in_parts)
        sum_per_row(out, out_parts)
