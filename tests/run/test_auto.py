"""The one `auto` policy: GPU sizes on CUDA, the CPU defaults elsewhere, explicit values kept
(but no update covers over 1/64 of an epoch), threads shared by a CPU run's ranks, one line in
the log and a record in metrics.json."""

import json
import logging
import re

import pytest
from omegaconf import OmegaConf

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.config.check import validate
from sgns.errors import ConfigError
from sgns.run import auto, train
from sgns.run.auto import AutoSettings, cores_given, local_processes
from sgns.run.train import run


def conf(*overrides: str) -> dict:
    return OmegaConf.to_container(make_config(list(overrides)), resolve=True)


def resolved(*overrides: str, cuda: bool, cores: int = 2) -> dict:
    config = conf(*overrides)
    AutoSettings(config, cuda=cuda, cores=cores)
    return config


def settings(config: dict) -> tuple:
    data, model = config["data"], config["model"]
    return data["batch_size"], model["sgd_chunk"], data["pairs_on"], data["block_tokens"]


def test_the_shipped_defaults_are_auto_and_valid():
    assert settings(conf()) == ("auto", "auto", "auto", "auto")
    assert conf()["model"]["shared_negatives"] == "auto"
    assert conf()["cpu_threads"] is None
    validate(conf())


def test_on_a_cpu_auto_means_the_cpu_defaults():
    assert settings(resolved(cuda=False)) == (65_536, 4096, "host", 1 << 20)
    assert settings(resolved("trainer.accelerator=cpu", cuda=False)) == (
        65_536,
        4096,
        "host",
        1 << 20,
    )


def test_on_a_cuda_gpu_auto_means_million_pair_steps_made_on_the_device():
    assert settings(resolved(cuda=True)) == (1 << 20, 1 << 20, "device", 1 << 24)


def test_a_cuda_gpu_steps_with_the_fused_kernel_where_it_can(monkeypatch):
    """The fused kernel needs sgd, float32 tables, one process, no bit-for-bit promise and
    Triton; each missing fact sends the run to the torch step, with the reason logged."""
    monkeypatch.setattr(auto, "fused_available", lambda device: device == "cuda")
    assert resolved(cuda=True)["model"]["gpu_step"] == "fused"
    assert resolved(cuda=False)["model"]["gpu_step"] == "torch"
    reasons = {
        "trainer.deterministic=true": "trainer.deterministic is set",
        "trainer.devices=2": "several processes train",
        "trainer.num_nodes=2": "several processes train",
        "model.table_dtype=bfloat16": "it trains float32 tables",
        "model.optimizer=adam": "it is an sgd step",
    }
    for override, reason in reasons.items():
        settings = AutoSettings(conf(override), cuda=True, cores=2)
        decision = settings.decisions["model.gpu_step"]
        assert decision.value == "torch", override
        assert reason in decision.why, override
        assert f"model.gpu_step=torch ({reason}" in settings.line()
    monkeypatch.setattr(auto, "fused_available", lambda device: False)
    assert "the triton package" in AutoSettings(conf(), cuda=True, cores=2).line()


@pytest.mark.parametrize(
    ("devices", "processes"), [(1, 1), (2, 2), ([0, 1], 2), ("0,1", 2), ("3", 3), ("0,", 1)]
)
def test_a_cuda_run_counts_its_processes_as_lightning_reads_devices(devices, processes):
    assert local_processes(devices, cuda=True) == processes


def test_the_fused_kernel_asked_for_where_it_cannot_run_is_a_config_error(monkeypatch):
    monkeypatch.setattr(auto, "fused_available", lambda device: device == "cuda")
    with pytest.raises(ConfigError, match="model.gpu_step=fused cannot train this run: it "
                       "needs a CUDA GPU of compute capability 8.0 or later"):  # fmt: skip
        resolved("model.gpu_step=fused", cuda=False)
    with pytest.raises(ConfigError, match="trainer.deterministic is set"):
        resolved("model.gpu_step=fused", "trainer.deterministic=true", cuda=True)
    assert resolved("model.gpu_step=fused", cuda=True)["model"]["gpu_step"] == "fused"
    assert resolved("model.gpu_step=torch", cuda=True)["model"]["gpu_step"] == "torch"


@pytest.mark.parametrize(
    ("device", "cuda"),
    [("auto", True), ("gpu", True), ("cuda", True), ("cpu", False), ("auto", False)],
)
def test_the_device_is_cuda_where_lightning_will_train_on_one(monkeypatch, device, cuda):
    monkeypatch.setattr(train.torch.cuda, "is_available", lambda: cuda)
    assert train.trains_on_cuda(device) is cuda


def test_explicit_values_win_over_the_device_defaults():
    config = resolved("data.batch_size=4194304", "model.sgd_chunk=null", cuda=True)
    assert settings(config) == (4_194_304, None, "device", 1 << 24)
    assert settings(resolved("data.batch_size=8192", cuda=True)) == (8192, 8192, "device", 1 << 24)
    host = resolved("data.pairs_on=host", cuda=True)
    assert settings(host) == (1 << 20, 1 << 20, "host", 1 << 20)
    # Loader workers make pairs on the host.
    assert resolved("data.num_workers=2", cuda=True)["data"]["pairs_on"] == "host"
    config = resolved("data.pairs_on=device", "data.batch_size=1048576", cuda=False)
    assert settings(config) == (1 << 20, 4096, "device", 1 << 24)
    assert resolved("data.block_tokens=4096", cuda=True)["data"]["block_tokens"] == 4096


@pytest.mark.parametrize(
    ("devices", "cuda", "cores", "threads"),
    [
        (1, False, 4, 4),
        (2, False, 4, 2),  # trainer=ddp trainer.devices=2 on a CPU-only machine: 2 ranks
        ([0, 1, 2], False, 6, 2),
        ("auto", False, 4, 4),  # Lightning runs one CPU process for auto
        (2, False, 1, 1),  # never below one
        (2, True, 4, 4),  # GPU ranks: each its own device, the host's threads untouched
    ],
)
def test_threads_are_the_cores_given_shared_by_a_cpu_runs_ranks(devices, cuda, cores, threads):
    config = conf("trainer=ddp", f"trainer.devices={json.dumps(devices)}")
    AutoSettings(config, cuda=cuda, cores=cores)
    assert config["cpu_threads"] == threads
    explicit = conf("cpu_threads=3", "trainer=ddp", "trainer.devices=2")
    AutoSettings(explicit, cuda=False, cores=8)
    assert explicit["cpu_threads"] == 3
    assert local_processes(-1) >= 1


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
    config = conf("model.sgd_chunk=null")  # updates as large as the batch: only it is cut here
    policy = AutoSettings(config, cuda=True, cores=1)
    policy.fit_to_corpus(pairs, vocab_size=10_000)
    assert config["data"]["batch_size"] == fitted
    explicit = conf("data.batch_size=1048576", "model.optimizer=adam")
    AutoSettings(explicit, cuda=True, cores=1).fit_to_corpus(pairs, vocab_size=10_000)
    assert explicit["data"]["batch_size"] == 2**20  # set explicitly: kept


@pytest.mark.parametrize(
    ("pairs", "batch", "chunk", "applied"),
    [
        (559_000, 2**20, 2**20, 8192),  # the bundled sample: 1/64 of an epoch is ~8.7k
        (559_000, 65_536, "null", 8192),  # null: the whole batch, cut the same way
        (559_000, 65_536, 8192, None),  # at most a 64th already: kept
        (559_000, 65_536, 1024, None),
        (100_000, 65_536, 65_536, 1024),  # below the CPU's default 4,096
        (10_000, 65_536, 65_536, 256),  # never below MIN_SGD_CHUNK
        (36_000_000, 2**20, 2**20, 524_288),  # text8 at t = 1e-5
        (10**10, 2**20, 2**20, None),
    ],
)
def test_an_update_is_at_most_a_64th_of_an_epoch_whatever_was_set(
    pairs, batch, chunk, applied, caplog
):
    config = conf(f"data.batch_size={batch}", f"model.sgd_chunk={chunk}")
    policy = AutoSettings(config, cuda=False, cores=1)
    with caplog.at_level(logging.WARNING, logger="sgns"):
        policy.fit_to_corpus(pairs, vocab_size=10_000)
    set_chunk = None if chunk == "null" else chunk
    if applied is None:
        assert "model.sgd_chunk" not in policy.record()
        assert config["model"]["sgd_chunk"] == set_chunk
        assert not caplog.records
    else:
        asked = min(set_chunk or batch, batch)
        assert policy.record()["model.sgd_chunk"] == {
            "value": applied,
            "why": f"set; {asked} cut to 1/64 of {pairs:,} pairs an epoch"
            + (f", not below {applied}" if applied == 256 else ""),
        }
        assert config["model"]["sgd_chunk"] == applied
        assert caplog.records[0].getMessage().endswith(f"training in {applied}-pair updates")
    assert config["data"]["batch_size"] == batch  # the batch is only what a step loads


@pytest.mark.parametrize("optimizer", ["adam", "sparse_adam"])
def test_sgds_own_keys_are_unused_by_another_optimizer(optimizer):
    settings = AutoSettings(conf(f"model.optimizer={optimizer}"), cuda=False, cores=1)
    settings.fit_to_corpus(10_000, vocab_size=30)  # no cut, no small-vocabulary sharing
    record = settings.record()
    assert record["model.sgd_chunk"] == {"value": None, "why": f"unused by {optimizer}"}
    assert record["model.shared_negatives"] == {"value": 1, "why": f"unused by {optimizer}"}
    assert (
        f"model.sgd_chunk=null (unused by {optimizer}), "
        f"model.shared_negatives=1 (unused by {optimizer}), "
    ) in settings.line()


def test_a_cut_says_what_was_chosen_first_and_the_floor_it_stopped_at():
    small = AutoSettings(conf(), cuda=False, cores=1)  # the CPU's 4,096-pair default
    small.fit_to_corpus(10_000, vocab_size=30)
    assert small.record()["model.sgd_chunk"] == {
        "value": 256,
        "why": "a CPU's default; 4096 cut to 1/64 of 10,000 pairs an epoch, not below 256",
    }
    gpu = AutoSettings(conf(), cuda=True, cores=1)  # the batch cut first, then the update
    gpu.fit_to_corpus(400_000, vocab_size=30)
    assert gpu.record()["data.batch_size"]["why"] == (
        "a CUDA GPU's default; 1048576 cut to 1/64 of 400,000 pairs an epoch, not below 65536"
    )
    assert gpu.record()["model.sgd_chunk"] == {
        "value": 4096,
        "why": "the whole batch on a GPU; 1048576 cut to 1/64 of 400,000 pairs an epoch",
    }


@pytest.mark.parametrize(("vocab", "shared"), [(30, 8), (4999, 8), (5000, 32), (3_000_000, 32)])
def test_shared_negatives_follow_the_vocabulary(vocab, shared):
    config = conf()
    AutoSettings(config, cuda=False, cores=1).fit_to_corpus(1e6, vocab_size=vocab)
    assert config["model"]["shared_negatives"] == shared
    kept = conf("model.shared_negatives=4")
    AutoSettings(kept, cuda=False, cores=1).fit_to_corpus(1e6, vocab_size=vocab)
    assert kept["model"]["shared_negatives"] == 4


@pytest.mark.slow
def test_a_small_corpus_on_gpu_settings_trains_in_cut_steps_said_in_one_line(
    tmp_path, monkeypatch, caplog
):
    """The GPU's automatic settings (forced here on the CPU) on a corpus of ~180k pairs an
    epoch: 65,536-pair steps in 2,048-pair updates, not one 1M-pair update per epoch. What
    `auto` came to is one INFO line, and metrics.json records each key with its reason."""
    monkeypatch.setattr(train, "trains_on_cuda", lambda accelerator: True)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=30_000)[0])
    overrides = small_run_overrides(
        corpus, tmp_path / "cache", **{"data.batch_size": "auto", "model.gpu_step": "torch"}
    )
    with caplog.at_level(logging.INFO, logger="sgns"):
        metrics = run(make_config(overrides), tmp_path / "run")
    assert (metrics["batch_size"], metrics["sgd_chunk"]) == (65_536, 2048)
    lines = [r for r in caplog.records if r.getMessage().startswith("auto: ")]
    assert [r.levelno for r in lines] == [logging.INFO]
    pairs = re.search(r"of ([\d,]+) pairs", lines[0].getMessage())[1]
    threads = cores_given()
    assert lines[0].getMessage() == (
        "auto: data.batch_size=65536 (a CUDA GPU's default; 1048576 cut to 1/64 of "
        f"{pairs} pairs an epoch, not below 65536), model.sgd_chunk=2048 (the whole batch on a "
        f"GPU; 1048576 cut to 1/64 of {pairs} pairs an epoch), data.pairs_on=device "
        "(made where a CUDA GPU trains), data.block_tokens=16777216 (device pairs), "
        f"cpu_threads={threads} (cores given: {threads}), model.shared_negatives=8 "
        "(a 30-word vocabulary, under 5,000)"
    )
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())["auto"]
    assert written == metrics["auto"]
    assert {k: v["value"] for k, v in written.items()} == {
        "data.batch_size": 65_536,
        "model.sgd_chunk": 2048,
        "data.pairs_on": "device",
        "data.block_tokens": 1 << 24,
        "cpu_threads": threads,
        "model.shared_negatives": 8,
    }
    assert 131_072 <= int(pairs.replace(",", "")) < 262_144  # 1/64: 2,048 to 4,095
    assert metrics["steps"] >= 2 * metrics["epochs"]
