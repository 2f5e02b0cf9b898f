"""scripts/train.py as a user runs it: in a process of its own (tests/script_process.py), on
this checkout's sources."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import script_process

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train.py"


def env() -> dict:
    # This checkout's sources, whichever copy of sgns the environment has installed.
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HYDRA_FULL_ERROR": "0"}


def train(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run scripts/train.py to the end; returns its exit status and output."""
    return script_process.run(SCRIPT, list(args), cwd=cwd, env=env(), timeout=timeout)


def start(*args: str, cwd: Path, log: Path, before=None) -> script_process.ScriptProcess:
    """Start scripts/train.py in the background, its output going to `log`; `before` runs in
    its process first (tests/script_process.py)."""
    return script_process.start(
        SCRIPT, list(args), cwd=cwd, env=env(), stdout=log, stderr=log, before=before
    )


def one_line(stderr: str) -> str:
    """The last line of `stderr`, after checking that no traceback precedes it."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]
