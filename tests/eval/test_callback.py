"""EmbeddingEvaluation in a real run: what lands in TensorBoard's event files and metrics.json."""

from __future__ import annotations

import json
import logging
import math
import re

import numpy as np
import pytest
import torch
import yaml
from google.protobuf import text_format
from hydra.errors import HydraException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import projector
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import SCORE_KEYS, make_config, planted_groups_text, small_run_overrides
from sgns.config.check import composition_error
from sgns.errors import ConfigError, DataError, SgnsError
from sgns.eval.analogy import read_analogies
from sgns.eval.benchmarks import evaluate, evaluate_sections
from sgns.eval.callback import log_projector, log_tsne
from sgns.eval.word_pairs import WORDSIM353, read_word_pairs
from sgns.model.module import validation_word_ids
from sgns.run.train import RUN_METRICS, run

PROJECTOR_WORDS = 40
EPOCHS = 2


def _viz_available() -> bool:
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def benchmark_words_text(n_tokens=6_000, run=10, seed=0) -> str:
    """Runs of words drawn from one group each: a group is a capital with its country (the
    first analogy section) or a WordSim-353 pair, so some of every benchmark is answerable."""
    sections, questions = read_analogies(None)
    capitals = {(q[1].lower(), q[2].lower()) for q in questions if q[0] == 0}
    pairs = {(a.lower(), b.lower()) for a, b, _ in read_word_pairs(WORDSIM353)[:12]}
    groups = sorted(capitals | pairs)
    rng = np.random.default_rng(seed)
    words = []
    while len(words) < n_tokens:
        group = groups[rng.integers(len(groups))]
        words += [group[i] for i in rng.integers(len(group), size=run)]
    return " ".join(words)


def own_benchmark_files(folder) -> tuple[str, str]:
    """A word-pair file of WordSim-353's first 12 pairs, space-separated, and an analogy file of
    the Google set's first section: the words benchmark_words_text draws from."""
    pairs, questions = folder / "WS-part.txt", folder / "capitals.txt"
    pairs.write_text("".join(f"{a} {b} {g}\n" for a, b, g in read_word_pairs(WORDSIM353)[:12]))
    sections, google = read_analogies(None)
    lines = [" ".join(q[1:]) for q in google if q[0] == 0]
    questions.write_text(f": {sections[0]}\n" + "\n".join(lines) + "\n")
    return str(pairs), str(questions)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    """One short run on real benchmark words with the projector capped below the vocabulary,
    (when the viz extra is there) the t-SNE image on, and two benchmark files of our own."""
    tmp_path = tmp_path_factory.mktemp("eval_run")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(benchmark_words_text())
    pairs, questions = own_benchmark_files(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    extra = {
        "data.window": 3,
        "data.batch_size": 1024,
        "trainer.max_epochs": EPOCHS,
        "eval.projector_words": PROJECTOR_WORDS,
        "eval.tsne": _viz_available(),
        "eval.tsne_words": 20,
        "eval.word_pairs": f"[{pairs}]",
        "eval.analogies": questions,
        "objective": "ws_part_spearman",  # a sweeper may aim at a file of one's own
        "model.val_words": "[paris,France]",  # shown after the drawn words
    }
    metrics = run(make_config(small_run_overrides(corpus, tmp_path / "cache", **extra)), run_dir)
    events = EventAccumulator(
        str(run_dir / "tb"), size_guidance={"scalars": 0, "tensors": 0, "images": 0}
    )
    events.Reload()
    return run_dir, metrics, events


def final_vectors(run_dir):
    """The trained input vectors and words, exactly as the last checkpoint holds them."""
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["state_dict"]["model.in_embed.weight"], ckpt["vocab"]["words"]


def test_scores_are_logged_at_every_validation_and_the_last_match_the_final_vectors(eval_run):
    run_dir, metrics, events = eval_run
    vectors, words = final_vectors(run_dir)
    expected = evaluate(vectors, words)
    assert expected["analogy_coverage"] > 0
    assert math.isfinite(expected["ws353_spearman"])
    for name in SCORE_KEYS:
        logged = events.Scalars(f"eval/{name}")
        assert len({e.step for e in logged}) == EPOCHS  # once per validation
        last = max(logged, key=lambda e: e.step)
        assert last.step == metrics["steps"]
        assert last.value == pytest.approx(expected[name], nan_ok=True, abs=1e-6)


def test_metrics_json_carries_the_final_scores_and_sections(eval_run):
    run_dir, _, events = eval_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    for name in SCORE_KEYS:
        logged = events.Scalars(f"eval/{name}")[-1].value
        # nan (here SimLex-999: none of its pairs is in the vocabulary) is written as null.
        assert saved[name] == (None if math.isnan(logged) else pytest.approx(logged, abs=1e-6))
    assert saved["simlex_spearman"] is None
    vectors, words = final_vectors(run_dir)
    sections = evaluate_sections(vectors, words)
    assert list(saved["analogy_sections"]) == list(sections)
    # Only capitals and countries are in the vocabulary: the other sections have no answerable
    # question, and their nan is written as null.
    assert saved["analogy_sections"]["capital-common-countries"] == pytest.approx(
        sections["capital-common-countries"], abs=1e-6
    )
    assert saved["analogy_sections"]["family"] is None


OWN_KEYS = ("ws_part_spearman", "ws_part_oov", "capitals_acc", "capitals_coverage")


def test_own_benchmark_files_are_scored_at_every_validation_and_written(eval_run):
    run_dir, metrics, events = eval_run
    vectors, words = final_vectors(run_dir)
    pairs, questions = own_benchmark_files(run_dir.parent)
    expected = evaluate(vectors, words, word_pairs=[pairs], analogies=questions)
    assert list(expected)[-4:] == list(OWN_KEYS)
    assert set(metrics) == {*RUN_METRICS, *SCORE_KEYS, *OWN_KEYS, "analogy_sections", "auto"}
    saved = json.loads((run_dir / "metrics.json").read_text())
    for name in OWN_KEYS:
        logged = events.Scalars(f"eval/{name}")
        assert len({e.step for e in logged}) == EPOCHS
        assert logged[-1].value == pytest.approx(expected[name], abs=1e-6)
        assert saved[name] == pytest.approx(expected[name], abs=1e-6)
    # Every pair and question is in the vocabulary; the analogy file is the Google set's first
    # section, so it scores what that section scores.
    assert saved["ws_part_oov"] == 0.0
    assert 0 < saved["ws_part_spearman"] <= 1
    assert saved["capitals_coverage"] == 1.0
    assert saved["capitals_acc"] == pytest.approx(
        saved["analogy_sections"]["capital-common-countries"], abs=1e-6
    )


def test_a_missing_benchmark_file_fails_before_the_corpus_is_read(tmp_path):
    overrides = small_run_overrides(tmp_path / "no-corpus.txt", tmp_path / "cache")
    with pytest.raises(DataError, match="^no such word-pair file: 'nope.txt'$"):
        run(make_config([*overrides, "eval.word_pairs=nope.txt"]), tmp_path / "run")
    assert not (tmp_path / "cache").exists()
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["objective=analogy_accuracy"], "objective='analogy_accuracy' is not a metric this run"),
        (["eval.enabled=false"], "objective='analogy_acc' is not a metric this run writes"),
    ],
)
def test_an_objective_no_run_writes_fails_before_the_corpus_is_read(tmp_path, overrides, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c " * 100)
    base = small_run_overrides(corpus, tmp_path / "cache", objective="analogy_acc")
    with pytest.raises(ConfigError, match=re.escape(message)):
        run(make_config([*base, *overrides]), tmp_path / "run")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("objective", "missing"),
    [
        ("analogy_acc", "no analogy question has all four words in it"),
        ("simlex_spearman", "fewer than two of its word pairs have both words in it"),
    ],
)
def test_an_objective_this_vocabulary_cannot_score_fails_before_training(
    tmp_path, objective, missing
):
    """Graph walks or another language aimed at the English benchmarks: every trial of a
    search would fail, each only after training."""
    corpus = tmp_path / "planted.txt"
    corpus.write_text(planted_groups_text(n_tokens=2_000)[0])
    overrides = small_run_overrides(corpus, tmp_path / "cache", objective=objective)
    message = f"objective={objective} can never be a number on this vocabulary (30 words): "
    with pytest.raises(ConfigError, match=re.escape(message + missing)):
        run(make_config(overrides), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "tb").exists()


def hparams_row(events: EventAccumulator) -> tuple[dict, set[str]]:
    """A run's HPARAMS row as its event file holds it: {setting: value}, column tags."""
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    params = {k: v.ListFields()[0][1] for k, v in start.hparams.items()}
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]
    ).experiment
    return params, {m.name.tag for m in experiment.metric_infos}


def test_hparams_tab_holds_the_run_config_and_hp_metric(eval_run):
    _, metrics, events = eval_run
    params, metric_tags = hparams_row(events)
    assert params["model.embed_dim"] == 16
    assert params["data.window"] == 3
    assert params["trainer.max_epochs"] == EPOCHS
    assert params["model.optimizer"] == "sgd"
    assert {"hp_metric", "eval/analogy_acc", "eval/ws353_spearman"} <= metric_tags
    assert {f"eval/{name}" for name in OWN_KEYS} <= metric_tags
    assert {"val/loss", "train/loss_epoch"} <= metric_tags
    assert events.Scalars("val/loss")[-1].value == pytest.approx(metrics["final_val_loss"])
    # hp_metric is what the run's sweep aims at (here a file of its own, not the analogies),
    # logged at every validation beside the scores: the row is there while the run trains.
    hp_metric, own = events.Scalars("hp_metric"), events.Scalars("eval/ws_part_spearman")
    assert len(hp_metric) == EPOCHS
    assert [(e.step, e.value) for e in hp_metric] == [(e.step, e.value) for e in own]
    assert hp_metric[-1].value == pytest.approx(metrics["ws_part_spearman"], abs=1e-6)
    assert metrics["ws_part_spearman"] != pytest.approx(metrics["analogy_acc"], abs=1e-3)
    assert len(events.Scalars("eval/analogy_acc")) == EPOCHS  # no placeholder value


def test_text_tab_holds_the_whole_config_as_the_run_used_it(eval_run):
    _, metrics, events = eval_run
    (entry,) = events.Tensors("config/text_summary")
    lines = entry.tensor_proto.string_val[0].decode().splitlines()
    assert all(line.startswith("    ") for line in lines)  # one Markdown code block
    config = yaml.safe_load("\n".join(line[4:] for line in lines))
    assert config["model"]["embed_dim"] == 16
    assert config["data"]["window"] == 3
    assert config["data"]["batch_size"] == metrics["batch_size"] == 1024
    assert config["model"]["sgd_chunk"] == metrics["sgd_chunk"]  # what `auto` became
    assert config["objective"] == "ws_part_spearman"
    assert config["model"]["val_words"] == ["paris", "France"]


def test_validation_similarities_are_logged_as_text(eval_run):
    run_dir, _, events = eval_run
    texts = events.Tensors("validation_similarities/text_summary")
    assert len(texts) == EPOCHS
    lines = texts[-1].tensor_proto.string_val[0].decode().splitlines()
    _, words = final_vectors(run_dir)
    val_words = [words[i] for i in validation_word_ids(len(words), 16, seed=0)]
    val_words += [w for w in ("paris", "france") if w not in val_words]
    assert val_words[-1] == "france"  # France: its lower-cased form, the text's only one
    assert [line.split(" | ")[0].strip() for line in lines] == val_words
    for line in lines:
        neighbours = line.split(" | ")[1].split(", ")
        assert len(neighbours) == 8
        assert set(neighbours) <= set(words)


def test_projector_holds_the_most_frequent_words_with_labels(eval_run):
    run_dir, _, _ = eval_run
    tb = run_dir / "tb"
    config = (tb / "projector_config.pbtxt").read_text()
    tensor_path = re.search(r'tensor_path: "([^"]+)"', config).group(1)
    metadata_path = re.search(r'metadata_path: "([^"]+)"', config).group(1)
    rows = (tb / tensor_path).read_text().splitlines()
    header, *labels = (tb / metadata_path).read_text().splitlines()
    vectors, words = final_vectors(run_dir)
    counts = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["vocab"]["counts"]
    assert header == "word\tcount"
    assert labels == [f"{w}\t{c}" for w, c in zip(words, counts, strict=True)][:PROJECTOR_WORDS]
    assert len(rows) == PROJECTOR_WORDS
    assert len(words) > PROJECTOR_WORDS
    table = np.array([row.split("\t") for row in rows], dtype=np.float32)
    np.testing.assert_allclose(table, vectors[:PROJECTOR_WORDS].numpy(), rtol=1e-5, atol=1e-6)


def test_tsne_map_is_logged_as_an_image(eval_run):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    _, metrics, events = eval_run
    (image,) = events.Images("tsne")
    assert image.step == metrics["steps"]
    assert image.encoded_image_string.startswith(b"\x89PNG")
    assert image.width == image.height >= 800


def test_a_vocabulary_without_benchmark_words_logs_nan_and_writes_null(tmp_path):
    corpus = tmp_path / "planted.txt"
    corpus.write_text(planted_groups_text(n_tokens=3_000)[0])
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"trainer.max_epochs": 1})
    metrics = run(make_config(overrides), tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert all(saved[name] is None for name in ("analogy_acc", "ws353_spearman"))
    assert saved["analogy_coverage"] == 0.0
    assert saved["ws353_oov"] == 1.0
    assert metrics["analogy_acc"] is None
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert math.isnan(events.Scalars("hp_metric")[-1].value)


def test_eval_disabled_adds_no_scores(tmp_path, caplog):
    corpus = tmp_path / "planted.txt"
    corpus.write_text(planted_groups_text(n_tokens=2_000)[0])
    pairs, _ = own_benchmark_files(tmp_path)
    overrides = small_run_overrides(
        corpus,
        tmp_path / "cache",
        **{"trainer.max_epochs": 1, "eval.enabled": False, "eval.word_pairs": pairs},
    )
    with caplog.at_level(logging.WARNING, logger="sgns.run.train"):
        metrics = run(make_config(overrides), tmp_path)
    assert "eval.enabled=false: eval.word_pairs and eval.analogies are not scored" in caplog.text
    assert set(metrics) == {*RUN_METRICS, "auto"}
    assert not (tmp_path / "tb" / "projector_config.pbtxt").exists()
    # The run still has its HPARAMS row, with the losses as its columns.
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    params, columns = hparams_row(events)
    assert params["model.embed_dim"] == 16
    assert columns == {"val/loss", "train/loss_epoch"}
    assert "hp_metric" not in events.Tags()["scalars"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.projector_words=-1", "eval.projector_words=-1 is invalid"),
        ("eval.tsne_words=1", "eval.tsne_words=1 is invalid"),
        ("+eval.every=2", "unknown config key 'eval.every'"),
        ("eval.word_pairs=3", "eval.word_pairs=3 is invalid: it must be a word-pair file or"),
        ("eval.analogies=[]", "eval.analogies=[] is invalid: it must be an analogy file or"),
    ],
)
def test_bad_eval_settings_fail_before_training(tmp_path, override, message):
    overrides = small_run_overrides(tmp_path / "none.txt", tmp_path / "cache") + [override]
    with pytest.raises(ConfigError, match=re.escape(message)):
        run(make_config(overrides), tmp_path)


def test_a_mistyped_eval_setting_fails_while_composing():
    with pytest.raises(HydraException) as err:
        make_config(["eval.tsne=maybe"])
    assert (
        str(composition_error(err.value))
        == "eval.tsne='maybe' is invalid: it must be true or false"
    )


class _Experiment:
    """Stands for a SummaryWriter, keeping the figures logged to it."""

    def __init__(self):
        self.figures = []

    def add_figure(self, tag, figure, global_step=None):
        self.figures.append(tag)


def test_projector_files_give_back_every_vector_exactly_and_every_label(tmp_path):
    """What TensorBoard's projector reads: its config (parsed as its own proto), float32
    vectors as they were (not rounded) and labels in any script."""
    matrix = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)) * 1e-3
    words = ["Straße", "東京", "user_id_42", "C++", "a", "b"]
    log_projector(tmp_path, matrix, words, n=4, step=70)
    config = text_format.Parse(
        (tmp_path / "projector_config.pbtxt").read_text(), projector.ProjectorConfig()
    )
    (embedding,) = config.embeddings
    assert embedding.tensor_name == "word_vectors:00070"
    table = np.loadtxt(tmp_path / embedding.tensor_path, delimiter="\t", dtype=np.float32)
    np.testing.assert_array_equal(table, matrix[:4].numpy())
    labels = (tmp_path / embedding.metadata_path).read_text(encoding="utf-8").splitlines()
    assert labels == words[:4]  # one column: no header row
    log_projector(tmp_path, matrix, words, n=4, step=71, counts=[9, 7, 7, 3, 1, 1])
    metadata = tmp_path / "00071" / "word_vectors" / "metadata.tsv"
    rows = metadata.read_text(encoding="utf-8").splitlines()
    assert rows == ["word\tcount", "Straße\t9", "東京\t7", "user_id_42\t7", "C++\t3"]


def test_missing_viz_extra_skips_the_tsne_image_with_a_warning(monkeypatch, caplog):
    def missing(*args, **kwargs):
        raise SgnsError("t-SNE plots need scikit-learn and matplotlib (sklearn is missing)")

    monkeypatch.setattr("sgns.eval.tsne.tsne_figure", missing)
    experiment = _Experiment()
    with caplog.at_level(logging.WARNING, logger="sgns.eval.callback"):
        log_tsne(experiment, torch.zeros(3, 2), ["a", "b", "c"], 380, seed=0, step=1)
    assert experiment.figures == []
    assert "sklearn is missing" in caplog.text
