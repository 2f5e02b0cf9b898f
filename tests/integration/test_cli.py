"""scripts/train.py as a user runs it: a Hydra run, a multirun, and bad input."""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import planted_groups_text, run_script, small_run_overrides

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def train(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_script("train.py", *overrides, cwd=cwd)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(planted_groups_text(n_tokens=5_000)[0])
    return path


def test_multirun_writes_one_directory_per_run(tmp_path, corpus):
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 1})
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m", *overrides, "model.embed_dim=8,12", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Lightning's messages, once a run, in the runs' format, and filed in their train.log
    # (here Lightning is imported before Hydra sets up logging: tests/script_process.py).
    console = result.stdout + result.stderr
    assert console.count("][lightning.pytorch.utilities.rank_zero][INFO] - GPU available") == 2
    assert "INFO: " not in console
    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(run_dirs) == 2
    for run_dir, dim in zip(run_dirs, (8, 12), strict=True):
        assert f"model.embed_dim={dim}" in run_dir.name
        header = (run_dir / "vectors.txt").read_text().splitlines()[0]
        assert header == f"30 {dim}"
        assert json.loads((run_dir / "metrics.json").read_text())["vocab_size"] == 30
        assert list((run_dir / "tb").glob("events.out.tfevents.*"))
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        assert "GPU available" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize(
    ("case", "override", "message"),
    [
        ("missing file", "data.path=MISSING", "error: corpus file not found"),
        ("empty file", "data.path=EMPTY", "error: the corpus (EMPTY) contains no words"),
        ("min_count", "data.min_count=100000", "error: no word in the corpus"),
        ("embed_dim", "model.embed_dim=0", "error: model.embed_dim=0 is invalid"),
        ("n_samples", "model.n_samples=0", "error: model.n_samples=0 is invalid"),
        ("window", "data.window=0", "error: data.window=0 is invalid"),
        ("batch_size", "data.batch_size=-1", "error: data.batch_size=-1 is invalid"),
    ],
)
def test_bad_input_gives_one_line_error_and_no_vectors(tmp_path, corpus, case, override, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    subst = {"MISSING": str(tmp_path / "nope.txt"), "EMPTY": str(empty)}
    for key, value in subst.items():
        override, message = override.replace(key, value), message.replace(key, value)
    run_dir = tmp_path / "run"
    result = train(
        *small_run_overrides(corpus, tmp_path / "cache"),
        override,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(message), result.stderr
    assert not (run_dir / "vectors.txt").exists()
