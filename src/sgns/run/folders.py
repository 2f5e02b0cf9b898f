"""Run and sweep folders that no other launch writes into.

conf/hydra/default.yaml names a new folder ``${sgns.claim:outputs/runs/${now:...}}``. When a
launch starts, `FolderGuard` (a Hydra callback, in the launching process, before Hydra writes
anything into the folder) reads that name, and `claim` creates the folder with ``os.mkdir``,
which succeeds for exactly one launch: a second launch in the same second gets ``..._2``, a
third ``..._3``. The guard then fixes the claimed name in the launch's config, so nothing
claims again, and refuses a folder that already holds a finished run.

    prepare()   # scripts/train.py, before Hydra composes
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

RESOLVER = "sgns.claim"
_claiming = False  # True only while FolderGuard reads the launch's folder
FINISHED = ("vectors.txt", "vectors.bin", "metrics.json")  # what a run writes once it is done
# Why a run stopped or failed (scripts/train.py); removed when a run in that folder finishes.
FAILED = "failed.json"


class FolderTaken(BaseException):
    """The run or sweep folder holds another run's results.

    A BaseException because Hydra turns an Exception raised in a callback into a warning and
    goes on to write its files into the folder; scripts/train.py reports it as ``error:``.
    """


class GuardFailed(BaseException):
    """FolderGuard itself failed (its cause says why): the launch stops rather than go on
    unguarded, which is what Hydra would make of an Exception."""


def claim(path: str) -> str:
    """`path`, or else `path`_2, `path`_3, ...: the first that did not exist, now created."""
    wanted = Path(path)
    wanted.parent.mkdir(parents=True, exist_ok=True)
    folder, n = wanted, 1
    while True:
        try:
            folder.mkdir()  # atomic: of the launches racing for one name, one creates it
            return str(folder)
        except FileExistsError:
            n += 1
            folder = wanted.with_name(f"{wanted.name}_{n}")


def finished_results(folder: Path) -> list[str]:
    """The files of a finished run in `folder` and in the folders directly inside it."""
    if not folder.is_dir():
        return []
    places = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    return [
        str((place / name).relative_to(folder))
        for place in places
        for name in FINISHED
        if (place / name).is_file()
    ]


def check_free(folder: str, key: str, resume: str | None) -> None:
    """Raises FolderTaken if `folder` (the value of `key`) holds a finished run, unless
    `resume` is a checkpoint inside it: a run continued where it was written."""
    found = finished_results(Path(folder))
    if not found or (resume and _inside(Path(resume), Path(folder))):
        return
    runs = {Path(name).parent for name in found}
    what = "a finished run" if len(runs) == 1 else f"{len(runs)} finished runs"
    shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
    remedy = f"choose another {key}"
    if key == "hydra.run.dir" and runs == {Path(".")}:
        remedy += f", or continue that run with resume={Path(folder, 'checkpoints', 'last.ckpt')}"
    raise FolderTaken(f"{folder} holds {what} ({shown}); {remedy}")


class FolderGuard(Callback):
    """Claims the launch's folder once, in the process that launches, and refuses a taken one."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        with _stop_on_failure():
            run_dir = _claimed(config, "run")
            check_free(run_dir, "hydra.run.dir", config.get("resume"))
            _fix(config, "run", run_dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        with _stop_on_failure():
            sweep_dir = _claimed(config, "sweep")
            check_free(sweep_dir, "hydra.sweep.dir", config.get("resume"))
            _fix(config, "sweep", sweep_dir)
            # Every run's config is composed again from these overrides: by the basic and Ray
            # launchers here, by submitit on a SLURM node. The claimed name goes in as one, so
            # no run claims a folder of its own and no other process needs the resolver.
            given = OmegaConf.to_container(config.hydra.overrides.hydra)  # as typed: ${...} kept
            kept = [o for o in given if not o.startswith("hydra.sweep.dir=")]
            with read_write(config.hydra.overrides):
                config.hydra.overrides.hydra = [
                    *kept,
                    f"hydra.sweep.dir={override_value(sweep_dir)}",
                ]


def override_value(text: str) -> str:
    """`text` quoted for a Hydra override, so that it parses back to `text` exactly."""
    # Hydra's grammar: backslashes before a quote or the closing quote are escaped, as is
    # the quote; "${" would start an interpolation.
    quoted = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    quoted = re.sub(r"(\\*)$", lambda m: m.group(1) * 2, quoted)
    return "'" + quoted.replace("${", "\\${") + "'"


def prepare() -> None:
    """Call before Hydra composes: registers ``${sgns.claim:PATH}``."""
    OmegaConf.register_new_resolver(RESOLVER, _claim_when_launching, replace=True)


def _claim_when_launching(path: str) -> str:
    # Any other reading of the config (--cfg hydra --resolve, a test composing it, a launcher
    # resolving its own settings) names PATH and creates nothing.
    return claim(path) if _claiming else path


def _claimed(config: DictConfig, node: str) -> str:
    """hydra.<node>.dir, its folder claimed if the config asks for a new one."""
    global _claiming
    _claiming = True
    try:
        return str(config.hydra[node].dir)
    finally:
        _claiming = False


@contextmanager
def _stop_on_failure():
    try:
        yield
    except Exception as err:
        raise GuardFailed(f"{type(err).__name__}: {err}") from err


def _fix(config: DictConfig, node: str, folder: str) -> None:
    """The claimed name as a plain value, which the launchers and .hydra/ files then read."""
    with read_write(config.hydra[node]), open_dict(config.hydra[node]):
        config.hydra[node].dir = folder


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
