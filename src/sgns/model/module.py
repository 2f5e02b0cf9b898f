"""SkipGramModule: the Lightning glue around SkipGramNeg and NegativeSamplingLoss.

Training steps, the optimiser and its learning-rate schedule, the validation loss on
held-out text, and the notebook's "validation similarities": nearest neighbours of 16
fixed words, printed and logged to TensorBoard as text at every validation.
"""

from __future__ import annotations

import logging
import math

import lightning as L
import numpy as np
import torch

from sgns.errors import ConfigError, DataError, SgnsError
from sgns.eval.lookup import word_ids
from sgns.eval.neighbors import nearest_neighbors
from sgns.model import TABLE_DTYPES as TABLE_DTYPE_NAMES
from sgns.model.loss import NegativeSamplingLoss
from sgns.model.sgd import (
    ClosedFormSGD,
    TableUpdates,
    pad_pairs,
    runs_compiled,
    sgd_step,
    sum_per_row,
)
from sgns.model.sgd_fused import fused_sgd_step
from sgns.model.skipgram import SkipGramNeg
from sgns.model.updates import RowUpdates, Workspace

log = logging.getLogger(__name__)

# Storage of both tables (model.table_dtype): each name is torch's.
TABLE_DTYPES = {name: getattr(torch, name) for name in TABLE_DTYPE_NAMES}
# The batch rule bounds every row's step (sgd_step), so a diverged loss means a step size
# far too large for the data, whatever the batch or chunk size.
DIVERGENCE_REMEDY = "lower model.lr"


class SkipGramModule(L.LightningModule):
    """Trains SkipGramNeg.

    Args:
        words, counts: the vocabulary in id order (most frequent first) and its counts; None
            in ``SkipGramModule.load_from_checkpoint(path)``, which takes them from the file.
        optimizer: ``sgd`` (word2vec's per-pair learning rate `lr` decaying linearly to
            ``lr * min_lr_ratio`` over the fit's steps; the closed-form, row-bounded step
            of `sgns.model.sgd`, its row updates exchanged between ranks under DDP),
            ``sparse_adam`` (sparse gradients), or ``adam`` (dense, the notebook's choice).
        shared_negatives: with ``sgd``, groups of this many pairs share
            their negatives (1: every pair draws its own, as word2vec does).
        sgd_chunk: with ``sgd``, a batch is applied as consecutive updates of at most
            this many pairs, all ranks together under DDP (None: the whole batch at once);
            every row's step is bounded whatever its size.
        table_dtype: storage of both tables (``float32``, ``bfloat16``, ``float16``; the
            last two with ``sgd`` only, which computes every update in float32).
        gpu_step: with ``sgd`` on a GPU, ``fused`` (sgns.model.sgd_fused: one Triton kernel,
            groups of `shared_negatives` pairs applied one after another, one process only)
            or ``torch`` (sgns.model.sgd: torch operations in `sgd_chunk` updates).
        n_val_words: how many validation words; half frequent, half rarer.
        val_words: words of your own (a word or a list) whose neighbours are shown too, after
            the drawn ones; each must be in the vocabulary (its exact form, else a case variant).

    The defaults are sgns.config.schema.ModelConfig's; `shared_negatives`, `sgd_chunk` and
    `gpu_step`, ``auto`` there, have none: sgns.run.auto decides them from the device and
    the corpus.
    """

    def __init__(
        self,
        words: list[str] | None = None,
        counts=None,
        embed_dim: int = 100,
        n_samples: int = 5,
        noise_power: float = 0.75,
        optimizer: str = "sgd",
        lr: float = 0.025,
        min_lr_ratio: float = 1e-4,
        init: str = "word2vec",
        table_dtype: str = "float32",
        n_val_words: int = 16,
        n_neighbors: int = 8,
        seed: int = 0,
        val_words: list[str] | str | None = None,
        *,
        shared_negatives: int,
        sgd_chunk: int | None,
        gpu_step: str,
    ):
        super().__init__()
        if table_dtype != "float32" and optimizer != "sgd":
            raise ConfigError(
                f"model.table_dtype={table_dtype} needs model.optimizer=sgd (the closed-form "
                f"step computes in float32); {optimizer} trains float32 tables only"
            )
        self.save_hyperparameters(ignore=["words", "counts"])
        self.words: list[str] = []
        if words is not None:
            self._build_network(words, counts)
        self.loss_fn = NegativeSamplingLoss()
        # sgd steps by hand (closed-form updates); the optimiser keeps the lr schedule.
        self.automatic_optimization = optimizer != "sgd"
        self._epoch_loss_sum, self._epoch_batches = 0.0, 0  # mean loss of the epoch so far
        self._workspace = Workspace()  # sgd_step's intermediates, reused step after step
        self._generator: torch.Generator | None = None  # the negatives' (_step_generator)
        self._divergence: dict[str, torch.Tensor] = {}  # _note_divergence

    def _build_network(self, words: list[str], counts) -> None:
        """SkipGramNeg over the vocabulary `words` (id order) with their `counts`."""
        hp = self.hparams
        self.words = list(words)
        counts = np.asarray(counts, dtype=np.int64)
        # A buffer, so that checkpoints carry the counts that the noise distribution comes from.
        self.register_buffer("counts", torch.tensor(counts))
        noise = counts.astype(np.float64) ** hp.noise_power
        self.model = SkipGramNeg(
            len(self.words), hp.embed_dim, noise / noise.sum(),
            sparse=hp.optimizer == "sparse_adam", init=hp.init,
            generator=torch.Generator().manual_seed(hp.seed),
        )  # fmt: skip
        for table in (self.model.in_embed, self.model.out_embed):
            table.to(TABLE_DTYPES[hp.table_dtype])  # the noise tables stay float32
        drawn = validation_word_ids(len(self.words), hp.n_val_words, hp.seed).tolist()
        given = [hp.val_words] if isinstance(hp.val_words, str) else list(hp.val_words or ())
        try:
            own = word_ids(self.words, given)
        except SgnsError as err:
            raise ConfigError(f"model.val_words: {err}") from None
        self.val_word_ids = torch.tensor(list(dict.fromkeys(drawn + own)), dtype=torch.long)

    def _loss(self, inputs, targets, generator=None) -> torch.Tensor:
        u = self.model.forward_input(inputs).float()  # float32 whatever the tables hold
        v = self.model.forward_output(targets).float()
        noise = self.model.forward_noise(len(inputs), self.hparams.n_samples, generator)
        return self.loss_fn(u, v, noise.float())

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        generator = self._step_generator()
        if self.hparams.optimizer == "sgd":
            loss = self._sgd_step(inputs, targets, generator)
        else:
            loss = self._loss(inputs, targets, generator)
        self._note_divergence(loss.detach())
        # self.log costs more than a fast step, so the step loss is logged only as often
        # as the logger writes it; the epoch mean is accumulated here, on the device.
        self._epoch_loss_sum = self._epoch_loss_sum + loss.detach()
        self._epoch_batches += 1
        if batch_idx % self.trainer.log_every_n_steps == 0:
            self._stop_if_diverged()
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def _note_divergence(self, loss: torch.Tensor) -> None:
        """Remember the first non-finite loss and its step, on the loss's device.

        Testing the loss on the host would make every step wait for the device; the record
        is read only where the host waits anyway (logging, the epoch's end).
        """
        record = self._divergence
        if not record or record["diverged"].device != loss.device:
            record["diverged"] = torch.zeros((), dtype=torch.bool, device=loss.device)
            record["loss"] = torch.zeros((), dtype=loss.dtype, device=loss.device)
            record["step"] = torch.zeros((), dtype=torch.long, device=loss.device)
        first = ~torch.isfinite(loss) & ~record["diverged"]
        record["loss"] = torch.where(first, loss, record["loss"])
        record["step"] = torch.where(first, self.global_step, record["step"])
        record["diverged"] = record["diverged"] | first

    def _stop_if_diverged(self) -> None:
        record = self._divergence
        if record and bool(record["diverged"]):  # waits for the device
            raise SgnsError(
                f"training stopped: the loss is {record['loss'].item()} at step "
                f"{int(record['step'])}; the weights diverged: {DIVERGENCE_REMEDY}"
            )

    def on_fit_start(self) -> None:
        hp = self.hparams
        if (
            hp.optimizer == "sgd"
            and hp.gpu_step != "fused"
            and runs_compiled(self.model.in_embed.weight)
        ):
            # The compiled CPU step loads at its first call: a second, once a process, that
            # would count as training time (a sweep's first run measured 4x slower than
            # the next ones at one epoch of the sample). Loaded here, before the clock.
            from sgns.model import sgd_cpu

            sgd_cpu.load()

    def on_train_start(self) -> None:
        if self.hparams.optimizer == "sgd" and self.trainer.world_size > 1:
            # Ranks exchange closed-form row updates (sgd_step's `exchange`), never autograd
            # gradients: DDP's wrapper must not wait for a backward pass that never comes.
            self.trainer.strategy.model.require_backward_grad_sync = False

    def on_train_epoch_start(self) -> None:
        self._epoch_loss_sum, self._epoch_batches = 0.0, 0

    def on_train_epoch_end(self) -> None:
        self._stop_if_diverged()
        if self._epoch_batches:
            self.log("train/loss_epoch", self._epoch_loss_sum / self._epoch_batches,
                     sync_dist=True)  # fmt: skip

    def _step_generator(self) -> torch.Generator:
        """The negatives' generator, reseeded from (seed, rank, step): reruns draw the same
        negatives, a resumed run continues with the ones it would have drawn, and ranks
        differ. Nothing else draws from it, and torch's global generator is never used."""
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
        words = np.random.SeedSequence(
            [self.hparams.seed, self.trainer.global_rank, self.global_step]
        ).generate_state(2, dtype=np.uint32)
        return self._generator.manual_seed(int(words[0]) << 32 | int(words[1]))

    def _sgd_step(self, inputs, targets, generator) -> torch.Tensor:
        """word2vec's SGD at per-pair step size, applied in model.sgd_chunk pieces: a large
        batch costs Lightning's per-step overhead once, and each piece sees the previous
        piece's updates (as in word2vec). Under DDP the ranks exchange their row updates, and
        each rank's piece is its share of model.sgd_chunk: an update covers as many pairs as
        in one process, which is what decides how far a repeated row moves at once (30 words
        in 8,192-pair updates fit to a loss of 3.27, in 4,096-pair ones to 2.71)."""
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        hp, n_real, world = self.hparams, len(inputs), self.trainer.world_size
        if hp.gpu_step == "fused":
            # One kernel over the whole batch: its groups apply their updates one after
            # another (sgns.model.sgd_fused), so model.sgd_chunk has nothing to cut.
            loss = optimizer.step(lambda: fused_sgd_step(
                self.model, inputs, targets, hp.n_samples, optimizer.param_groups[0]["lr"],
                hp.shared_negatives, generator=generator,
            ))  # fmt: skip
            schedule.step()
            return loss
        exchange = None
        if world > 1:
            inputs, targets = self._pad_to_largest_batch(inputs, targets)
            exchange = self._exchange
        chunk = -(-hp.sgd_chunk // world) if hp.sgd_chunk else len(inputs)

        def closure() -> torch.Tensor:
            lr = optimizer.param_groups[0]["lr"]
            total = inputs.new_zeros((), dtype=torch.float32)
            for start in range(0, len(inputs), chunk):
                valid = min(chunk, max(0, n_real - start))
                loss = sgd_step(
                    self.model, inputs[start : start + chunk], targets[start : start + chunk],
                    hp.n_samples, lr, hp.shared_negatives, workspace=self._workspace,
                    generator=generator, n_valid=valid, exchange=exchange,
                )  # fmt: skip
                total = total + loss * valid
            return total / n_real

        loss = optimizer.step(closure)
        schedule.step()
        return loss

    def _pad_to_largest_batch(self, inputs, targets):
        """Every rank's batch padded (with pairs that count for nothing) to the largest rank's
        size, so that all ranks run the same pieces and exchange equal-sized updates."""
        largest = torch.tensor(len(inputs), device=inputs.device)
        # Straight to torch.distributed: Lightning's all_gather goes through an autograd
        # collective that torch 2.13 deprecates, and a maximum is all that is needed.
        torch.distributed.all_reduce(largest, op=torch.distributed.ReduceOp.MAX)
        return pad_pairs(inputs, targets, int(largest))

    def _exchange(self, updates: list[RowUpdates]) -> TableUpdates:
        """Every rank's row updates, in one of two forms that apply the same way (a row's
        step depends only on the sums of its deltas and curvature over all ranks):

        - a vocabulary no larger than a piece (30 words, graph nodes): each table's updates
          summed into one row per word and all-reduced, a message the size of the tables;
        - otherwise one all-gather of every part's row ids, curvature and deltas, packed as
          int32 words (bit for bit: no float operation ever sees an id's bytes) into a
          buffer kept between steps. Each rank's parts are read in place from the gathered
          buffer and applied rank after rank. On one machine gloo moves ~1 GB/s and a
          2-rank CPU piece of the sample spends ~5 ms in the gather against ~1.5 ms
          computing; gathering into place rather than stacking, slicing and copying the
          result took a piece from 10.6-11.2 ms to 7.8-8.7 ms.
        """
        vocab, dim = self.model.n_vocab, updates[0].deltas.shape[1]
        if vocab <= len(updates[0].ids):
            per_row = updates[0].deltas.new_zeros(2, vocab, dim + 1)
            sum_per_row(per_row[0], updates[:1])
            sum_per_row(per_row[1], updates[1:])
            self._sum_over_ranks(per_row)
            every_row = torch.arange(vocab, device=per_row.device)
            return (
                [RowUpdates(every_row, per_row[0, :, :-1], per_row[0, :, -1])],
                [RowUpdates(every_row, per_row[1, :, :-1], per_row[1, :, -1])],
            )
        lengths = [len(u.ids) for u in updates]
        terms = sum(lengths)
        # Per rank: every part's ids (two int32 words each), then curvatures, then deltas,
        # the row's length even so that the next rank's int64 ids stay 8-byte aligned.
        size = terms * (dim + 3) + terms * (dim + 3) % 2
        int32 = updates[0].ids.new_empty(0, dtype=torch.int32)
        gathered = self._workspace.get("exchange", (self.trainer.world_size, size), int32)
        ids, curvature, deltas = _packed(gathered[self.global_rank], terms, dim)
        torch.cat([u.ids for u in updates], out=ids)
        torch.cat([u.curvature.float() for u in updates], out=curvature)
        torch.cat([u.deltas.float() for u in updates], out=deltas)
        self._gather_into(gathered, gathered[self.global_rank])
        parts: list[list[RowUpdates]] = [[] for _ in updates]
        for row in gathered:  # rank by rank
            ids, curvature, deltas = _packed(row, terms, dim)
            start = 0
            for part, length in zip(parts, lengths, strict=True):
                end = start + length
                part.append(RowUpdates(ids[start:end], deltas[start:end], curvature[start:end]))
                start = end
        return parts[0], parts[1] + parts[2]

    def _sum_over_ranks(self, tensor: torch.Tensor) -> None:
        """`tensor` summed over the ranks, in place. Lightning's strategy.reduce waits at a
        barrier first, a second round trip per piece: 3.2-3.8 ms a piece without it against
        4.5-5.4 ms with it (the walks' 1,000 rows, 2 ranks)."""
        torch.distributed.all_reduce(tensor)

    def _gather_into(self, gathered: torch.Tensor, tensor: torch.Tensor) -> None:
        """gathered[r] = rank r's `tensor`, written in place (`tensor` may be this rank's row)."""
        torch.distributed.all_gather(list(gathered.unbind(0)), tensor)

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
        ids, _ = nearest_neighbors(self.embeddings("in"), self.val_word_ids, k)
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
        optimizer = ClosedFormSGD(params, lr=hp.lr)
        total, floor = self._total_steps(), hp.min_lr_ratio
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(floor, 1.0 - step / total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def _total_steps(self) -> int:
        """Optimiser steps in the whole fit, for the learning-rate decay: max_steps when set,
        else the datamodule's expected batches per rank times the epochs."""
        trainer = self.trainer
        if trainer.max_steps and trainer.max_steps > 0:
            return trainer.max_steps
        datamodule = trainer.datamodule
        if hasattr(datamodule, "expected_batches_per_epoch"):
            per_epoch = datamodule.expected_batches_per_epoch(trainer.world_size)
            return max(1, per_epoch * trainer.max_epochs)
        steps = trainer.estimated_stepping_batches
        return int(steps) if math.isfinite(steps) else 1

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The vocabulary travels with the weights: query and export need nothing else.
        checkpoint["vocab"] = {"words": self.words, "counts": self.counts.tolist()}
        # Which state_dict entries hold the vectors, for readers without this class
        # (sgns.eval.vectors.load_vectors_from_checkpoint).
        checkpoint["tables"] = {"in": "model.in_embed.weight", "out": "model.out_embed.weight"}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        vocab = checkpoint.get("vocab") or {}
        if "words" not in vocab or "counts" not in vocab:
            raise DataError("the checkpoint holds no vocabulary; it was not written by sgns")
        # Checkpoints written before the counts were a buffer have them in the vocabulary only.
        state = checkpoint["state_dict"]
        state.setdefault("counts", torch.as_tensor(vocab["counts"], dtype=torch.int64))
        if not self.words:  # made by load_from_checkpoint, which knows only the hyper-parameters
            self._build_network(vocab["words"], state["counts"].cpu().numpy())

    def embeddings(self, vectors: str = "in") -> torch.Tensor:
        """The learned word vectors, (V, D) float32: ``in`` or ``in+out`` (Levy et al. 2015)."""
        weight = self.model.in_embed.weight.detach().float()  # no copy when float32
        if vectors == "in+out":
            weight = weight + self.model.out_embed.weight.detach().float()
        return weight


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


def _packed(row: torch.Tensor, terms: int, dim: int):
    """Views of an int32 exchange row: (terms,) int64 ids, (terms,) float32 curvature and
    (terms, dim) float32 deltas."""
    ids = row[: 2 * terms].view(torch.int64)
    curvature = row[2 * terms : 3 * terms].view(torch.float32)
    deltas = row[3 * terms : 3 * terms + terms * dim].view(torch.float32).view(terms, dim)
    return ids, curvature, deltas
