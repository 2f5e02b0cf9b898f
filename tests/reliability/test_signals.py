"""scripts/train.py killed or stopped by a signal, as a scheduler or a crash would do it.

- SIGKILL (a crash, the OOM killer, a pulled plug) after a periodic checkpoint: the same
  command plus resume=.../last.ckpt completes the configured epochs.
- SIGTERM (what schedulers send before killing): the run saves last.ckpt after the current
  batch and exits with status 143 and one line naming the checkpoint; no vectors are written.
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


def test_killed_run_resumes_from_its_last_checkpoint_and_completes(tmp_path, command):
    first = tmp_path / "first"
    process = start(*command, f"hydra.run.dir={first}", cwd=tmp_path, log=tmp_path / "first.log")
    checkpoint = first / "checkpoints" / "last.ckpt"
    try:
        wait_for(checkpoint, process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (first / "metrics.json").exists() and not (first / "vectors.txt").exists()
    killed_at = torch.load(checkpoint, weights_only=True)["global_step"]
    assert killed_at >= 10

    resumed = tmp_path / "resumed"
    # Checkpoint settings may change on resume: rarer saves make this test faster.
    again = [*command, "checkpoint.every_n_train_steps=null", f"resume={checkpoint}"]
    result = train(*again, f"hydra.run.dir={resumed}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["epochs"] == EPOCHS
    assert metrics["resumed_at_step"] == killed_at < metrics["steps"]
    header = (resumed / "vectors.txt").read_text().splitlines()[0]
    assert header == f"{metrics['vocab_size']} 16"


def test_sigterm_saves_a_checkpoint_and_exits_143_with_one_line(tmp_path, command):
    run_dir = tmp_path / "run"
    log = tmp_path / "run.log"
    process = start(*command, f"hydra.run.dir={run_dir}", cwd=tmp_path, log=log)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    try:
        wait_for(checkpoint, process)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == 143, output[-3000:]
    step = torch.load(checkpoint, weights_only=True)["global_step"]
    assert one_line(output) == (
        f"stopped: SIGTERM at step {step}: saved {checkpoint}; "
        f"to continue, run the same command with resume={checkpoint}"
    )
    assert not (run_dir / "vectors.txt").exists() and not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "failed.json").read_text())["type"] == "Interrupted"
