"""Files that appear whole or not at all, and checkpoints read without running their code.

    >>> atomic_write_text("notes.txt", "first\\n")
    >>> with atomic_write("notes.txt") as f:
    ...     _ = f.write("second, half written")
    ...     raise OSError(28, "No space left on device")
    Traceback (most recent call last):
    OSError: [Errno 28] No space left on device
    >>> Path("notes.txt").read_text()          # the old file is intact
    'first\\n'
    >>> sorted(os.listdir("."))                # and no temporary file is left behind
    ['notes.txt']

Every artefact (vectors, metrics, vocabularies, run records, summaries) is written to a
temporary file beside its destination and renamed into place with ``os.replace``, which is
atomic within a file system: a reader never sees half a file, and a crash or a full disk
leaves the previous file as it was.

Files that gensim's wheel ships (gensim/test/test_data: the Wikipedia sample, WordSim353,
SimLex-999, Google's analogy questions) are found by `gensim_data_path`.

Work that concurrent runs would otherwise repeat (tokenising a corpus, downloading text8)
happens under `exclusive`, a lock file beside its result: one process does it, the others
wait and then use what it made.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pickle
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from filelock import FileLock, Timeout

from sgns.errors import DataError, first_line

log = logging.getLogger(__name__)

PICKLE_PROTO = b"\x80"  # the first byte of every pickle of protocol 2 or later


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (gensim, matplotlib).

    When the block ends without an exception the temporary file replaces `path`; when it
    raises, the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    # One name per process and thread, so concurrent writers never share a temporary file;
    # a hidden name beside the target, so the rename stays on one file system.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing (``mode`` "w" or "wb"); see atomic_path."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r} is not one of: w, wb")
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
        yield f


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically."""
    with atomic_write(path, "w", encoding) as f:
        f.write(text)


@contextlib.contextmanager
def exclusive(lock_path: str | Path, doing: str) -> Iterator[None]:
    """Hold `lock_path` (created if missing) against every other process and thread that
    asks for it; says once in the log when it has to wait for one that is `doing` the work.

    A lock file, not a temporary name: the waiters must not start the same work, and a
    crashed holder releases its lock with its process (flock).
    """
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process %s (%s)", doing, lock_path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint's contents, loaded with ``weights_only=True``.

    Only tensors and plain containers are read, so a crafted file cannot run code; tensors are
    memory-mapped, not read. Raises DataError, in one line, for a missing file, a file that
    holds other objects, an unreadable file, and one without a ``state_dict``.
    """
    import torch  # here, not at the top: the CLI writes its error records before torch loads

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(2)
    if not head.startswith((b"PK", PICKLE_PROTO)):
        # torch's restricted unpickler reports any other bytes as an unsupported opcode, in
        # the same words as a pickled object that would run code: tell the two apart here.
        raise DataError(f"cannot read checkpoint {path}: neither a zip archive nor a pickle")
    # mmap needs torch's zip format; a legacy pickle is read (and refused, if it holds more
    # than tensors and plain data) by the same restricted unpickler.
    mmap = zipfile.is_zipfile(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        raise DataError(
            f"refused to load {path}: it holds objects other than tensors and plain data "
            f"({_unpickler_reason(err)}); it was not written by sgns or has been altered"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise DataError(f"cannot read checkpoint {path}: {first_line(err)}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise DataError(f"{path} is not a training checkpoint (no state_dict)")
    return checkpoint


def _unpickler_reason(err: pickle.UnpicklingError) -> str:
    """What torch's restricted unpickler refused, without its paragraph of advice."""
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n|$)", str(err))
    return found.group(1).strip() if found else first_line(err)


def gensim_data_path(name: str) -> Path:
    """Where gensim's wheel keeps the file `name` (it may not exist). Found without importing
    `gensim.test.utils`, whose import builds a demo Dictionary and would log it into every
    run's train.log."""
    spec = importlib.util.find_spec("gensim")  # locates the package without importing it
    return Path(spec.origin).parent / "test" / "test_data" / name
