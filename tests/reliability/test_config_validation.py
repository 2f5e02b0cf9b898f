"""The config schema: every key has a type, a default and a rule, and every bad value or key
is one line naming the key and what is allowed, whether Hydra or validate() finds it."""

import copy
import dataclasses
import functools
import math
import shutil
import typing

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from conftest import CONF_DIR, make_config, small_run_overrides
from sgns.config.check import check_inside, checked, composition_error, validate
from sgns.config.rules import Choice, Number
from sgns.config.schema import RULES, RunConfig
from sgns.errors import ConfigError
from sgns.run.train import run

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


def schema_fields(schema, prefix=""):
    """(dotted key, annotation, default) of every leaf field of the dataclass `schema`."""
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            assert field.default_factory is hint, field.name
            yield from schema_fields(hint, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name, hint, field.default


def test_every_key_of_every_shipped_config_has_a_type_a_default_and_a_rule():
    fields = {key: (hint, default) for key, hint, default in schema_fields(RunConfig)}
    keys = set().union(*(leaf_keys(default_conf(*groups)) for groups in PRESETS))
    assert keys == set(fields) == set(RULES)
    assert [key for key, (_, default) in fields.items() if default is dataclasses.MISSING] == []
    # Hydra checks every other key's type; these take what Lightning takes, checked by validate.
    untyped = {
        key for key, (hint, _) in fields.items() if typing.Any in (hint, *typing.get_args(hint))
    }
    assert untyped == {
        "data.path", "trainer.devices", "trainer.precision", "trainer.deterministic",
        "data.batch_size", "model.sgd_chunk", "model.shared_negatives",  # an integer or "auto"
        "data.block_tokens",
        "eval.word_pairs", "eval.analogies",  # a path or a list of them, as data.path
        "model.val_words",  # a word or a list
    }  # fmt: skip


def test_the_yaml_files_hold_no_second_copy_of_the_defaults():
    schema_defaults = OmegaConf.to_container(OmegaConf.structured(RunConfig), resolve=True)
    assert default_conf() == schema_defaults


@pytest.mark.parametrize("groups", PRESETS, ids=lambda groups: " ".join(groups) or "defaults")
def test_shipped_configs_are_valid(groups):
    validate(default_conf(*groups))


def number_cases():
    for key, rule in RULES.items():
        if not isinstance(rule, Number):
            continue
        low = rule.low if rule.open_low else rule.low - (1 if rule.kind is int else 1e-3)
        yield key, low
        if math.isfinite(rule.high):
            yield key, rule.high + 1
        yield key, "ten"
        if rule.kind is int:
            yield key, 2.5
        if rule.also and not rule.nullable:
            yield key, None


@pytest.mark.parametrize(("key", "value"), list(number_cases()))
def test_out_of_range_or_mistyped_number_names_key_and_range(key, value):
    conf = with_value(default_conf(), key, value)
    rule = RULES[key]
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


@pytest.mark.parametrize("key", [k for k, r in RULES.items() if isinstance(r, Choice)])
def test_unknown_choice_lists_the_choices(key):
    with pytest.raises(ConfigError) as err:
        validate(with_value(default_conf(), key, "no-such-choice"))
    rule = RULES[key]
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


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", 16, "bf16-true", "16-true"])
def test_a_reduced_precision_sgd_would_ignore_is_refused_naming_table_dtype(precision):
    """Mixed precision leaves sgd's vectors bit for bit the same: a sweep over it would
    compare identical runs. adam and sparse_adam take it; sgd takes full precision."""
    conf = with_value(default_conf(), "trainer.precision", precision)
    with pytest.raises(ConfigError) as err:
        validate(conf)
    assert str(err.value).startswith(
        f"trainer.precision={precision} does not apply to model.optimizer=sgd, whose "
        "closed-form step computes in float32 without autograd: for reduced-precision tables "
        "set model.table_dtype=bfloat16 or float16"
    )
    for optimizer in ("adam", "sparse_adam"):
        validate(with_value(conf, "model.optimizer", optimizer))
    for full in ("32-true", "64-true", 32, "64"):
        validate(with_value(default_conf(), "trainer.precision", full))


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


def test_paths_must_stay_inside_their_folder(tmp_path):
    sweep = tmp_path / "sweep"
    check_inside(sweep / "0_model.embed_dim=8", sweep, "run directory")
    check_inside(sweep / "0_data.sha256=a/b", sweep, "run directory")  # nests: fine
    with pytest.raises(ConfigError, match=r"run directory .* lies outside .*sweep"):
        check_inside(sweep / "0_data.sha256=x" / ".." / ".." / "out", sweep, "run directory")


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("+trainer.max_steps=-5", ".*max_steps"),  # when the Trainer is made
        # as fit starts: sgd steps by hand, which Lightning calls manual optimisation
        ("+trainer.gradient_clip_val=1.0", "Automatic gradient clipping is not supported for "
         "manual optimization"),
        ("+trainer.accumulate_grad_batches=4", "Automatic gradient accumulation is not "
         "supported for manual optimization"),
    ],
)  # fmt: skip
def test_lightning_rejecting_an_added_trainer_argument_is_one_line(tmp_path, argument, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c d " * 50)
    overrides = small_run_overrides(corpus, tmp_path / "cache") + [argument]
    with pytest.raises(ConfigError, match=f"^Lightning rejects the trainer settings: {message}"):
        run(make_config(overrides), tmp_path)
    assert not (tmp_path / "vectors.txt").exists()


def composition_message(*overrides, config_dir=CONF_DIR) -> str:
    """The one line a Hydra composition error becomes (what scripts/train.py prints)."""
    with (
        pytest.raises(HydraException) as err,
        initialize_config_dir(config_dir=str(config_dir), version_base="1.3"),
    ):
        compose(config_name="train", overrides=list(overrides))
    return str(composition_error(err.value))


def mistyped_cases():
    for key, rule in RULES.items():
        # A number that also takes a word is typed Any (an int or "auto"): validate checks it.
        if isinstance(rule, Number) and not rule.also:
            yield f"{key}=ten", f"{key}='ten'"
            if rule.kind is int:
                yield f"{key}=2.5", f"{key}=2.5"
            if not rule.nullable:
                yield f"{key}=null", f"{key}=None"
    yield "data.shuffle=maybe", "data.shuffle='maybe'"


@pytest.mark.parametrize(("override", "shown"), list(mistyped_cases()))
def test_hydra_rejects_a_mistyped_override_naming_key_and_range(override, shown):
    key = override.split("=")[0]
    message = composition_message(override)
    assert message == f"{shown} is invalid: it must be {RULES[key].allowed()}"


MODEL_KEYS = ", ".join(sorted(key[len("model.") :] for key in RULES if key.startswith("model.")))


def test_hydra_rejects_an_unknown_key_naming_the_known_ones():
    message = composition_message("model.embed_dimm=3")
    assert message == f"unknown config key 'model.embed_dimm'; known keys here: {MODEL_KEYS}"
    assert MODEL_KEYS.startswith("embed_dim, gpu_step, init, lr, ")


def test_an_out_of_range_override_is_named_with_its_range():
    with pytest.raises(ConfigError) as err:
        checked(make_config(["model.embed_dim=0"]))
    assert str(err.value) == "model.embed_dim=0 is invalid: it must be an integer in [1, 100000]"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "model:\n  embed_dimm: 3\n",
            "In 'experiment/bad': unknown config key 'model.embed_dimm'; known keys here: "
            + MODEL_KEYS,
        ),
        (
            "data:\n  window: wide\n",
            "In 'experiment/bad': data.window='wide' is invalid: it must be "
            + RULES["data.window"].allowed(),
        ),
    ],
)
def test_a_bad_yaml_file_is_named_with_the_key(tmp_path, body, expected):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "experiment" / "bad.yaml").write_text("# @package _global_\n" + body)
    message = composition_message("experiment=bad", config_dir=conf)
    assert message == expected


def test_run_rejects_a_bad_config_before_creating_anything(tmp_path):
    with pytest.raises(ConfigError, match=r"^model.n_samples=0 is invalid: it must be an integer"):
        run(make_config(["model.n_samples=0"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_unset_key_or_a_broken_interpolation_is_one_line(monkeypatch):
    cfg = OmegaConf.structured(RunConfig)
    cfg.data.cache_dir = "???"
    with pytest.raises(ConfigError, match=r"^data.cache_dir is not set: it must be a folder$"):
        checked(cfg)
    monkeypatch.delenv("SGNS_NO_SUCH_VARIABLE", raising=False)
    with pytest.raises(ConfigError) as err:
        checked(make_config(["data.cache_dir=${oc.env:SGNS_NO_SUCH_VARIABLE}"]))
    assert "SGNS_NO_SUCH_VARIABLE" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "plugin_config", "extra"),
    [
        ("hydra/launcher=parallel", "ray.yaml", "parallel"),
        ("hydra/launcher=slurm", "submitit_slurm.yaml", "cluster"),
    ],
)
def test_a_launcher_whose_plugin_is_missing_names_the_extra_to_install(
    monkeypatch, override, plugin_config, extra
):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # the plugins register their configs once; then one is taken away
    monkeypatch.delitem(ConfigStore.instance().repo["hydra"]["launcher"], plugin_config)
    with (
        pytest.raises(HydraException) as err,
        initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"),
    ):
        compose(config_name="train", overrides=[override], return_hydra_config=True)
    name = plugin_config.removesuffix(".yaml")
    assert str(composition_error(err.value)) == (
        f"In 'hydra/launcher/{override.split('=')[1]}': hydra/launcher/{name} comes with a "
        f"Hydra plugin that is not installed: pip install -e '.[{extra}]'"
    )
