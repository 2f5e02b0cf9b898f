"""scripts/train.py killed or stopped by a signal, as a crash or a scheduler would do it.

One run's life: SIGKILL (a crash, the OOM killer) after a periodic checkpoint; resumed with
the same command plus resume=.../last.ckpt; SIGTERM (what schedulers send before killing),
on which it saves last.ckpt after the current batch and exits 143 with one line naming the
checkpoint; resumed again, it completes the configured epochs.
"""

import json
import signal
import time

import pytest
import torch
from train_script import one_line, start, train

from conftest import planted_groups_text, small_run_overrides

pytestmark = pytest.mark.slow
EPOCHS = 2


@pytest.fixture
def command(tmp_path) -> list[str]:
    """A run of about 70 steps per epoch, checkpointing every 10 steps."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=1500)[0])
    extra = {
        "data.batch_size": 128,
        "trainer.max_epochs": EPOCHS,
        "checkpoint.every_n_train_steps": 10,
    }
    return small_run_overrides(corpus, tmp_path / "cache", **extra)


def wait_for(path, process, timeout=120.0) -> None:
    """Until `path` exists; fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended (status {process.returncode}) first"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def test_killed_then_stopped_run_resumes_each_time_and_completes(tmp_path, command):
    # 1. Killed outright once its first periodic checkpoint exists.
    first = tmp_path / "first"
    process = start(*command, f"hydra.run.dir={first}", cwd=tmp_path, log=tmp_path / "first.log")
    killed = first / "checkpoints" / "last.ckpt"
    try:
        wait_for(killed, process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (first / "metrics.json").exists()
    assert not (first / "vectors.txt").exists()
    killed_at = torch.load(killed, weights_only=True)["global_step"]

    # 2. Resumed, then sent SIGTERM: it saves after the current batch and says how to go on.
    second = tmp_path / "second"
    log = tmp_path / "second.log"
    process = start(*command, f"resume={killed}", f"hydra.run.dir={second}", cwd=tmp_path, log=log)
    stopped = second / "checkpoints" / "last.ckpt"
    try:
        wait_for(stopped, process)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == 143, output[-3000:]
    stopped_at = torch.load(stopped, weights_only=True)["global_step"]
    assert killed_at < stopped_at
    assert one_line(output) == (
        f"stopped: SIGTERM at step {stopped_at}: saved {stopped}; "
        f"to continue, run the same command with resume={stopped}"
    )
    assert not (second / "vectors.txt").exists()
    assert not (second / "metrics.json").exists()
    assert json.loads((second / "failed.json").read_text())["type"] == "Interrupted"

    # 3. Resumed again (checkpoint settings may change: rarer saves), it completes.
    third = tmp_path / "third"
    again = [*command, "checkpoint.every_n_train_steps=null", f"resume={stopped}"]
    result = train(*again, f"hydra.run.dir={third}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((third / "metrics.json").read_text())
    assert metrics["epochs"] == EPOCHS
    assert metrics["resumed_at_step"] == stopped_at < metrics["steps"]
    header = (third / "vectors.txt").read_text().splitlines()[0]
    assert header == f"{metrics['vocab_size']} 16"


@pytest.mark.ddp
@pytest.mark.parametrize(
    ("strategy", "signum", "said", "code"),
    [
        ("ddp_fork", signal.SIGTERM, "SIGTERM", 143),  # trainer=ddp_cpu's forked ranks
        ("ddp", signal.SIGINT, "interrupted (Ctrl-C)", 130),  # rank 1 re-runs the script
    ],
)
def test_a_stopped_ddp_run_saves_what_its_ranks_trained(tmp_path, strategy, signum, said, code):
    """The signal goes to the process the user started. Both ranks stop after the same batch
    and save last.ckpt together. Before, forked or spawned ranks trained on after a SIGTERM
    killed the launching process, and Ctrl-C saved that process's untrained tables ("step 0")
    as the checkpoint to resume from; Lightning's own handler could also deadlock the ranks
    mid-exchange, with a broadcast sent from inside the signal handler."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=1500)[0])
    extra = {
        "trainer": "ddp_cpu",
        "trainer.strategy": strategy,
        "data.batch_size": 128,
        "trainer.max_epochs": 100,  # far longer than the test lets it run
        "checkpoint.every_n_train_steps": 5,
    }
    run_dir, log = tmp_path / "run", tmp_path / "console.log"
    command = small_run_overrides(corpus, tmp_path / "cache", **extra)
    process = start(*command, f"hydra.run.dir={run_dir}", cwd=tmp_path, log=log)
    saved = run_dir / "checkpoints" / "last.ckpt"
    try:
        wait_for(saved, process)
        process.send_signal(signum)
        process.wait(timeout=120)
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == code, output[-3000:]
    step = torch.load(saved, weights_only=True)["global_step"]
    assert step > 0
    assert one_line(output) == (
        f"stopped: {said} at step {step}: saved {saved}; "
        f"to continue, run the same command with resume={saved}"
    )
    logs = "".join(p.read_text() for p in run_dir.glob("*.log"))
    assert logs.count(f"{said} at step {step}: saved") == 2  # each rank, at the same step
    assert not (run_dir / "vectors.txt").exists()
