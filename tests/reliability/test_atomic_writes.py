"""A write interrupted halfway (disk full, a crash) leaves the previous file whole.

Each artefact is written to a temporary file beside it and renamed into place; the failure
is simulated by a writer that stops halfway through and raises.
"""

from pathlib import Path

import fsspec.implementations.local
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.cloud_io import _atomic_save

from sgns import export
from sgns.data import tokens
from sgns.data.tokens import prepare_tokens
from sgns.data.vocab import Vocab
from sgns.export import load_word2vec, save_word2vec
from sgns.train import write_json


def half_then_fail(write):
    """Wrap a write(path_or_self, data, ...) so that it writes half of `data`, then fails."""

    def failing(target, data, *args, **kwargs):
        write(target, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    return failing


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_interrupted_vectors_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "vectors.txt"
    save_word2vec(path, np.ones((2, 3)), ["a", "b"])
    before = path.read_bytes()

    def torn(fname, *args, **kwargs):
        Path(fname).write_text("3 3\nc 1 2")  # a torn file under the temporary name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "_write_text", torn)
    with pytest.raises(OSError, match="No space left"):
        save_word2vec(path, np.zeros((3, 3)), ["a", "b", "c"])
    assert path.read_bytes() == before and files_in(tmp_path) == ["vectors.txt"]
    assert load_word2vec(path)[1] == ["a", "b"]


def test_interrupted_metrics_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"epochs": 5})
    monkeypatch.setattr(Path, "write_text", half_then_fail(Path.write_text))
    with pytest.raises(OSError, match="No space left"):
        write_json(path, {"epochs": 6, "steps": 123456})
    monkeypatch.undo()
    assert path.read_text() == '{\n  "epochs": 5\n}\n' and files_in(tmp_path) == ["metrics.json"]


def test_interrupted_vocabulary_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    Vocab(["a"], [3]).save(path)
    monkeypatch.setattr(Path, "write_text", half_then_fail(Path.write_text))
    with pytest.raises(OSError):
        Vocab(["a", "b"], [3, 2]).save(path)
    monkeypatch.undo()
    assert Vocab.load(path).words == ["a"]


def test_interrupted_token_cache_build_leaves_no_entry_and_is_redone(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c a b a " * 20)
    cache = tmp_path / "cache"

    def torn_ids(path, *args):
        path.write_bytes(b"\x01\x00\x00\x00" * 7)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokens, "_write_raw_ids", torn_ids)
    with pytest.raises(OSError):
        prepare_tokens([corpus], cache, "lower", min_count=1)
    monkeypatch.undo()
    assert files_in(cache) == []  # neither a half-built entry nor its temporary folder
    ids, vocab = prepare_tokens([corpus], cache, "lower", min_count=1)
    assert len(ids) == 120 and vocab.words == ["a", "b", "c"]


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
