r"""Word similarity benchmarks: Spearman correlation of cosine similarity with human judgements.

Matches gensim's `KeyedVectors.evaluate_word_pairs` with its defaults (case-insensitive,
`restrict_vocab=300000`, `dummy4unknown=False`: pairs with an unknown word are left out and
counted in the OOV share).

    >>> _ = Path("pairs.tsv").write_text("cat\tdog\t9\ncat\tcar\t1\ndog\tcar\t2\ncat\tyak\t4\n")
    >>> matrix = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> word_pair_scores(matrix, ["cat", "dog", "car"], "pairs.tsv")   # (rho, OOV share)
    (1.0, 0.25)

`path` may also name a file bundled with gensim: WORDSIM353, SIMLEX999.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from sgns.errors import DataError
from sgns.eval.lookup import as_matrix, upper_index
from sgns.eval.neighbors import pair_similarity
from sgns.io import gensim_data_path

WORDSIM353 = "wordsim353.tsv"  # Finkelstein et al. (2002), bundled with gensim
SIMLEX999 = "simlex999.txt"  # Hill et al. (2015), bundled with gensim
RESTRICT_VOCAB = 300_000  # gensim's default


@functools.lru_cache(maxsize=8)
def read_word_pairs(path: str, delimiter: str = "\t") -> tuple[tuple[str, str, float], ...]:
    """Parse "word1<TAB>word2<TAB>score" lines as gensim does, words upper-cased.

    `path` is a file, or the name of one bundled with gensim's test data. "#" lines are
    comments. The benchmarks' own files load as they are downloaded: a line without the
    delimiter is split at commas if it has any (WordSim-353's combined.csv), else at
    whitespace (MEN); the score is the first number after the two words, so that the columns
    that follow it (RW's single ratings) or come before it (SimLex-999's and SimVerb's part of
    speech) are passed over. gensim takes exactly three tab-separated fields, as the bundled
    files have. Lines without such a number (headers) are skipped. Parsed once per path: a
    file edited in place needs `read_word_pairs.cache_clear()`.
    """
    if not Path(path).exists():
        bundled = gensim_data_path(path)
        if not bundled.is_file():
            raise DataError(f"no such word-pair file: {path!r}")
        path = bundled
    pairs = []
    with open(path, encoding="utf8") as fin:
        for line in fin:
            if line.startswith("#"):
                continue
            line = line.upper()
            if delimiter in line:
                fields = line.split(delimiter)
            else:
                fields = line.split(",") if "," in line else line.split()
            score = next(
                (number for field in fields[2:] if (number := _number(field)) is not None), None
            )
            if score is not None:
                pairs.append((fields[0].strip(), fields[1].strip(), score))
    return tuple(pairs)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def spearman(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Spearman's rho of two (N,) samples: Pearson correlation of their ranks, tied values
    sharing the mean of their ranks (scipy.stats.spearmanr, as gensim uses).

    nan when fewer than two points or when either sample is constant, without scipy's warning.
    """
    x, y = (torch.as_tensor(v).double().cpu().numpy() for v in (x, y))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two samples of the same length, got {x.shape} and {y.shape}")
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    from scipy import stats  # a second's import, paid only where a benchmark is scored

    return float(stats.spearmanr(x, y).statistic)


def known_pairs(
    words: list[str], path: str | Path, restrict_vocab: int = RESTRICT_VOCAB
) -> list[tuple[int, int, float]]:
    """(id, id, judgement) of the pairs of `path` with both words among the first
    `restrict_vocab` of `words`, a word's most frequent case variant standing for it."""
    lookup = upper_index(words, restrict_vocab)
    pairs = read_word_pairs(str(path))
    return [(lookup[a], lookup[b], gold) for a, b, gold in pairs if a in lookup and b in lookup]


def word_pair_scores(
    vectors: torch.Tensor | np.ndarray,
    words: list[str],
    path: str | Path,
    restrict_vocab: int = RESTRICT_VOCAB,
) -> tuple[float, float]:
    """(Spearman rho, OOV share) of cosine similarities against the judgements in `path`.

    Args:
        vectors: embedding matrix (V, D); similarities are computed on its device.
        words: the V words in id order, most frequent first.
        path: pairs file, or the name of one bundled with gensim (WORDSIM353, SIMLEX999).
        restrict_vocab: only the first `restrict_vocab` words count as known; a word's most
            frequent case variant stands for it.

    Returns:
        rho (nan if fewer than two pairs are known) and the fraction of pairs left out for an
        unknown word (nan if the file holds no pair).
    """
    matrix = as_matrix(vectors)
    if matrix.shape[0] != len(words):
        raise ValueError(f"{matrix.shape[0]} vectors but {len(words)} words")
    pairs = read_word_pairs(str(path))
    known = known_pairs(words, path, restrict_vocab)
    oov = (len(pairs) - len(known)) / len(pairs) if pairs else math.nan
    if not known:
        return math.nan, oov
    a_ids, b_ids, gold = zip(*known, strict=True)
    model = pair_similarity(matrix, list(a_ids), list(b_ids))
    return spearman(torch.tensor(gold), model), oov
