"""Loading never runs code from a file, and nothing read from a file decides where we write.

- checkpoints: torch.load(weights_only=True) in check_resume and in Lightning's resume;
- token caches: JSON and raw int32, no pickle;
- archive member names and run directories cannot leave their folders (the text8 archive
  checks are in tests/data/test_text8.py; run directories in test_cli_errors.py).
"""

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.data.tokens import prepare_tokens
from sgns.errors import DataError
from sgns.io import load_checkpoint
from sgns.run.train import run

SRC = Path(__file__).resolve().parents[2] / "src" / "sgns"


class Payload:
    """Unpickling this runs code: it would create the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_checkpoint(path: Path, marker: Path, zip_format: bool) -> Path:
    content = {"state_dict": {"w": torch.zeros(2)}, "epoch": 0, "extra": Payload(marker)}
    if zip_format:
        torch.save(content, path)
    else:
        path.write_bytes(pickle.dumps(content, protocol=2))  # as torch.save wrote it before 1.6
    return path


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch.save", "plain pickle"])
def test_checkpoint_with_code_is_refused_without_running_it(tmp_path, zip_format):
    marker = tmp_path / "code-ran"
    path = malicious_checkpoint(tmp_path / "evil.ckpt", marker, zip_format)
    with pytest.raises(DataError, match=rf"^refused to load {re.escape(str(path))}: it holds "):
        load_checkpoint(path)
    assert not marker.exists()


def test_resuming_from_a_malicious_checkpoint_stops_before_training(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=500)[0])
    marker = tmp_path / "code-ran"
    evil = malicious_checkpoint(tmp_path / "evil.ckpt", marker, zip_format=True)
    overrides = [*small_run_overrides(corpus, tmp_path / "cache"), f"resume={evil}"]
    with pytest.raises(DataError, match="^refused to load "):
        run(make_config(overrides), tmp_path)
    assert not marker.exists()
    assert not (tmp_path / "vectors.txt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "cannot read checkpoint"), (b"PK\x03\x04 torn", "cannot read checkpoint")],
    ids=["empty", "truncated zip"],
)
def test_unreadable_checkpoint_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "last.ckpt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{message} {re.escape(str(path))}: ") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_a_checkpoint_without_weights_is_not_a_training_checkpoint(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"something": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="is not a training checkpoint"):
        load_checkpoint(path)


def test_token_cache_is_json_and_raw_ints_and_a_tampered_one_is_rebuilt(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c a b a " * 20)
    ids, vocab = prepare_tokens([corpus], tmp_path / "cache", "lower", min_count=1)
    ids = np.array(ids)  # a copy: the cache file is about to change under the memmap
    (entry,) = (tmp_path / "cache").glob("tokens-*")
    assert sorted(p.name for p in entry.iterdir()) == ["ids.int32", "meta.json", "vocab.json"]
    assert json.loads((entry / "vocab.json").read_text())["words"] == ["a", "b", "c"]
    np.testing.assert_array_equal(np.fromfile(entry / "ids.int32", dtype=np.int32), ids)

    (entry / "vocab.json").write_bytes(pickle.dumps({"words": ["x"]}))  # not JSON: rebuilt
    (entry / "ids.int32").write_bytes(b"\x00" * 6)  # torn: wrong size
    again, vocab_again = prepare_tokens([corpus], tmp_path / "cache", "lower", min_count=1)
    np.testing.assert_array_equal(again, ids)
    assert vocab_again.words == vocab.words


def test_no_code_path_unpickles_files():
    """Every torch.load and trainer.fit passes weights_only=True; no pickle or np.load
    with allow_pickle=True anywhere in the package."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for call in re.findall(r"(?:torch\.load|\.fit)\([^)]*\)", text):
            if "weights_only=True" not in call:
                offenders.append(f"{path.name}: {call}")
        for pattern in (r"pickle\.loads?\(", r"allow_pickle\s*=\s*True"):
            offenders += [f"{path.name}: {m}" for m in re.findall(pattern, text)]
    assert offenders == []
