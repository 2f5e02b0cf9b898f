"""Checks a composed run configuration before any work starts.

Works on a plain nested dict (``OmegaConf.to_container(cfg, resolve=True)``), so the checks
need no Hydra:

    >>> validate({"model": {"embed_dim": 0}})
    Traceback (most recent call last):
    sgns.errors.ConfigError: model.embed_dim=0 is invalid: it must be an integer in [1, 100000]

Every key of conf/ has a rule in SCHEMA (a new key needs one: a test checks that the two
agree). Every problem is reported as one line that names the key and what is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sgns.data.corpus import NORMALIZATIONS
from sgns.data.vocab import SUBSAMPLE_RULES
from sgns.errors import ConfigError

INF = math.inf
# The same tuples live beside the code that uses them (tests check they agree); they are
# repeated here so that checking a config never imports torch or Lightning.
SOURCES = ("wiki_sample", "text_file", "text8")
OPTIMIZERS = ("sgd", "sparse_adam", "adam")
INITS = ("word2vec", "uniform")
TABLE_DTYPES = ("float32", "bfloat16", "float16")
PAIRS_ON = ("auto", "host", "device")
EXPORT_VECTORS = ("in", "in+out")
EXPORT_FORMATS = ("text", "binary")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
PRECISIONS += ("64", "32", "16", "bf16", 64, 32, 16)  # Lightning's short aliases
# Keys run() passes to lightning.Trainer itself; a config value would clash with them.
TRAINER_RESERVED = (
    "logger",
    "callbacks",
    "default_root_dir",
    "reload_dataloaders_every_n_epochs",
    "enable_checkpointing",
    "use_distributed_sampler",
)


@dataclass(frozen=True)
class Number:
    """An int (`kind=int`) or a finite number in [low, high] (low excluded if `open_low`)."""

    kind: type
    low: float
    high: float
    nullable: bool = False
    open_low: bool = False
    also: tuple = ()  # words the key accepts too (data.batch_size: "auto")

    def allowed(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        low, high = (_show(bound, self.kind) for bound in (self.low, self.high))
        span = f"{'(' if self.open_low else '['}{low}, {high}]"
        words = "".join(f" or {word}" for word in self.also)
        return f"{what} in {span}{' or null' if self.nullable else ''}{words}"

    def ok(self, value) -> bool:
        if isinstance(value, str) and value in self.also:
            return True
        if isinstance(value, bool):
            return False
        if not isinstance(value, int if self.kind is int else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        return (self.low < value if self.open_low else self.low <= value) and value <= self.high


def _show(bound: float, kind: type) -> str:
    return str(int(bound)) if kind is int and math.isfinite(bound) else f"{bound:g}"


@dataclass(frozen=True)
class Choice:
    options: tuple
    nullable: bool = False

    def allowed(self) -> str:
        listing = ", ".join(dict.fromkeys(map(str, self.options)))
        return f"one of: {listing}{' or null' if self.nullable else ''}"

    def ok(self, value) -> bool:
        return not isinstance(value, bool) and value in self.options


@dataclass(frozen=True)
class Flag:
    also: tuple = ()  # non-boolean values the key accepts too (trainer.deterministic: "warn")

    def allowed(self) -> str:
        return "true or false" + "".join(f" or {a}" for a in self.also)

    def ok(self, value) -> bool:
        return isinstance(value, bool) or value in self.also


@dataclass(frozen=True)
class Text:
    """A string (a path, a name); `pattern` must match it whole when given."""

    nullable: bool = False
    pattern: str | None = None
    what: str = "a string"
    lists: bool = False  # a list of strings is accepted too (data.path: several files)

    def allowed(self) -> str:
        return f"{self.what}{' or null' if self.nullable else ''}"

    def ok(self, value) -> bool:
        if self.lists and isinstance(value, list):
            return bool(value) and all(self.ok(v) for v in value)
        if not isinstance(value, str) or not value:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


def _int(low, high=INF, nullable=False):
    return Number(int, low, high, nullable)


def _float(low, high, nullable=False, open_low=False):
    return Number(float, low, high, nullable, open_low)


# Every key a run configuration may hold, with what it may be. Sections are dicts.
SCHEMA = {
    "seed": _int(0, 2**32 - 1),
    "cpu_threads": _int(1, 4096, nullable=True),
    "resume": Text(nullable=True, what="a checkpoint path"),
    "objective": Text(what="a metric name"),
    "checkpoint.every_n_minutes": _float(0, 1e6, nullable=True, open_low=True),
    "checkpoint.every_n_train_steps": _int(1, nullable=True),
    "export.vectors": Choice(EXPORT_VECTORS),
    "export.format": Choice(EXPORT_FORMATS),
    "model.embed_dim": _int(1, 100_000),
    "model.n_samples": _int(1, 10_000),
    "model.noise_power": _float(0.0, 2.0),
    "model.optimizer": Choice(OPTIMIZERS),
    "model.lr": _float(0.0, 100.0, open_low=True),
    "model.min_lr_ratio": _float(0.0, 1.0),
    "model.init": Choice(INITS),
    "model.shared_negatives": _int(1, 1 << 20),
    # auto: the device's own (sgns.accelerator); null: the whole batch in one piece.
    "model.sgd_chunk": Number(int, 1, 1 << 26, nullable=True, also=("auto",)),
    "model.table_dtype": Choice(TABLE_DTYPES),
    "model.n_val_words": _int(0, 1000),
    "model.n_neighbors": _int(1, 1000),
    "data.source": Choice(SOURCES),
    "data.path": Text(nullable=True, lists=True, what="a file, folder or glob"),
    "data.sha256": Text(nullable=True, pattern="[0-9a-fA-F]{64}", what="64 hex digits"),
    "data.cache_dir": Text(what="a folder"),
    "data.normalization": Choice(NORMALIZATIONS),
    "data.min_count": _int(1),
    "data.max_vocab": _int(1, nullable=True),
    "data.subsample_t": _float(0.0, 1.0),
    "data.subsample_rule": Choice(SUBSAMPLE_RULES),
    "data.window": _int(1, 1000),
    "data.batch_size": Number(int, 1, 1 << 26, also=("auto",)),
    "data.pairs_on": Choice(PAIRS_ON),
    "data.context_chunk": _int(2, nullable=True),
    "data.shuffle": Flag(),
    "data.val_fraction": _float(0.0, 0.5),
    "data.num_workers": _int(0, 256),
    "data.block_tokens": _int(1024, 1 << 31),
    "trainer.accelerator": Choice(ACCELERATORS),
    "trainer.devices": Number(int, 1, 1 << 16),  # or "auto" / -1 / a list: see _devices_ok
    "trainer.num_nodes": _int(1, 1 << 16),
    # ddp / ddp_spawn / ddp_fork (sgns.distributed) or any other name Lightning knows.
    "trainer.strategy": Text(what="a strategy name"),
    "trainer.process_group_backend": Choice(("gloo", "nccl", "mpi"), nullable=True),
    "trainer.max_epochs": _int(1, 1_000_000),
    "trainer.precision": Choice(PRECISIONS),
    "trainer.log_every_n_steps": _int(1),
    # Epoch length is unknown in advance (pairs are drawn on the fly): steps, not fractions.
    "trainer.val_check_interval": _int(1, nullable=True),
    "trainer.num_sanity_val_steps": _int(-1),
    "trainer.enable_model_summary": Flag(),
    "trainer.enable_progress_bar": Flag(),
    "trainer.deterministic": Flag(also=("warn",)),
    "eval.enabled": Flag(),
    "eval.projector_words": _int(0),
    "eval.tsne": Flag(),
    "eval.tsne_words": _int(2, 100_000),
}
SECTIONS = sorted({key.split(".")[0] for key in SCHEMA if "." in key})


def validate(conf: dict) -> None:
    """Raise ConfigError for the first unknown key or invalid value in `conf`."""
    _check_known_keys(conf)
    for key, rule in SCHEMA.items():
        found, value = _lookup(conf, key)
        if not found or (value is None and getattr(rule, "nullable", False)):
            continue
        if key == "trainer.devices" and _devices_ok(value):
            continue
        if not rule.ok(value):
            allowed = rule.allowed() + (", or auto" if key == "trainer.devices" else "")
            raise ConfigError(f"{key}={value!r} is invalid: it must be {allowed}")


def check_inside(path: str | Path, root: str | Path, what: str) -> None:
    """Raise ConfigError unless `path` lies inside `root` (after resolving ``..`` and links).

    A run directory is named after its overrides, so an override value such as
    ``x/../../..`` would otherwise place a run's files outside the sweep folder.
    """
    path, root = Path(path).resolve(), Path(root).resolve()
    if path != root and root not in path.parents:
        raise ConfigError(f"{what} {path} lies outside {root}; override values must not hold '..'")


def unknown_key(key: str) -> ConfigError:
    """The error for a key SCHEMA does not know, listing the keys known beside it."""
    section = key.split(".")[0] if "." in key else None
    known = _known_keys(section)
    listing = f"; known keys here: {', '.join(known)}" if known else ""
    return ConfigError(f"unknown config key '{key}'{listing}")


def _known_keys(section: str | None) -> list[str]:
    if section is None:
        return sorted({key.split(".")[0] for key in SCHEMA})
    return sorted(key.split(".", 1)[1] for key in SCHEMA if key.startswith(section + "."))


def _check_known_keys(conf: dict) -> None:
    for name in sorted(set(conf) - set(_known_keys(None))):
        raise unknown_key(name)
    for section in SECTIONS:
        node = conf.get(section)
        if node is None:
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"{section}={node!r} is invalid: it must be a section of keys")
        for name in sorted(set(node) - set(_known_keys(section))):
            if section == "trainer" and _is_trainer_argument(name):
                continue
            raise unknown_key(f"{section}.{name}")


def _is_trainer_argument(name: str) -> bool:
    """Whether lightning.Trainer takes `name` (e.g. +trainer.max_steps=100), and run() does not
    set it itself. Imported only here, so that common configs are checked without Lightning."""
    import inspect

    import lightning as L

    return name not in TRAINER_RESERVED and name in inspect.signature(L.Trainer).parameters


def _devices_ok(value) -> bool:
    """Lightning's `devices`: a count, "auto", -1 (all) or a list of device indices."""
    if value in ("auto", -1):
        return True
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return False


def _lookup(conf: dict, dotted: str):
    node = conf
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
