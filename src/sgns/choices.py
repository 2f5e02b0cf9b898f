"""The values a choice key of the run configuration may take, each defined once.

sgns.config checks configs against them and the modules that act on a choice import them
from here. This module imports nothing, so checking a config loads neither torch nor numpy,
and the model loads no Hydra. ``NORMALIZATIONS`` lives beside the rules it names, in
sgns.data.corpus (which imports only the standard library).

    >>> from sgns.choices import OPTIMIZERS
"""

SOURCES = ("wiki_sample", "text_file", "text8")  # data.source (SkipGramDataModule)
OPTIMIZERS = ("sgd", "sparse_adam", "adam")  # model.optimizer (SkipGramModule)
INITS = ("word2vec", "uniform")  # model.init (SkipGramNeg.reset_parameters)
SUBSAMPLE_RULES = ("mikolov", "word2vec")  # data.subsample_rule (Vocab.keep_prob)
VECTORS = ("in", "in+out")  # export.vectors: the input table, or input plus output
EXPORT_FORMATS = ("text", "binary")  # export.format: vectors.txt or vectors.bin
TABLE_DTYPES = ("float32", "bfloat16", "float16")  # model.table_dtype (SkipGramModule)
# data.pairs_on: numpy in the loader | torch on the training device | device on a CUDA GPU
PAIRS_ON = ("auto", "host", "device")
