"""A write interrupted halfway (disk full, a crash) leaves the previous file whole.

Each artefact is written to a temporary file beside it and renamed into place; the failure
is simulated by a writer that stops halfway through and raises.
"""

import importlib.util
from datetime import datetime
from pathlib import Path

import fsspec.implementations.local
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.cloud_io import _atomic_save

import sgns.io
from sgns.data import tokens
from sgns.data.tokens import prepare_tokens
from sgns.data.vocab import Vocab
from sgns.eval import vectors
from sgns.eval.vectors import load_word2vec, save_word2vec
from sgns.run.runinfo import PATCH, write_run_info
from sgns.run.train import write_json

ROOT = Path(__file__).resolve().parents[2]


def half_then_fail(write):
    """Wrap a write(path_or_self, data, ...) so that it writes half of `data`, then fails."""

    def failing(target, data, *args, **kwargs):
        write(target, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    return failing


def files_in(folder: Path) -> list[str]:
    """What a folder holds besides lock files, which stay by design (sgns.io.exclusive)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_interrupted_vectors_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "vectors.txt"
    save_word2vec(path, np.ones((2, 3)), ["a", "b"])
    before = path.read_bytes()

    def torn(fname, *args, **kwargs):
        Path(fname).write_text("3 3\nc 1 2")  # a torn file under the temporary name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vectors, "_write_text", torn)
    with pytest.raises(OSError, match="No space left"):
        save_word2vec(path, np.zeros((3, 3)), ["a", "b", "c"])
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["vectors.txt"]
    assert load_word2vec(path)[1] == ["a", "b"]


class HalfWritten:
    """A file that takes half of its first write, then finds the disk full."""

    def __init__(self, *args, **kwargs):
        self.file = open(*args, **kwargs)  # noqa: SIM115  (closed by __exit__)

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()  # the torn half is really on disk, under the temporary name
        raise OSError(28, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def write_failed_json(run_dir: Path, error: str) -> None:
    """scripts/train.py's record of a failed run (as in a multirun, so it does not exit)."""
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "scripts" / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script._fail(run_dir, ValueError(error), f"error: {error}", 2, multirun=True)


WRITERS = {
    "metrics.json": lambda folder, n: write_json(folder / "metrics.json", {"epochs": n}),
    "vocab.json": lambda folder, n: Vocab(["a"] * n, [3] * n).save(folder / "vocab.json"),
    "run_info.json": lambda folder, n: write_run_info(folder, started=datetime(2000 + n, 1, 1)),
    "failed.json": lambda folder, n: write_failed_json(folder, f"error {n}"),
}


@pytest.mark.parametrize("name", WRITERS)
def test_interrupted_write_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch, name):
    WRITERS[name](tmp_path, 1)
    before = (tmp_path / name).read_bytes()
    # Every file that sgns.io opens fails halfway through its first write.
    monkeypatch.setattr(sgns.io, "open", HalfWritten, raising=False)
    with pytest.raises(OSError, match="No space left"):
        WRITERS[name](tmp_path, 2)
    monkeypatch.undo()
    assert (tmp_path / name).read_bytes() == before
    # Beside run_info.json, a dirty checkout's git.diff (the suite may run in one); no temporary.
    assert [f for f in files_in(tmp_path) if f != PATCH] == [name]


def test_interrupted_token_cache_build_leaves_no_entry_and_is_redone(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c a b a " * 20)
    cache = tmp_path / "cache"

    def torn_ids(path, *args):
        path.write_bytes(b"\x01\x00\x00\x00" * 7)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokens, "_write_raw_ids", torn_ids)
    with pytest.raises(OSError, match="No space left"):
        prepare_tokens([corpus], cache, "lower", min_count=1)
    monkeypatch.undo()
    assert files_in(cache) == []  # neither a half-built entry nor its temporary folder
    ids, vocab = prepare_tokens([corpus], cache, "lower", min_count=1)
    assert len(ids) == 120
    assert vocab.words == ["a", "b", "c"]


def test_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    # Lightning's checkpoint writer (what trainer.save_checkpoint and ModelCheckpoint use).
    path = tmp_path / "last.ckpt"
    _atomic_save({"global_step": 10, "w": torch.ones(3)}, path)
    opener = fsspec.implementations.local.LocalFileOpener
    monkeypatch.setattr(opener, "write", half_then_fail(opener.write))
    with pytest.raises(OSError, match="No space left"):
        _atomic_save({"global_step": 20, "w": torch.zeros(1000)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["global_step"] == 10
    assert files_in(tmp_path) == ["last.ckpt"]
