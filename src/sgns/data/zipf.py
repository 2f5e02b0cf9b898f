"""Generated corpora of made-up words with text's frequency shape, for speed checks and tests.

    write_zipf_corpus(Path("c17.txt"), 17_000_000)   # text8-sized: 17M tokens, 70k words

Word k (0-based rank) has probability proportional to 1 / (k + q), Zipf's law with exponent 1
and Mandelbrot's offset q set so that the most frequent word makes 6.2 % of the tokens, as
"the" does in text8; with 70,000 words the ten most frequent then make ~30 % of the text,
close to English. Words are made-up letter strings (`word_of_rank`), so analogy and
similarity scores do not apply; the point is text8's shape for timing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

_LETTERS = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
N_WORDS = 70_000
TOP_SHARE = 0.062  # share of the most frequent word, as "the" in text8


def zipf_probabilities(n_words: int = N_WORDS, top_share: float = TOP_SHARE) -> np.ndarray:
    """P(rank k) ~ 1 / (k + q), with q found by bisection so that P(0) = top_share."""
    ranks = np.arange(n_words, dtype=np.float64)
    low, high = 1e-6, 1e3
    for _ in range(100):
        q = (low * high) ** 0.5
        p = 1.0 / (ranks + q)
        share = p[0] / p.sum()
        low, high = (q, high) if share > top_share else (low, q)
    return p / p.sum()


def write_zipf_corpus(path: Path, n_tokens: int, seed: int = 0, words_per_line: int = 1000):
    """Write `n_tokens` words drawn from zipf_probabilities() to `path`, 1000 to a line."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(zipf_probabilities())
    words = np.array([word_of_rank(k) for k in range(len(cumulative))], dtype=object)
    with open(path, "w", encoding="ascii") as f:
        for start in range(0, n_tokens, 1 << 20):
            n = min(1 << 20, n_tokens - start)
            ranks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
            chunk = words[np.minimum(ranks, len(words) - 1)].tolist()
            lines = (" ".join(chunk[i : i + words_per_line]) for i in range(0, n, words_per_line))
            f.write("\n".join(lines) + "\n")


def word_of_rank(rank: int) -> str:
    """A distinct lower-case word per rank; frequent ranks get short words (3 letters and up)."""
    length = 3 + int(math.log2(rank + 1) / 3)
    x = (rank * 0x9E3779B97F4A7C15) % (26**length)  # odd, coprime with 13: a bijection
    letters = []
    for _ in range(length):
        x, r = divmod(x, 26)
        letters.append(_LETTERS[r])
    return bytes(letters).decode("ascii")
