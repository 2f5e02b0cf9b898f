"""Checks a composed run configuration before any work starts.

Works on a plain nested dict (``OmegaConf.to_container(cfg, resolve=True)``), so the checks
need no Hydra. Every problem is reported as one line naming the key and what is allowed.
"""

from __future__ import annotations

import math

from sgns.errors import ConfigError

INF = math.inf
# key: (type, lowest, highest, may be null)
NUMERIC_KEYS = {
    "seed": (int, 0, 2**32 - 1, False),
    "cpu_threads": (int, 1, 4096, True),
    "model.embed_dim": (int, 1, 100_000, False),
    "model.n_samples": (int, 1, 10_000, False),
    "model.noise_power": (float, 0.0, 2.0, False),
    "model.lr": (float, 1e-12, 100.0, False),
    "model.min_lr_ratio": (float, 0.0, 1.0, False),
    "model.shared_negatives": (int, 1, 1 << 20, False),
    "model.sgd_chunk": (int, 1, 1 << 26, True),
    "model.n_val_words": (int, 0, 1000, False),
    "model.n_neighbors": (int, 1, 1000, False),
    "data.window": (int, 1, 1000, False),
    "data.min_count": (int, 1, INF, False),
    "data.max_vocab": (int, 1, INF, True),
    "data.subsample_t": (float, 0.0, 1.0, False),
    "data.batch_size": (int, 1, 1 << 26, False),
    "data.context_chunk": (int, 2, INF, True),
    "data.val_fraction": (float, 0.0, 0.5, False),
    "data.num_workers": (int, 0, 256, False),
    "data.block_tokens": (int, 1024, 1 << 31, False),
    "trainer.max_epochs": (int, 1, 1_000_000, False),
}
# Keys a section may hold; anything else is a typo that would otherwise be ignored.
SECTION_KEYS = {
    "model": {
        "embed_dim",
        "n_samples",
        "noise_power",
        "optimizer",
        "lr",
        "min_lr_ratio",
        "init",
        "shared_negatives",
        "sgd_chunk",
        "n_val_words",
        "n_neighbors",
    },
    "data": {
        "source",
        "path",
        "cache_dir",
        "normalization",
        "min_count",
        "max_vocab",
        "subsample_t",
        "subsample_rule",
        "window",
        "batch_size",
        "context_chunk",
        "shuffle",
        "val_fraction",
        "num_workers",
        "block_tokens",
        "sha256",
    },
}


def validate(conf: dict) -> None:
    """Raise ConfigError for the first unknown key or out-of-range value in `conf`."""
    for section, allowed in SECTION_KEYS.items():
        unknown = sorted(set(conf.get(section) or {}) - allowed)
        if unknown:
            raise ConfigError(
                f"unknown key {section}.{unknown[0]}; known keys: {', '.join(sorted(allowed))}"
            )
    for key, (kind, low, high, nullable) in NUMERIC_KEYS.items():
        found, value = _lookup(conf, key)
        if not found or (value is None and nullable):
            continue
        _check_number(key, value, kind, low, high)


def _lookup(conf: dict, dotted: str):
    node = conf
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check_number(key: str, value, kind, low, high) -> None:
    allowed = f"{'an integer' if kind is int else 'a number'} in [{low:g}, {high:g}]"
    ok_type = not isinstance(value, bool) and (
        isinstance(value, int) if kind is int else isinstance(value, (int, float))
    )
    if not ok_type or not (low <= value <= high) or (kind is float and not math.isfinite(value)):
        raise ConfigError(f"{key}={value!r} is invalid: it must be {allowed}")
