"""NegativeSamplingLoss: -[log sigma(u.v) + sum_k log sigma(-u.n_k)], averaged over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NegativeSamplingLoss(nn.Module):
    """The notebook's loss, computed with log-sigmoid rather than ``sigmoid().log()``.

    log-sigmoid is finite for every dot product: sigmoid(-100) rounds to 0 in float32 and
    its log is -inf, while logsigmoid(-100) is exactly -100.
    """

    def forward(
        self, input_vectors: torch.Tensor, output_vectors: torch.Tensor, noise_vectors: torch.Tensor
    ) -> torch.Tensor:
        """input_vectors, output_vectors: (batch, D); noise_vectors: (batch, n_samples, D)."""
        out_loss = F.logsigmoid((input_vectors * output_vectors).sum(-1))
        noise_scores = torch.bmm(noise_vectors, input_vectors.unsqueeze(2)).squeeze(2)
        noise_loss = F.logsigmoid(-noise_scores).sum(1)
        return -(out_loss + noise_loss).mean()
