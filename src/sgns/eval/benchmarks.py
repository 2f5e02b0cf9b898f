"""The standard benchmarks of an embedding matrix and its vocabulary, in one call.

Needs only a (V, D) matrix (tensor on any device, or array) and the V words in id order, most
frequent first, so it scores a live module, a checkpoint or a vectors file alike.

    from sgns.eval.benchmarks import evaluate, evaluate_sections
    evaluate(model.in_embed.weight, vocab.words)   # {'analogy_acc': 0.31, ..., 'simlex_oov': 0.01}
    evaluate_sections(matrix, words)["capital-common-countries"]   # 0.62
"""

from __future__ import annotations

import numpy as np
import torch

from sgns.eval.analogy import analogy_counts, analogy_scores, section_accuracies
from sgns.eval.word_pairs import SIMLEX999, WORDSIM353, word_pair_scores


def evaluate(vectors: torch.Tensor | np.ndarray, words: list[str]) -> dict[str, float]:
    """The standard benchmarks as one flat dict of floats, ready for a logger.

    Keys: analogy_acc, analogy_semantic_acc, analogy_syntactic_acc (fractions of answerable
    Google analogy questions solved, 30,000 most frequent words), analogy_coverage (fraction of
    questions answerable), ws353_spearman, ws353_oov, simlex_spearman, simlex_oov (Spearman rho
    on WordSim-353 and SimLex-999, fraction of pairs with an unknown word). nan where nothing
    is answerable.
    """
    scores = analogy_scores(analogy_counts(vectors, words))
    scores["ws353_spearman"], scores["ws353_oov"] = word_pair_scores(vectors, words, WORDSIM353)
    scores["simlex_spearman"], scores["simlex_oov"] = word_pair_scores(vectors, words, SIMLEX999)
    return scores


def evaluate_sections(vectors: torch.Tensor | np.ndarray, words: list[str]) -> dict[str, float]:
    """Google analogy accuracy per section, in file order; nan where no question is answerable."""
    return section_accuracies(analogy_counts(vectors, words))
