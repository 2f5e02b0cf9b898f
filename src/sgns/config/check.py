"""Checks of a composed run configuration, each failing with one line that names the key and
what it allows (sgns.config.schema's rules), and Hydra's own composition errors in one line.

    >>> validate({"model": {"embed_dim": 0}})
    Traceback (most recent call last):
    sgns.errors.ConfigError: model.embed_dim=0 is invalid: it must be an integer in [1, 100000]
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from sgns.config.schema import RULES, SECTIONS, TRAINER_RESERVED
from sgns.errors import ConfigError


def checked(cfg: DictConfig) -> dict:
    """`cfg` as a plain dict, interpolations resolved, after `validate`.

    Raises ConfigError (one line) for an unset ``???`` key, a failing interpolation or any
    problem `validate` finds.
    """
    try:
        conf = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        rule = RULES.get(err.full_key)
        allowed = f": it must be {rule.allowed()}" if rule else ""
        raise ConfigError(f"{err.full_key} is not set{allowed}") from None
    except OmegaConfBaseException as err:
        raise ConfigError(one_line(str(err))) from None
    validate(conf)
    return conf


def validate(conf: dict) -> None:
    """Raise ConfigError for the first unknown key or invalid value in `conf` (a plain dict)."""
    _check_known_keys(conf)
    for key, rule in RULES.items():
        found, value = _lookup(conf, key)
        if not found or (value is None and rule.nullable):
            continue
        if not rule.ok(value):
            raise ConfigError(f"{key}={value!r} is invalid: it must be {rule.allowed()}")
    _check_precision(conf)


def _check_precision(conf: dict) -> None:
    """sgd's closed-form step computes in float32 whatever trainer.precision says (a mixed one
    leaves its vectors bit for bit the same): its reduced precision is model.table_dtype."""
    precision = str(conf.get("trainer", {}).get("precision", "32-true"))
    optimizer = conf.get("model", {}).get("optimizer", "sgd")
    if optimizer == "sgd" and precision not in ("32-true", "32", "64-true", "64"):
        raise ConfigError(
            f"trainer.precision={precision} does not apply to model.optimizer=sgd, whose "
            "closed-form step computes in float32 without autograd: for reduced-precision "
            "tables set model.table_dtype=bfloat16 or float16 (trainer.precision is for adam "
            "and sparse_adam)"
        )


def composition_error(err: Exception) -> ConfigError:
    """Hydra's multi-line composition error as one line. An unknown key is named with the keys
    known beside it, and a value of the wrong type with what its key allows."""
    message = f"{err}\n{err.__cause__ or ''}"
    where = re.match(r"In '([^']+)': ", message)  # a file under conf/, not the command line
    prefix = f"In '{where[1]}': " if where else ""
    found = re.search(r"full_key: (\S+)", message)
    key = found[1] if found else None
    if key and re.search(r"Key '[^']+' not in '", message):
        return ConfigError(prefix + str(unknown_key(key)))
    if key in RULES:  # OmegaConf refused the value's type
        return ConfigError(
            f"{prefix}{key}{_shown_value(message)} is invalid: it must be {RULES[key].allowed()}"
        )
    missing = re.search(r"Could not (?:load|find) '([^']+)'", message)
    extra = PLUGIN_EXTRAS.get(missing[1]) if missing else None
    if extra:  # a launcher or sweeper whose Hydra plugin is not installed
        return ConfigError(
            f"{prefix}{missing[1]} comes with a Hydra plugin that is not installed: "
            f"pip install -e '.[{extra}]'"
        )
    return ConfigError(one_line(message))


# Configs that Hydra plugins bring, and the extra of pyproject.toml that installs each.
PLUGIN_EXTRAS = {
    "hydra/launcher/ray": "parallel",
    "hydra/launcher/submitit_slurm": "cluster",
    "hydra/launcher/submitit_local": "cluster",
    "hydra/sweeper/optuna": "sweep",
    "hydra/sweeper/sampler/tpe": "sweep",
}


def _shown_value(message: str) -> str:
    """'=VALUE' as validate() would show it, from OmegaConf's type error ('' if not found)."""
    if "is not Optional" in message:
        return "=None"
    found = re.search(
        r"Value '(.*)' (?:of type '(\w+)' could not|is not a valid \w+ \(type (\w+)\))", message
    )
    if not found:
        return ""
    value, kind = found[1], found[2] or found[3]
    return f"={value!r}" if kind == "str" else f"={value}"


def unknown_key(key: str) -> ConfigError:
    """The error for a key RunConfig does not know, listing the keys known beside it."""
    section = key.split(".")[0] if "." in key else None
    known = _known_keys(section)
    listing = f"; known keys here: {', '.join(known)}" if known else ""
    return ConfigError(f"unknown config key '{key}'{listing}")


def check_inside(path: str | Path, root: str | Path, what: str) -> None:
    """Raise ConfigError unless `path` lies inside `root` (after resolving ``..`` and links).

    A run directory is named after its overrides, so an override value such as
    ``x/../../..`` would otherwise place a run's files outside the sweep folder.
    """
    path, root = Path(path).resolve(), Path(root).resolve()
    if path != root and root not in path.parents:
        raise ConfigError(f"{what} {path} lies outside {root}; override values must not hold '..'")


def one_line(text: str) -> str:
    """Join a message's lines; the lines under a 'heading:' become a comma-separated list."""
    out, listing = "", False
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("Config search path"):
            break
        if not line or line.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if listing:
            out += (" " if out.endswith(":") else ", ") + line
            continue
        out += ("; " if out else "") + line
        listing = line.endswith(":")
    return out


def _known_keys(section: str | None) -> list[str]:
    if section is None:
        return sorted({key.split(".")[0] for key in RULES})
    return sorted(key.split(".", 1)[1] for key in RULES if key.startswith(section + "."))


def _check_known_keys(conf: dict) -> None:
    """Keys added with ``+`` pass Hydra's struct check; only Lightning's may stay."""
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


def _lookup(conf: dict, dotted: str):
    node = conf
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
