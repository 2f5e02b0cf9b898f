"""What a config key may hold: rules kept as dataclass field metadata, read back per key.

A field's annotation gives its type (int, float, str, bool, ``X | None``; Any where Lightning
takes several types), which OmegaConf enforces while Hydra composes; its metadata adds the
range or the choices, which `sgns.config.check.validate` checks. Every rule's `kind` and `nullable`
are filled in from the annotation by `rules_of`:

    >>> @dataclass
    ... class Model:
    ...     embed_dim: int = number(100, 1, 100_000)
    >>> rules_of(Model)["embed_dim"].allowed()
    'an integer in [1, 100000]'
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

INF = math.inf
RULE = "rule"  # the metadata key of a field's rule
ROLES = "roles"  # the metadata key of what else a key is, beyond a setting:
TRAINS = "trains"  # it decides the vocabulary, the batches or the model: a resume must match it
HPARAM = "hparam"  # a setting sweeps vary: TensorBoard's HPARAMS tab shows it


@dataclass(frozen=True)
class Number:
    """An int (`kind=int`) or a finite number in [low, high] (low excluded if `open_low`)."""

    low: float
    high: float = INF
    open_low: bool = False
    kind: type = float
    nullable: bool = False
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
    kind: type = str
    nullable: bool = False

    def allowed(self) -> str:
        listing = ", ".join(dict.fromkeys(map(str, self.options)))
        return f"one of: {listing}{' or null' if self.nullable else ''}"

    def ok(self, value) -> bool:
        return not isinstance(value, bool) and value in self.options


@dataclass(frozen=True)
class Flag:
    also: tuple = ()  # non-boolean values the key accepts too (trainer.deterministic: "warn")
    kind: type = bool
    nullable: bool = False

    def allowed(self) -> str:
        return "true or false" + "".join(f" or {a}" for a in self.also)

    def ok(self, value) -> bool:
        return isinstance(value, bool) or value in self.also


@dataclass(frozen=True)
class Text:
    """A string (a path, a name); `pattern` must match it whole when given."""

    what: str = "a string"
    pattern: str | None = None
    lists: bool = False  # a list of strings is accepted too (data.path: several files)
    kind: type = str
    nullable: bool = False

    def allowed(self) -> str:
        return f"{self.what}{' or null' if self.nullable else ''}"

    def ok(self, value) -> bool:
        if self.lists and isinstance(value, list):
            return bool(value) and all(self.ok(v) for v in value)
        if not isinstance(value, str) or not value:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


@dataclass(frozen=True)
class Devices:
    """Lightning's `devices`: a count, "auto", -1 (all) or a list of device indices."""

    count: Number = Number(1, 1 << 16, kind=int)
    kind: type = object
    nullable: bool = False

    def allowed(self) -> str:
        return f"{self.count.allowed()}, or auto"

    def ok(self, value) -> bool:
        if value in ("auto", -1) and not isinstance(value, bool):
            return True
        if isinstance(value, list):
            return bool(value) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
        return self.count.ok(value)


def _field(default, rule, roles: tuple):
    return field(default=default, metadata={RULE: rule, ROLES: frozenset(roles)})


def number(default, low, high=INF, *, open_low=False, words=(), roles=()):
    """A field in [low, high], or (low, high] with `open_low`; int or float by its annotation.
    With `words` (annotated Any, as OmegaConf has no int-or-str type) an integer or a word.
    `roles`: TRAINS and/or HPARAM."""
    kind = int if words else float
    return _field(default, Number(low, high, open_low, kind=kind, also=tuple(words)), roles)


def one_of(default, options, roles=()):
    return _field(default, Choice(tuple(options)), roles)


def text(default, what="a string", pattern=None, lists=False, roles=()):
    return _field(default, Text(what, pattern, lists), roles)


def flag(default, also=(), roles=()):
    return _field(default, Flag(tuple(also)), roles)


def lightning_devices(default):
    return _field(default, Devices(), ())


def keys_with(schema: type, role: str) -> tuple[str, ...]:
    """The dotted keys of `schema` (nested dataclasses flattened) whose field has `role`.

    >>> @dataclass
    ... class Model:
    ...     embed_dim: int = number(100, 1, roles=(TRAINS, HPARAM))
    ...     n_neighbors: int = number(8, 1)
    >>> keys_with(Model, TRAINS)
    ('embed_dim',)
    """
    return tuple(key for key, _, _, meta in _leaves(schema) if role in meta.get(ROLES, ()))


def rules_of(schema: type) -> dict:
    """Every leaf key of the dataclass `schema` (dotted, nested dataclasses flattened) with its
    rule, completed from the annotation: int or float for numbers, nullable for ``X | None``."""
    rules = {}
    for key, kind, nullable, meta in _leaves(schema):
        rule = meta.get(RULE)
        if rule is None:
            if kind is not bool:
                raise TypeError(f"{key} needs a rule: number(), one_of(), text() or flag()")
            rule = Flag()
        kind = rule.kind if kind is typing.Any else kind  # Any: the rule alone decides
        rules[key] = dataclasses.replace(rule, kind=kind, nullable=nullable)
    return rules


def _leaves(schema: type, prefix: str = ""):
    """(dotted key, type, nullable, field metadata) of every leaf field of `schema`."""
    for name, hint in typing.get_type_hints(schema).items():
        kind, nullable = _unwrap(hint)
        if dataclasses.is_dataclass(kind):
            yield from _leaves(kind, f"{prefix}{name}.")
        else:
            yield prefix + name, kind, nullable, schema.__dataclass_fields__[name].metadata


def _unwrap(hint) -> tuple[Any, bool]:
    """(type, nullable) of an annotation such as ``int`` or ``int | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False
