"""Benchmark files of your own (eval.word_pairs, eval.analogies) beside the standard ones."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import SCORE_KEYS
from sgns.errors import DataError
from sgns.eval.analogy import GOOGLE_ANALOGIES, analogy_counts, analogy_scores, read_analogies
from sgns.eval.benchmarks import benchmark_files, evaluate, score_keys, unscorable_keys
from sgns.eval.word_pairs import WORDSIM353, read_word_pairs
from sgns.io import gensim_data_path


def _space_separated_ws353(path):
    """WordSim-353 as MEN and RW ship their pairs: one space between the fields."""
    path.write_text("".join(f"{a} {b} {score}\n" for a, b, score in read_word_pairs(WORDSIM353)))
    return path


def test_own_files_score_like_the_standard_sets_they_copy(planted, tmp_path):
    """WordSim-353 rewritten space-separated and the Google set under another name give
    exactly the standard scores, under keys named after the files."""
    vectors, words = planted
    pairs = _space_separated_ws353(tmp_path / "My WS.txt")
    questions = tmp_path / "google-copy.txt"
    questions.write_text(gensim_data_path(GOOGLE_ANALOGIES).read_text(encoding="utf8"))

    scores = evaluate(
        torch.from_numpy(vectors), words, word_pairs=str(pairs), analogies=[questions]
    )

    own = ["my_ws_spearman", "my_ws_oov", "google_copy_acc", "google_copy_coverage"]
    assert list(scores) == [*SCORE_KEYS, *own]  # the standard keys first, unchanged
    assert list(score_keys(benchmark_files(pairs, questions))) == list(scores)
    assert 0.3 < scores["my_ws_spearman"] < 1.0
    assert scores["my_ws_spearman"] == scores["ws353_spearman"]
    assert scores["my_ws_oov"] == scores["ws353_oov"] > 0
    assert scores["google_copy_acc"] == scores["analogy_acc"]
    assert 0 < scores["google_copy_coverage"] == scores["analogy_coverage"] < 1


def test_an_analogy_file_of_one_section_hand_checked(planted, tmp_path):
    """Five questions: three from the Google set, one with a word the vocabulary lacks and one
    whose answer is taken from another question: accuracy over the four answerable ones."""
    vectors, words = planted
    _, google = read_analogies(None)
    answerable = [q[1:] for q in google if q[0] == 0][:3]
    known = {w.upper() for w in words}
    assert all(w in known for q in answerable for w in q)
    a, b, c, d = answerable[0]
    wrong = (a, b, c, answerable[1][3] if answerable[1][3] != d else answerable[2][3])
    lines = [" ".join(q).lower() for q in [*answerable, ("zzunknown", b, c, d), wrong]]
    path = tmp_path / "capitals.txt"
    path.write_text(": capitals\n" + "\n".join(lines) + "\n")

    scores = evaluate(vectors, words, analogies=path)

    expected = analogy_scores(analogy_counts(vectors, words, path))
    solved = round(expected["analogy_acc"] * 4)
    assert scores["capitals_coverage"] == 4 / 5
    assert scores["capitals_acc"] == solved / 4
    assert solved <= 3  # the question with the wrong answer is never solved


def test_nothing_answerable_gives_nan_and_full_oov(planted, tmp_path):
    vectors, words = planted
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("zzq\tzzr\t3\nzzs\tzzt\t1\n")
    questions = tmp_path / "q.txt"
    questions.write_text(": s\nzza zzb zzc zzd\n")
    scores = evaluate(vectors, words, word_pairs=[pairs], analogies=[questions])
    assert math.isnan(scores["pairs_spearman"])
    assert scores["pairs_oov"] == 1.0
    assert math.isnan(scores["q_acc"])
    assert scores["q_coverage"] == 0.0


def test_tab_and_space_lines_mix_and_comments_are_skipped(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text("# a comment\ncat\tdog\t7.5\nsun  sunlight   9\nno score here\ncar bus x\n")
    assert read_word_pairs(str(path)) == (("CAT", "DOG", 7.5), ("SUN", "SUNLIGHT", 9.0))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        # WordSim-353's combined.csv: commas, a header
        ("combined.csv", "Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger,cat,7.35\n"),
        # SimLex-999.txt: a header, the part of speech before the score, ratings after it
        ("SimLex-999.txt", "word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\n"
                           "love\tsex\tN\t6.77\t4.5\t3.9\ntiger\tcat\tN\t7.35\t4.9\t4.9\n"),
        # RW (Stanford rare words): the mean, then each rater's score
        ("rw.txt", "love\tsex\t6.77\t7\t7\t6\t1\t8\ntiger\tcat\t7.35\t8\t7\t9\t6\t7\n"),
        # SimVerb-3500: part of speech before the score, the relation after it
        ("SimVerb-3500.txt", "love\tsex\tV\t6.77\tNONE\ntiger\tcat\tV\t7.35\tHYPER/HYPONYMS\n"),
        # MEN's natural form: spaces
        ("MEN_dataset_natural_form_full", "love sex 6.77\ntiger cat 7.35\n"),
    ],
)  # fmt: skip
def test_the_benchmarks_own_files_load_as_downloaded(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert read_word_pairs(str(path)) == (("LOVE", "SEX", 6.77), ("TIGER", "CAT", 7.35))


def test_paths_are_resolved_and_named_after_their_stems(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    _space_separated_ws353(tmp_path / "sub" / "MEN-3k.txt")
    monkeypatch.chdir(tmp_path)
    (found,) = benchmark_files(word_pairs="sub/MEN-3k.txt")
    assert found.name == "men_3k"
    assert found.path == str((tmp_path / "sub" / "MEN-3k.txt").resolve())


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"word_pairs": "nope.txt"}, "no such word-pair file: 'nope.txt'"),
        ({"analogies": ["nope.txt"]}, "no such analogy file: 'nope.txt'"),
        ({"word_pairs": "empty.txt"}, "word-pair file '{d}/empty.txt' holds no word pairs"),
        ({"analogies": "noheader.txt"}, "missing section header (a ': name' line) before line 1"),
        ({"analogies": "empty.txt"}, "analogy file '{d}/empty.txt' holds no questions"),
        ({"word_pairs": "latin1.txt"}, "word-pair file '{d}/latin1.txt' is not UTF-8 text"),
        ({"word_pairs": "ws353.txt"}, "would be scored as 'ws353', the name of a standard"),
        (
            {"word_pairs": "a/same.txt", "analogies": "b/same.txt"},
            "benchmark files '{d}/a/same.txt' and '{d}/b/same.txt' would both be scored as 'same'",
        ),
    ],
)
def test_a_bad_file_is_one_data_error_naming_it(tmp_path, files, message):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "noheader.txt").write_text("a b c d\n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 tea 5\n".encode("latin-1"))
    for name in ("ws353.txt", "a/same.txt"):
        _space_separated_ws353(tmp_path / name)
    (tmp_path / "b" / "same.txt").write_text(": s\ncat dog cats dogs\n")
    given = {k: v if "nope" in str(v) else str(tmp_path / v) for k, v in files.items()}
    with pytest.raises(DataError) as err:
        benchmark_files(**given)
    assert message.format(d=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)


def _vocabularies(planted):
    """Vocabularies from none to all of the benchmarks: unrelated ids; one analogy section and
    two WordSim-353 pairs (semantic questions only; three WordSim-353 pairs known, no SimLex
    pair); the planted vocabulary."""
    _, words = planted
    _, google = read_analogies(None)
    capitals = sorted({w for q in google if q[0] == 0 for w in q[1:]})
    pairs = [w for a, b, _ in read_word_pairs(WORDSIM353)[:2] for w in (a, b)]
    return {
        "ids": [f"n{i}" for i in range(50)],
        "capitals": capitals + pairs,
        "planted": words,
    }


@pytest.mark.parametrize("vocabulary", ["ids", "capitals", "planted"])
def test_unscorable_keys_are_those_any_vectors_leave_nan(planted, tmp_path, vocabulary):
    """Looked up from the words alone, before training: exactly the scores that come out nan
    on random vectors over the same vocabulary, files of one's own included."""
    words = _vocabularies(planted)[vocabulary]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("paris\tfrance\t9\nn1\tn2\t3\nn3\tn4\t1\n")
    questions = tmp_path / "q.txt"
    questions.write_text(": s\nn1 n2 n3 n4\n")
    own = benchmark_files([pairs], [questions])
    vectors = torch.randn(len(words), 8, generator=torch.Generator().manual_seed(0))
    scores = evaluate(vectors, words, word_pairs=[pairs], analogies=[questions])
    nan = tuple(k for k, v in scores.items() if math.isnan(v))
    assert unscorable_keys(words, own) == nan
    expected = {
        "ids": (
            "analogy_acc",
            "analogy_semantic_acc",
            "analogy_syntactic_acc",
            "ws353_spearman",
            "simlex_spearman",
        ),  # fmt: skip
        "capitals": ("analogy_syntactic_acc", "simlex_spearman", "pairs_spearman", "q_acc"),
        "planted": ("pairs_spearman", "q_acc"),
    }[vocabulary]
    assert nan == expected
