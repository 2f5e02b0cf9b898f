"""A script run in a process of its own, as a user runs it, without a fresh interpreter's imports.

A fresh interpreter spends ~4.5 s importing torch, Lightning and Hydra before a script does any
work, most of a short test run's time. Here every script runs in a child forked from one server
process (multiprocessing's forkserver) that has imported those modules once: the child gets its
own arguments, working directory, environment, stdout, stderr, signals and exit status, as with
`subprocess`, and runs the script as ``__main__``. Processes the script starts itself (DDP
ranks, Ray workers) are fresh interpreters as usual.

What a child does not repeat is the preloaded imports, so whatever a script does while importing
(warnings printed on import) is checked in real interpreters instead: tests/test_console.py.

    done = run(ROOT / "scripts" / "train.py", ["model.embed_dim=0"], cwd=tmp_path, env=env)
    done.returncode, done.stderr
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# What scripts/*.py import, directly or once their arguments are checked.
PRELOAD = [
    "hydra",
    "sgns.run.train",
    "sgns.run.resume",
    "sgns.run.launchers",
    "sgns.run.summary",
    "sgns.eval.vectors",
    "sgns.eval.neighbors",
]

_context = None


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run(
    script: Path, args: list[str], cwd: Path, env: dict, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`script` run to the end, like ``subprocess.run([python, script, *args], text=True,
    capture_output=True, ...)``."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        process = start(script, args, cwd=cwd, env=env, stdout=out, stderr=err)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        return subprocess.CompletedProcess(
            [sys.executable, str(script), *args],
            process.returncode,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )


class ScriptProcess:
    """The running script, with what tests use of `subprocess.Popen`."""

    def __init__(self, process):
        self._process = process
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode  # -N when ended by signal N, as Popen reports it

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(str(self._process.name), timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        if self.returncode is None:
            self._process.kill()


def start(
    script: Path,
    args: list[str],
    cwd: Path,
    env: dict,
    stdout: Path,
    stderr: Path,
    before: Callable[[], None] | None = None,
) -> ScriptProcess:
    """`script` started in the background, its output written to `stdout` and `stderr` (the
    same path for both merges them, as a terminal shows them). `before`, a picklable
    function, runs in the child just before the script (to wait at a barrier, say)."""
    process = _forkserver().Process(
        target=_main,
        args=(str(script), list(args), str(cwd), dict(env), str(stdout), str(stderr), before),
    )
    process.start()
    return ScriptProcess(process)


def barrier(parties: int):
    """A barrier that scripts' processes can wait at in `before`, to start together."""
    return _forkserver().Barrier(parties)


def _main(
    script: str, args: list[str], cwd: str, env: dict, stdout: str, stderr: str, before=None
) -> None:
    """In the child: what ``python script *args`` would do, then exit with its status."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = out if stderr == stdout else os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).parent))  # as `python script` puts its folder first
    code = 0
    try:
        if before is not None:
            before()
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = _exit_status(exit_.code)
    except BaseException as error:
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next  # the traceback an interpreter prints starts in the script
        sys.excepthook(type(error), error.with_traceback(tb), tb)
        code = 1
    atexit._run_exitfuncs()  # what the interpreter runs at exit, which os._exit skips
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_status(code) -> int:
    """The status ``sys.exit(code)`` ends an interpreter with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
