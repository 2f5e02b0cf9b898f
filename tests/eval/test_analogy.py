"""Analogy accuracy: agreement with gensim on planted vectors, and the rules on toy cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sgns.errors import DataError
from sgns.eval.analogy import analogy_counts, analogy_scores, section_accuracies

# gensim solves each question with float32 dot products too; only near-ties may differ.
TOLERANCE = 0.005


def _gensim_sections(kv, path, restrict_vocab):
    _, sections = kv.evaluate_word_analogies(path, restrict_vocab=restrict_vocab)
    return {
        s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
    }


@pytest.mark.parametrize("restrict_vocab", [30_000, 1_500])
def test_agrees_with_gensim_per_section(planted, planted_kv, google_path, restrict_vocab):
    vectors, words = planted
    ours = analogy_counts(vectors, words, restrict_vocab=restrict_vocab)
    theirs = _gensim_sections(planted_kv, google_path, restrict_vocab)
    for name, count in ours.items():
        correct, answered = theirs[name]
        assert count.answered == answered, name
        if answered:
            assert count.correct / answered == pytest.approx(correct / answered, abs=TOLERANCE)
    total_correct, total_answered = theirs["Total accuracy"]
    assert analogy_scores(ours)["analogy_acc"] == pytest.approx(
        total_correct / total_answered, abs=TOLERANCE
    )


def test_planted_accuracy_is_informative(planted_counts):
    """The planted set is neither trivial nor hopeless, so agreement above means something."""
    scores = analogy_scores(planted_counts)
    assert 0.3 < scores["analogy_acc"] < 0.7
    assert 0.7 < scores["analogy_coverage"] < 0.95  # some words were left out


def test_tensor_input_matches_array_input(planted, planted_counts):
    vectors, words = planted
    assert analogy_counts(torch.from_numpy(vectors), words) == planted_counts


def test_sections_and_semantic_syntactic_split(planted_counts):
    counts = planted_counts
    assert list(counts)[:2] == ["capital-common-countries", "capital-world"]
    assert len(counts) == 14
    sem = [s for n, s in counts.items() if not n.startswith("gram")]
    scores = analogy_scores(counts)
    expected = sum(s.correct for s in sem) / sum(s.answered for s in sem)
    assert scores["analogy_semantic_acc"] == pytest.approx(expected)


def _write(tmp_path, text):
    path = tmp_path / "analogies.txt"
    path.write_text(text, encoding="utf8")
    return path


# Toy geometry: with a = e0, b = e1, c = e2 the 3CosAdd target is unit(e1 + e2 - e0).
E = np.eye(4, dtype=np.float32)
TARGET = (E[1] + E[2] - E[0]) / np.sqrt(3)


def test_case_variant_of_a_question_word_is_never_the_answer(tmp_path):
    path = _write(tmp_path, ": family\na b c d\n")
    words = ["a", "b", "c", "d", "C"]  # "C" is a variant of question word c, matching exactly
    vectors = np.stack([E[0], E[1], E[2], TARGET + 0.3 * E[3], TARGET])
    count = analogy_counts(vectors, words, path=path)["family"]
    assert (count.correct, count.answered) == (1, 1)


def test_most_frequent_case_variant_stands_for_the_word(tmp_path):
    path = _write(tmp_path, ": family\na b c d\n")
    words = ["A", "a", "b", "c", "d", "x"]
    # With a = e3 instead of e0 the target would be x = unit(e1 + e2 - e3), not d.
    stray_x = (E[1] + E[2] - E[3]) / np.sqrt(3)
    first_right = np.stack([E[0], E[3], E[1], E[2], TARGET, stray_x])
    assert analogy_counts(first_right, words, path=path)["family"].correct == 1
    first_stray = first_right[[1, 0, 2, 3, 4, 5]]
    assert analogy_counts(first_stray, words, path=path)["family"].correct == 0


def test_restrict_vocab_limits_questions_and_answers(tmp_path):
    path = _write(tmp_path, ": family\na b c d\na b c x\n")
    words = ["a", "b", "c", "d", "x"]
    vectors = np.stack([E[0], E[1], E[2], TARGET + 0.3 * E[3], TARGET])
    full = analogy_counts(vectors, words, path=path)["family"]
    assert (full.correct, full.answered, full.total) == (1, 2, 2)  # x is the best answer
    cut = analogy_counts(vectors, words, path=path, restrict_vocab=4)["family"]
    # x is beyond the first 4 words: its question is skipped and it is never predicted.
    assert (cut.correct, cut.answered, cut.total) == (1, 1, 2)


def test_nothing_answerable_gives_nan(tmp_path):
    path = _write(tmp_path, ": family\na b c d\n: gram1-x\na b c d\n")
    counts = analogy_counts(np.eye(3, dtype=np.float32), ["p", "q", "r"], path=path)
    scores = analogy_scores(counts)
    assert scores["analogy_coverage"] == 0.0
    for key in ("analogy_acc", "analogy_semantic_acc", "analogy_syntactic_acc"):
        assert math.isnan(scores[key])
    assert all(math.isnan(v) for v in section_accuracies(counts).values())


def test_empty_section_and_malformed_lines(tmp_path):
    path = _write(tmp_path, ": empty\n: gram2-x\na b c\na b c d\n\na b c d e\n")
    words = ["a", "b", "c", "d", "x"]
    vectors = np.stack([E[0], E[1], E[2], TARGET, E[3]])
    counts = analogy_counts(vectors, words, path=path)
    assert counts["empty"].total == 0
    assert math.isnan(section_accuracies(counts)["empty"])
    assert (counts["gram2-x"].correct, counts["gram2-x"].total) == (1, 1)  # 3 and 5 words: skipped
    scores = analogy_scores(counts)
    assert scores["analogy_syntactic_acc"] == 1.0
    assert math.isnan(scores["analogy_semantic_acc"])


def test_missing_section_header_is_a_data_error(tmp_path):
    path = _write(tmp_path, "a b c d\n")
    with pytest.raises(DataError, match="section header"):
        analogy_counts(np.eye(4, dtype=np.float32), list("abcd"), path=path)
