"""Planted embeddings over the words of the Google analogy set, WordSim-353 and SimLex-999.

Analogy pairs x:y of a section get y = x + r_section + noise, and similarity pairs a:b get b
pulled towards a in proportion to the human score, so that 3CosAdd solves many analogies but
not all and cosine similarity correlates with the judgements. Some words are left out (OOV),
some get a capitalised variant placed before them (case handling), and filler words pad the
vocabulary.
"""

from __future__ import annotations

import numpy as np
import pytest
from gensim.test.utils import datapath

from sgns.eval.analogy import read_analogies
from sgns.eval.word_pairs import SIMLEX999, WORDSIM353, read_word_pairs

DIM = 32
ANALOGY_NOISE = 1.2  # tuned so that accuracy lands in the middle: ~0.5 overall
N_FILLER = 1500


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _planted_vectors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    vec: dict[str, np.ndarray] = {}
    sections, questions = read_analogies(None)
    relation = {s: rng.normal(size=DIM) for s in range(len(sections))}
    for section, a, b, c, d in questions:
        for x, y in ((a.lower(), b.lower()), (c.lower(), d.lower())):
            vec.setdefault(x, rng.normal(size=DIM))
            if y not in vec:
                vec[y] = vec[x] + relation[section] + rng.normal(scale=ANALOGY_NOISE, size=DIM)
    for name in (WORDSIM353, SIMLEX999):
        for a, b, gold in read_word_pairs(name):
            a, b = a.lower(), b.lower()
            vec.setdefault(a, rng.normal(size=DIM))
            if b not in vec:
                # Gold scores are on a 0-10 scale: a high score puts b close to a.
                pull = gold / 10 * 2 * np.linalg.norm(vec[a])
                vec[b] = pull * _unit(vec[a]) + rng.normal(size=DIM)
    return vec


@pytest.fixture(scope="session")
def planted() -> tuple[np.ndarray, list[str]]:
    """(vectors (V, DIM) float32, words) with V around 4,000, frequency order shuffled."""
    rng = np.random.default_rng(1234)
    vec = _planted_vectors(rng)
    words = sorted(vec) + [f"filler{i}" for i in range(N_FILLER)]
    rng.shuffle(words)
    words = [w for w in words if rng.random() > 0.04]  # ~4% of the benchmark words OOV
    # A capitalised variant with its own vector, ahead of (more frequent than) or behind the
    # lower-case word: the first one stands for the word in case-insensitive lookups.
    ahead = [w.capitalize() for w in words[:600:30]]
    behind = [w.upper() for w in words[600:1200:30]]
    words = ahead + words + behind
    vectors = np.stack([vec.get(w.lower(), rng.normal(size=DIM)) for w in words])
    vectors[: len(ahead)] += rng.normal(scale=0.5, size=(len(ahead), DIM))
    return vectors.astype(np.float32), words


@pytest.fixture(scope="session")
def planted_kv(planted):
    """The planted vectors as gensim KeyedVectors, the reference implementation."""
    from gensim.models import KeyedVectors

    vectors, words = planted
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors)
    return kv


@pytest.fixture(scope="session")
def google_path() -> str:
    return datapath("questions-words.txt")


@pytest.fixture(scope="session")
def planted_counts(planted):
    """Google-set counts of the planted vectors, computed once for the tests that only read them."""
    from sgns.eval.analogy import analogy_counts

    return analogy_counts(*planted)
