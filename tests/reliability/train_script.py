"""scripts/train.py as a user runs it: in a subprocess, on this checkout's sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train.py"


def env() -> dict:
    # This checkout's sources, whichever copy of sgns the environment has installed.
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}


def train(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run scripts/train.py to the end; returns its exit status and output."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    """Start scripts/train.py in the background, its output going to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], cwd=cwd, env=env(), stdout=out, stderr=out
        )


def one_line(stderr: str) -> str:
    """The last line of `stderr`, after checking that no traceback precedes it."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]
