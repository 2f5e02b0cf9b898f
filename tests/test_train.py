"""End-to-end runs of sgns.run.train.run on generated corpora (in-process, CPU)."""

import json

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from conftest import import_script, make_config, planted_groups_text, small_run_overrides
from sgns.errors import SgnsError
from sgns.run.train import run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One short training shared by the tests that inspect its outputs."""
    tmp_path = tmp_path_factory.mktemp("planted")
    text, groups = planted_groups_text()
    corpus = tmp_path / "planted.txt"
    corpus.write_text(text)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = make_config(small_run_overrides(corpus, tmp_path / "cache", **{"data.window": 3}))
    metrics = run(cfg, run_dir)
    return run_dir, metrics, groups


def test_training_recovers_planted_groups(trained_run):
    run_dir, metrics, groups = trained_run
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt"))
    group_of = {w: g for g, words in enumerate(groups) for w in words}
    hits = [group_of[kv.most_similar(w, topn=1)[0][0]] == group_of[w] for w in group_of]
    assert np.mean(hits) >= 0.9


def test_run_writes_metrics_vectors_checkpoint_and_events(trained_run):
    run_dir, metrics, _ = trained_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["vocab_size"] == 30
    assert saved["epochs"] == 2
    assert saved["tokens_seen"] == 2 * saved["train_tokens"]
    assert saved["train_words_per_sec"] > 0
    assert np.isfinite(saved["final_train_loss"])
    assert saved["final_train_loss"] < np.log(2) * 6  # below the loss of all-zero vectors
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))


def test_vectors_file_holds_in_embed_rows_in_vocabulary_order(trained_run):
    run_dir, _, _ = trained_run
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    in_embed = ckpt["state_dict"]["model.in_embed.weight"].numpy()
    words = ckpt["vocab"]["words"]
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt"))
    assert kv.index_to_key == words
    counts = ckpt["vocab"]["counts"]
    assert counts == sorted(counts, reverse=True)
    np.testing.assert_allclose(kv.vectors, in_embed, rtol=1e-6, atol=1e-7)
    # vocab.txt: the C tool's -save-vocab file, which gensim reads beside the vectors
    assert (run_dir / "vocab.txt").read_text().splitlines()[0] == f"{words[0]} {counts[0]}"
    with_counts = KeyedVectors.load_word2vec_format(
        str(run_dir / "vectors.txt"), fvocab=str(run_dir / "vocab.txt")
    )
    assert [with_counts.get_vecattr(w, "count") for w in words] == counts


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.embed_dim=0", "model.embed_dim=0 is invalid"),
        ("model.n_samples=0", "model.n_samples=0 is invalid"),
        ("data.window=0", "data.window=0 is invalid"),
        ("data.batch_size=0", "data.batch_size=0 is invalid"),
        (
            "data.min_count=1000000",
            r"no word in the corpus .* occurs at least data.min_count=1000000",
        ),
    ],
)
def test_bad_values_fail_before_writing_vectors(tmp_path, planted_corpus, override, message):
    corpus, _ = planted_corpus
    overrides = small_run_overrides(corpus, tmp_path / "cache") + [override]
    with pytest.raises(SgnsError, match=message):
        run(make_config(overrides), tmp_path)
    assert not (tmp_path / "vectors.txt").exists()
    assert not (tmp_path / "vocab.txt").exists()


def test_query_and_export_work_from_the_checkpoint_alone(trained_run, tmp_path, capsys):
    export_script, query = import_script("export"), import_script("query")
    run_dir, _, groups = trained_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    kv = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt"))
    word = groups[0][0]
    assert query.main([str(ckpt), "neighbors", word, "-k", "3"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == kv.most_similar(word, topn=1)[0][0]

    out = tmp_path / "exported.bin"
    assert export_script.main([str(ckpt), str(out), "--binary", "--vectors", "in+out"]) == 0
    both = KeyedVectors.load_word2vec_format(str(out), binary=True)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    summed = state["model.in_embed.weight"] + state["model.out_embed.weight"]
    np.testing.assert_allclose(both.vectors, summed.numpy(), rtol=1e-6)
    # The format follows the name where --binary is not given: .bin is binary, else text.
    for name, binary in (("named.bin", True), ("named.txt", False)):
        assert export_script.main([str(ckpt), str(tmp_path / name)]) == 0
        kind = "binary" if binary else "text"
        assert capsys.readouterr().out.strip().endswith(f"{name} ({kind})")
        named = KeyedVectors.load_word2vec_format(str(tmp_path / name), binary=binary)
        assert named.index_to_key == kv.index_to_key
        np.testing.assert_allclose(named.vectors, kv.vectors, atol=1e-6)
    assert export_script.main([str(tmp_path / "missing.ckpt"), str(out)]) == 2
    assert "error: checkpoint not found" in capsys.readouterr().err
    # An OUT that cannot be written: one line, and the file already there is untouched.
    before = out.read_bytes()
    for bad, reason in ((tmp_path / "no" / "v.txt", "No such file or directory"),
                        (tmp_path, "Is a directory")):  # fmt: skip
        assert export_script.main([str(ckpt), str(bad)]) == 2
        assert capsys.readouterr().err == f"error: cannot write {bad}: {reason}\n"
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported.bin", "named.bin", "named.txt"]


def test_each_epoch_generates_its_own_pairs_once(tmp_path, planted_corpus, monkeypatch):
    from sgns.data import datamodule

    drawn = []  # (epoch, skipped batches) of every training iterator that generated pairs
    original = datamodule.SkipGramPairs.__iter__

    def recording_iter(self):
        drawn.append((self.epoch, self.skip_batches))
        yield from original(self)

    monkeypatch.setattr(datamodule.SkipGramPairs, "__iter__", recording_iter)
    corpus, _ = planted_corpus
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 3})
    metrics = run(make_config(overrides), tmp_path / "run")
    assert metrics["epochs"] == 3
    assert drawn == [(0, 0), (1, 0), (2, 0)]
