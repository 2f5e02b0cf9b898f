"""trainer=ddp_cpu end to end: two gloo processes train one model, and rank zero writes it.

Deselect locally with -m "not ddp" (each run starts two or three Python processes).
"""

import json
import os
import re
import subprocess
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from conftest import (
    log_stamps,
    make_config,
    planted_groups_text,
    resolved_config,
    run_script,
    small_run_overrides,
)
from sgns.data.datamodule import SkipGramDataModule
from sgns.model.module import SkipGramModule
from sgns.run.distributed import weights_digest
from sgns.run.train import run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.ddp]


def train(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_script("train.py", *overrides, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One 2-process run (trainer=ddp_cpu forks both ranks) shared by the tests."""
    tmp_path = tmp_path_factory.mktemp("ddp")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=5_000)[0])
    overrides = small_run_overrides(corpus, tmp_path / "cache", trainer="ddp_cpu")
    run_dir = tmp_path / "run"
    result = train(*overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (tmp_path / "console.txt").write_text(result.stdout + result.stderr)
    return run_dir, overrides, tmp_path


def logged_digests(run_dir: Path) -> dict[int, str]:
    """rank -> weights digest, from every process's Hydra log file."""
    found = {}
    for log_file in run_dir.glob("*.log"):
        for rank, digest in re.findall(r"rank (\d+) weights sha256 (\w+)", log_file.read_text()):
            found[int(rank)] = digest
    return found


def load_module(run_dir: Path) -> SkipGramModule:
    path = run_dir / "checkpoints" / "last.ckpt"
    vocab = torch.load(path, map_location="cpu", weights_only=True)["vocab"]
    return SkipGramModule.load_from_checkpoint(path, map_location="cpu", **vocab)


def test_both_ranks_end_with_the_weights_rank_zero_saved(ddp_run):
    run_dir, _, _ = ddp_run
    digests = logged_digests(run_dir)
    assert set(digests) == {0, 1}
    assert digests[0] == digests[1]
    assert weights_digest(load_module(run_dir)) == digests[0]


def test_artefacts_are_written_once_by_rank_zero(ddp_run):
    run_dir, _, _ = ddp_run
    names = sorted(p.name for p in run_dir.iterdir())
    assert names.count("vectors.txt") == names.count("metrics.json") == 1
    assert not [n for n in names if ".tmp-" in n]
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == [
        ".hydra",
        "checkpoints",
        "tb",
    ]
    # Both ranks were forked from the launching process and log into its train.log.
    assert [p.name for p in run_dir.glob("*.log")] == ["train.log"]
    logs = (run_dir / "train.log").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in logs
    assert logs.count("tokenising") == 1  # the token cache was built once
    assert "all-reduces" not in logs  # sgd's ranks exchange row updates, not gradients
    assert "Dictionary" not in logs  # gensim's demo corpus, built when gensim.test.utils loads
    steps = json.loads((run_dir / "metrics.json").read_text())["steps"]
    assert f"wrote vectors.txt, vocab.txt and metrics.json: 2 epochs, {steps} steps, " in logs


def test_console_has_no_deprecation_warnings(ddp_run):
    """torch 2.13 deprecates DDP's broadcast_buffers and the autograd all_gather Lightning's
    own all_gather uses: neither is asked for."""
    _, _, tmp_path = ddp_run
    console = (tmp_path / "console.txt").read_text()
    assert "All distributed processes registered" in console  # the ranks' output is here
    assert "deprecated" not in console


def test_training_time_starts_once_both_ranks_have_joined(ddp_run):
    """Before the ranks join (seconds when a rank imports torch afresh, under ddp) nothing
    trains: train_seconds (and so words/s) leaves that out."""
    run_dir, _, _ = ddp_run
    log = (run_dir / "train.log").read_text()
    [joined] = log_stamps(log, "-" * 100 + "\ndistributed_backend=gloo\nAll distributed processes")
    # after fit returned
    [written] = log_stamps(log, "wrote vectors.txt, vocab.txt and metrics.json")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 < metrics["train_seconds"] <= (written - joined).total_seconds() + 0.002


def test_each_rank_takes_half_of_every_epochs_pairs(ddp_run):
    run_dir, overrides, _ = ddp_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    datamodule = single_process_datamodule(overrides)
    batches = []
    for epoch in range(2):
        datamodule.train_set.epoch = epoch
        batches.append(sum(1 for _ in datamodule.train_set))
    assert metrics["epochs"] == 2
    assert metrics["steps"] == sum(-(-n // 2) for n in batches)  # a last odd batch is split


def test_validation_loss_is_the_single_process_one_for_the_same_weights(ddp_run):
    run_dir, overrides, _ = ddp_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    module = load_module(run_dir)
    (result,) = trainer.validate(module, datamodule=single_process_datamodule(overrides))
    assert result["val/loss"] == pytest.approx(metrics["final_val_loss"], rel=1e-6)


@pytest.fixture
def restore_environ():
    """The spawning launcher sets MASTER_PORT and friends in this process's environment."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("restore_environ")
def test_ddp_spawn_trains_the_same_model_and_reports_its_progress(ddp_run):
    """ddp_spawn (what a local sweep falls back to) trains in fresh child processes: the
    metrics rank zero carries back and the vectors equal those of the forked ranks."""
    run_dir, overrides, tmp_path = ddp_run
    spawned = tmp_path / "spawned"
    spawned.mkdir()
    spawn_metrics = run(make_config([*overrides, "trainer.strategy=ddp_spawn"]), spawned)
    fork_metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("epochs", "steps", "tokens_seen", "final_train_loss", "final_val_loss"):
        assert spawn_metrics[key] == fork_metrics[key], key
    np.testing.assert_array_equal(
        np.loadtxt(spawned / "vectors.txt", skiprows=1, usecols=range(1, 17)),
        np.loadtxt(run_dir / "vectors.txt", skiprows=1, usecols=range(1, 17)),
    )


def single_process_datamodule(overrides: list[str]) -> SkipGramDataModule:
    conf = resolved_config(overrides)
    datamodule = SkipGramDataModule(**conf["data"], seed=conf["seed"])
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule
