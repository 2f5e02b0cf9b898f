"""The standard benchmarks of an embedding matrix and its vocabulary, in one call, and any
benchmark files of your own beside them.

Needs only a (V, D) matrix (tensor on any device, or array) and the V words in id order, most
frequent first, so it scores a live module, a checkpoint or a vectors file alike.

    from sgns.eval.benchmarks import evaluate, evaluate_sections
    evaluate(model.in_embed.weight, vocab.words)   # {'analogy_acc': 0.31, ..., 'simlex_oov': 0.01}
    evaluate_sections(matrix, words)["capital-common-countries"]   # 0.62
    evaluate(matrix, words, word_pairs="data/MEN.txt")["men_spearman"]   # your own files too

A file of your own is scored under its name: the file's stem, lower-cased, with every
character other than a-z, 0-9 and _ made an underscore (``MEN.txt``: ``men``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sgns.errors import DataError
from sgns.eval.analogy import (
    analogy_counts,
    analogy_scores,
    answerable_counts,
    read_analogies,
    section_accuracies,
)
from sgns.eval.word_pairs import (
    SIMLEX999,
    WORDSIM353,
    known_pairs,
    read_word_pairs,
    word_pair_scores,
)

# evaluate()'s keys for the standard benchmarks, in order.
STANDARD_KEYS = (
    "analogy_acc", "analogy_semantic_acc", "analogy_syntactic_acc", "analogy_coverage",
    "ws353_spearman", "ws353_oov", "simlex_spearman", "simlex_oov",
)  # fmt: skip
WORD_PAIRS, ANALOGIES = "word_pairs", "analogies"
# The keys each kind of file is scored under, after its name and an underscore.
SUFFIXES = {WORD_PAIRS: ("spearman", "oov"), ANALOGIES: ("acc", "coverage")}
# The standard benchmarks' names; a file of your own may not take them.
STANDARD_NAMES = ("analogy", "ws353", "simlex")


@dataclass(frozen=True)
class Benchmark:
    """A benchmark file of your own: its name (the prefix of its keys), kind and absolute path."""

    name: str
    kind: str  # WORD_PAIRS or ANALOGIES
    path: str


def benchmark_files(word_pairs=None, analogies=None) -> tuple[Benchmark, ...]:
    """Your benchmark files (each argument a path, a list of paths, or None), checked: each
    must exist and hold at least one pair or question, and their names must differ from each
    other's and from the standard benchmarks'. Raises DataError naming the file."""
    found: dict[str, Benchmark] = {}
    for kind, paths in ((WORD_PAIRS, word_pairs), (ANALOGIES, analogies)):
        for given in [paths] if isinstance(paths, str | Path) else list(paths or ()):
            path = Path(given).expanduser().resolve()
            _check_readable(kind, path, given)
            name = re.sub(r"[^a-z0-9_]", "_", path.stem.lower())
            if name in STANDARD_NAMES:
                raise DataError(
                    f"benchmark file {str(given)!r} would be scored as {name!r}, the name of a "
                    f"standard benchmark: rename the file"
                )
            if name in found:
                raise DataError(
                    f"benchmark files {found[name].path!r} and {str(path)!r} would both be "
                    f"scored as {name!r}: rename one"
                )
            found[name] = Benchmark(name, kind, str(path))
    return tuple(found.values())


def score_keys(own: tuple[Benchmark, ...] = ()) -> tuple[str, ...]:
    """The keys `score` gives, in order: the standard ones, then those of the files `own`."""
    return STANDARD_KEYS + tuple(f"{b.name}_{suffix}" for b in own for suffix in SUFFIXES[b.kind])


def _check_readable(kind: str, path: Path, given) -> None:
    what, items = ("word-pair", "word pairs") if kind == WORD_PAIRS else ("analogy", "questions")
    if not path.is_file():
        raise DataError(f"no such {what} file: {str(given)!r}")
    try:
        if kind == WORD_PAIRS:
            count = len(read_word_pairs(str(path)))
            form = "'word1 word2 score' lines"
        else:
            count = len(read_analogies(str(path))[1])
            form = "': section' lines, each followed by 'a b c d' lines"
    except UnicodeDecodeError:
        raise DataError(f"{what} file {str(given)!r} is not UTF-8 text") from None
    if count == 0:
        raise DataError(f"{what} file {str(given)!r} holds no {items}: expected {form}")


def evaluate(
    vectors: torch.Tensor | np.ndarray, words: list[str], word_pairs=None, analogies=None
) -> dict[str, float]:
    """The standard benchmarks, and any files of your own, as one flat dict of floats.

    Keys: analogy_acc, analogy_semantic_acc, analogy_syntactic_acc (fractions of answerable
    Google analogy questions solved, 30,000 most frequent words), analogy_coverage (fraction of
    questions answerable), ws353_spearman, ws353_oov, simlex_spearman, simlex_oov (Spearman rho
    on WordSim-353 and SimLex-999, fraction of pairs with an unknown word). nan where nothing
    is answerable.

    word_pairs, analogies: files of your own (a path or a list; see `benchmark_files`), each
    scored as NAME_spearman and NAME_oov, or NAME_acc and NAME_coverage, after the standard keys.
    """
    return score(vectors, words, benchmark_files(word_pairs, analogies))[0]


def evaluate_sections(vectors: torch.Tensor | np.ndarray, words: list[str]) -> dict[str, float]:
    """Google analogy accuracy per section, in file order; nan where no question is answerable."""
    return section_accuracies(analogy_counts(vectors, words))


def unscorable_keys(words: list[str], own: tuple[Benchmark, ...] = ()) -> tuple[str, ...]:
    """The keys of `score` that no vectors over `words` can make a number: accuracies with no
    analogy question all of whose words are in the vocabulary, correlations with fewer than
    two known word pairs. Looked up from the words alone, before any training."""
    nan = {k for k, v in analogy_scores(answerable_counts(words)).items() if math.isnan(v)}
    for name, path in (("ws353", WORDSIM353), ("simlex", SIMLEX999)):
        if len(known_pairs(words, path)) < 2:
            nan.add(f"{name}_spearman")
    for benchmark in own:
        if benchmark.kind == WORD_PAIRS:
            unknown = len(known_pairs(words, benchmark.path)) < 2
        else:
            unknown = math.isnan(
                analogy_scores(answerable_counts(words, benchmark.path))["analogy_acc"]
            )
        if unknown:
            nan.add(f"{benchmark.name}_{SUFFIXES[benchmark.kind][0]}")
    return tuple(k for k in score_keys(own) if k in nan)


def score(
    vectors: torch.Tensor | np.ndarray, words: list[str], own: tuple[Benchmark, ...] = ()
) -> tuple[dict[str, float], dict[str, float]]:
    """`evaluate`'s scores for the files `own`, and the Google set's per-section accuracies,
    from one pass over it (the costly part)."""
    counts = analogy_counts(vectors, words)
    scores = analogy_scores(counts)
    scores["ws353_spearman"], scores["ws353_oov"] = word_pair_scores(vectors, words, WORDSIM353)
    scores["simlex_spearman"], scores["simlex_oov"] = word_pair_scores(vectors, words, SIMLEX999)
    for benchmark in own:
        first, second = (f"{benchmark.name}_{suffix}" for suffix in SUFFIXES[benchmark.kind])
        if benchmark.kind == WORD_PAIRS:
            scores[first], scores[second] = word_pair_scores(vectors, words, benchmark.path)
        else:
            overall = analogy_scores(analogy_counts(vectors, words, benchmark.path))
            scores[first], scores[second] = overall["analogy_acc"], overall["analogy_coverage"]
    return scores, section_accuracies(counts)
