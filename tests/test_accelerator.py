"""`auto` device settings: GPU sizes on CUDA, the CPU defaults elsewhere, explicit values kept."""

import pytest
from omegaconf import OmegaConf

from conftest import make_config
from sgns import accelerator
from sgns.accelerator import resolve_auto
from sgns.config import validate
from sgns.errors import ConfigError


def conf(*overrides: str) -> dict:
    return OmegaConf.to_container(make_config(list(overrides)), resolve=True)


def settings(resolved: dict) -> tuple:
    data, model = resolved["data"], resolved["model"]
    return data["batch_size"], model["sgd_chunk"], data["pairs_on"]


def test_the_shipped_defaults_are_auto_and_valid():
    assert settings(conf()) == ("auto", "auto", "auto")
    validate(conf())


def test_on_a_cpu_auto_means_the_cpu_defaults(monkeypatch):
    monkeypatch.setattr(accelerator.torch.cuda, "is_available", lambda: False)
    assert settings(resolve_auto(conf())) == (65_536, 4096, "host")
    assert settings(resolve_auto(conf("trainer.accelerator=cpu"))) == (65_536, 4096, "host")


@pytest.mark.parametrize("device", ["auto", "gpu", "cuda"])
def test_on_a_cuda_gpu_auto_means_million_pair_steps_made_on_the_device(monkeypatch, device):
    monkeypatch.setattr(accelerator.torch.cuda, "is_available", lambda: True)
    resolved = resolve_auto(conf(f"trainer.accelerator={device}"))
    assert settings(resolved) == (1_048_576, 1_048_576, "device")


def test_explicit_values_win_over_the_device_defaults(monkeypatch):
    monkeypatch.setattr(accelerator.torch.cuda, "is_available", lambda: True)
    resolved = resolve_auto(conf("data.batch_size=4194304", "model.sgd_chunk=null"))
    assert settings(resolved) == (4_194_304, None, "device")
    resolved = resolve_auto(conf("data.batch_size=8192"))
    assert settings(resolved) == (8192, 8192, "device")  # one piece per step on a GPU
    assert settings(resolve_auto(conf("data.pairs_on=host"))) == (1_048_576, 1_048_576, "host")
    # Loader workers make pairs on the host.
    assert resolve_auto(conf("data.num_workers=2"))["data"]["pairs_on"] == "host"
    monkeypatch.setattr(accelerator.torch.cuda, "is_available", lambda: False)
    resolved = resolve_auto(conf("data.pairs_on=device", "data.batch_size=1048576"))
    assert settings(resolved) == (1_048_576, 4096, "device")


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("data.batch_size", "big", "an integer in [1, 67108864] or auto"),
        ("model.sgd_chunk", "whole", "an integer in [1, 67108864] or null or auto"),
        ("data.pairs_on", "gpu", "one of: auto, host, device"),
        ("model.table_dtype", "float64", "one of: float32, bfloat16, float16"),
    ],
)
def test_bad_device_settings_name_what_is_allowed(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        validate(conf(f"{key}={value}"))
    assert str(err.value) == f"{key}={value!r} is invalid: it must be {allowed}"
