"""Evaluation of any embedding matrix and its vocabulary: analogies, word pairs, neighbours,
the standard benchmarks in one call (sgns.eval.benchmarks.evaluate), word2vec vector files and
checkpoints (sgns.eval.vectors), t-SNE maps, and the callback that scores while training.

It needs only a (V, D) matrix and the V words in id order, so it works the same on a live
module, a checkpoint or a vectors file. The choices of the vectors a run writes:

    >>> from sgns.eval import VECTORS
    >>> VECTORS
    ('in', 'in+out')
"""

VECTORS = ("in", "in+out")  # export.vectors: the input table, or input plus output
EXPORT_FORMATS = ("text", "binary")  # export.format: vectors.txt or vectors.bin
