"""Corpus -> tokens -> vocabulary -> token cache -> skip-gram pairs -> SkipGramDataModule.

The choices this package implements, named here so that sgns.config checks them without
loading numpy or torch (``NORMALIZATIONS`` lives beside its rules, in sgns.data.corpus):

    >>> from sgns.data import SOURCES
    >>> SOURCES
    ('wiki_sample', 'text_file', 'text8')
"""

SOURCES = ("wiki_sample", "text_file", "text8")  # data.source (SkipGramDataModule)
SUBSAMPLE_RULES = ("mikolov", "word2vec")  # data.subsample_rule (Vocab.keep_prob)
# data.pairs_on: numpy in the loader | torch on the training device (sgns.run.auto picks)
PAIRS_ON = ("host", "device")
