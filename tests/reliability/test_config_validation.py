"""Config validation: every key has a rule, and every bad value is one line naming key and range."""

import copy
import functools
import math

import pytest
from omegaconf import OmegaConf

from conftest import make_config, small_run_overrides
from sgns.config import (
    INITS,
    OPTIMIZERS,
    SCHEMA,
    SOURCES,
    Choice,
    Number,
    check_inside,
    validate,
)
from sgns.errors import ConfigError
from sgns.train import run

# Every group option and preset in conf/, so that each key they set is seen.
PRESETS = [
    [],
    ["data=text8"],
    ["data=text_file", "data.path=corpus.txt"],
    ["trainer=ddp"],
    ["trainer=ddp_cpu"],
    ["experiment=notebook"],
    ["experiment=word2vec"],
    ["experiment=text8"],
]


def default_conf(*overrides) -> dict:
    """The composed config as a plain dict (a fresh copy: tests edit it)."""
    return copy.deepcopy(_composed(overrides))


@functools.cache
def _composed(overrides: tuple) -> dict:
    return OmegaConf.to_container(make_config(list(overrides)), resolve=True)


def leaf_keys(node: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in node.items():
        if isinstance(value, dict):
            keys |= leaf_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def with_value(conf: dict, dotted: str, value) -> dict:
    node = conf
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return conf


def test_every_config_key_has_a_rule_and_every_rule_a_key():
    keys = set().union(*(leaf_keys(default_conf(*groups)) for groups in PRESETS))
    assert keys == set(SCHEMA)


@pytest.mark.parametrize("groups", PRESETS, ids=lambda groups: " ".join(groups) or "defaults")
def test_shipped_configs_are_valid(groups):
    validate(default_conf(*groups))


def number_cases():
    for key, rule in SCHEMA.items():
        if not isinstance(rule, Number):
            continue
        low = rule.low if rule.open_low else rule.low - (1 if rule.kind is int else 1e-3)
        yield key, low
        if math.isfinite(rule.high):
            yield key, rule.high + 1
        yield key, "ten"
        if rule.kind is int:
            yield key, 2.5


@pytest.mark.parametrize(("key", "value"), list(number_cases()))
def test_out_of_range_or_mistyped_number_names_key_and_range(key, value):
    conf = with_value(default_conf(), key, value)
    rule = SCHEMA[key]
    with pytest.raises(ConfigError) as err:
        validate(conf)
    message = str(err.value)
    assert message.startswith(f"{key}={value!r} is invalid: it must be ")
    low, high = (
        str(int(b)) if rule.kind is int and math.isfinite(b) else f"{b:g}"
        for b in (rule.low, rule.high)
    )
    assert f"{low}, {high}]" in message
    assert "\n" not in message


@pytest.mark.parametrize("key", [k for k, r in SCHEMA.items() if isinstance(r, Choice)])
def test_unknown_choice_lists_the_choices(key):
    with pytest.raises(ConfigError) as err:
        validate(with_value(default_conf(), key, "no-such-choice"))
    rule = SCHEMA[key]
    options = ", ".join(dict.fromkeys(map(str, rule.options))) + " or null" * rule.nullable
    assert str(err.value) == f"{key}='no-such-choice' is invalid: it must be one of: {options}"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("data.shuffle", "yes", "true or false"),
        ("trainer.deterministic", 1, "true or false or warn"),
        ("data.sha256", "abc", "64 hex digits or null"),
        ("data.path", [], "a file, folder or glob or null"),
        ("trainer.devices", 0, "an integer in [1, 65536], or auto"),
        ("trainer.val_check_interval", 0.5, "an integer in [1, inf] or null"),
        ("model.noise_power", math.nan, "a number in [0, 2]"),
        ("seed", True, "an integer in [0, 4294967295]"),
    ],
)
def test_other_bad_values_name_what_is_allowed(key, value, expected):
    with pytest.raises(ConfigError) as err:
        validate(with_value(default_conf(), key, value))
    assert str(err.value) == f"{key}={value!r} is invalid: it must be {expected}"


@pytest.mark.parametrize(
    ("key", "value"),
    [("trainer.devices", "auto"), ("trainer.devices", [0, 1]), ("trainer.devices", -1)],
)
def test_lightning_device_forms_are_accepted(key, value):
    validate(with_value(default_conf(), key, value))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("+model.foo=1", "model.foo"),
        ("+data.windw=3", "data.windw"),
        ("+export.formats=text", "export.formats"),
        ("+foo=1", "foo"),
        ("+trainer.callbacks=[]", "trainer.callbacks"),  # run() sets it: would clash
        ("+trainer.use_distributed_sampler=true", "trainer.use_distributed_sampler"),
        ("+trainer.no_such_argument=1", "trainer.no_such_argument"),
    ],
)
def test_unknown_keys_are_named(override, key):
    with pytest.raises(ConfigError, match=rf"^unknown config key '{key}'; known keys here: "):
        validate(default_conf(override))


def test_other_lightning_trainer_arguments_are_allowed():
    validate(default_conf("+trainer.max_steps=100", "+trainer.gradient_clip_val=1.0"))


def test_choices_agree_with_the_code_that_uses_them():
    from sgns.data.datamodule import SOURCES as data_sources
    from sgns.model.module import OPTIMIZERS as module_optimizers
    from sgns.model.skipgram import INITS as model_inits

    assert (data_sources, module_optimizers, model_inits) == (SOURCES, OPTIMIZERS, INITS)


def test_paths_must_stay_inside_their_folder(tmp_path):
    sweep = tmp_path / "sweep"
    check_inside(sweep / "0_model.embed_dim=8", sweep, "run directory")
    check_inside(sweep / "0_data.sha256=a/b", sweep, "run directory")  # nests: fine
    with pytest.raises(ConfigError, match=r"run directory .* lies outside .*sweep"):
        check_inside(sweep / "0_data.sha256=x" / ".." / ".." / "out", sweep, "run directory")


def test_lightning_rejecting_an_added_trainer_argument_is_one_line(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c d " * 50)
    overrides = small_run_overrides(corpus, tmp_path / "cache") + ["+trainer.max_steps=-5"]
    with pytest.raises(ConfigError, match=r"^Lightning rejects the trainer settings: .*max_steps"):
        run(make_config(overrides), tmp_path)
    assert not (tmp_path / "vectors.txt").exists()
