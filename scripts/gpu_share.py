"""Several runs of a sweep on one GPU at once (hydra/launcher=parallel), against one alone.

Where the Ray launcher is not installed (a GPU machine without it, say) the runs are started
as plain concurrent processes of scripts/train.py instead: the GPU is shared the same way,
since Ray's fractional `num_gpus` only counts, it does not partition the device.

Used by scripts/gpu_check.py, which has just trained the same corpus with the same settings
as one run: its training words/s is the "alone" figure. What is compared is training only: a
run's training is the `train_seconds` of its metrics.json, ending at Lightning's "`Trainer.fit`
stopped" line of its train.log; the aggregate words/s is the words all runs trained over the
span from the first run's start of training to the last one's end.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*`Trainer\.fit` stopped", re.M)


def shared_gpu(out: Path, overrides: list[str], runs: int, alone_words_per_sec: float, cpu: bool):
    """`runs` runs (seeds 0..runs-1) sharing one GPU, each 1/runs of it, against one alone.

    On the CPU (`cpu`, the dry run) each run takes a core instead: the steps, not the speed.
    """
    if not has_ray_launcher():
        launcher = "processes"
        together = processes(out / "shared_gpu", overrides, runs)
    else:
        launcher = "parallel"
        ray = [f"hydra.launcher.ray.remote.num_gpus={0 if cpu else 1 / runs}"]
        if cpu:
            ray.append(f"hydra.launcher.ray.init.num_cpus={runs}")
        seeds = f"seed={','.join(map(str, range(runs)))}"
        together = sweep(out / "shared_gpu", [*overrides, seeds], ray)
    return {
        "runs": runs,
        "launcher": launcher,
        "aggregate_words_per_sec": together["words_per_sec"],
        "alone_words_per_sec": alone_words_per_sec,
        "speedup": together["words_per_sec"] / alone_words_per_sec,
        "per_run_words_per_sec": together["per_run"],
        "overlap_seconds": together["overlap_seconds"],
    }


def sweep(sweep_dir: Path, overrides: list[str], launcher: list[str]) -> dict:
    """One `scripts/train.py -m` through hydra/launcher=parallel; its training span."""
    command = [
        sys.executable, str(ROOT / "scripts" / "train.py"), "-m", "hydra/launcher=parallel",
        *launcher, *overrides, "trainer.enable_progress_bar=false", "eval.enabled=false",
        f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=${hydra.job.num}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the shared-GPU sweep failed: {done.stderr[-3000:]}")
    return training_spans(sweep_dir)


def processes(sweep_dir: Path, overrides: list[str], runs: int) -> dict:
    """`runs` concurrent `scripts/train.py` processes (seeds 0..runs-1); their training span."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for seed in range(runs):
        command = [
            sys.executable, str(ROOT / "scripts" / "train.py"), *overrides, f"seed={seed}",
            "trainer.enable_progress_bar=false", "eval.enabled=false",
            f"hydra.run.dir={sweep_dir / str(seed)}",
        ]  # fmt: skip
        with open(sweep_dir / f"{seed}.stderr.log", "w") as err:  # a file: no pipe to fill
            started.append(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                            stderr=err))  # fmt: skip
    for seed, process in enumerate(started):
        if process.wait() != 0:
            tail = (sweep_dir / f"{seed}.stderr.log").read_text()[-3000:]
            raise RuntimeError(f"a shared-GPU run failed: {tail}")
    return training_spans(sweep_dir)


def has_ray_launcher() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None
    except ModuleNotFoundError:  # no hydra_plugins package at all
        return False


def training_spans(sweep_dir: Path) -> dict:
    """The runs under `sweep_dir`: words trained over the span from first start to last end."""
    spans, words, per_run = [], 0, []
    for run_dir in sorted(p for p in sweep_dir.iterdir() if p.name.isdigit()):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        spans.append(training_span(run_dir / "train.log", metrics["train_seconds"]))
        words += metrics["tokens_seen"]
        per_run.append(metrics["train_words_per_sec"])
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    overlap = max(0.0, (min(e for _, e in spans) - max(s for s, _ in spans)).total_seconds())
    return {
        "words_per_sec": words / (end - start).total_seconds(),
        "per_run": per_run,
        "overlap_seconds": overlap,
    }


def training_span(log: Path, train_seconds: float) -> tuple[datetime, datetime]:
    """When a run trained: `train_seconds` ending at its "`Trainer.fit` stopped" line."""
    found = STAMP.findall(log.read_text())
    if not found:
        raise RuntimeError(f"{log} has no `Trainer.fit` stopped line")
    end = datetime.strptime(found[-1], "%Y-%m-%d %H:%M:%S,%f")
    return end - timedelta(seconds=train_seconds), end
