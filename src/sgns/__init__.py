"""sgns: word2vec skip-gram with negative sampling, as a Lightning + Hydra experiment kit."""

__version__ = "0.1.0"
