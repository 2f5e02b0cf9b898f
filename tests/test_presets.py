"""Experiment presets and sweep configs compose to the values they promise."""

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF_DIR, make_config
from sgns.config.check import validate
from sgns.run.folders import prepare as prepare_folders


def resolved(overrides):
    cfg = make_config(overrides)
    conf = OmegaConf.to_container(cfg, resolve=True)
    validate(conf)  # every preset is a valid run configuration
    return conf


def test_notebook_preset_has_the_notebooks_settings():
    conf = resolved(["experiment=notebook"])
    data, model, trainer = conf["data"], conf["model"], conf["trainer"]
    assert data["source"] == "text8"
    assert data["normalization"] == "punct"
    assert data["min_count"] == 6  # words seen more than 5 times
    assert (data["subsample_t"], data["subsample_rule"]) == (1e-5, "mikolov")
    assert (data["window"], data["context_chunk"], data["shuffle"]) == (5, 512, False)
    assert data["batch_size"] == 512 * 6  # pairs from one 512-word batch: 2 E[R] = 6 each
    assert (model["embed_dim"], model["init"]) == (300, "uniform")
    assert (model["n_samples"], model["noise_power"]) == (5, 0.75)
    assert (model["optimizer"], model["lr"]) == ("adam", 0.003)
    assert (trainer["max_epochs"], trainer["val_check_interval"]) == (5, 1500)


def test_word2vec_preset_has_the_c_tools_skipgram_defaults():
    conf = resolved(["experiment=word2vec"])
    data, model = conf["data"], conf["model"]
    assert data["source"] == "wiki_sample"  # the preset keeps whatever corpus is chosen
    assert (data["min_count"], data["window"]) == (5, 5)
    assert (data["subsample_t"], data["subsample_rule"]) == (1e-3, "word2vec")
    assert (model["embed_dim"], model["n_samples"], model["noise_power"]) == (100, 5, 0.75)
    assert (model["optimizer"], model["lr"], model["min_lr_ratio"]) == ("sgd", 0.025, 1e-4)
    assert model["init"] == "word2vec"
    assert conf["trainer"]["max_epochs"] == 5


def test_text8_preset_switches_the_corpus_and_trains_for_quality():
    conf = resolved(["experiment=text8"])
    data, model = conf["data"], conf["model"]
    assert data["source"] == "text8"
    assert (data["subsample_t"], data["subsample_rule"], data["window"]) == (1e-4, "word2vec", 10)
    assert model["embed_dim"] == 300
    assert 10 <= model["n_samples"] <= 15
    assert conf["trainer"]["max_epochs"] == 10
    assert data["batch_size"] == 8192


def test_command_line_beats_the_preset():
    conf = resolved(["experiment=notebook", "data=wiki_sample", "model.embed_dim=50"])
    assert conf["data"]["source"] == "wiki_sample"
    assert conf["model"]["embed_dim"] == 50
    assert conf["data"]["min_count"] == 6  # the rest of the preset still holds


def sweeper(overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    return cfg, cfg.hydra.sweeper


def test_grid_sweep_is_embed_dim_by_n_samples_by_noise_power_in_8_runs():
    cfg, grid = sweeper(["+sweep=grid"])
    assert grid._target_.endswith("BasicSweeper")
    values = {key: str(value).split(",") for key, value in grid.params.items()}
    assert list(values) == ["model.embed_dim", "model.n_samples", "model.noise_power"]
    assert (
        len(values["model.embed_dim"])
        * len(values["model.n_samples"])
        * len(values["model.noise_power"])
        == 8
    )
    assert "sweep" in cfg.hydra.job.config.override_dirname.exclude_keys


@pytest.fixture
def sweep_resolvers(monkeypatch):
    from sgns.run.launchers import DIRECTION_RESOLVER, GPUS_PER_RUN_RESOLVER, prepare

    monkeypatch.delenv("RAY_worker_niceness", raising=False)  # restored afterwards
    prepare()  # what scripts/train.py does before Hydra composes
    yield
    for name in (GPUS_PER_RUN_RESOLVER, DIRECTION_RESOLVER):
        OmegaConf.clear_resolver(name)


@pytest.mark.parametrize(
    ("objective", "direction"),
    [("analogy_acc", "maximize"), ("men_spearman", "maximize"), ("train_words_per_sec",
     "maximize"), ("final_val_loss", "minimize"), ("wall_time_s", "minimize")],
)  # fmt: skip
def test_a_search_goes_the_way_its_objective_is_better(sweep_resolvers, objective, direction):
    """conf/sweep/optuna.yaml's direction, resolved as the sweeper resolves it: a search aimed
    at a loss that maximised it would look for the worst settings."""
    cfg = OmegaConf.create({"objective": objective, "direction": "${sgns.direction:${objective}}"})
    assert cfg.direction == direction


def test_optuna_search_maximises_analogy_accuracy(sweep_resolvers):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg, search = sweeper(["+sweep=optuna"])
    assert search._target_.endswith("OptunaSweeper")
    assert cfg.objective == "analogy_acc"
    assert search.direction == "maximize"
    assert sweeper(["+sweep=optuna", "objective=final_val_loss"])[1].direction == "minimize"
    # Given on the command line, a direction is the user's.
    chosen = sweeper(
        ["+sweep=optuna", "objective=final_val_loss", "hydra.sweeper.direction=maximize"]
    )
    assert chosen[1].direction == "maximize"
    assert set(search.params) == {
        "model.embed_dim",
        "model.n_samples",
        "model.noise_power",
        "model.lr",
        "data.window",
    }
    assert search.sampler.seed == cfg.seed  # the same seed proposes the same trials


def launcher_config(name: str, overrides: list[str]) -> dict:
    prepare_folders()  # as scripts/train.py: submitit's folder lies in ${hydra.sweep.dir}
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[f"hydra/launcher={name}", *overrides],
            return_hydra_config=True,
        )
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def slurm_launcher(overrides: list[str]) -> dict:
    return launcher_config("slurm", overrides)


def test_slurm_launcher_asks_for_the_trainers_nodes_with_one_task_per_device():
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher",
        reason="hydra/launcher=slurm needs hydra-submitit-launcher (pip install -e '.[cluster]')",
    )
    ddp = ["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    launcher = slurm_launcher(["hydra.launcher.partition=gpu", *ddp])
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert (launcher["partition"], launcher["account"]) == ("gpu", None)
    assert (launcher["timeout_min"], launcher["cpus_per_task"], launcher["mem_gb"]) == (720, 8, 64)
    assert launcher["array_parallelism"] == 16
    assert launcher["setup"] is None
    # The default trainer has no num_nodes: one node, one task with one GPU.
    single = slurm_launcher([])
    assert (single["nodes"], single["tasks_per_node"], single["gpus_per_node"]) == (1, 1, 1)


@pytest.mark.parametrize("has_gpu", [False, True])
def test_parallel_launcher_gives_each_run_a_core_and_a_quarter_gpu_where_there_are_gpus(
    sweep_resolvers, monkeypatch, has_gpu
):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_gpu)
    launcher = launcher_config("parallel", [])
    assert launcher["_target_"].endswith("RayLauncher")
    ray = launcher["ray"]
    assert ray["init"]["address"] is None  # Ray starts on this machine
    assert (ray["init"]["include_dashboard"], ray["init"]["log_to_driver"]) == (False, False)
    # Without a GPU a run asking for a share would never start; with one, 4 runs share it.
    assert ray["remote"] == {"num_cpus": 1, "num_gpus": 0.25 if has_gpu else 0.0, "max_calls": 1}


@pytest.mark.parametrize(("cluster_gpus", "share"), [(8.0, 0.25), (0.0, 0.0)])
def test_parallel_cluster_launcher_joins_a_running_cluster_and_asks_it_for_gpus(
    sweep_resolvers, monkeypatch, cluster_gpus, share
):
    ray = pytest.importorskip("ray")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    joined = []
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(joined))
    monkeypatch.setattr(ray, "init", lambda **kw: joined.append(kw))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 64.0, "GPU": cluster_gpus})
    launcher = launcher_config("parallel_cluster", ["hydra.launcher.ray.remote.num_cpus=4"])
    init, remote = launcher["ray"]["init"], launcher["ray"]["remote"]
    assert init["address"] == "auto"
    # Ray refuses these when it joins a cluster rather than starting one.
    for key in ("num_cpus", "num_gpus", "object_store_memory"):
        assert init[key] is None
    # The share follows the cluster's GPUs, asked once on joining it (the launcher reuses it).
    assert remote == {"num_cpus": 4, "num_gpus": share, "max_calls": 1}
    assert joined == [{"address": "auto", "log_to_driver": False}]


def test_ray_workers_run_at_normal_priority_and_threads_follow_the_cores_given(
    sweep_resolvers, monkeypatch
):
    import os

    from sgns.run.auto import cores_given

    # Ray spells it so; set by prepare() unless the user did.
    assert os.environ["RAY_worker_niceness"] == "0"  # noqa: SIM112
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what Ray sets for a run with num_cpus=3
    assert cores_given() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cores_given() == len(os.sched_getaffinity(0))
