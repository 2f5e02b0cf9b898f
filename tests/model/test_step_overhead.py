"""A CPU proxy for a GPU step's launch overhead: torch operations per million training pairs.

On a GPU every torch operation is at least one kernel launch of a few microseconds, so a
step's cost at the GPU batch size (sgns.run.auto.GPU_BATCH_SIZE pairs, one model.sgd_chunk
piece) is set by how many operations it issues, not by its arithmetic. The count is the same
on any device, so the CPU profiler can hold it down here.
"""

import lightning as L
import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader

from sgns.model.module import SkipGramModule
from sgns.run.auto import GPU_BATCH_SIZE

# These steps are fed by hand, without the validation loader a run has: nothing to validate.
pytestmark = pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")

# One sgd_step piece issues about 300 aten events with the Lightning step around it (nested
# calls counted; measured: 293 for the whole 1M-pair step). The bound allows three such
# pieces per million pairs; the 4,096-pair pieces of the CPU default would issue 256 x ~245,
# about 62,500.
MAX_OPS_PER_MILLION_PAIRS = 1000


class ProfileOneStep(L.Callback):
    """Profiles training batch 1 (batch 0 allocates the workspace; neither logs)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 1:
            self.profiler = profile(activities=[ProfilerActivity.CPU])
            self.profiler.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 1:
            self.profiler.__exit__(None, None, None)
            self.ops = sum(e.name.startswith("aten::") for e in self.profiler.events())


def test_a_gpu_sized_step_issues_few_torch_operations():
    words, counts = [f"w{i}" for i in range(1000)], np.arange(1000, 0, -1) * 10
    # embed_dim 8: the count does not depend on it, and it keeps the CPU step short.
    module = SkipGramModule(
        words,
        counts,
        embed_dim=8,
        shared_negatives=1,
        sgd_chunk=GPU_BATCH_SIZE,
        gpu_step="torch",
    )
    probe = ProfileOneStep()
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=50,
        callbacks=[probe],
    )  # fmt: skip
    g = torch.Generator().manual_seed(0)
    batch = tuple(torch.randint(1000, (GPU_BATCH_SIZE,), generator=g) for _ in "xy")
    loader = DataLoader([batch, batch], batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    per_million = probe.ops / (GPU_BATCH_SIZE / 1e6)
    assert 50 < per_million <= MAX_OPS_PER_MILLION_PAIRS, per_million
