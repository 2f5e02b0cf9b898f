"""scripts/query.py as a user runs it: answers on planted vectors, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import import_script
from sgns.eval.analogy import read_analogies
from sgns.eval.benchmarks import evaluate
from sgns.eval.vectors import save_word2vec

ROOT = Path(__file__).resolve().parents[2]
query = import_script("query")

# Two tight groups and an analogy: king - man + woman lands on queen.
WORDS = ["man", "woman", "king", "queen", "cat", "dog", "kitten"]
man, woman, royal, pet, young = np.eye(5, dtype=np.float32)
VECTORS = np.stack(
    [man, woman, man + royal, woman + royal, pet, pet + 0.4 * man, pet + 0.2 * young]
)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    save_word2vec(tmp_path / "vectors.txt", VECTORS, WORDS)
    return tmp_path


def _words(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()]


def test_neighbors_best_first_without_the_word(run_dir, capsys):
    assert query.main([str(run_dir), "neighbors", "cat", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert _words(out) == ["kitten", "dog"]
    assert float(out.splitlines()[0].split()[1]) == pytest.approx(1 / np.sqrt(1.04), abs=1e-4)


def test_neighbors_of_several_words_come_in_a_block_each(run_dir, capsys):
    assert query.main([str(run_dir), "neighbors", "cat", "king", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["cat:", "kitten", "dog", "king:", "man", "queen"]
    assert all(line.startswith("  ") for i, line in enumerate(lines) if i % 3)
    assert query.main([str(run_dir), "neighbors", "cat", "nope"]) == 2
    assert capsys.readouterr().err == "error: 'nope' is not in the vocabulary (7 words)\n"


def test_analogy(run_dir, capsys):
    assert query.main([str(run_dir), "analogy", "man", "king", "woman", "-k", "1"]) == 0
    assert _words(capsys.readouterr().out) == ["queen"]


def test_similarity_from_a_binary_file(tmp_path, capsys):
    path = tmp_path / "v.bin"
    save_word2vec(path, VECTORS, WORDS, binary=True)
    assert query.main([str(path), "similarity", "king", "queen"]) == 0
    assert capsys.readouterr().out == "0.5000\n"  # (m + r) . (w + r) / 2


def test_score_prints_the_benchmarks_as_metrics_json_keys(tmp_path, capsys):
    """Capitals and their countries planted one shared offset apart: every Google analogy
    question made of them is solved, and no other question is answerable."""
    sections, questions = read_analogies()
    first = [q for q in questions if sections[q[0]] == "capital-common-countries"]
    pairs = sorted({(a, b) for _, a, b, _, _ in first} | {(c, d) for _, _, _, c, d in first})
    dim = len(pairs) + 1
    capitals, offset = np.eye(dim, dtype=np.float32)[:-1], np.eye(dim, dtype=np.float32)[-1]
    vectors = np.concatenate([capitals, capitals + offset])
    words = [a.title() for a, _ in pairs] + [b.title() for _, b in pairs]
    save_word2vec(tmp_path / "vectors.txt", vectors, words)

    assert query.main([str(tmp_path), "score"]) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    known = {w.upper() for w in words}
    answerable = sum(all(w in known for w in q[1:]) for q in questions)
    assert answerable >= len(first)
    assert list(printed) == list(evaluate(vectors, words))
    assert float(printed["analogy_acc"]) == 1.0
    assert float(printed["analogy_semantic_acc"]) == 1.0
    assert printed["analogy_syntactic_acc"] == "nan"  # no syntactic question is answerable
    coverage = answerable / len(questions)
    assert float(printed["analogy_coverage"]) == pytest.approx(coverage, abs=1e-4)
    assert float(printed["simlex_oov"]) > 0.9  # SimLex-999 has no capitals or countries


def test_score_with_files_of_your_own_hand_checked(run_dir, capsys):
    pairs = run_dir / "royals.txt"
    pairs.write_text("king queen 8\ncat dog 6\ncat kitten 9\nman cat 1\nunicorn horse 5\n")
    questions = run_dir / "mine.txt"
    questions.write_text(
        ": royalty\nman king woman queen\nman woman king queen\ncat kitten dog unicorn\n"
        ": wrong\ncat dog man woman\n"  # man + (dog - cat) is nearest king
    )
    argv = [str(run_dir), "score", "--pairs", str(pairs), "--analogies", str(questions)]
    assert query.main(argv) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert list(printed)[:-4] == list(evaluate(VECTORS, WORDS))
    # Cosines: man-cat 0 < king-queen 0.5 < cat-dog 0.93 < cat-kitten 0.98; the judgements
    # order king-queen and cat-dog the other way: rho = 1 - 6 * 2 / (4 * 15) = 0.8.
    assert list(printed.items())[-4:] == [
        ("royals_spearman", "0.8000"),
        ("royals_oov", "0.2000"),
        ("mine_acc", "0.6667"),
        ("mine_coverage", "0.7500"),
    ]


def test_score_with_a_missing_file_is_one_line_and_exit_2(run_dir, capsys):
    assert query.main([str(run_dir), "score", "--analogies", "nope.txt"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: no such analogy file: 'nope.txt'\n"
    assert captured.out == ""


def test_case_variant_is_found(run_dir, capsys):
    assert query.main([str(run_dir), "similarity", "King", "QUEEN"]) == 0
    assert capsys.readouterr().out == "0.5000\n"


@pytest.mark.parametrize("argv", [["neighbors", "xyzzy"], ["analogy", "man", "xyzzy", "king"]])
def test_unknown_word_is_one_line_and_exit_2(run_dir, capsys, argv):
    assert query.main([str(run_dir), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: 'xyzzy' is not in the vocabulary (7 words)\n"
    assert captured.out == ""


def test_missing_path_and_empty_run_dir(tmp_path, capsys):
    assert query.main([str(tmp_path / "nope"), "neighbors", "cat"]) == 2
    assert capsys.readouterr().err == f"error: no such file or directory: '{tmp_path / 'nope'}'\n"
    assert query.main([str(tmp_path), "neighbors", "cat"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: none of vectors.txt, vectors.bin, checkpoints/last.ckpt in run directory "
        f"'{tmp_path}'\n"
    )


def save_checkpoint(run_dir: Path, out_table: np.ndarray) -> Path:
    """RUN_DIR/checkpoints/last.ckpt as training writes it, with VECTORS as in_embed."""
    (run_dir / "checkpoints").mkdir()
    tables = {"in": "model.in_embed.weight", "out": "model.out_embed.weight"}
    path = run_dir / "checkpoints" / "last.ckpt"
    torch.save(
        {
            "state_dict": {
                tables["in"]: torch.from_numpy(VECTORS),
                tables["out"]: torch.from_numpy(out_table),
            },
            "vocab": {"words": WORDS, "counts": list(range(len(WORDS), 0, -1))},
            "tables": tables,
        },
        path,
    )
    return path


def test_a_run_without_vectors_yet_is_read_from_its_checkpoint(tmp_path, capsys):
    """A run still training (or stopped) has only checkpoints/last.ckpt: queried as it stands."""
    save_checkpoint(tmp_path, np.zeros_like(VECTORS))
    assert query.main([str(tmp_path), "neighbors", "cat", "-k", "2"]) == 0
    captured = capsys.readouterr()
    assert _words(captured.out) == ["kitten", "dog"]
    assert captured.err == (
        f"note: no vectors in {tmp_path} yet; reading {tmp_path / 'checkpoints' / 'last.ckpt'}\n"
    )


def test_vectors_in_plus_out_are_read_from_the_checkpoint(run_dir, capsys):
    """--vectors in+out: w + c vectors (Levy et al.) of a run exported with its input vectors."""
    out_table = np.roll(VECTORS, 1, axis=0)  # cat's output vector is queen's input vector
    checkpoint = save_checkpoint(run_dir, out_table)
    summed = VECTORS + out_table
    cat, queen = WORDS.index("cat"), WORDS.index("queen")
    expected = summed[cat] @ summed[queen] / np.linalg.norm(summed[[cat, queen]], axis=1).prod()
    for path, vectors, similarity in (
        (run_dir, [], 0.0),  # vectors.txt: cat and queen share nothing
        (run_dir, ["--vectors", "in"], 0.0),
        (run_dir, ["--vectors", "in+out"], expected),
        (checkpoint, ["--vectors", "in+out"], expected),
    ):
        assert query.main([str(path), *vectors, "similarity", "cat", "queen"]) == 0
        assert float(capsys.readouterr().out) == pytest.approx(similarity, abs=1e-4)
    assert expected > 0.3
    vectors_txt = run_dir / "vectors.txt"
    assert query.main([str(vectors_txt), "--vectors", "in+out", "similarity", "cat", "dog"]) == 2
    assert capsys.readouterr().err == (
        f"error: --vectors needs a checkpoint or a run directory: {vectors_txt} holds one table\n"
    )


def test_k_must_be_positive(run_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        query.main([str(run_dir), "neighbors", "cat", "-k", "0"])
    assert exit_.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.slow  # starting Python, torch and gensim takes seconds
def test_as_a_subprocess(run_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "query.py"), str(run_dir), "neighbors", "zz"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == "error: 'zz' is not in the vocabulary (7 words)\n"
