"""SkipGramNeg, NegativeSamplingLoss, the closed-form SGD step and SkipGramModule.

The choices this package implements, named here so that sgns.config checks them without
loading torch:

    >>> from sgns.model import OPTIMIZERS
    >>> OPTIMIZERS
    ('sgd', 'sparse_adam', 'adam')
"""

OPTIMIZERS = ("sgd", "sparse_adam", "adam")  # model.optimizer (SkipGramModule)
INITS = ("word2vec", "uniform")  # model.init (SkipGramNeg.reset_parameters)
TABLE_DTYPES = ("float32", "bfloat16", "float16")  # model.table_dtype (SkipGramModule)
# model.gpu_step: the fused Triton kernel (sgns.model.sgd_fused) or torch operations (sgd)
GPU_STEPS = ("fused", "torch")
