"""Word vectors straight from a training checkpoint, without Lightning or the model class.

    vectors, words = load_vectors_from_checkpoint("run/checkpoints/last.ckpt")
    vectors.shape == (len(words), embed_dim)   # True

SkipGramModule.on_save_checkpoint stores the vocabulary beside the weights, so a checkpoint
alone is enough to query or export vectors. The file is read with ``weights_only=True``:
tensors and plain containers only, so a crafted checkpoint cannot run code when loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sgns.choices import VECTORS
from sgns.errors import DataError
from sgns.io import load_checkpoint

IN_KEY, OUT_KEY = "model.in_embed.weight", "model.out_embed.weight"


def load_vectors_from_checkpoint(
    path: str | Path, vectors: str = "in"
) -> tuple[np.ndarray, list[str]]:
    """The word vectors (V, D) float32 and their words (most frequent first) in `path`.

    `vectors` is ``in`` (the input table, word2vec's output) or ``in+out`` (input plus
    output vectors; Levy et al. 2015). Raises DataError for a missing or unreadable file
    and for a checkpoint without sgns weights or vocabulary.
    """
    if vectors not in VECTORS:
        raise ValueError(f"vectors={vectors!r} is not one of: {', '.join(VECTORS)}")
    checkpoint = load_checkpoint(path)
    state, vocab = checkpoint["state_dict"], checkpoint.get("vocab")
    if not isinstance(state, dict) or IN_KEY not in state or OUT_KEY not in state:
        raise DataError(f"{path} holds no skip-gram weights ({IN_KEY}); is it an sgns checkpoint?")
    if not vocab or "words" not in vocab:
        raise DataError(f"{path} holds no vocabulary; it was not written by sgns training")
    weight = state[IN_KEY]
    if vectors == "in+out":
        weight = weight + state[OUT_KEY]
    words = list(vocab["words"])
    if weight.shape[0] != len(words):
        raise DataError(f"{path}: {weight.shape[0]} vectors but {len(words)} words")
    return weight.to(torch.float32).numpy(), words
