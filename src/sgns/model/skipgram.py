"""SkipGramNeg: the skip-gram model with negative sampling, as plain PyTorch.

noise = counts**0.75 / (counts**0.75).sum()     # (V,): unigram counts to the 3/4
model = SkipGramNeg(n_vocab=len(counts), n_embed=100, noise_dist=noise)
u = model.forward_input(inputs)                 # (batch, n_embed)
v = model.forward_output(targets)               # (batch, n_embed)
n = model.forward_noise(len(inputs), 5)         # (batch, 5, n_embed)
loss = NegativeSamplingLoss()(u, v, n)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

from sgns.model import INITS


class SkipGramNeg(nn.Module):
    """Two embedding tables: `in_embed` (the word vectors) and `out_embed` (context vectors).

    Args:
        n_vocab: vocabulary size V.
        n_embed: embedding dimension D.
        noise_dist: (V,) probabilities of drawing each word as a negative sample;
            uniform when None.
        sparse: sparse gradients, so an optimiser step touches only the rows of the batch.
        init: ``word2vec`` (input uniform in +-0.5/D, output zeros, as the C tool does) or
            ``uniform`` (both tables uniform in [-1, 1], as the notebook does).
        generator: draws the initial weights (torch's global generator when None).
    """

    def __init__(
        self,
        n_vocab: int,
        n_embed: int,
        noise_dist=None,
        sparse: bool = True,
        init: str = "word2vec",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.n_vocab, self.n_embed = n_vocab, n_embed
        # skip_init: nn.Embedding's own N(0, 1) init would draw from torch's global generator.
        self.in_embed = skip_init(nn.Embedding, n_vocab, n_embed, sparse=sparse)
        self.out_embed = skip_init(nn.Embedding, n_vocab, n_embed, sparse=sparse)
        self.reset_parameters(init, generator)
        if noise_dist is None:
            noise_dist = np.full(n_vocab, 1.0 / n_vocab)
        prob, alias = alias_table(np.asarray(noise_dist, dtype=np.float64))
        self.register_buffer("noise_dist", torch.as_tensor(noise_dist, dtype=torch.float32))
        self.register_buffer("alias_prob", torch.from_numpy(prob), persistent=False)
        self.register_buffer("alias_index", torch.from_numpy(alias), persistent=False)

    @torch.no_grad()
    def reset_parameters(
        self, init: str = "word2vec", generator: torch.Generator | None = None
    ) -> None:
        if init == "word2vec":
            bound = 0.5 / self.n_embed
            self.in_embed.weight.uniform_(-bound, bound, generator=generator)
            self.out_embed.weight.zero_()
        elif init == "uniform":
            self.in_embed.weight.uniform_(-1, 1, generator=generator)
            self.out_embed.weight.uniform_(-1, 1, generator=generator)
        else:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")

    def forward_input(self, input_words: torch.Tensor) -> torch.Tensor:
        """Input (centre-word) vectors, (batch, n_embed)."""
        return self.in_embed(input_words)

    def forward_output(self, output_words: torch.Tensor) -> torch.Tensor:
        """Output (context-word) vectors, (batch, n_embed)."""
        return self.out_embed(output_words)

    def forward_noise(
        self, batch_size: int, n_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Out vectors of words drawn from the noise distribution: (batch, n_samples, n_embed)."""
        noise_words = self.sample_noise(batch_size * n_samples, generator)
        return self.out_embed(noise_words).view(batch_size, n_samples, self.n_embed)

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`n` word ids drawn from `noise_dist` with Walker's alias method: O(1) per sample,
        exact, and the same on CPU and GPU (torch.multinomial re-scans the whole
        distribution on every call)."""
        device = self.alias_prob.device
        column = torch.randint(self.n_vocab, (n,), device=device, generator=generator)
        coin = torch.rand(n, device=device, generator=generator)
        return torch.where(coin < self.alias_prob[column], column, self.alias_index[column])


def alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table for `probs`: (acceptance probabilities float32, alias ids int64)."""
    n = len(probs)
    scaled = probs * (n / probs.sum())
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # Leftovers are 1 up to rounding error.
    return prob.astype(np.float32), alias
