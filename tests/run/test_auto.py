"""`auto` device settings: GPU sizes on CUDA, the CPU defaults elsewhere, explicit values kept
(but no update covers over 1/64 of an epoch)."""

import logging

import pytest
from omegaconf import OmegaConf

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.config.check import validate
from sgns.errors import ConfigError
from sgns.run import auto
from sgns.run.auto import resolve_auto
from sgns.run.train import run


def conf(*overrides: str) -> dict:
    return OmegaConf.to_container(make_config(list(overrides)), resolve=True)


def settings(resolved: dict) -> tuple:
    data, model = resolved["data"], resolved["model"]
    return data["batch_size"], model["sgd_chunk"], data["pairs_on"]


def test_the_shipped_defaults_are_auto_and_valid():
    assert settings(conf()) == ("auto", "auto", "auto")
    validate(conf())


def test_on_a_cpu_auto_means_the_cpu_defaults(monkeypatch):
    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: False)
    assert settings(resolve_auto(conf())) == (65_536, 4096, "host")
    assert settings(resolve_auto(conf("trainer.accelerator=cpu"))) == (65_536, 4096, "host")


@pytest.mark.parametrize("device", ["auto", "gpu", "cuda"])
def test_on_a_cuda_gpu_auto_means_million_pair_steps_made_on_the_device(monkeypatch, device):
    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: True)
    resolved = resolve_auto(conf(f"trainer.accelerator={device}"))
    assert settings(resolved) == (1_048_576, 1_048_576, "device")


def test_explicit_values_win_over_the_device_defaults(monkeypatch):
    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: True)
    resolved = resolve_auto(conf("data.batch_size=4194304", "model.sgd_chunk=null"))
    assert settings(resolved) == (4_194_304, None, "device")
    resolved = resolve_auto(conf("data.batch_size=8192"))
    assert settings(resolved) == (8192, 8192, "device")  # one piece per step on a GPU
    assert settings(resolve_auto(conf("data.pairs_on=host"))) == (1_048_576, 1_048_576, "host")
    # Loader workers make pairs on the host.
    assert resolve_auto(conf("data.num_workers=2"))["data"]["pairs_on"] == "host"
    monkeypatch.setattr(auto.torch.cuda, "is_available", lambda: False)
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


class Epoch:
    """A datamodule as fit_batch_to_epoch sees it: an epoch's expected pairs."""

    def __init__(self, pairs: float, batch_size: int):
        self.pairs, self.batch_size = pairs, batch_size

    def expected_pairs_per_epoch(self) -> float:
        return self.pairs

    def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = batch_size


@pytest.mark.parametrize(
    ("pairs", "fitted"),
    [
        (560_000, 65_536),  # the bundled sample: never below the CPU's batch
        (36_000_000, 524_288),  # text8 at t = 1e-5: the largest power of two <= pairs / 64
        (64 * 2**20, 2**20),  # an epoch of 64 GPU steps keeps them
        (10**10, 2**20),  # never above the GPU's batch
    ],
)
def test_an_automatic_gpu_batch_is_at_most_a_64th_of_an_epoch(pairs, fitted):
    resolved = {"data": {"batch_size": 2**20}, "model": {"sgd_chunk": 2**20}}
    epoch = Epoch(pairs, 2**20)
    assert auto.fit_batch_to_epoch(resolved, epoch, chunk_was_auto=True) == fitted
    assert epoch.batch_size == resolved["data"]["batch_size"] == fitted
    assert resolved["model"]["sgd_chunk"] == fitted
    explicit_chunk = {"data": {"batch_size": 2**20}, "model": {"sgd_chunk": 4096}}
    auto.fit_batch_to_epoch(explicit_chunk, Epoch(pairs, 2**20), chunk_was_auto=False)
    assert explicit_chunk["model"]["sgd_chunk"] == 4096


@pytest.mark.parametrize(
    ("pairs", "batch", "chunk", "applied"),
    [
        (559_000, 2**20, 2**20, 8192),  # the bundled sample: 1/64 of an epoch is ~8.7k
        (559_000, 65_536, None, 8192),  # null: the whole batch, cut the same way
        (559_000, 65_536, 8192, None),  # at most a 64th already: kept
        (559_000, 65_536, 1024, None),
        (100_000, 65_536, 65_536, 4096),  # never below the CPU's default
        (36_000_000, 2**20, 2**20, 524_288),  # text8 at t = 1e-5
        (10**10, 2**20, 2**20, None),
    ],
)
def test_an_update_is_at_most_a_64th_of_an_epoch_whatever_was_set(pairs, batch, chunk, applied):
    resolved = {"data": {"batch_size": batch}, "model": {"sgd_chunk": chunk}}
    cut = auto.fit_updates_to_epoch(resolved, Epoch(pairs, batch))
    if applied is None:
        assert cut is None
        assert resolved["model"]["sgd_chunk"] == chunk
    else:
        assert cut == (min(chunk or batch, batch), applied)
        assert resolved["model"]["sgd_chunk"] == applied
    assert resolved["data"]["batch_size"] == batch  # the batch is only what a step loads


@pytest.mark.slow
def test_a_small_corpus_on_gpu_settings_trains_in_cut_steps(tmp_path, monkeypatch, caplog):
    """The GPU's automatic settings (forced here on the CPU) on a corpus of ~180k pairs an
    epoch: 65,536-pair steps in 4,096-pair updates, not one 1M-pair update per epoch; what
    `auto` comes to is information, not a warning."""
    monkeypatch.setattr(auto, "trains_on_cuda", lambda accelerator: True)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=30_000)[0])
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{"data.batch_size": "auto"})
    with caplog.at_level(logging.INFO, logger="sgns"):
        metrics = run(make_config(overrides), tmp_path / "run")
    assert (metrics["batch_size"], metrics["sgd_chunk"]) == (65_536, 4096)
    cut = [r for r in caplog.records if r.getMessage().startswith("model.sgd_chunk=auto: ")]
    assert [r.levelno for r in cut] == [logging.INFO]
    assert cut[0].getMessage().endswith("training in 4096-pair updates")
    assert metrics["steps"] >= 2 * metrics["epochs"]
