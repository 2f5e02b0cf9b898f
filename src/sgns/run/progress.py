"""What a run's training process hands back to the process that started it.

Under ddp_spawn and ddp_fork the process that calls ``trainer.fit`` only launches the ranks;
rank zero's ``trainer.callback_metrics`` is all that comes back. Each entry it must carry is
named here, once, with the callback or method that writes it:

    EPOCHS, STEPS      DistributedRun.on_train_end (sgns.run.distributed)
    TRAIN_STARTED      TrainingClock.on_train_start (below)
    STOPPED            ResumeState.on_exception (sgns.run.resume): (signal, step) of a stop
    EVAL_SECONDS       EmbeddingEvaluation (sgns.eval.callback): seconds spent scoring

    epochs = carried(trainer, EPOCHS, trainer.current_epoch)
"""

from __future__ import annotations

import time

import lightning as L
import torch

from sgns.eval.callback import EVAL_SECONDS

EPOCHS = "run/epochs"
STEPS = "run/steps"
TRAIN_STARTED = "run/train_started"
STOPPED = "run/stopped"
__all__ = [
    "EPOCHS",
    "EVAL_SECONDS",
    "STEPS",
    "STOPPED",
    "TRAIN_STARTED",
    "TrainingClock",
    "carried",
]


def carried(trainer: L.Trainer, name: str, here=None):
    """`here` when this process trained (a truthy value), else what rank zero carried back
    under `name` (None if nothing was)."""
    if here:
        return here
    value = trainer.callback_metrics.get(name)
    return None if value is None else value.tolist()


class TrainingClock(L.Callback):
    """Stamps when training proper starts: after DDP has started and joined its ranks (seconds
    for a rank that imports torch afresh), after the sanity check and a resume's restore.
    Wall-clock time, so that ddp_spawn's rank zero can carry it back."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.callback_metrics[TRAIN_STARTED] = torch.tensor(time.time(), dtype=torch.float64)
