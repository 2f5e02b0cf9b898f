"""The hard cases on the GPU path: each corpus trained with the settings `auto` picks on a
CUDA GPU (forced here), so that the fused kernel trains (sgns.model.sgd_fused), run by
Triton's interpreter on the CPU.

The interpreter takes ~15 ms a group of pairs, so each corpus is a small version of its case
in tests/test_hard_cases.py, trained for one epoch; the kernel's updates are checked against
their float64 description in tests/model/test_sgd_fused.py, and scripts/bench/gpu_check.py
trains the full-size cases on a GPU. (The CPU's 4,096-pair updates learn next to nothing from
corpora this small: the 30 words stay at a loss of 4.14, where these reach 2.72.)
"""

import math

import numpy as np
import pytest
import torch
from test_hard_cases import (
    block_model_walks,
    community,
    nearest_in_own_group,
    thirty_words_text,
    train,
)

from conftest import planted_groups_text
from sgns.data.corpus import normalize, read_text, wiki_sample_file
from sgns.io import load_checkpoint
from sgns.run import train as train_module

pytest.importorskip("triton")
pytestmark = pytest.mark.slow
BEST_FIT = -(math.log(1 / 6) + 5 * math.log(5 / 6))  # random words, 5 negatives: 2.70


def train_fused(tmp_path, monkeypatch, text: str, *overrides: str):
    """(metrics, words, vectors) of one epoch on `text` with a CUDA GPU's automatic settings."""
    monkeypatch.setattr(train_module, "trains_on_cuda", lambda accelerator: True)
    metrics, words, vectors = train(tmp_path, text, "trainer.max_epochs=1", *overrides)
    assert metrics["auto"]["model.gpu_step"]["value"] == "fused"
    assert np.isfinite(vectors).all()
    return metrics, words, vectors


def expected_loss_on_random_words(run_folder) -> float:
    """The loss a model of 30 random words expects on fresh pairs: contexts and noise both
    uniform over the words, 5 negatives."""
    checkpoint = load_checkpoint(run_folder / "checkpoints" / "last.ckpt")
    names = checkpoint["tables"]
    scores = checkpoint["state_dict"][names["in"]] @ checkpoint["state_dict"][names["out"]].T
    logsig = torch.nn.functional.logsigmoid
    return float(-(logsig(scores.double()).mean() + 5 * logsig(-scores.double()).mean()))


def test_thirty_words_fit_as_well_as_any_model_can(tmp_path, monkeypatch):
    """Every group of 8 pairs repeats rows, as centres, contexts and negatives at once; the
    fit reaches 2.72 (untrained vectors expect 4.16, the best fit 2.70)."""
    metrics, words, _ = train_fused(tmp_path, monkeypatch, thirty_words_text(lines=250))
    assert metrics["shared_negatives"] == 8
    assert len(words) == 30
    assert BEST_FIT <= expected_loss_on_random_words(tmp_path / "run") < BEST_FIT + 0.1


def test_planted_groups_find_their_group(tmp_path, monkeypatch):
    """data=text_file's subsampling; every word ends nearest a group-mate."""
    text, groups = planted_groups_text(n_groups=4, group_size=4, n_tokens=8000)
    _, words, vectors = train_fused(tmp_path, monkeypatch, text)
    assert sorted(words) == sorted(w for group in groups for w in group)
    assert nearest_in_own_group(words, vectors, lambda w: w.split("w")[0]) >= 0.9


def test_graph_walks_without_subsampling_find_their_communities(tmp_path, monkeypatch):
    """A 60-node block model of 3 communities, one 30-node walk from each node: 0.75 of the
    nodes end nearest one of their own community (chance: 1/3)."""
    walks = block_model_walks(n_nodes=60, n_communities=3, walks=1, length=30)
    _, words, vectors = train_fused(tmp_path, monkeypatch, walks, "data.subsample_t=0")
    assert len(words) == 60
    assert nearest_in_own_group(words, vectors, community) >= 0.6


def test_english_without_subsampling_learns(tmp_path, monkeypatch, shared_cache):
    """The bundled sample's first 2,000 words, data.subsample_t=0: 'the' in every other group
    of pairs. The epoch's mean loss comes to 3.73 (untrained: 4.16)."""
    words = normalize(" ".join(read_text([wiki_sample_file(shared_cache)])), "text8").split()
    text = "\n".join(" ".join(words[i : i + 100]) for i in range(0, 2000, 100)) + "\n"
    metrics, vocab, _ = train_fused(tmp_path, monkeypatch, text, "data.subsample_t=0")
    assert vocab[0] == "the"
    assert metrics["final_train_loss"] < 3.9
