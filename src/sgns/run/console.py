"""The training console, written for people: a progress bar with a total and an ETA, errors on a
line of their own, two library messages that tell a user nothing kept off it, each of
Lightning's messages printed once, and the run's outcome in one short line.

    quiet_library_noise()                      # before the Trainer is made
    trainer = L.Trainer(callbacks=[EpochProgressBar(), ...])
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
import warnings

from lightning.pytorch.callbacks import TQDMProgressBar

# Logged at INFO by every Trainer that has no LitLogger: an advertisement, not about this run.
LITLOGGER_TIP = "💡 Tip: For seamless cloud logging"


# Seconds between redraws when the bar writes to a file or pipe (a SLURM or nohup log): there
# every redraw is kept, and Lightning redraws twice a batch.
LOG_REDRAW_SECONDS = 30.0


class EpochProgressBar(TQDMProgressBar):
    """Lightning's progress bar, with the epoch's expected batch count as its total.

    An epoch's batch count depends on the subsample and windows drawn for it, so the training
    loader has no ``__len__`` and Lightning alone shows ``9/?``. The total comes from
    ``datamodule.expected_batches_per_epoch`` and stays in the bar: a loader length would make
    Lightning end every epoch at the estimate, and the real count may differ from it by a few.

    On a terminal it redraws every `refresh_rate` batches; written to a file or a pipe, at most
    every `redraw_seconds` (default LOG_REDRAW_SECONDS) and at each bar's last batch.
    """

    def __init__(self, refresh_rate: int = 1, redraw_seconds: float | None = None, **kwargs):
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        if redraw_seconds is None:
            redraw_seconds = 0.0 if _is_terminal(sys.stdout) else LOG_REDRAW_SECONDS
        self.redraw_seconds = redraw_seconds
        self._last_redraw = -math.inf
        self._batches_done = 0  # of the epoch under way

    def _should_update(self, current: int, total: int) -> bool:
        if not super()._should_update(current, total):
            return False
        now = time.monotonic()
        if current != total and now - self._last_redraw < self.redraw_seconds:
            return False
        self._last_redraw = now
        return True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._batches_done = batch_idx + 1
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # The total is an estimate, so the last batch may not have redrawn the bar: the epoch's
        # end shows its real count (Lightning's own method redraws with the epoch's metrics).
        bar = self.train_progress_bar
        if not bar.disable:
            bar.n = self._batches_done
        super().on_train_epoch_end(trainer, pl_module)

    @property
    def total_train_batches(self) -> int | float:
        total = super().total_train_batches
        datamodule = self.trainer.datamodule
        if math.isinf(total) and hasattr(datamodule, "expected_batches_per_epoch"):
            return datamodule.expected_batches_per_epoch(self.trainer.world_size)
        return total

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # The bars end their line, so that the message reporting the exception (scripts/train.py's
        # `error: ...` or `stopped: ...`) starts a line instead of trailing the bar.
        for name in ("val_progress_bar", "train_progress_bar"):
            with contextlib.suppress(TypeError):  # that bar was never opened
                getattr(self, name).close()
        sys.stdout.flush()  # the bars' file: piped (`| tee`), it holds the closing newline back


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class _DropMessage(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


def quiet_library_noise() -> None:
    """Keep two messages that need no action from the user off the console, and Lightning's
    messages from printing twice (idempotent)."""
    # `import lightning` gives its loggers console handlers of their own: "INFO: ..." on
    # `lightning`, and, when no logging was configured yet, a bare one on `lightning.pytorch`
    # and `lightning.fabric` that stops their messages there. Where the root logger has
    # handlers (Hydra's console and train.log), Lightning's messages go to those alone:
    # printed once, in the run's format, and filed in train.log, whichever was imported first.
    if logging.getLogger().handlers:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            own = logging.getLogger(name)
            for handler in list(own.handlers):
                if type(handler) is logging.StreamHandler:
                    own.removeHandler(handler)
            own.propagate = True
    # lightning.pytorch.trainer.connectors.logger_connector logs the LitLogger tip for every
    # Trainer; filtered on the logger that emits it, so that no handler prints it.
    emitter = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropMessage) for f in emitter.filters):
        emitter.addFilter(_DropMessage(LITLOGGER_TIP))
    # Lightning's own pytree helper (lightning/pytorch/utilities/_pytree.py) still builds
    # torch's deprecated LeafSpec; the fix is Lightning's to make, not the user's.
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


def outcome_line(metrics: dict) -> str:
    """A finished run's metrics in one line a person reads; metrics.json holds them all.

    >>> print(outcome_line({"epochs": 30, "steps": 270, "train_seconds": 9.04,
    ...                     "train_words_per_sec": 1579752.8, "final_train_loss": 1.9708,
    ...                     "final_val_loss": 2.7778, "ws353_spearman": 0.5504,
    ...                     "simlex_spearman": 0.2383, "analogy_acc": 0.0542}))
    30 epochs, 270 steps, 9.0 s of training at 1,579,753 words/s; loss 1.971, val 2.778;
    WS353 0.550, SimLex 0.238, analogy 5.4 %
    >>> print(outcome_line({"epochs": 1, "steps": 1, "train_seconds": 0.81,
    ...                     "train_words_per_sec": 6484.2, "final_train_loss": 4.1589}))
    1 epoch, 1 step, 0.8 s of training at 6,484 words/s; loss 4.159
    """
    line = (
        f"{_count(metrics['epochs'], 'epoch')}, {_count(metrics['steps'], 'step')}, "
        f"{metrics['train_seconds']:.1f} s of training at "
        f"{metrics['train_words_per_sec']:,.0f} words/s; loss {metrics['final_train_loss']:.3f}"
    )
    if metrics.get("final_val_loss") is not None:
        line += f", val {metrics['final_val_loss']:.3f}"
    scores = [
        f"{label} {format(metrics[key] * scale, spec)}{unit}"
        for label, key, scale, spec, unit in (
            ("WS353", "ws353_spearman", 1, ".3f", ""),
            ("SimLex", "simlex_spearman", 1, ".3f", ""),
            ("analogy", "analogy_acc", 100, ".1f", " %"),
        )
        if metrics.get(key) is not None
    ]
    return "; ".join([line, ", ".join(scores)]) if scores else line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
