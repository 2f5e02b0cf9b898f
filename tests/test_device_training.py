"""Training end to end with pairs made on the device: on the CPU (data.pairs_on=device) and,
where there is one, on a CUDA GPU with what trainer.accelerator=auto picks there."""

import json
import math
import os
import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import (
    ROOT,
    import_script,
    make_config,
    planted_groups_text,
    sample_ws353,
    small_run_overrides,
)
from sgns.data.device_batches import DevicePairs
from sgns.model.module import SkipGramModule
from sgns.run.auto import CPU_BATCH_SIZE
from sgns.run.train import run

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.slow
def test_device_pairs_train_the_sample_as_well_as_host_pairs(tmp_path, shared_cache):
    """Same settings, pairs from torch instead of numpy: WS353 within 0.05, both well above
    untrained (~0.1). Half the sample's 30 epochs, to keep the suite quick; measured at 15
    epochs over seeds 0-3, WS353 host 0.413-0.455, device 0.426-0.457, device minus host
    -0.029 to +0.026 (at 30 epochs seeds alone move it by ~0.03: docs/benchmarks.md)."""
    cpu = ["trainer.accelerator=cpu", "trainer.max_epochs=15"]
    host, on_host = sample_ws353(tmp_path / "host", shared_cache, "data.pairs_on=host", *cpu)
    device, on_device = sample_ws353(
        tmp_path / "device", shared_cache, "data.pairs_on=device", *cpu
    )
    assert on_device["steps"] == pytest.approx(on_host["steps"], rel=0.05)
    assert on_host["shared_negatives"] == on_device["shared_negatives"] == 32  # 9,071 words
    assert host > 0.35
    assert device > 0.35
    assert abs(device - host) < 0.05


@pytest.mark.slow
def test_gpu_check_dry_run_writes_sane_numbers(tmp_path):
    out = tmp_path / "check"
    done = subprocess.run(
        [str(ROOT / "scripts" / "bench" / "gpu_check.sh"), str(out), "--cpu"],
        env={**os.environ, "SGNS_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["mode"] == "cpu"
    assert report["device"] == "cpu"
    assert report["pytest_gpu"]["returncode"] == 0
    assert report["pytest_gpu"]["failed"] == 0
    corpus = report["corpus"]
    # min_count 5 drops the rarest words, and 1 % is held out for validation.
    assert corpus["tokens"] == 300_000
    assert 0.75 * 300_000 < corpus["train_tokens"] < 0.99 * 300_000
    assert corpus["vocab_size"] > 5_000
    # 1M-pair updates asked for, cut to 1/64 of the epoch's ~1.06M pairs (rounded down to a
    # power of two): a GPU's 17M-token corpus keeps them whole.
    assert (corpus["batch_size"], corpus["sgd_chunk"], corpus["pairs_on"]) == (
        1_048_576, 16_384, "device",
    )  # fmt: skip
    assert corpus["train_words_per_sec"] > 0
    assert corpus["steps"] == 2  # one epoch of ~1.3M pairs
    assert corpus["step_seconds"] == pytest.approx(corpus["train_seconds"] / corpus["steps"])
    assert corpus["peak_gpu_memory_mb"] is None
    shared = report["shared_gpu"]  # 2 runs side by side through Ray, a core each
    assert shared["runs"] == 2
    rates = shared["per_run_words_per_sec"]
    assert len(rates) == 2
    assert min(rates) > 0
    # Whether two one-second trainings overlap on 2 busy cores is up to the scheduler
    # (tests/integration/test_parallel_sweep.py checks that runs overlap). However they
    # fall, the aggregate cannot beat both runs at full speed at once (the span covers
    # each run's training), within the log stamps' millisecond.
    assert shared["overlap_seconds"] >= 0
    assert 0 < shared["aggregate_words_per_sec"] <= 1.05 * sum(rates)
    assert shared["speedup"] == pytest.approx(
        shared["aggregate_words_per_sec"] / shared["alone_words_per_sec"]
    )
    sample = report["sample"]
    assert sample["cpu"]["pairs_on"] == "host"
    assert sample["device"]["pairs_on"] == "device"
    # What `auto` cuts a GPU batch to on the sample, set explicitly for the dry run, applied
    # in updates of 1/64 of an epoch.
    assert sample["cpu"]["batch_size"] == sample["device"]["batch_size"] == 65_536
    assert sample["cpu"]["sgd_chunk"] == sample["device"]["sgd_chunk"] == 8192
    assert sample["cpu"]["steps"] == sample["device"]["steps"] == 90  # 10 epochs of 9 steps
    for side in ("cpu", "device"):
        assert 0.1 < sample[side]["ws353"] < 1
        assert 0 <= sample[side]["analogy"] < 1
    assert sample["ws353_diff"] == pytest.approx(sample["device"]["ws353"] - sample["cpu"]["ws353"])
    fused = report["pytest_fused"]  # the kernel's tests, in the interpreter
    assert fused["returncode"] == 0
    assert (fused["passed"], fused["failed"]) > (10, 0)
    step = report["fused_step"]
    assert step["pairs"] == 256
    assert step["step_ms"] > 0
    assert step["first_call_ms"] > 0
    real = report["real_text"]  # a few thousand words of this machine's documentation
    assert real["corpus"]["tokens"] >= 2000
    assert real["corpus"]["enough"]
    assert (real["gpu"]["gpu_step"], real["cpu"]["gpu_step"]) == ("fused", "torch")
    assert real["gpu"]["vocab_size"] == real["cpu"]["vocab_size"] > 0
    for side in ("gpu", "cpu"):
        assert math.isfinite(real[side]["final_train_loss"])
    sweep = report["sweep"]  # two of the mission's 27 runs, one epoch each
    assert (sweep["runs"], sweep["finished"], sweep["failed"]) == (2, 2, [])
    assert sweep["wall_seconds"] > 0
    swept = [line for line in sweep["table"].splitlines() if line.startswith("| rank")]
    assert "model.noise_power" in swept[0]  # the one key that varies
    # Where the time went, step by step, in the order they ran: the plan for a GPU's budget.
    steps = report["seconds_by_step"]
    assert list(steps) == ["pytest_gpu", "pytest_fused", "fused_step", "corpus", "real_text",
                           "sweep", "shared_gpu", "sample"]  # fmt: skip
    assert min(steps.values()) > 0
    assert sum(steps.values()) == pytest.approx(report["wall_seconds"])
    table = (out / "gpu_check.md").read_text()
    assert "| training words/s |" in table
    assert "| sweep of 2 runs (" in table
    assert "| real text ws353 GPU default / CPU default |" in table
    assert "| peak GPU memory MB | n/a |" in table
    first_call = "fused step's first call (compiling, or loading Triton's cache)"
    assert f"| {first_call} | {step['first_call_ms']:.0f} ms |" in table
    assert "| 2 runs sharing it: words/s |" in table


@pytest.mark.slow
def test_runs_sharing_a_device_without_ray_start_as_plain_processes(tmp_path):
    """gpu_check's shared-GPU step where the Ray launcher is missing (as on a GPU machine
    without it): concurrent scripts/train.py processes, and a failed one named with its
    error."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=3000)[0])
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 1})
    together = import_script("bench/gpu_check").processes(tmp_path / "shared", overrides, 2)
    assert len(together["per_run"]) == 2
    assert min(together["per_run"]) > 0
    assert 0 < together["words_per_sec"] <= 1.05 * sum(together["per_run"])
    assert sorted(p.name for p in (tmp_path / "shared").iterdir() if p.is_dir()) == ["0", "1"]
    bad = [o for o in overrides if not o.startswith("data.path=")] + ["data.path=MISSING"]
    with pytest.raises(RuntimeError, match="a shared-GPU run failed: .*corpus file not found"):
        import_script("bench/gpu_check").processes(tmp_path / "bad", bad, 1)
    # The sweep's way: a failed run is named with its error's last line, not raised.
    failed = import_script("bench/gpu_check").run_processes(
        tmp_path / "bad_sweep", bad, [["seed=3"]], strict=False
    )
    assert len(failed) == 1
    assert failed[0].startswith("0: error: corpus file not found")


@pytest.mark.gpu
@needs_cuda
def test_device_pairs_are_made_and_dealt_on_the_gpu():
    ids = np.random.default_rng(0).integers(0, 50, size=30_000).astype(np.int32)
    pairs = DevicePairs(ids, np.full(50, 0.7), window=5, batch_size=4096, seed=0, device="cuda")
    got = list(pairs)
    assert all(x.is_cuda and y.is_cuda and x.dtype == torch.int64 for x, y in got)
    n_pairs = sum(len(x) for x, _ in got)
    assert abs(n_pairs / (0.7 * 30_000 * 6) - 1) < 0.03
    pairs.world_size, pairs.rank = 2, 1
    assert len(list(pairs)) == -(-len(got) // 2)


@pytest.mark.gpu
@needs_cuda
def test_training_on_cuda_picks_the_gpu_settings_and_learns(tmp_path):
    text, groups = planted_groups_text()
    corpus = tmp_path / "planted.txt"
    corpus.write_text(text)
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"data.window": 3})
    overrides = [o for o in overrides if not o.startswith(("trainer.accelerator", "data.batch"))]
    overrides += ["trainer.accelerator=auto", "trainer.max_epochs=20"]
    metrics = run(make_config(overrides), tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert "cuda" in json.dumps(info).lower()
    # The GPU's 1M-pair batch is cut to the 65,536 floor on this small corpus, and its
    # updates to 1/64 of an epoch rounded down to a power of two: ~118k pairs an epoch (30k
    # tokens, about 4 pairs each at window 3) make two steps an epoch, in 1,024-pair updates.
    assert (metrics["batch_size"], metrics["sgd_chunk"]) == (CPU_BATCH_SIZE, 1024)
    assert metrics["steps"] == 2 * 20
    assert np.isfinite(metrics["final_train_loss"])
    untrained = 6 * np.log(2)  # all-zero vectors, 5 negatives
    assert metrics["final_train_loss"] < 0.9 * untrained


class SyncsAreErrors(L.Callback):
    """CUDA's sync debug mode set to "error" during every training batch that does not log:
    any operation that makes the host wait for the device raises there."""

    def __init__(self, log_every: int):
        self.log_every, self.quiet_batches = log_every, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx % self.log_every:
            torch.cuda.set_sync_debug_mode("error")
            self.quiet_batches += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(("gpu_step", "shared"), [("torch", 1), ("fused", 32)])
def test_steps_between_log_points_never_synchronise_with_the_gpu(gpu_step, shared):
    words, counts = [f"w{i}" for i in range(5000)], np.arange(5000, 0, -1) * 10
    module = SkipGramModule(
        words, counts, embed_dim=64, shared_negatives=shared, sgd_chunk=None, gpu_step=gpu_step
    )
    g = torch.Generator("cuda").manual_seed(0)
    batch = tuple(torch.randint(5000, (1 << 18,), generator=g, device="cuda") for _ in "xy")
    guard = SyncsAreErrors(log_every=5)
    trainer = L.Trainer(
        accelerator="gpu", devices=1, max_steps=11, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=5,
        callbacks=[guard],
    )  # fmt: skip
    try:
        trainer.fit(module, train_dataloaders=DataLoader([batch] * 11, batch_size=None))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert trainer.global_step == 11
    assert guard.quiet_batches == 8
