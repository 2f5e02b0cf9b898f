"""Multi-process training (DDP) beyond what Lightning does by itself.

    trainer = L.Trainer(strategy=strategy("ddp", None, sparse_grads=True, multirun=False),
                        devices=2, callbacks=[DistributedRun()], ...)

`strategy` turns trainer.strategy=ddp / ddp_spawn / ddp_fork into a DDPStrategy (over gloo when
sparse_adam's sparse gradients must be all-reduced); `DistributedRun` checks at the end that all
ranks hold the same weights, and carries rank zero's progress back to the launching process
under ddp_spawn. Each rank's negatives come from the module's own generator, seeded with the
rank (SkipGramModule._step_generator); model.optimizer=sgd exchanges row updates, not gradients.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.trainer.call import _interrupt
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch.nn.parallel import DistributedDataParallel

from sgns.errors import ConfigError
from sgns.run.console import quiet_library_noise
from sgns.run.progress import EPOCHS, STEPS

log = logging.getLogger(__name__)

# trainer.strategy values built here as a DDPStrategy, with their process start method.
DDP_START_METHODS = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork"}
# The model's buffers (noise distribution, alias table) are the same on every rank and never
# change: no broadcast before every forward. torch 2.13 renamed the switch and deprecates the
# old name, the only one older torch knows.
NO_BUFFER_SYNC_PER_STEP = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False}
)


def strategy(name, backend: str | None, sparse_grads: bool, multirun: bool):
    """The Trainer's `strategy` for trainer.strategy=`name`; names other than DDP's pass
    through. NCCL (Lightning's choice on GPUs) cannot all-reduce sparse gradients, so
    sparse_adam's go over gloo unless `backend` names one. `multirun`: a Hydra sweep run here."""
    if name not in DDP_START_METHODS:
        if backend is not None:
            raise ConfigError(
                f"trainer.process_group_backend={backend!r} needs trainer.strategy to be one"
                f" of: {', '.join(DDP_START_METHODS)}"
            )
        return name
    start_method = DDP_START_METHODS[name]
    if start_method == "fork" and sys.platform != "linux":
        # macOS's system libraries are not safe to use in a forked child (Python's own
        # multiprocessing stopped forking there); Windows cannot fork.
        log.info("trainer.strategy=ddp_fork: forking is unsafe on %s, using ddp", sys.platform)
        start_method = "popen"
    if start_method in ("popen", "fork") and multirun:
        # `ddp` re-runs the script with its own command line: every child would start the
        # whole sweep again; a launcher's worker (Ray's) runs threads that a fork would copy
        # mid-call. Spawned children run just this job.
        log.warning("trainer.strategy=%s inside a local multirun: using ddp_spawn instead", name)
        start_method = "spawn"
    if sparse_grads and backend == "nccl":
        raise ConfigError(
            "trainer.process_group_backend=nccl cannot all-reduce the sparse gradients of"
            " model.optimizer=sparse_adam; use gloo, or model.optimizer=sgd or adam"
        )
    if sparse_grads and backend is None:
        backend = "gloo"
        log.info(
            "DDP all-reduces sparse_adam's sparse gradients over gloo (NCCL cannot reduce"
            " sparse tensors)"
        )
    return RankStopsDDPStrategy(
        start_method=start_method, process_group_backend=backend, **NO_BUFFER_SYNC_PER_STEP
    )


class RankStopsDDPStrategy(DDPStrategy):
    """DDPStrategy whose ddp_spawn and ddp_fork ranks handle SIGTERM and Ctrl-C themselves."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _MultiProcessingLauncher):
            self._launcher = RankStopsLauncher(self, start_method=self._start_method)


class RankStopsLauncher(_MultiProcessingLauncher):
    """Lightning's launcher for ddp_spawn and ddp_fork, with stops handled where training runs.

    Lightning handles SIGTERM and Ctrl-C in the process that called fit, and with these start
    methods that process only waits for its ranks: a stop there killed it while the ranks
    trained on, or saved its own untrained tables as the checkpoint to resume from. Here the
    launching process passes SIGTERM and SIGINT on to the ranks, once; the ranks stop together
    after the current batch (Lightning's SIGTERM path, also taken for Ctrl-C), save last.ckpt
    as one process would (ResumeState), and rank zero's results carry the stop back.
    """

    def launch(self, function, *args, trainer=None, **kwargs):
        with _signals_passed_to_children():
            return super().launch(function, *args, trainer=trainer, **kwargs)

    def _wrapping_function(self, process_idx, trainer, function, *rest) -> None:
        def stoppable(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except (SIGTERMException, KeyboardInterrupt) as exception:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                # The callbacks' on_exception, as Lightning runs them in the process that
                # trains: ResumeState saves last.ckpt on every rank and records the stop.
                _interrupt(trainer, exception)
                return None

        super()._wrapping_function(process_idx, trainer, stoppable, *rest)


@contextmanager
def _signals_passed_to_children():
    """SIGTERM and SIGINT sent on to this process's child processes (the first of each
    only), instead of stopping this one, while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    passed = set()

    def pass_on(signum, frame) -> None:
        if signum not in passed:
            passed.add(signum)
            for child in multiprocessing.active_children():
                os.kill(child.pid, signum)

    previous = {
        signum: signal.signal(signum, pass_on) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check_backend(trainer: L.Trainer, sparse_grads: bool) -> None:
    """Refuse a DDP strategy that would all-reduce sparse gradients over NCCL (one that
    Lightning chose by itself, e.g. for trainer.devices=2 with trainer.strategy=auto)."""
    ddp = trainer.strategy
    if not (sparse_grads and isinstance(ddp, DDPStrategy)):
        return
    backend = ddp.process_group_backend
    if backend == "nccl" or (backend is None and ddp.root_device.type == "cuda"):
        raise ConfigError(
            "several GPUs with the sparse gradients of model.optimizer=sparse_adam: NCCL"
            " cannot all-reduce them; use trainer=ddp (gloo) or model.optimizer=sgd or adam"
        )


class DistributedRun(L.Callback):
    """What each rank of a multi-process run needs beyond Lightning; a no-op on one process.

    Every rank initialises the tables from the same seed (SkipGramModule), so they start equal.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        quiet_library_noise()  # spawned ranks start without the launching process's filters
        if trainer.world_size > 1:
            # Every rank validates on all validation batches (so rank zero's loss is the
            # single-device one), and the training loss is rank zero's share: no syncing.
            warnings.filterwarnings(
                "ignore", r"It is recommended to use `self.log\('(val|train)/", PossibleUserWarning
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # ddp_spawn trains in child processes and carries only callback_metrics back.
        trainer.callback_metrics[EPOCHS] = torch.tensor(trainer.current_epoch)
        trainer.callback_metrics[STEPS] = torch.tensor(trainer.global_step)
        if trainer.world_size > 1:
            mine = weights_digest(pl_module)
            rank_zero = trainer.strategy.broadcast(mine, src=0)
            log.info("rank %d weights sha256 %s", trainer.global_rank, mine)
            if mine != rank_zero:
                log.error("rank %d holds different weights from rank zero", trainer.global_rank)


def weights_digest(module: torch.nn.Module, rows: int = 1 << 16) -> str:
    """SHA-256 of every parameter's bytes, in name order; copied to the host in slices of
    `rows` rows, so a large table never needs a second full copy."""
    digest = hashlib.sha256()
    for name, param in sorted(module.named_parameters()):
        digest.update(name.encode())
        flat = param.detach().reshape(len(param), -1) if param.dim() else param.detach()[None]
        for start in range(0, len(flat), rows):
            digest.update(flat[start : start + rows].cpu().numpy().tobytes())
    return digest.hexdigest()
