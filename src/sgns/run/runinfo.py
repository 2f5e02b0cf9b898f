"""What a run ran on: code version, library versions, device and host, for run_info.json.

    >>> path = write_run_info(".", device=torch.device("cpu"))
    >>> info = json.loads(path.read_text())
    >>> sorted(info["git"]), info["device"]            # git: a commit, or null outside a checkout
    (['commit', 'dirty', 'patch'], 'cpu')

A run's `seed` fixes its randomness; this file records the rest of what a repeat needs. A
checkout with changes leaves them in git.diff beside it, untracked files included: `git apply`
on the commit gives back the tree the run ran. Anything that cannot be found (git missing, not
a repository, a package not installed) is recorded as null rather than failing the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import torch

from sgns.io import atomic_write, atomic_write_text

PACKAGES = ("torch", "lightning", "hydra-core", "omegaconf", "numpy", "gensim")
# The package's own directory: src/sgns in a checkout.
SOURCE_DIR = Path(__file__).resolve().parents[1]
PATCH = "git.diff"
# A bigger patch is left out (run_info.json says so): untracked data rather than code.
MAX_PATCH_BYTES = 10 << 20


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
    """Write run_info.json into `run_dir` atomically, and a dirty checkout's git.diff, and
    return run_info.json's path."""
    info = run_info(device, started)
    if info["git"]["dirty"]:
        patch = git_patch(SOURCE_DIR)
        if patch is None:
            info["git"]["patch"] = f"left out: over {MAX_PATCH_BYTES >> 20} MB, or git failed"
        else:
            with atomic_write(Path(run_dir) / PATCH, "wb", encoding=None) as out:
                out.write(patch)
            info["git"]["patch"] = PATCH
    path = Path(run_dir) / "run_info.json"
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")
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
    files: anything that `git stash -u` would set aside. `patch` is filled in by
    write_run_info: the file that holds those changes.
    """
    unknown = {"commit": None, "dirty": None, "patch": None}
    if _checkout_top(source_dir) is None:
        return unknown
    commit = _git(source_dir, "rev-parse", "HEAD")
    status = _git(source_dir, "status", "--porcelain")
    if commit is None:  # a repository without commits
        return unknown
    return {"commit": commit, "dirty": None if status is None else bool(status), "patch": None}


def git_patch(source_dir: Path) -> bytes | None:
    """What the checkout of `source_dir` changes from its commit, untracked (not ignored) files
    included, as a binary patch that `git apply` takes; None outside a checkout, when git
    fails, or past MAX_PATCH_BYTES. The checkout's own index is left alone: the changes are
    staged into a temporary one."""
    top = _checkout_top(source_dir)
    untracked = (
        None if top is None else _git(top, "ls-files", "--others", "--exclude-standard", "-z")
    )
    if untracked is None:
        return None
    try:
        size = sum(Path(top, name).lstat().st_size for name in untracked.split("\0") if name)
    except OSError:  # a file went away meanwhile
        return None
    if size > MAX_PATCH_BYTES:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp, "index"))}
        for args in (("read-tree", "HEAD"), ("add", "--all")):
            if _git(top, *args, env=env) is None:
                return None
        patch = _git(top, "diff", "--cached", "--binary", "HEAD", env=env, raw=True)
    return patch if patch is not None and len(patch) <= MAX_PATCH_BYTES else None


def _checkout_top(source_dir: Path) -> str | None:
    """The top of the git checkout whose ``src/sgns`` is `source_dir`, else None."""
    top = _git(source_dir, "rev-parse", "--show-toplevel")
    if top is None or (Path(top) / "src" / "sgns").resolve() != source_dir.resolve():
        return None
    return top


def _git(cwd, *args: str, env: dict | None = None, raw: bool = False):
    """git's output (stripped text, or bytes as they came with `raw`); None if it fails."""
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, timeout=30,
            env=None if env is None else {**os.environ, **env},
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):  # git not installed, or hanging
        return None
    if result.returncode != 0:
        return None
    return result.stdout if raw else result.stdout.decode("utf-8", "replace").strip()
