"""The schema is the one source of every key's default and of the key lists derived from it:
what a resume must match, what TensorBoard's HPARAMS tab shows."""

import dataclasses
import inspect

import pytest
from omegaconf import OmegaConf

from sgns.config.rules import HPARAM, TRAINS, keys_with, number
from sgns.config.schema import HPARAM_KEYS, MUST_MATCH, DataConfig, ModelConfig, RunConfig
from sgns.data.datamodule import SkipGramDataModule
from sgns.model.module import SkipGramModule
from sgns.run.resume import check_resume
from sgns.run.train import run_hparams


def schema_defaults(section) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(section), resolve=True)


@pytest.mark.parametrize(
    ("constructor", "section"), [(SkipGramDataModule, DataConfig), (SkipGramModule, ModelConfig)]
)
def test_constructors_take_the_schemas_defaults_or_none(constructor, section, monkeypatch):
    monkeypatch.delenv("SGNS_CACHE", raising=False)
    defaults = schema_defaults(section)
    params = inspect.signature(constructor).parameters
    assert set(defaults) <= set(params)  # one name per concept, YAML to constructor
    for key, default in defaults.items():
        own = params[key].default
        if default == "auto":  # sgns.run.auto decides it: the constructor must be told
            assert own is inspect.Parameter.empty, key
        else:
            assert own == default, key
    assert params["seed"].default == schema_defaults(RunConfig)["seed"]


def with_new_key(**roles_of_field):
    """RunConfig with one more model key, `model.temperature`, declared once."""
    model = dataclasses.make_dataclass(
        "Model",
        [("temperature", float, number(1.0, 0.0, **roles_of_field))],
        bases=(ModelConfig,),
    )
    return dataclasses.make_dataclass(
        "Run", [("model", model, dataclasses.field(default_factory=model))], bases=(RunConfig,)
    )


def test_a_new_key_is_one_field_and_the_resume_and_hparams_lists_follow():
    schema = with_new_key(roles=(TRAINS, HPARAM))
    assert set(keys_with(schema, TRAINS)) == {*MUST_MATCH, "model.temperature"}
    assert set(keys_with(schema, HPARAM)) == {*HPARAM_KEYS, "model.temperature"}
    plain = with_new_key()
    assert keys_with(plain, TRAINS) == MUST_MATCH
    assert keys_with(plain, HPARAM) == HPARAM_KEYS


def test_the_derived_lists_are_the_settings_that_decide_a_run():
    assert {"seed", "model.embed_dim", "data.window", "data.batch_size", "data.shuffle"} <= set(
        MUST_MATCH
    )
    # Validation output and the length of a run may change on resume.
    assert not {"model.n_val_words", "model.n_neighbors", "trainer.max_epochs"} & set(MUST_MATCH)
    assert {"model.n_samples", "model.noise_power", "trainer.max_epochs", "seed"} <= set(
        HPARAM_KEYS
    )


def test_hparams_and_resume_read_exactly_the_derived_keys(tmp_path):
    import torch

    conf = schema_defaults(RunConfig)
    assert list(run_hparams(conf)) == list(HPARAM_KEYS)
    saved = schema_defaults(RunConfig)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "run_config": saved, "vocab": {"words": ["a"]}}, path)
    for key in MUST_MATCH:
        changed = schema_defaults(RunConfig)
        section, _, name = key.rpartition(".")
        node = changed[section] if section else changed
        node[name] = "something else"
        with pytest.raises(ValueError, match=f"it was trained with {key}="):
            check_resume(path, changed, ["a"])
    check_resume(path, schema_defaults(RunConfig), ["a"])  # nothing differs
