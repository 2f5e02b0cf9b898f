"""What a run ran on: code version, library versions, device and host, for run_info.json.

    >>> path = write_run_info(".", device=torch.device("cpu"))
    >>> info = json.loads(path.read_text())
    >>> sorted(info["git"]), info["device"]            # git: a commit, or null outside a checkout
    (['commit', 'dirty'], 'cpu')

A run's `seed` fixes its randomness; this file records the rest of what a repeat needs.
Anything that cannot be found (git missing, not a repository, a package not installed)
is recorded as null rather than failing the run.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from sgns.io import atomic_write_text

PACKAGES = ("torch", "lightning", "hydra-core", "omegaconf", "numpy", "gensim")
# The package's own directory: src/sgns in a checkout.
SOURCE_DIR = Path(__file__).resolve().parents[1]


def run_info(device: torch.device | str | None = None, started: dt.datetime | None = None) -> dict:
    """The record written to run_info.json; `started` defaults to now (local time, with zone)."""
    started = started or dt.datetime.now().astimezone()
    return {
        "started": started.isoformat(timespec="seconds"),
        "git": git_state(SOURCE_DIR),
        "versions": package_versions(),
        "python": platform.python_version(),
        "device": device_name(device),
        "cuda": torch.version.cuda,  # the CUDA version torch was built with; None for CPU builds
        # CPU results can depend on the thread count (how reductions are split).
        "torch_threads": torch.get_num_threads(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
    }


def write_run_info(run_dir: str | Path, device=None, started: dt.datetime | None = None) -> Path:
    """Write run_info.json into `run_dir` atomically and return its path."""
    path = Path(run_dir) / "run_info.json"
    atomic_write_text(path, json.dumps(run_info(device, started), indent=2) + "\n")
    return path


def package_versions(packages=PACKAGES) -> dict[str, str | None]:
    """Installed distribution versions by name; None for one that is not installed."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_name(device: torch.device | str | None) -> str | None:
    """``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``: the GPU's model, not just its index."""
    if device is None:
        return None
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def git_state(source_dir: Path) -> dict[str, str | bool | None]:
    """Commit and dirty flag of the git checkout that `source_dir` belongs to.

    Only a checkout whose ``src/sgns`` is `source_dir` counts: an installed copy of the
    package inside some other repository (a virtual environment in a project, say) must not
    report that repository's commit. Dirty means tracked changes or untracked, not ignored
    files: anything that `git stash -u` would set aside.
    """
    unknown = {"commit": None, "dirty": None}
    top = _git(source_dir, "rev-parse", "--show-toplevel")
    if top is None or (Path(top) / "src" / "sgns").resolve() != source_dir.resolve():
        return unknown
    commit = _git(source_dir, "rev-parse", "HEAD")
    status = _git(source_dir, "status", "--porcelain")
    if commit is None:  # a repository without commits
        return unknown
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):  # git not installed, or hanging
        return None
    return result.stdout.strip() if result.returncode == 0 else None
