"""Stopping and resuming runs: what Lightning's ``ckpt_path`` and ``save_last`` leave to us.

A run rewrites ``checkpoints/last.ckpt`` as it trains (ModelCheckpoint, save_last), and on
SIGTERM or Ctrl-C (ResumeState), so a stopped run continues with the same command plus one
override, which train.run hands to Lightning as ``ckpt_path``:

    python scripts/train.py data=text8 ... resume=outputs/runs/RUN/checkpoints/last.ckpt

Lightning restores weights, optimiser, learning-rate schedule, loop progress and the training
loader's position (ResumableLoader); negative samples are drawn from (seed, rank, step), so they
need nothing saved. What is left is here: the run's settings in the checkpoint and
check_resume, which refuses a checkpoint of another vocabulary, model or data setting before
training starts; and a checkpoint on a signal only (Lightning's save_on_exception also saves
the weights of a diverged run). On CPU with ``data.num_workers=0`` the resumed run's vectors
equal an uninterrupted run's (tests/reliability/test_resume.py).
"""

from __future__ import annotations

import functools
import logging
import signal
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from sgns.config.schema import MUST_MATCH
from sgns.errors import ConfigError
from sgns.io import load_checkpoint
from sgns.run.progress import STOPPED

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint to resume from."""

    def __init__(self, signal: str, step: int, checkpoint: Path):
        self.signal, self.step, self.checkpoint = signal, step, checkpoint
        super().__init__(
            f"{signal} at step {step}: saved {checkpoint}; "
            f"to continue, run the same command with resume={checkpoint}"
        )


class ResumeState(Callback):
    """Records the run's resolved configuration in every checkpoint (``run_config``, for
    check_resume) and, when SIGTERM (Lightning stops after the current batch) or Ctrl-C stops
    training, saves the last checkpoint where ModelCheckpoint keeps it and records the stop
    in `interrupted`, for the caller to report."""

    def __init__(self, conf: dict):
        self.conf = conf
        self.interrupted: Interrupted | None = None
        self._asked = 0  # under DDP: the first stop signal this rank received
        self._stopping = 0  # under DDP: the signal every rank stops for, once agreed

    def on_train_start(self, trainer, pl_module) -> None:
        """Under DDP each rank only notes SIGTERM or Ctrl-C, and the ranks agree on it after
        each batch: Lightning's own handler sends a broadcast from inside the signal handler,
        which deadlocks when the other rank is waiting in the step's exchange, and a
        KeyboardInterrupt stops one rank wherever it is."""
        if trainer.world_size > 1:
            for signum in SIGNAL_NAMES:
                signal.signal(signum, functools.partial(self._note_signal, trainer))

    def _note_signal(self, trainer, signum, frame) -> None:
        if not self._asked:
            self._asked = signum
            if trainer.strategy.launcher is not None:
                trainer.strategy.launcher.kill(signum)  # ranks this one started (ddp), if any

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.world_size > 1:
            asked = torch.tensor([int(self._asked)], device=pl_module.device)
            torch.distributed.all_reduce(asked, op=torch.distributed.ReduceOp.MAX)
            if asked.item():
                self._stopping = int(asked.item())
                # Every rank at once: Lightning stops after this batch on each.
                trainer._signal_connector.received_sigterm = True

    def interruption(self, trainer: L.Trainer) -> Interrupted | None:
        """The stop recorded here, or under ddp_spawn and ddp_fork the one rank zero recorded
        (carried back in callback_metrics: this process launched the ranks and did not train)."""
        stopped = trainer.callback_metrics.get(STOPPED)
        if self.interrupted is None and stopped is not None:
            signum, step = (int(x) for x in stopped)
            self.interrupted = Interrupted(SIGNAL_NAMES[signum], step, _last_path(trainer))
        return self.interrupted

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["run_config"] = self.conf

    def on_exception(self, trainer: L.Trainer, pl_module, exception: BaseException) -> None:
        if self._stopping:
            signum = self._stopping
        elif isinstance(exception, SIGTERMException):
            signum = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            signum = signal.SIGINT
        else:
            return  # a bug or a diverged loss: those weights are not worth resuming from
        path = _last_path(trainer)
        trainer.save_checkpoint(path, weights_only=False)  # all the loops' state, to resume
        self.interrupted = Interrupted(SIGNAL_NAMES[signum], trainer.global_step, path)
        trainer.callback_metrics[STOPPED] = torch.tensor([int(signum), trainer.global_step])
        log.warning("%s", self.interrupted)


SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "interrupted (Ctrl-C)"}


def _last_path(trainer: L.Trainer) -> Path:
    last = trainer.checkpoint_callback
    return Path(last.format_checkpoint_name({}, last.CHECKPOINT_NAME_LAST))


def check_resume(
    path: str | Path, conf: dict, words: list[str], checkpoint: dict | None = None
) -> dict:
    """Check that the checkpoint at `path` can continue the run `conf` with vocabulary `words`.

    Returns the checkpoint's ``{"epoch", "global_step"}``. Raises ConfigError naming the first
    setting that differs and DataError for an unreadable, unsafe or foreign checkpoint.
    `checkpoint`: its contents, when already loaded (`sgns.io.load_checkpoint`).
    """
    if checkpoint is None:
        checkpoint = load_checkpoint(path)
    saved = checkpoint.get("run_config")
    if isinstance(saved, dict):
        for key in MUST_MATCH:
            old, new = _lookup(saved, key), _lookup(conf, key)
            if old != new:
                raise ConfigError(
                    f"cannot resume from {path}: it was trained with {key}={old!r}, this run "
                    f"has {key}={new!r}; use the original run's settings plus resume=..."
                )
    saved_words = (checkpoint.get("vocab") or {}).get("words")
    if saved_words is not None and list(saved_words) != list(words):
        raise ConfigError(
            f"cannot resume from {path}: its vocabulary ({len(saved_words)} words) differs "
            f"from this corpus's ({len(words)} words); use the original corpus and settings"
        )
    return {key: int(checkpoint.get(key, 0)) for key in ("epoch", "global_step")}


def _lookup(conf: dict, dotted: str):
    node = conf
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
