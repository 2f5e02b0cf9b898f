"""A sweep as a user runs it: scripts/train.py -m +sweep=..., then scripts/summarize.py."""

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import planted_groups_text, run_script, small_run_overrides

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_script(name, *args, cwd=cwd)


@pytest.fixture
def overrides(tmp_path) -> list[str]:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=3_000)[0])
    return small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 1})


def _git_head() -> str | None:
    """This checkout's commit, or None without git or outside a repository."""
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit())


def test_grid_sweep_then_summary(tmp_path, overrides):
    sweep_dir = tmp_path / "grid"
    # embed_dim and n_samples pinned on the command line; noise_power swept by conf/sweep/grid.
    result = script(
        "train.py",
        "-m",
        "+sweep=grid",
        *overrides,
        "model.embed_dim=8",
        "model.n_samples=2",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = run_dirs(sweep_dir)
    assert len(runs) == 2
    head = _git_head()
    for run_dir, power in zip(runs, ("0.75", "1.0"), strict=True):
        assert f"model.noise_power={power}" in run_dir.name  # from the sweep config
        assert "model.embed_dim=8" in run_dir.name
        assert "sweep=" not in run_dir.name
        info = json.loads((run_dir / "run_info.json").read_text())
        assert info["device"] == "cpu"
        assert info["versions"]["torch"]
        assert info["git"]["commit"] == head

    result = script("summarize.py", str(sweep_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ranked by `final_val_loss` (lower is better)" in result.stdout
    rows = list(csv.DictReader((sweep_dir / "summary.csv").read_text().splitlines()))
    losses = {r.name: json.loads((r / "metrics.json").read_text())["final_val_loss"] for r in runs}
    assert [row["run"] for row in rows] == sorted(losses, key=losses.get)  # best first
    assert {row["model.noise_power"] for row in rows} == {"0.75", "1.0"}
    assert all(float(row["train_words_per_sec"]) > 0 for row in rows)
    assert (sweep_dir / "summary.md").read_text() in result.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "warning: matplotlib is not installed" in result.stderr
    else:
        assert (sweep_dir / "final_val_loss_vs_model.noise_power.png").is_file()


def test_optuna_search_of_two_trials(tmp_path, overrides):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep_dir = tmp_path / "optuna"
    overrides = [o for o in overrides if not o.startswith("model.embed_dim=")]  # searched
    # Directory names hold every override; keep this test's plumbing out of them
    # (a name longer than 255 bytes cannot be created).
    plumbing = [o.split("=")[0] for o in overrides] + ["objective", "sweep"]
    result = script(
        "train.py",
        "-m",
        "+sweep=optuna",
        *overrides,
        # analogy accuracy needs an analogy set; the validation loss needs nothing, and a
        # loss is minimised without being told.
        "objective=final_val_loss",
        "hydra.sweeper.n_trials=2",
        f"hydra.job.config.override_dirname.exclude_keys=[{','.join(plumbing)}]",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = run_dirs(sweep_dir)
    assert len(runs) == 2
    for run_dir in runs:
        for key in ("model.embed_dim", "model.n_samples", "model.noise_power", "model.lr"):
            assert f"{key}=" in run_dir.name
        assert "data.window=" in run_dir.name
    losses = [json.loads((r / "metrics.json").read_text())["final_val_loss"] for r in runs]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(losses))


def test_failed_runs_leave_the_others_intact_and_are_listed_with_their_reason(tmp_path):
    """submitit's local executor runs each run in its own process, as on SLURM: one run
    trains, one diverges (sparse Adam at an absurd rate), one has a value out of range."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=2_000)[0])
    settings = {"model.optimizer": "sparse_adam", "model.init": "uniform"}
    sweep_dir = tmp_path / "sweep"
    result = script(
        "train.py",
        "-m",
        "hydra/launcher=submitit_local",
        *small_run_overrides(corpus, tmp_path / "cache", **settings),
        "model.lr=0.01,100,1000",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweep.subdir=${hydra.job.num}",  # every override in a name is too long
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = run_dirs(sweep_dir)
    assert len(runs) == 3
    assert (runs[0] / "vectors.txt").is_file()
    for failed in runs[1:]:
        assert not (failed / "vectors.txt").exists()
        assert (failed / "failed.json").is_file()

    summary = script("summarize.py", str(sweep_dir), "--no-plots", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr[-2000:]
    rows = {r["model.lr"]: r for r in csv.DictReader((sweep_dir / "summary.csv").open())}
    assert rows["0.01"]["status"] == "ok"
    assert rows["0.01"]["rank"] == "1"
    assert rows["100"]["status"] == rows["1000"]["status"] == "failed"
    assert re.search(r"Error: training (stopped|diverged).*lower model.lr", rows["100"]["error"])
    assert rows["1000"]["error"].startswith("ConfigError: model.lr=1000.0 is invalid")
    assert "| failed |" in summary.stdout
