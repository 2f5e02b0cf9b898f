"""Batch and chunk sizes change speed, not what the bundled sample trains to."""

import logging

import pytest

from conftest import make_config, planted_groups_text
from sgns.eval.word_pairs import WORDSIM353, word_pair_scores
from sgns.export import load_word2vec
from sgns.train import run


def sample_ws353(tmp_path, name: str, *overrides: str) -> tuple[float, dict]:
    """WS353 of the sample trained with `overrides`, scored once at the end: the default's
    benchmarks at every validation would cost more than the training here."""
    conf = make_config(
        ["experiment=sample", "trainer.enable_progress_bar=false", "eval.enabled=false",
         f"data.cache_dir={tmp_path / 'cache'}", *overrides]
    )  # fmt: skip
    metrics = run(conf, tmp_path / name)
    vectors, words = load_word2vec(tmp_path / name / "vectors.txt")
    return word_pair_scores(vectors, words, WORDSIM353)[0], metrics


@pytest.mark.slow
def test_the_sample_trains_as_the_default_does_at_both_ends_of_the_size_range(tmp_path):
    """1,024 and 1,048,576 pairs, each through the setting that is quick to run: 1M-pair
    batches (30 steps, each applied in the default 4,096-pair updates) and 1,024-pair updates.
    Measured by hand with the other setting, on this tree: data.batch_size=1024 0.556,
    model.sgd_chunk=1048576 0.525 (a chunk cannot exceed its 65,536-pair batch), against the
    default's 0.550 (docs/benchmarks.md, "Bounded rows")."""
    default, _ = sample_ws353(tmp_path, "default")
    big_batch, metrics = sample_ws353(tmp_path, "batch", "data.batch_size=1048576")
    assert (metrics["batch_size"], metrics["steps"]) == (1_048_576, 30)  # one step an epoch
    small_updates, metrics = sample_ws353(tmp_path, "chunk", "model.sgd_chunk=1024")
    assert metrics["sgd_chunk"] == 1024
    assert default > 0.45  # trained: untrained vectors score about 0.1
    assert abs(big_batch - default) < 0.03
    assert abs(small_updates - default) < 0.03


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        (["data.batch_size=1048576", "model.sgd_chunk=1048576"], True),  # one update an epoch
        (["data.batch_size=1048576"], False),  # applied in the default 4,096-pair updates
        ([], False),
    ],
)
def test_updates_too_large_for_the_corpus_are_named_in_a_warning(
    tmp_path, caplog, overrides, warned
):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=20_000)[0])
    conf = make_config(
        ["data=text_file", f"data.path={corpus}", f"data.cache_dir={tmp_path / 'cache'}",
         "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "eval.enabled=false",
         "model.embed_dim=16", *overrides]
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="sgns"):
        metrics = run(conf, tmp_path / "run")
    assert metrics["steps"] > 0
    warnings = [m for r in caplog.records if "too few to train" in (m := r.getMessage())]
    assert bool(warnings) == warned
    if warned:  # all of an epoch's pairs in one update, 2 epochs
        assert warnings[0].startswith("1048576-pair updates leave about 2 updates in all (2 ")
