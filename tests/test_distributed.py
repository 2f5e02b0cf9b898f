"""Strategy choice and rank checks for multi-process runs (no processes started here)."""

import lightning as L
import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy

from sgns.errors import ConfigError
from sgns.model.skipgram import SkipGramNeg
from sgns.run.distributed import check_backend, strategy, weights_digest


def test_non_ddp_names_pass_through():
    assert strategy("auto", None, sparse_grads=True, multirun=False) == "auto"
    with pytest.raises(ConfigError, match="process_group_backend='gloo' needs trainer.strategy"):
        strategy("auto", "gloo", sparse_grads=True, multirun=False)


@pytest.mark.parametrize(
    ("name", "sparse", "multirun", "backend", "start_method"),
    [
        ("ddp", True, False, "gloo", "popen"),  # sparse gradients: never NCCL
        ("ddp", False, False, None, "popen"),  # dense: Lightning's default (NCCL on GPUs)
        ("ddp", True, True, "gloo", "spawn"),  # re-running the script would re-run the sweep
        ("ddp_spawn", True, False, "gloo", "spawn"),
        ("ddp_fork", False, False, None, "fork"),  # trainer=ddp_cpu
        ("ddp_fork", False, True, None, "spawn"),  # a launcher's threads would be forked too
    ],
)
def test_ddp_names_become_a_strategy_that_can_reduce_the_gradients(
    name, sparse, multirun, backend, start_method
):
    built = strategy(name, None, sparse_grads=sparse, multirun=multirun)
    assert isinstance(built, DDPStrategy)
    assert built.process_group_backend == backend
    assert built._start_method == start_method


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_ddp_fork_re_runs_the_script_where_forking_is_unsafe(monkeypatch, platform):
    monkeypatch.setattr("sys.platform", platform)
    assert strategy("ddp_fork", None, sparse_grads=False, multirun=False)._start_method == "popen"


def test_the_cpu_preset_forks_its_ranks():
    from conftest import make_config

    assert make_config(["trainer=ddp_cpu"]).trainer.strategy == "ddp_fork"


def test_nccl_with_sparse_gradients_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="nccl cannot all-reduce the sparse gradients"):
        strategy("ddp", "nccl", sparse_grads=True, multirun=False)
    assert strategy("ddp", "nccl", sparse_grads=False, multirun=False).process_group_backend


def test_a_strategy_lightning_chose_is_checked_too():
    def trainer(backend):
        ddp = DDPStrategy(process_group_backend=backend)
        return L.Trainer(accelerator="cpu", devices=2, strategy=ddp, logger=False)

    check_backend(trainer(None), sparse_grads=True)  # CPU: gloo
    check_backend(trainer("nccl"), sparse_grads=False)
    with pytest.raises(ConfigError, match="NCCL cannot all-reduce them"):
        check_backend(trainer("nccl"), sparse_grads=True)


def test_weights_digest_sees_one_changed_value_and_not_the_slicing():
    torch.manual_seed(0)
    model = SkipGramNeg(300, 8)
    digest = weights_digest(model)
    assert weights_digest(model, rows=7) == digest
    twin = SkipGramNeg(300, 8)
    twin.load_state_dict(model.state_dict())
    assert weights_digest(twin) == digest
    with torch.no_grad():
        twin.out_embed.weight[299, 7] += 1e-7
    assert weights_digest(twin) != digest
