"""The fast path: word2vec's sparse SGD step on SkipGramNeg, in closed form, without autograd.

For the summed loss L = -sum_b [log s(u_b.v_b) + sum_k log s(-u_b.n_bk)], the gradient with
respect to every row a batch touches is known in closed form (Mikolov et al. 2013; word2vec's
C code applies exactly these updates pair by pair). Computing it directly and adding it into
the tables with index_add_ skips autograd's graph, the sparse gradient tensors and the
optimiser's pass over them: on a CPU the step is several times faster than
``loss.backward(); SGD.step()`` and touches only the rows of the batch.

    loss = sgd_step(model, inputs, targets, n_samples=5, lr=0.025)   # updates in place

Bounded rows. word2vec applies its updates pair by pair, so a word that occurs 500 times in
a stretch of text moves, saturates and stops; a batched step sums all 500 updates from the
same weights and overshoots (a small vocabulary, or no subsampling, diverged). Each row's
summed update is therefore capped by the curvature of the terms that touch it: a row whose
terms have vectors x_i takes at most ``STEP_BOUND / L`` with ``L = sum_i |x_i|^2 / 4``,
the smoothness constant of its part of the loss (log-sigmoid's second derivative is at most
1/4). While ``lr * L <= STEP_BOUND`` the step is word2vec's SGD unchanged, which is the case
for almost every row of a large vocabulary; a row that repeats a lot takes one bounded,
Newton-sized step instead of hundreds of stale ones, whatever the batch size.

With ``shared=G > 1``, each group of G consecutive pairs (G random centres: shuffled pairs
come offset by offset through a shuffled order of centres) shares one set of n_samples
negatives, as in Ji et al. (2016), "Parallelizing Word2Vec in Shared and Distributed Memory":
the noise scores become small matrix products and each negative's vector is gathered once
per group instead of once per pair.

Under DDP every rank computes its batch's row updates (RowUpdates) and the ranks exchange
them (``exchange``) before applying, so all ranks apply the same updates to the same tables.

The step below is written in torch operations: the reference, and what a GPU runs with
model.gpu_step=torch (under DDP, reduced-precision tables or trainer.deterministic). On a CPU,
float32 tables take the same step as compiled loops instead (sgns.model.sgd_cpu, numba), which
read each pair's rows once rather than making a dozen passes over (batch, dim) temporaries; a
GPU's default is one fused Triton kernel (sgns.model.sgd_fused) that applies groups of pairs
one after another instead of the batch at once.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable

import torch
import torch.nn.functional as F

from sgns.model.skipgram import SkipGramNeg
from sgns.model.updates import STEP_BOUND, RowUpdates, Workspace

# in_embed's updates and out_embed's, each a list of parts applied in its order.
TableUpdates = tuple[list[RowUpdates], list[RowUpdates]]
# Under DDP, a step's three parts (in_embed's; out_embed's as contexts; out_embed's as
# negatives) in, every rank's updates out: a row's step depends only on the sums of its
# deltas and curvature, so any grouping into parts applies the same update.
Exchange = Callable[[list[RowUpdates]], TableUpdates]


@torch.no_grad()
def sgd_step(
    model: SkipGramNeg,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    lr: float,
    shared: int = 1,
    noise: torch.Tensor | None = None,
    workspace: Workspace | None = None,
    generator: torch.Generator | None = None,
    n_valid: int | None = None,
    exchange: Exchange | None = None,
    compiled: bool | None = None,
) -> torch.Tensor:
    """One SGD step at per-pair learning rate `lr`; returns the batch's mean loss before it.

    Args:
        inputs, targets: (batch,) centre and context word ids.
        noise: negative word ids, (ceil(batch / shared), n_samples); drawn from the model's
            noise distribution with `generator` when None.
        workspace: reused for the (batch, dim) intermediates across calls (see Workspace).
        n_valid: only the first n_valid pairs count (the rest pad a batch to a common size
            under DDP); all when None.
        exchange: under DDP, turns this rank's updates (in_embed's; out_embed's as contexts;
            out_embed's as negatives) into every rank's: in_embed's parts and out_embed's,
            each a list applied in its order (see Exchange).
        compiled: run sgns.model.sgd_cpu's compiled loops rather than torch operations;
            by default, for float32 tables on a CPU, the only tables they step.
    Returns the loss NegativeSamplingLoss would report for the first n_valid pairs.
    """
    batch = len(inputs) if n_valid is None else n_valid
    groups = -(-len(inputs) // shared)
    if noise is None:
        noise = model.sample_noise(groups * n_samples, generator).view(groups, n_samples)
    w_in, w_out = model.in_embed.weight, model.out_embed.weight
    dim = w_in.shape[1]
    # Complete the last group with pairs that count for nothing (zeroed below).
    inputs, targets = pad_pairs(inputs, targets, groups * shared)
    work = workspace or Workspace()
    if compiled is None:
        compiled = runs_compiled(w_in)
    if compiled:
        from sgns.model import sgd_cpu  # numba: imported only where a CPU steps

        total, updates = sgd_cpu.row_updates(w_in, w_out, inputs, targets, noise, batch, lr, work)
        in_parts, out_parts = by_table(updates, exchange)
        sgd_cpu.apply_updates(w_in, w_out, in_parts, out_parts, lr, work)
        return total / max(1, batch)
    size = (len(inputs), dim)
    f32 = w_in.new_empty(0, dtype=torch.float32)  # the step computes in float32 (table_dtype)
    u = gather_rows(w_in, inputs, work.get("u", size, f32))  # (N, D) inputs
    v = gather_rows(w_out, targets, work.get("v", size, f32))  # (N, D) contexts
    n = gather_rows(w_out, noise.reshape(-1)).view(groups, n_samples, dim)  # (G, K, D)
    u_grouped = u.view(groups, shared, dim)
    scratch = work.get("scratch", size, f32)
    pos_score = torch.mul(u, v, out=scratch).sum(1)  # (N,)
    neg_score = torch.bmm(u_grouped, n.transpose(1, 2))  # (G, shared, K)
    pos_loss = F.logsigmoid(pos_score)[:batch].sum()
    neg_loss = F.logsigmoid(-neg_score).reshape(-1, n_samples)[:batch].sum()
    loss = -(pos_loss + neg_loss) / max(1, batch)
    # d(log-likelihood)/d(score) = label - sigmoid(score), times the step size.
    pos_grad = torch.sigmoid(pos_score).neg_().add_(1.0).mul_(lr).unsqueeze(1)  # (N, 1)
    neg_grad = torch.sigmoid(neg_score).mul_(-lr)
    # Each term's share of its row's curvature bound L: |x|^2 / 4 for the other vector x.
    u_sq = squared_norms(u)  # (N,)
    n_sq = squared_norms(n).sum(1).repeat_interleave(shared)  # (N,) all K negatives
    in_curvature = squared_norms(v).add_(n_sq).div_(4)  # (N,)
    if len(inputs) > batch:  # padded pairs move nothing
        for per_pair in (pos_grad, neg_grad.view(-1, n_samples), u_sq, in_curvature):
            per_pair[batch:] = 0
    pos_part = torch.mul(pos_grad, v, out=scratch).view_as(u_grouped)
    grad_u = torch.baddbmm(pos_part, neg_grad, n, out=work.get("grad_u", u_grouped.shape, f32))
    grad_n = torch.bmm(neg_grad.transpose(1, 2), u_grouped).view(-1, dim)  # (G * K, D)
    group_u_sq = u_sq.view(groups, shared).sum(1).repeat_interleave(n_samples)  # (G * K,)
    # in_embed's updates, then out_embed's two parts: as contexts and as negatives.
    updates = [
        RowUpdates(inputs, grad_u.view(-1, dim), in_curvature),
        RowUpdates(targets, torch.mul(pos_grad, u, out=scratch), u_sq / 4),
        RowUpdates(noise.reshape(-1), grad_n, group_u_sq / 4),
    ]
    in_parts, out_parts = by_table(updates, exchange)
    apply_bounded(w_in, in_parts, lr, work)
    apply_bounded(w_out, out_parts, lr, work)
    return loss


def by_table(updates: list[RowUpdates], exchange: Exchange | None = None) -> TableUpdates:
    """This step's three parts as (in_embed's, out_embed's), every rank's under DDP."""
    if exchange is not None:
        return exchange(updates)
    return updates[:1], updates[1:]


def sum_per_row(out: torch.Tensor, parts: list[RowUpdates]) -> None:
    """Every term of `parts` added into its row of `out` (V, D + 1): its delta into the
    first D columns, its curvature into the last (in place)."""
    if runs_compiled(out):
        from sgns.model import sgd_cpu

        sgd_cpu.sum_per_row(out, parts)
        return
    for u in parts:
        out[:, :-1].index_add_(0, u.ids, u.deltas)
        out[:, -1].index_add_(0, u.ids, u.curvature)


def runs_compiled(table: torch.Tensor) -> bool:
    """Whether sgd_step steps `table` with sgns.model.sgd_cpu's compiled loops: float32 on
    a CPU. Elsewhere (a GPU, reduced-precision tables) it uses torch operations, as it does
    where numba is not installed (a GPU machine given only what its runs need)."""
    return table.device.type == "cpu" and table.dtype == torch.float32 and _has_numba()


@functools.cache
def _has_numba() -> bool:
    return importlib.util.find_spec("numba") is not None


def squared_norms(x: torch.Tensor) -> torch.Tensor:
    """|x|^2 along the last dimension: one reduction, where vecdot(x, x) writes the product
    to a temporary of x's size first."""
    return torch.linalg.vector_norm(x, dim=-1).square_()


def pad_pairs(inputs: torch.Tensor, targets: torch.Tensor, size: int):
    """(inputs, targets) lengthened to `size` pairs with copies of pair 0, for callers that
    then make the copies count for nothing (sgd_step's `n_valid`)."""
    pad = size - len(inputs)
    if pad <= 0:
        return inputs, targets
    return torch.cat([inputs, inputs[:1].expand(pad)]), torch.cat(
        [targets, targets[:1].expand(pad)]
    )


def apply_bounded(
    table: torch.Tensor, updates: list[RowUpdates], lr: float, workspace: Workspace | None = None
) -> None:
    """Add `updates` into `table`, each row's sum scaled to at most STEP_BOUND / L (in place;
    the updates' deltas are scaled in place too). The updates are float32 whatever the
    table's dtype; a reduced-precision table gets each row's new value rounded once."""
    like, work = updates[0].curvature, workspace or Workspace()
    curvature = work.get("curvature", table.shape[:1], like).zero_()
    for update in updates:
        curvature.index_add_(0, update.ids, update.curvature)  # (V,) L of every row touched
    # min(1, bound / (lr * L)); rows with L = 0 have zero updates, so their scale is moot.
    scale = curvature.mul_(lr / STEP_BOUND).clamp_(min=1.0).reciprocal_()
    for update in updates:
        update.deltas.mul_(scale[update.ids].unsqueeze(1))
    if table.dtype == torch.float32:
        for update in updates:
            table.index_add_(0, update.ids, update.deltas)
        return
    if len(table) <= sum(len(update.ids) for update in updates):
        # More terms than rows (GPU-sized batches): summing them into a float32 buffer of the
        # table's shape is cheaper than sorting them, and each row is still rounded once.
        sums = work.get("row_sums", table.shape, like).zero_()
        for update in updates:
            sums.index_add_(0, update.ids, update.deltas)
        table.add_(sums)  # computed in float32, rounded into the table's dtype
        return
    ids = torch.cat([update.ids for update in updates])
    add_row_sums(table, ids, torch.cat([update.deltas for update in updates]))


def gather_rows(table: torch.Tensor, ids: torch.Tensor, out: torch.Tensor | None = None):
    """Rows `ids` of `table` as float32, (len(ids), D), written into `out` when given."""
    if table.dtype == torch.float32:
        return (
            table.index_select(0, ids)
            if out is None
            else torch.index_select(table, 0, ids, out=out)
        )
    rows = table.index_select(0, ids)
    return rows.float() if out is None else out.copy_(rows)


def add_row_sums(table: torch.Tensor, ids: torch.Tensor, deltas: torch.Tensor) -> None:
    """``table[ids] += deltas`` with every row's terms summed in float32, added to the row
    in float32 and the result rounded once into the table's dtype.

    A bfloat16 row keeps 8 significant bits: added term by term (index_add_ in the table's
    dtype), each of a frequent word's hundreds of small updates would round away on its own.
    The rows get slots by sorting, not by torch.unique, whose output size would make the
    host wait for the device.

    Args:
        ids: (M,) int64 row ids, repeats allowed; deltas: (M, D) float32.
    """
    sorted_ids, order = torch.sort(ids)
    new_row = torch.ones_like(sorted_ids, dtype=torch.bool)
    new_row[1:] = sorted_ids[1:] != sorted_ids[:-1]
    slot = new_row.cumsum(0) - 1  # (M,) each sorted term's row slot, 0..rows-1
    term_slot = torch.empty_like(slot).scatter_(0, order, slot)  # (M,) in the terms' order
    sums = torch.zeros_like(deltas).index_add_(0, term_slot, deltas)  # (M, D) float32
    rows = torch.zeros_like(sorted_ids).scatter_(0, slot, sorted_ids)  # slot -> row id
    # Slots past the last row repeat the last row's slot, so every write to a row is the same.
    used = torch.minimum(torch.arange(len(ids), device=ids.device), slot[-1])
    rows, sums = rows[used], sums[used]
    table.index_copy_(0, rows, (table.index_select(0, rows).float() + sums).to(table.dtype))


class ClosedFormSGD(torch.optim.Optimizer):
    """The optimiser Lightning steps for model.optimizer=sgd.

    Its param group holds the per-pair learning rate that the schedule decays, and
    ``step(closure)`` runs the closure, which applies the batch's closed-form updates
    (sgd_step) at that rate: the weights change inside the step, as with any optimiser,
    and Lightning counts optimiser steps as usual. No gradients are ever computed.
    """

    def __init__(self, params, lr: float):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        return closure()
