"""scripts/train.py never writes over another run's results: launches in one second get a
folder each, and a folder holding a finished run is refused unless the run is resumed there.

The launches "in one second" are processes released together by one barrier, with Hydra's
clock (``${now:...}`` in conf/hydra/default.yaml) stopped at one second in each, so they
always ask for the same folder name.
"""

import functools
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import script_process
import yaml
from train_script import one_line, start, train

from conftest import planted_groups_text, small_run_overrides

pytestmark = pytest.mark.slow
STOPPED = datetime(2030, 1, 2, 3, 4, 5)
STAMP = STOPPED.strftime("%Y-%m-%d_%H-%M-%S")  # the folder name every launch below asks for


class _StoppedClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return STOPPED


def in_one_second(barrier) -> None:
    """In each launch's process: Hydra's clock stopped at STOPPED, then start with the others."""
    import hydra.core.utils

    hydra.core.utils.datetime = _StoppedClock  # what Hydra's ${now:...} resolver calls
    barrier.wait(timeout=60)


def launch_together(commands: list[list[str]], cwd: Path) -> list[str]:
    """Each command started at the same moment; their output once all have ended with 0."""
    barrier = script_process.barrier(len(commands))
    before = functools.partial(in_one_second, barrier)
    logs = [cwd / f"launch{i}.log" for i in range(len(commands))]
    processes = [
        start(*command, cwd=cwd, log=log, before=before)
        for command, log in zip(commands, logs, strict=True)
    ]
    for process in processes:
        process.wait(timeout=300)
    outputs = [log.read_text() for log in logs]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    return outputs


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(planted_groups_text(n_tokens=1_500)[0])
    return path


def tiny_run(corpus: Path, **extra) -> list[str]:
    settings = {"trainer.max_epochs": 1, "eval.enabled": "false", "data.batch_size": 4096, **extra}
    return small_run_overrides(corpus, corpus.parent / "cache", **settings)


def test_four_runs_started_in_one_second_each_write_a_folder_of_their_own(tmp_path, corpus):
    seeds = [11, 12, 13, 14]
    # One thread each: four runs share this machine's cores.
    launch_together([[*tiny_run(corpus, cpu_threads=1), f"seed={s}"] for s in seeds], cwd=tmp_path)

    folders = sorted((tmp_path / "outputs" / "runs").iterdir())
    assert [f.name for f in folders] == [STAMP, f"{STAMP}_2", f"{STAMP}_3", f"{STAMP}_4"]
    assert not (tmp_path / "outputs" / "multirun").exists()  # a run claims no sweep folder
    found = []
    for folder in folders:
        seed = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())["seed"]
        found.append(seed)
        assert f"seed={seed}" in yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        hydra_cfg = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra_cfg["run"]["dir"] == f"outputs/runs/{folder.name}"
        assert yaml.safe_load((folder / "tb" / "hparams.yaml").read_text())["seed"] == seed
        assert len(list((folder / "tb").glob("events.out.tfevents.*"))) == 1
        assert json.loads((folder / "metrics.json").read_text())["epochs"] == 1
        log = (folder / "train.log").read_text()
        assert log.count("run directory: ") == 1
        assert f"run directory: {folder}\n" in log
    assert sorted(found) == seeds
    assert len({(f / "vectors.txt").read_bytes() for f in folders}) == 4  # four seeds' vectors


def test_two_sweeps_started_in_one_second_each_write_a_folder_of_their_own(tmp_path):
    """Runs that stop at once (an out-of-range value) with the same overrides in both sweeps,
    which before shared one run folder; only the corpus, left out of folder names, differs."""
    corpora = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for path in corpora:
        path.write_text("words\n")
    sweep = ["-m", "model.embed_dim=0,-1", "data=text_file"]
    launch_together([[*sweep, f"data.path={c}"] for c in corpora], cwd=tmp_path)

    folders = sorted((tmp_path / "outputs" / "multirun").iterdir())
    assert [f.name for f in folders] == [STAMP, f"{STAMP}_2"]
    assert not (tmp_path / "outputs" / "runs").exists()  # a sweep's runs claim no run folder
    used = []
    for folder in folders:
        multirun = yaml.safe_load((folder / "multirun.yaml").read_text())["hydra"]
        assert multirun["sweep"]["dir"] == f"outputs/multirun/{folder.name}"
        runs = sorted(p.name for p in folder.iterdir() if p.is_dir())
        assert runs == ["0_data=text_file,model.embed_dim=0", "1_data=text_file,model.embed_dim=-1"]
        paths = set()
        for run in runs:
            overrides = yaml.safe_load((folder / run / ".hydra" / "overrides.yaml").read_text())
            paths |= {o for o in overrides if o.startswith("data.path=")}
            assert (folder / run / "train.log").read_text().count("run directory: ") == 1
            assert json.loads((folder / run / "failed.json").read_text())["type"] == "ConfigError"
        assert len(paths) == 1  # both runs of this sweep, and no run of the other
        used.append(paths.pop())
    assert sorted(used) == [f"data.path={c}" for c in corpora]


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished one-epoch run and the overrides it was trained with."""
    tmp = tmp_path_factory.mktemp("finished")
    (tmp / "corpus.txt").write_text(planted_groups_text(n_tokens=1_500)[0])
    command = tiny_run(tmp / "corpus.txt")
    result = train(*command, f"hydra.run.dir={tmp / 'run'}", cwd=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "run", command


def test_a_run_into_a_finished_runs_folder_is_refused_and_changes_nothing(tmp_path, finished):
    run_dir = shutil.copytree(finished[0], tmp_path / "run")
    before = contents(run_dir)
    assert {".hydra/config.yaml", "train.log", "vectors.txt", "metrics.json"} <= set(before)

    result = train(*finished[1], "seed=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == one_line(result.stderr)  # the whole of stderr
    assert one_line(result.stderr) == (
        f"error: {run_dir} holds a finished run (vectors.txt, metrics.json); choose another "
        f"hydra.run.dir, or continue that run with resume={run_dir}/checkpoints/last.ckpt"
    )
    assert contents(run_dir) == before  # the same files, byte for byte, and no new one


def test_a_sweep_into_a_folder_of_finished_runs_is_refused_and_changes_nothing(tmp_path, finished):
    sweep_dir = tmp_path / "sweep"
    shutil.copytree(finished[0], sweep_dir / "0_model.embed_dim=8")
    before = contents(sweep_dir)

    result = train(
        "-m", *finished[1], "model.embed_dim=8,12", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(
        f"error: {sweep_dir} holds a finished run (0_model.embed_dim=8/vectors.txt, "
    )
    assert contents(sweep_dir) == before


def test_a_run_resumed_in_its_own_folder_continues_there(tmp_path, finished):
    run_dir = shutil.copytree(finished[0], tmp_path / "run")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    result = train(
        *finished[1],
        "trainer.max_epochs=2",
        f"hydra.run.dir={run_dir}",
        f"resume={checkpoint}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["resumed_from"]) == (2, str(checkpoint))
    assert yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["resume"] == str(
        checkpoint
    )
    assert (run_dir / "train.log").read_text().count("run directory: ") == 2  # both runs' lines
