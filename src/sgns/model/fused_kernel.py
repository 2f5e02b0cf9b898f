"""The fused SGNS kernel in Triton (see sgns.model.sgd_fused, which launches it).

Imported only where a step runs it: importing triton is costly, and Triton reads
TRITON_INTERPRET (its CPU interpreter, for tests) when a kernel is defined.
"""

import triton
import triton.language as tl


@triton.jit
def sgns_groups(
    w_in, w_out, inputs, targets, noise, partial_loss,
    n_valid, n_groups, per_program, lr, bound, dim, stride_in, stride_out,
    SHARED: tl.constexpr, K: tl.constexpr,
    BLOCK_G: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr,
    ROW_MULTIPLE: tl.constexpr,
):  # fmt: skip
    # The strides and the dimension are multiples of ROW_MULTIPLE (the launcher checks).
    # Written so, the compiler knows it: with 4, rows start 16-byte aligned and a load or
    # an atomic add moves 4 floats at once where the GPU has one (Hopper's red.v4.f32).
    stride_in = stride_in // ROW_MULTIPLE * ROW_MULTIPLE
    stride_out = stride_out // ROW_MULTIPLE * ROW_MULTIPLE
    dim = dim // ROW_MULTIPLE * ROW_MULTIPLE
    pid = tl.program_id(0)
    rows = tl.arange(0, BLOCK_G)
    negs = tl.arange(0, BLOCK_K)
    cols = tl.arange(0, BLOCK_D)
    neg_ok = negs < K
    # Log-likelihoods, summed once at the end.
    pos_total = tl.zeros((BLOCK_G,), dtype=tl.float32)
    neg_total = tl.zeros((BLOCK_G, BLOCK_K), dtype=tl.float32)
    first = pid * per_program
    last = tl.minimum(first + per_program, n_groups)
    for group in range(first, last):
        pair = group * SHARED + rows
        ok = (rows < SHARED) & (pair < n_valid)
        u_ids = tl.load(inputs + pair, mask=ok, other=0).to(tl.int64)
        v_ids = tl.load(targets + pair, mask=ok, other=0).to(tl.int64)
        n_ids = tl.load(noise + group * K + negs, mask=neg_ok, other=0).to(tl.int64)
        u_rows = w_in + u_ids[:, None] * stride_in
        v_rows = w_out + v_ids[:, None] * stride_out
        n_rows = w_out + n_ids[:, None] * stride_out
        # 1. Scores and squared norms, slice by slice of the dimension: products summed
        # elementwise across slices and reduced once (fewer reductions, same sums).
        uv = tl.zeros((BLOCK_G, BLOCK_D), dtype=tl.float32)
        uu = tl.zeros((BLOCK_G, BLOCK_D), dtype=tl.float32)
        vv = tl.zeros((BLOCK_G, BLOCK_D), dtype=tl.float32)
        nn = tl.zeros((BLOCK_K, BLOCK_D), dtype=tl.float32)
        neg = tl.zeros((BLOCK_G, BLOCK_K), dtype=tl.float32)
        for start in range(0, dim, BLOCK_D):
            c = start + cols
            c_ok = c < dim
            u = tl.load(u_rows + c[None, :], mask=ok[:, None] & c_ok[None, :], other=0.0)
            v = tl.load(v_rows + c[None, :], mask=ok[:, None] & c_ok[None, :], other=0.0)
            n = tl.load(n_rows + c[None, :], mask=neg_ok[:, None] & c_ok[None, :], other=0.0)
            uv += u * v
            uu += u * u
            vv += v * v
            nn += n * n
            neg += tl.dot(u, tl.trans(n), input_precision="ieee")
        pos = tl.sum(uv, axis=1)
        u_sq = tl.sum(uu, axis=1)
        v_sq = tl.sum(vv, axis=1)
        n_sq_all = tl.sum(tl.sum(nn, axis=1), axis=0)  # padded negatives load as zeros
        # 2. Step sizes lr (label - sigmoid(score)), zero for padding, and log-likelihoods,
        # both from e^-|score|, which neither overflows nor loses a saturated score:
        # sigmoid(-x) = z / (1 + z) for x >= 0, else 1 / (1 + z); log sigmoid(x) =
        # min(x, 0) - log(1 + z). (No nested jit functions such as tl.sigmoid: the
        # interpreter pays for every call of one.)
        pair_neg_ok = ok[:, None] & neg_ok[None, :]
        z_pos = tl.exp(-tl.abs(pos))
        z_neg = tl.exp(-tl.abs(neg))
        sig_minus_pos = tl.where(pos >= 0, z_pos, 1.0) / (1.0 + z_pos)
        sig_neg = tl.where(neg >= 0, 1.0, z_neg) / (1.0 + z_neg)
        g_pos = tl.where(ok, lr * sig_minus_pos, 0.0)
        g_neg = tl.where(pair_neg_ok, -lr * sig_neg, 0.0)
        pos_total += tl.where(ok, tl.minimum(pos, 0.0) - tl.log(1.0 + z_pos), 0.0)
        neg_ll = tl.minimum(-neg, 0.0) - tl.log(1.0 + z_neg)
        neg_total += tl.where(pair_neg_ok, neg_ll, 0.0)
        # Each part's step at most bound / L, L = sum of |other vector|^2 / 4.
        # min(1, bound / (lr L)) as bound / max(bound, lr L): 1 where L = 0.
        u_step = 0.25 * lr * (v_sq + n_sq_all)
        u_scale = bound / tl.maximum(u_step, bound)
        v_scale = bound / tl.maximum(0.25 * lr * u_sq, bound)
        n_scale = bound / tl.maximum(0.25 * lr * tl.sum(u_sq, axis=0), bound)  # padding: 0
        c_pos_u = g_pos * u_scale  # centre += c_pos_u v + c_neg_u N
        c_neg_u = g_neg * u_scale[:, None]
        c_pos_v = g_pos * v_scale  # context += c_pos_v u
        c_neg_n = g_neg * n_scale  # negatives += c_neg_n^T U
        # 3. Every row's update, added in place.
        for start in range(0, dim, BLOCK_D):
            c = start + cols
            c_ok = c < dim
            uv_mask = ok[:, None] & c_ok[None, :]
            n_mask = neg_ok[:, None] & c_ok[None, :]
            u = tl.load(u_rows + c[None, :], mask=uv_mask, other=0.0)
            v = tl.load(v_rows + c[None, :], mask=uv_mask, other=0.0)
            n = tl.load(n_rows + c[None, :], mask=n_mask, other=0.0)
            du = c_pos_u[:, None] * v + tl.dot(c_neg_u, n, input_precision="ieee")
            dn = tl.dot(tl.trans(c_neg_n), u, input_precision="ieee")
            tl.atomic_add(u_rows + c[None, :], du, mask=uv_mask, sem="relaxed")
            tl.atomic_add(v_rows + c[None, :], c_pos_v[:, None] * u, mask=uv_mask, sem="relaxed")
            tl.atomic_add(n_rows + c[None, :], dn, mask=n_mask, sem="relaxed")
        # Every warp's adds land before any warp gathers the next group's rows (a barrier
        # orders the program's memory accesses): within a program, updates are immediate.
        tl.debug_barrier()
    total = tl.sum(pos_total, axis=0) + tl.sum(tl.sum(neg_total, axis=1), axis=0)
    tl.store(partial_loss + pid, -total)
