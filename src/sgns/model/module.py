"""SkipGramModule: the Lightning glue around SkipGramNeg and NegativeSamplingLoss.

Training steps, the optimiser and its learning-rate schedule, the validation loss on
held-out text, and the notebook's "validation similarities": nearest neighbours of 16
fixed words, printed and logged to TensorBoard as text at every validation.
"""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import torch

from sgns.errors import SgnsError
from sgns.eval.neighbors import nearest_neighbors
from sgns.model.loss import NegativeSamplingLoss
from sgns.model.sgd import Workspace, sgd_step
from sgns.model.skipgram import SkipGramNeg

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "sparse_adam", "adam")


class SkipGramModule(L.LightningModule):
    """Trains SkipGramNeg.

    Args:
        words, counts: the vocabulary in id order (most frequent first) and its counts.
        optimizer: ``sgd`` (word2vec's per-pair learning rate `lr` decaying linearly to
            ``lr * min_lr_ratio`` over `total_steps`; the closed-form step of
            `sgns.model.sgd` on one process, sparse autograd gradients under DDP),
            ``sparse_adam`` (sparse gradients), or ``adam`` (dense, the notebook's choice).
        shared_negatives: with ``sgd`` on one process, groups of this many pairs share
            their negatives (1: every pair draws its own, as word2vec does).
        sgd_chunk: with ``sgd`` on one process, a batch is applied as consecutive steps of
            at most this many pairs (None: the whole batch at once).
        total_steps: expected number of optimiser steps in the whole run (for the decay).
        n_val_words: how many validation words; half frequent, half rarer.
    """

    def __init__(
        self,
        words: list[str],
        counts,
        embed_dim: int = 100,
        n_samples: int = 5,
        noise_power: float = 0.75,
        optimizer: str = "sgd",
        lr: float = 0.025,
        min_lr_ratio: float = 1e-4,
        init: str = "word2vec",
        shared_negatives: int = 1,
        sgd_chunk: int | None = 4096,
        total_steps: int = 1,
        n_val_words: int = 16,
        n_neighbors: int = 8,
        seed: int = 0,
    ):
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise SgnsError(f"model.optimizer={optimizer!r} is not one of: {', '.join(OPTIMIZERS)}")
        self.save_hyperparameters(ignore=["words", "counts"])
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        noise = self.counts.astype(np.float64) ** noise_power
        self.model = SkipGramNeg(
            len(self.words), embed_dim, noise / noise.sum(), sparse=optimizer != "adam", init=init
        )
        self.loss_fn = NegativeSamplingLoss()
        # sgd steps by hand (closed-form updates); the optimiser keeps the lr schedule.
        self.automatic_optimization = optimizer != "sgd"
        self._epoch_loss_sum, self._epoch_batches = 0.0, 0  # mean loss of the epoch so far
        self._workspace = Workspace()  # sgd_step's intermediates, reused step after step
        self.val_word_ids = validation_word_ids(len(self.words), n_val_words, seed)

    def _loss(self, inputs, targets, generator=None) -> torch.Tensor:
        u = self.model.forward_input(inputs)
        v = self.model.forward_output(targets)
        noise = self.model.forward_noise(len(inputs), self.hparams.n_samples, generator)
        return self.loss_fn(u, v, noise)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        if self.hparams.optimizer == "sgd":
            loss = self._sgd_step(inputs, targets)
        else:
            loss = self._loss(inputs, targets)
        if not torch.isfinite(loss):
            raise SgnsError(
                f"training stopped: the loss is {loss.item()} at step {self.global_step}; "
                f"the weights diverged: {divergence_remedy(self.hparams.optimizer)}"
            )
        # self.log costs more than a fast step, so the step loss is logged only as often
        # as the logger writes it; the epoch mean is accumulated here.
        self._epoch_loss_sum = self._epoch_loss_sum + loss.detach()
        self._epoch_batches += 1
        if batch_idx % self.trainer.log_every_n_steps == 0:
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_loss_sum, self._epoch_batches = 0.0, 0

    def on_train_epoch_end(self) -> None:
        if self._epoch_batches:
            self.log("train/loss_epoch", self._epoch_loss_sum / self._epoch_batches,
                     sync_dist=True)  # fmt: skip

    def _sgd_step(self, inputs, targets) -> torch.Tensor:
        """word2vec's SGD at per-pair step size: the loss is summed over the batch."""
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        lr = optimizer.param_groups[0]["lr"]
        world_size = _world_size()
        if world_size == 1:
            # Sequential steps on cache-sized chunks: a large batch then costs Lightning's
            # per-step overhead once, and each update sees the previous chunk's (as in word2vec).
            chunk, hp = self.hparams.sgd_chunk or len(inputs), self.hparams
            losses = [
                sgd_step(self.model, inputs[i : i + chunk], targets[i : i + chunk], hp.n_samples,
                         lr, hp.shared_negatives, workspace=self._workspace)
                * len(inputs[i : i + chunk])
                for i in range(0, len(inputs), chunk)
            ]  # fmt: skip
            loss = torch.stack(losses).sum() / len(inputs)
            optimizer.step()  # no gradients to apply: this advances the step count
        else:
            # DDP all-reduces gradients, so they must exist: autograd on sparse embeddings.
            # It averages them over ranks; the world size undoes that, so every pair counts.
            loss = self._loss(inputs, targets)
            optimizer.zero_grad()
            self.manual_backward(loss * len(inputs) * world_size)
            optimizer.step()
        schedule.step()
        return loss

    def on_validation_epoch_start(self) -> None:
        # Fixed noise for every validation, so validation losses are comparable.
        self._val_generator = torch.Generator(device=self.device).manual_seed(self.hparams.seed)

    def validation_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = self._loss(inputs, targets, self._val_generator)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(inputs))
        return loss

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        text = self.similarity_report()
        log.info("validation similarities at step %d:\n%s", self.global_step, text)
        experiment = getattr(self.logger, "experiment", None)
        if hasattr(experiment, "add_text"):
            markdown = "\n".join(f"    {line}" for line in text.splitlines())  # code block
            experiment.add_text("validation_similarities", markdown, self.global_step)

    @torch.no_grad()
    def similarity_report(self) -> str:
        """One line per validation word: ``word | neighbour, neighbour, ...`` by cosine."""
        k = min(self.hparams.n_neighbors, len(self.words) - 1)
        ids, _ = nearest_neighbors(self.model.in_embed.weight, self.val_word_ids, k)
        return "\n".join(
            f"{self.words[q]} | {', '.join(self.words[i] for i in row)}"
            for q, row in zip(self.val_word_ids.tolist(), ids.tolist(), strict=True)
        )

    def configure_optimizers(self):
        hp = self.hparams
        params = self.model.parameters()
        if hp.optimizer == "adam":
            return torch.optim.Adam(params, lr=hp.lr)
        if hp.optimizer == "sparse_adam":
            return torch.optim.SparseAdam(list(params), lr=hp.lr)
        optimizer = torch.optim.SGD(params, lr=hp.lr)
        total, floor = max(1, hp.total_steps), hp.min_lr_ratio
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(floor, 1.0 - step / total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The vocabulary travels with the weights: query and export need nothing else.
        checkpoint["vocab"] = {"words": self.words, "counts": self.counts.tolist()}

    def embeddings(self, vectors: str = "in") -> torch.Tensor:
        """The learned word vectors, (V, D): ``in`` or ``in+out`` (Levy et al. 2015)."""
        weight = self.model.in_embed.weight.detach()
        if vectors == "in+out":
            weight = weight + self.model.out_embed.weight.detach()
        return weight


def divergence_remedy(optimizer: str) -> str:
    """What to change when training with `optimizer` diverges."""
    if optimizer != "sgd":
        return "lower model.lr"
    # The fast path adds up a chunk's updates computed from the same weights: a word with
    # hundreds of them in one chunk (no subsampling, a tiny vocabulary) overshoots.
    return (
        "lower model.lr, or model.sgd_chunk (a chunk's updates to a frequent word add up; "
        "without subsampling or with a small vocabulary try 1024 or less)"
    )


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def validation_word_ids(n_vocab: int, n_words: int, seed: int) -> torch.Tensor:
    """The notebook's validation words, fixed by `seed`: half among the 100 most frequent
    words, half among ranks 1000-1100 (or the rarer part of a smaller vocabulary)."""
    rng = np.random.default_rng(seed)
    frequent = np.arange(min(100, n_vocab))
    rare = (
        np.arange(1000, min(1100, n_vocab))
        if n_vocab >= 1100
        else np.arange(len(frequent), n_vocab)
    )
    half = n_words // 2
    picked = [rng.choice(frequent, min(half, len(frequent)), replace=False)]
    if len(rare):
        picked.append(rng.choice(rare, min(n_words - half, len(rare)), replace=False))
    return torch.as_tensor(np.sort(np.concatenate(picked)), dtype=torch.long)
