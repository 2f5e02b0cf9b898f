import numpy as np
import torch

from sgns.model.loss import NegativeSamplingLoss


def reference_loss(u, v, noise):
    """-[log sigma(u.v) + sum_k log sigma(-u.n_k)] averaged over the batch, in float64 numpy."""
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    pos = np.log(sig(np.einsum("bd,bd->b", u, v)))
    neg = np.log(sig(-np.einsum("bkd,bd->bk", noise, u))).sum(1)
    return -(pos + neg).mean()


def test_loss_matches_float64_reference():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(64, 10)), rng.normal(size=(64, 10))
    noise = rng.normal(size=(64, 5, 10))
    got = NegativeSamplingLoss()(*(torch.from_numpy(a) for a in (u, v, noise)))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.item(), reference_loss(u, v, noise), rtol=1e-12)


def test_loss_float32_close_to_reference():
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=s).astype(np.float32) for s in [(32, 8), (32, 8), (32, 3, 8)]]
    got = NegativeSamplingLoss()(*(torch.from_numpy(a) for a in arrays))
    want = reference_loss(*(a.astype(np.float64) for a in arrays))
    np.testing.assert_allclose(got.item(), want, rtol=1e-5)


def test_loss_finite_for_extreme_dot_products():
    u = torch.ones(2, 1)
    for score in (100.0, -100.0):
        v = torch.full((2, 1), score)
        noise = torch.full((2, 3, 1), score)
        loss = NegativeSamplingLoss()(u, v, noise)
        assert torch.isfinite(loss)
        # One of the two terms saturates: loss is ~ 100 per wrong-sided score.
        expected = 3 * 100.0 if score > 0 else 100.0
        assert abs(loss.item() - expected) < 1e-3
    u.requires_grad_(True)
    loss = NegativeSamplingLoss()(u, torch.full((2, 1), -100.0), torch.full((2, 3, 1), 100.0))
    loss.backward()
    assert torch.isfinite(u.grad).all()
