"""Vocabulary: word <-> id, counts, and the keep-probabilities derived from the counts.

Ids are sorted by frequency, most frequent first (ties broken alphabetically, so a corpus
always yields the same ids), as in the notebook and in word2vec's output files.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sgns.data import SUBSAMPLE_RULES
from sgns.errors import DataError
from sgns.io import atomic_write_text


@dataclass(frozen=True)
class Vocab:
    words: list[str]
    counts: np.ndarray  # (V,) int64, non-increasing
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64))
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def from_counter(
        cls, counter: Counter, min_count: int = 5, max_vocab: int | None = None
    ) -> Vocab:
        """Words seen at least `min_count` times; then at most `max_vocab` of the most frequent."""
        kept = sorted(((-n, w) for w, n in counter.items() if n >= min_count))
        if max_vocab is not None:
            kept = kept[:max_vocab]
        return cls([w for _, w in kept], np.array([-n for n, _ in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def total(self) -> int:
        """Number of corpus tokens that are in the vocabulary."""
        return int(self.counts.sum())

    def keep_prob(self, t: float, rule: str = "mikolov") -> np.ndarray:
        """Probability of keeping each word when subsampling frequent words, shape (V,).

        - ``mikolov``: keep = sqrt(t / f), i.e. drop with 1 - sqrt(t/f) (Mikolov et al. 2013,
          NIPS paper; the notebook's rule, usually with t = 1e-5).
        - ``word2vec``: keep = (sqrt(f / t) + 1) * t / f, the C tool's and gensim's rule
          (usually with t = 1e-3 .. 1e-5).
        `t <= 0` disables subsampling.
        """
        if t <= 0:
            return np.ones(len(self), dtype=np.float64)
        f = self.counts / self.total
        if rule == "mikolov":
            keep = np.sqrt(t / f)
        elif rule == "word2vec":
            keep = (np.sqrt(f / t) + 1.0) * t / f
        else:
            raise ValueError(
                f"unknown subsample rule {rule!r}; choose {' or '.join(SUBSAMPLE_RULES)}"
            )
        return np.minimum(keep, 1.0)

    def to_dict(self) -> dict:
        return {"words": self.words, "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        words, counts = data["words"], data["counts"]
        if len(words) != len(counts):
            raise DataError("vocabulary is corrupt: words and counts differ in length")
        return cls(list(words), np.asarray(counts, dtype=np.int64))

    def save(self, path: str | Path) -> None:
        """Write as JSON, atomically (temporary file, then rename)."""
        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"cannot read vocabulary {path}: {err}") from err
