"""load_vectors_from_checkpoint: vectors and vocabulary from a checkpoint alone, safely."""

import os

import numpy as np
import pytest
import torch

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.errors import DataError
from sgns.eval.vectors import load_vectors_from_checkpoint, load_word2vec
from sgns.run.train import run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run: its checkpoint and the vectors.txt written beside it."""
    tmp_path = tmp_path_factory.mktemp("ckpt")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=2_000)[0])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 1})
    run(make_config(overrides), run_dir)
    return run_dir / "checkpoints" / "last.ckpt", run_dir / "vectors.txt"


def test_in_vectors_match_the_exported_file(trained):
    ckpt, vectors_txt = trained
    vectors, words = load_vectors_from_checkpoint(ckpt)
    exported, exported_words = load_word2vec(vectors_txt)
    assert words == exported_words
    assert len(words) == 30
    assert vectors.dtype == np.float32
    assert vectors.shape == (30, 16)
    # The text file holds 6 significant digits or so; the checkpoint the exact floats.
    np.testing.assert_allclose(vectors, exported, rtol=1e-5, atol=1e-6)


def test_in_plus_out_adds_the_output_table(trained):
    ckpt, _ = trained
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    both, _ = load_vectors_from_checkpoint(ckpt, vectors="in+out")
    expected = state["model.in_embed.weight"] + state["model.out_embed.weight"]
    np.testing.assert_array_equal(both, expected.numpy())


def test_unknown_vectors_choice_is_rejected(trained):
    with pytest.raises(ValueError, match="vectors='out' is not one of: in, in\\+out"):
        load_vectors_from_checkpoint(trained[0], vectors="out")


def test_checkpoint_without_vocabulary_is_a_data_error(tmp_path):
    path = tmp_path / "bare.ckpt"
    weights = torch.zeros(3, 2)
    torch.save(
        {"state_dict": {"model.in_embed.weight": weights, "model.out_embed.weight": weights}},
        path,
    )
    with pytest.raises(DataError, match="holds no vocabulary"):
        load_vectors_from_checkpoint(path)
    tables = {"in": "model.in_embed.weight", "out": "model.out_embed.weight"}
    torch.save({"state_dict": {}, "vocab": {"words": ["a"]}, "tables": tables}, path)
    with pytest.raises(DataError, match="holds no skip-gram weights"):
        load_vectors_from_checkpoint(path)


def test_missing_and_corrupt_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="checkpoint not found"):
        load_vectors_from_checkpoint(tmp_path / "nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="cannot read checkpoint"):
        load_vectors_from_checkpoint(garbage)


class _RunsCode:
    """Unpickling this calls os.system: what a crafted checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "vocab": _RunsCode(marker)}, path)
    with pytest.raises(DataError, match="^refused to load .*evil.ckpt: it holds objects other"):
        load_vectors_from_checkpoint(path)
    assert not marker.exists()
