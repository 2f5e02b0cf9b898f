"""A sweep whose runs train side by side: hydra/launcher=parallel (Ray) on this machine."""

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from conftest import log_stamps, planted_groups_text, run_script, small_run_overrides

pytest.importorskip("hydra_plugins.hydra_ray_launcher")
pytestmark = pytest.mark.slow


def logged_span(log: Path) -> tuple[datetime, datetime]:
    """When a run's log begins and ends."""
    stamps = log_stamps(log.read_text())
    return stamps[0], stamps[-1]


def test_a_grid_runs_two_at_a_time_through_ray_and_shares_one_token_cache(tmp_path):
    corpus, cache, sweep_dir = tmp_path / "corpus.txt", tmp_path / "cache", tmp_path / "grid"
    corpus.write_text(planted_groups_text(n_tokens=3_000)[0])
    result = run_script(
        "train.py",
        "-m",
        "+sweep=grid",
        "hydra/launcher=parallel",
        # 2 cores for Ray, 1 per run: 2 runs at a time, whatever this machine has.
        "hydra.launcher.ray.init.num_cpus=2",
        "hydra.launcher.ray.remote.num_cpus=1",
        *small_run_overrides(corpus, cache, **{"trainer.max_epochs": 1}),
        "model.embed_dim=8",  # the grid's noise_power x n_samples: 4 runs
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(runs) == 4
    for run_dir in runs:
        assert (run_dir / "vectors.txt").is_file()
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["final_val_loss"] > 0
        info = json.loads((run_dir / "run_info.json").read_text())
        assert info["torch_threads"] == 1  # cpu_threads followed the run's one core

    spans = [logged_span(run_dir / "train.log") for run_dir in runs]
    overlapping = [
        (a, b)
        for a in range(4)
        for b in range(a + 1, 4)
        if max(spans[a][0], spans[b][0]) < min(spans[a][1], spans[b][1])
    ]
    assert overlapping, spans  # some runs trained at the same time

    logs = "".join((run_dir / "train.log").read_text() for run_dir in runs)
    assert logs.count("tokenising 1 file(s)") == 1  # the first run built the cache entry
    assert logs.count("token cache hit") >= 3  # the others loaded it
    assert len([p for p in cache.iterdir() if p.name.startswith("tokens-")]) == 1

    summary = run_script("summarize.py", str(sweep_dir), "--no-plots", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr[-2000:]
    rows = list(csv.DictReader((sweep_dir / "summary.csv").read_text().splitlines()))
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"ok"}
    assert {(r["model.n_samples"], r["model.noise_power"]) for r in rows} == {
        ("5", "0.75"), ("5", "1.0"), ("15", "0.75"), ("15", "1.0"),
    }  # fmt: skip
