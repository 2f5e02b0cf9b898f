"""Run and sweep folders: claimed once per launch, never shared, never a finished run's."""

import pickle

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from conftest import CONF_DIR, in_threads
from sgns.run.folders import (
    RESOLVER,
    FolderGuard,
    FolderTaken,
    GuardFailed,
    check_free,
    claim,
    override_value,
    prepare,
)


def test_launches_racing_for_one_name_each_get_a_folder_numbered_in_turn(tmp_path):
    wanted = tmp_path / "outputs" / "runs" / "2030-01-02_03-04-05"
    claimed = in_threads(lambda: claim(str(wanted)), n=8)
    names = [f"2030-01-02_03-04-05{s}" for s in ["", *(f"_{n}" for n in range(2, 9))]]
    assert sorted(p.name for p in wanted.parent.iterdir()) == sorted(names)
    assert sorted(claimed) == sorted(str(wanted.parent / n) for n in names)


def finished_run(folder, names=("vectors.txt", "metrics.json")):
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"ckpt")
    for name in names:
        (folder / name).write_text("done\n")
    return folder


def test_a_folder_without_a_finished_run_is_free(tmp_path):
    check_free(str(tmp_path / "missing"), "hydra.run.dir", None)
    (tmp_path / "stopped" / "checkpoints").mkdir(parents=True)  # killed or failed: no results
    (tmp_path / "stopped" / "failed.json").write_text("{}")
    check_free(str(tmp_path / "stopped"), "hydra.run.dir", None)


def test_a_finished_run_is_refused_naming_its_files_and_the_way_to_continue_it(tmp_path):
    run_dir = finished_run(tmp_path / "run")
    with pytest.raises(FolderTaken) as refused:
        check_free(str(run_dir), "hydra.run.dir", str(tmp_path / "elsewhere.ckpt"))
    assert str(refused.value) == (
        f"{run_dir} holds a finished run (vectors.txt, metrics.json); choose another "
        f"hydra.run.dir, or continue that run with resume={run_dir}/checkpoints/last.ckpt"
    )
    check_free(str(run_dir), "hydra.run.dir", str(run_dir / "checkpoints" / "last.ckpt"))


def test_a_sweep_folder_holding_finished_runs_is_refused(tmp_path):
    finished_run(tmp_path / "sweep" / "0_seed=1", ["vectors.bin"])
    finished_run(tmp_path / "sweep" / "1_seed=2", ["metrics.json"])
    with pytest.raises(FolderTaken, match=r"sweep holds 2 finished runs \(0_seed=1/vectors.bin, "):
        check_free(str(tmp_path / "sweep"), "hydra.sweep.dir", None)


@pytest.mark.parametrize(
    "path",
    ["outputs/multirun/2030-01-02_03-04-05_2", "/a b/c,d=e", "it's", "end\\", "a\\'b", "${x}"],
)
def test_a_folder_passed_on_as_an_override_reads_back_the_same(path):
    value = OverridesParser.create().parse_override(f"hydra.sweep.dir={override_value(path)}")
    assert OmegaConf.create({"dir": value.value()}).dir == path


@pytest.fixture
def composed(tmp_path, monkeypatch):
    """The launch's config as scripts/train.py composes it, in an empty working folder."""
    monkeypatch.chdir(tmp_path)
    prepare()

    def compose_with(*overrides: str):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose("train", overrides=list(overrides), return_hydra_config=True)

    yield compose_with
    OmegaConf.clear_resolver(RESOLVER)
    GlobalHydra.instance().clear()


def test_reading_the_config_outside_a_launch_creates_no_folder(composed, tmp_path):
    cfg = composed()
    assert str(cfg.hydra.run.dir).startswith("outputs/runs/")
    assert str(cfg.hydra.sweep.dir).startswith("outputs/multirun/")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("launcher", "plugin"),
    [
        ([], None),
        (["hydra/launcher=parallel"], "hydra_plugins.hydra_ray_launcher"),
        (["hydra/launcher=slurm"], "hydra_plugins.hydra_submitit_launcher"),
    ],
    ids=["basic", "ray", "slurm"],
)
def test_a_sweep_claims_its_folder_once_and_every_run_finds_it_there(
    composed, tmp_path, launcher, plugin
):
    """Each run's config is composed again from the sweep's (Hydra's load_sweep_config): for
    Ray and the basic launcher in the launching process, for SLURM on the node, from the
    pickled launcher's config, where sgns.claim was never registered."""
    if plugin:
        pytest.importorskip(plugin)
    subdir = "hydra.sweep.subdir=${hydra.job.num}"  # an interpolation among the overrides
    cfg = composed(*launcher, subdir)
    FolderGuard().on_multirun_start(config=cfg)
    assert subdir in OmegaConf.to_container(cfg.hydra.overrides.hydra)
    (claimed,) = (tmp_path / "outputs" / "multirun").iterdir()
    assert cfg.hydra.sweep.dir == f"outputs/multirun/{claimed.name}"
    if plugin == "hydra_plugins.hydra_submitit_launcher":
        assert cfg.hydra.launcher.submitit_folder == f"outputs/multirun/{claimed.name}/.submitit/%j"

    on_node = pickle.loads(pickle.dumps(cfg))
    OmegaConf.clear_resolver(RESOLVER)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for seed in (1, 2):
            job = loader.load_sweep_config(on_node, [f"seed={seed}"])
            assert job.hydra.sweep.dir == cfg.hydra.sweep.dir
            assert subdir in OmegaConf.to_container(job.hydra.overrides.hydra)
    assert set((tmp_path / "outputs").rglob("*")) == {claimed.parent, claimed}  # no other claim


def test_a_run_claims_a_new_folder_and_records_its_name(composed, tmp_path):
    first, second = composed(), composed()
    FolderGuard().on_run_start(config=first)
    FolderGuard().on_run_start(config=second)
    names = sorted(p.name for p in (tmp_path / "outputs" / "runs").iterdir())
    assert len(names) == 2
    assert {first.hydra.run.dir, second.hydra.run.dir} == {f"outputs/runs/{n}" for n in names}


def test_a_guard_that_fails_stops_the_launch_instead_of_warning():
    """Hydra turns an Exception in a callback into a warning and launches unguarded."""
    with pytest.raises(GuardFailed) as stopped:
        FolderGuard().on_run_start(config=OmegaConf.create({"hydra": {}}))
    assert isinstance(stopped.value, BaseException)
    assert not isinstance(stopped.value, Exception)
