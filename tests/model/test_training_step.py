"""SkipGramModule's training step: divergence found without host reads, reduced-precision tables."""

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sgns.errors import ConfigError, SgnsError
from sgns.model.module import SkipGramModule

# These steps are fed by hand, without the validation loader a run has: nothing to validate.
pytestmark = pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")

V = 200
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__")


def make_module(**kwargs) -> SkipGramModule:
    words, counts = [f"w{i}" for i in range(V)], np.arange(V, 0, -1) * 10
    return SkipGramModule(
        words,
        counts,
        embed_dim=8,
        **{"shared_negatives": 1, "sgd_chunk": None, "gpu_step": "torch", **kwargs},
    )


def batches(n: int, size: int = 512) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(V, (size,), generator=g), torch.randint(V, (size,), generator=g))] * n


def fit(module, n_batches: int, log_every: int, callbacks=()) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu", max_steps=n_batches, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=log_every,
        callbacks=list(callbacks),
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=DataLoader(batches(n_batches), batch_size=None))
    return trainer


class Poison(L.Callback):
    """Makes every weight NaN before batch `at`."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.at:
            with torch.no_grad():
                pl_module.model.in_embed.weight.fill_(float("nan"))


class HostReads(L.Callback):
    """Records every Python-level read of a tensor's value (what makes a GPU step wait for
    the device) made during a training batch that does not log."""

    def __init__(self, monkeypatch, log_every: int):
        self.log_every, self.quiet, self.reads = log_every, False, []
        for name in HOST_READS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._watch(name, original))

    def _watch(self, name, original):
        def read(tensor, *args, **kwargs):
            if self.quiet:
                self.reads.append(name)
            return original(tensor, *args, **kwargs)

        return read

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.quiet = batch_idx % self.log_every != 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.quiet = False


def test_steps_between_log_points_never_read_a_tensor_on_the_host(monkeypatch):
    reads = HostReads(monkeypatch, log_every=4)
    trainer = fit(make_module(), n_batches=9, log_every=4, callbacks=[reads])
    assert trainer.global_step == 9
    assert reads.reads == []


def test_a_diverged_loss_stops_training_at_the_next_log_point_naming_its_step():
    """NaN weights before batch 1 give a NaN loss at step 2 (after its update); the flag is
    read at batch 4, the next batch that logs."""
    with pytest.raises(SgnsError) as err:
        fit(make_module(), n_batches=8, log_every=4, callbacks=[Poison(at=1)])
    assert str(err.value) == (
        "training stopped: the loss is nan at step 2; the weights diverged: lower model.lr"
    )


def test_a_diverged_loss_is_reported_at_the_epoch_end_without_a_log_point():
    with pytest.raises(SgnsError, match=r"^training stopped: the loss is nan at step 3;"):
        fit(make_module(), n_batches=4, log_every=100, callbacks=[Poison(at=2)])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_tables_train_and_stay_in_their_dtype(dtype):
    module = make_module(table_dtype=str(dtype).removeprefix("torch."))
    start = module.model.in_embed.weight.detach().clone()
    fit(module, n_batches=3, log_every=1)
    weights = module.model.in_embed.weight
    assert weights.dtype == module.model.out_embed.weight.dtype == dtype
    assert module.model.alias_prob.dtype == module.model.noise_dist.dtype == torch.float32
    assert bool(torch.isfinite(weights).all())
    assert not torch.equal(weights, start)
    assert module.embeddings("in+out").dtype == torch.float32


def test_reduced_precision_tables_need_the_sgd_optimizer():
    with pytest.raises(ConfigError, match="model.table_dtype=bfloat16 needs model.optimizer=sgd"):
        make_module(table_dtype="bfloat16", optimizer="adam")
    # An unknown dtype is the config's to refuse (tests/run/test_auto.py, bad device settings).


@pytest.mark.parametrize(("optimizer", "loads"), [("sgd", 1), ("sparse_adam", 0)])
def test_the_compiled_cpu_step_loads_before_the_training_clock_starts(
    monkeypatch, optimizer, loads
):
    """Its first call loads it from numba's cache, a second once a process: time that
    belongs to start-up, not to the first run's words/s (a sweep's first run looked slower)."""
    from sgns.model import sgd_cpu
    from sgns.run.progress import TrainingClock

    events = []
    load = sgd_cpu.load
    monkeypatch.setattr(sgd_cpu, "load", lambda: (events.append("load"), load()))

    class Clock(TrainingClock):
        def on_train_start(self, trainer, pl_module):
            events.append("clock")
            super().on_train_start(trainer, pl_module)

    fit(make_module(optimizer=optimizer), 2, 1, callbacks=[Clock()])
    assert events == ["load"] * loads + ["clock"]
