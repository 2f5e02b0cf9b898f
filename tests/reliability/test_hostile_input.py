"""Odd and hostile corpora: each one trains sensibly or stops with a clear one-line message.

Small in-process runs (one epoch, a few hundred words); the large-line case is tokenised only.
"""

import logging
import math
import random

import numpy as np
import pytest

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.data.corpus import read_text
from sgns.data.tokens import prepare_tokens
from sgns.errors import DataError, SgnsError
from sgns.eval.vectors import load_word2vec
from sgns.run.train import run


def train(tmp_path, text: str | bytes, **extra) -> dict:
    """One short epoch on `text`; vectors and metrics land in tmp_path/run."""
    corpus = tmp_path / "corpus.txt"
    if isinstance(text, bytes):
        corpus.write_bytes(text)
    else:
        corpus.write_text(text, encoding="utf-8")
    settings = {"trainer.max_epochs": 1, "data.batch_size": 64, **extra}
    overrides = small_run_overrides(corpus, tmp_path / "cache", **settings)
    (tmp_path / "run").mkdir(exist_ok=True)
    return run(make_config(overrides), tmp_path / "run")


def assert_no_outputs(tmp_path):
    assert not (tmp_path / "run" / "vectors.txt").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("random bytes", random.Random(0).randbytes(200_000)),
        ("UTF-16 text", ("the quick brown fox " * 2000).encode("utf-16")),
        ("NUL-padded", b"\x00" * 50_000 + b"some words here " * 100),
    ],
)
def test_binary_file_is_refused_naming_the_file(tmp_path, kind, content):
    with pytest.raises(DataError) as err:
        train(tmp_path, content)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'corpus.txt'} does not look like UTF-8 text: ")
    assert "invalid bytes or control characters" in message
    assert "\n" not in message
    assert_no_outputs(tmp_path)


def test_latin1_file_trains_and_counts_the_replaced_bytes(tmp_path, caplog):
    text = planted_groups_text(n_tokens=400)[0].replace("g1w", "g\xe9w")  # é: one byte
    with caplog.at_level(logging.WARNING, logger="sgns"):
        metrics = train(tmp_path, text.encode("latin-1"))
    replaced = text.count("\xe9")
    assert f"{replaced} invalid UTF-8 bytes replaced by U+FFFD" in caplog.text
    words = load_word2vec(tmp_path / "run" / "vectors.txt")[1]
    assert "g\ufffdw0" in words
    assert metrics["vocab_size"] == 30


@pytest.mark.parametrize(
    ("text", "normalization", "message"),
    [
        ("!!! ... ,,, ??? --- (((;;;))) \n" * 50, "text8", "contains no words after"),
        ("\n\n   \t  \n" * 50, "lower", "contains no words"),
        ("кошка собака 猫 犬 🐈 🐕 " * 100, "text8", "contains no words after"),
    ],
    ids=["punctuation", "whitespace", "non-latin scripts under text8"],
)
def test_text_without_words_stops_with_a_message(tmp_path, text, normalization, message):
    with pytest.raises(DataError, match=message) as err:
        train(tmp_path, text, **{"data.normalization": normalization})
    if normalization == "text8":
        assert "data.normalization=none keeps every script, as written" in str(err.value)
    assert_no_outputs(tmp_path)


def test_mixed_scripts_train_under_lower_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(["кошка", "собака", "猫", "犬", "🐈", "🐕", "cat", "dog"])
    metrics = train(tmp_path, " ".join(words[rng.integers(len(words), size=300)]))
    vectors, vocab = load_word2vec(tmp_path / "run" / "vectors.txt")
    assert sorted(vocab) == sorted(words)
    assert metrics["vocab_size"] == len(words)
    assert np.isfinite(vectors).all()


def test_corpus_shorter_than_the_window_trains(tmp_path):
    metrics = train(tmp_path, "alpha beta gamma", **{"data.window": 10})
    vectors, vocab = load_word2vec(tmp_path / "run" / "vectors.txt")
    assert sorted(vocab) == ["alpha", "beta", "gamma"]
    assert metrics["steps"] == 1
    assert np.isfinite(vectors).all()


def test_vocabulary_smaller_than_n_samples_trains(tmp_path):
    # Negatives are drawn with replacement, so 20 of 3 words is fine; but each row then gets
    # hundreds of summed updates per step, and word2vec's lr=0.025 diverges (next test).
    text = "yes no maybe " * 100
    metrics = train(tmp_path, text, **{"model.n_samples": 20, "model.lr": 0.01})
    assert metrics["vocab_size"] == 3
    assert metrics["final_train_loss"] < 0.5 * 21 * np.log(2)  # half the untrained loss
    assert load_word2vec(tmp_path / "run" / "vectors.txt")[0].shape == (3, 16)


def test_diverging_loss_stops_and_writes_nothing(tmp_path):
    # sparse Adam at an absurd step size blows the weights up.
    settings = {"model.optimizer": "sparse_adam", "model.lr": 100.0, "model.init": "uniform",
                "model.n_samples": 20, "checkpoint.every_n_train_steps": 5}  # fmt: skip
    diverged = r"^training (stopped: the loss is (inf|nan) at step \d+|diverged: the last epoch's)"
    with pytest.raises(SgnsError, match=diverged + ".*; lower model.lr$"):
        train(tmp_path, "yes no maybe " * 300, **settings)
    assert_no_outputs(tmp_path)


def test_sgd_rows_stay_bounded_at_the_largest_learning_rate(tmp_path):
    """Three words, each in every batch hundreds of times, at model.lr=100: every row's
    step is bounded, so the loss falls below untrained vectors' instead of overflowing."""
    metrics = train(tmp_path, "yes no maybe " * 300, **{"model.lr": 100.0, "model.n_samples": 20})
    untrained = 21 * math.log(2)
    assert metrics["final_train_loss"] < untrained
    assert np.isfinite(load_word2vec(tmp_path / "run" / "vectors.txt")[0]).all()


def test_finite_but_diverged_training_writes_nothing(tmp_path):
    # Adam at lr=10 blows the weights up without overflowing: a loss in the thousands.
    settings = {"model.n_samples": 20, "model.optimizer": "adam", "model.lr": 10.0}
    with pytest.raises(SgnsError, match=r"^training diverged: the last epoch's loss is "):
        train(tmp_path, "yes no maybe " * 100, **settings)
    assert_no_outputs(tmp_path)


@pytest.mark.parametrize(
    ("text", "extra"),
    [("lonely", {}), ("the the the the the the", {"data.subsample_t": 1e-9})],
    ids=["one word", "everything subsampled"],
)
# Lightning notices the empty loader too; the run's own one-line error is what is checked.
@pytest.mark.filterwarnings("ignore:Total length of `DataLoader` across ranks is zero")
def test_no_training_pairs_stops_instead_of_writing_untrained_vectors(tmp_path, text, extra):
    with pytest.raises(DataError, match="^no training pairs: "):
        train(tmp_path, text, **extra)
    assert_no_outputs(tmp_path)


def test_a_20_mb_single_line_is_read_in_bounded_chunks(tmp_path):
    # 200 MB was run by hand: see docs/reliability.md for its time and peak memory.
    words = [f"w{i}" for i in range(1000)]
    line = " ".join(random.Random(0).choices(words, k=3_400_000))  # ~20 MB, no newline
    corpus = tmp_path / "line.txt"
    corpus.write_text(line)
    chunk_chars = 1 << 20
    sizes = [len(chunk) for chunk in read_text([corpus], chunk_chars)]
    # A chunk is at most chunk_chars plus the word carried over from the one before.
    assert max(sizes) <= chunk_chars + len("w999 ")
    assert sum(sizes) == len(line) + 1
    ids, vocab = prepare_tokens([corpus], tmp_path / "cache", "lower", min_count=1)
    assert len(ids) == 3_400_000
    assert len(vocab) == 1000


def test_a_giant_word_is_cut_rather_than_held_whole(tmp_path):
    corpus = tmp_path / "word.txt"
    corpus.write_text("a" * 50_000 + " tail")
    sizes = [len(chunk) for chunk in read_text([corpus], chunk_chars=1000)]
    assert max(sizes) <= 16 * 1000
    assert sum(sizes) == 50_006
