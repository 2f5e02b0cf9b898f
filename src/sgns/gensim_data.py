"""Files shipped inside gensim's wheel (gensim/test/test_data): the Wikipedia sample, WordSim353,
SimLex-999 and Google's analogy questions.

Found without importing `gensim.test.utils`, whose import builds a demo Dictionary and would
log it into every run's train.log.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def gensim_data_path(name: str) -> Path:
    """Where gensim's wheel keeps the file `name` (it may not exist)."""
    spec = importlib.util.find_spec("gensim")  # locates the package without importing it
    return Path(spec.origin).parent / "test" / "test_data" / name
