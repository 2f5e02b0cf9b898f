"""A run's seed fixes everything: same config and seed on the same machine, same bytes."""

import hashlib
import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF_DIR, make_config, planted_groups_text, small_run_overrides
from sgns.run.train import run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("repro") / "corpus.txt"
    path.write_text(planted_groups_text(n_tokens=3_000)[0])
    return path


def vectors_digest(tmp_path, corpus, name, **extra) -> str:
    run_dir = tmp_path / name
    run_dir.mkdir()
    # Two epochs: each epoch's data is drawn anew from (seed, epoch).
    extra = {"data.batch_size": 512, "trainer.max_epochs": 2, **extra}
    overrides = small_run_overrides(corpus, tmp_path / "cache", **extra)
    run(make_config(overrides), run_dir)
    return hashlib.sha256((run_dir / "vectors.txt").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "model",
    [
        # Sparse SGD (word2vec's) and dense Adam (the notebook's) update rows differently.
        {"model.optimizer": "sgd"},
        {"model.optimizer": "adam", "model.lr": 0.01, "model.init": "uniform"},
    ],
    ids=["sgd", "adam"],
)
def test_same_seed_gives_bit_identical_vectors(tmp_path, corpus, model):
    extra = {"data.subsample_t": 1e-2, "seed": 7, **model}
    first = vectors_digest(tmp_path, corpus, "first", **extra)
    second = vectors_digest(tmp_path, corpus, "second", **extra)
    assert first == second


def test_a_run_is_repeated_from_the_config_it_saved(tmp_path, corpus):
    """README's recipe, `scripts/train.py --config-dir RUN/.hydra --config-name config
    +hydra=default`, composed as Hydra composes it: the values the run saved, not conf/'s
    defaults of the day, give the same vectors, in a folder of this project's naming."""
    extra = {"data.subsample_t": 1e-2, "seed": 7, "model.embed_dim": 12}
    first = vectors_digest(tmp_path, corpus, "first", **extra)
    saved = tmp_path / "first" / ".hydra"  # what Hydra writes into a run's folder
    saved.mkdir()
    overrides = small_run_overrides(corpus, tmp_path / "cache", **{
        "data.batch_size": 512, "trainer.max_epochs": 2, **extra})  # fmt: skip
    OmegaConf.save(make_config(overrides), saved / "config.yaml")
    # --config-dir puts the run's folder first in the search path, conf/ stays in it.
    with initialize_config_dir(config_dir=str(saved), version_base="1.3"):
        again = compose(
            config_name="config",
            overrides=[f"hydra.searchpath=[file://{CONF_DIR}]", "+hydra=default"],
            return_hydra_config=True,
        )
    run_dir = OmegaConf.to_container(again.hydra.run)["dir"]  # unresolved: it would claim
    assert run_dir.startswith("${sgns.claim:outputs/runs/")  # this project's folders
    job = OmegaConf.masked_copy(again, [k for k in again if k != "hydra"])  # what a run sees
    (tmp_path / "again").mkdir()
    run(job, tmp_path / "again")
    again_digest = hashlib.sha256((tmp_path / "again" / "vectors.txt").read_bytes()).hexdigest()
    assert again_digest == first


def test_another_seed_gives_other_vectors(tmp_path, corpus):
    first = vectors_digest(tmp_path, corpus, "seed7", seed=7)
    second = vectors_digest(tmp_path, corpus, "seed8", seed=8)
    assert first != second
    # What the seed does not fix is recorded beside the vectors.
    info = json.loads((tmp_path / "seed8" / "run_info.json").read_text())
    assert info["device"] == "cpu"
    assert info["versions"]["lightning"]


@pytest.mark.parametrize("optimizer", ["sgd", "sparse_adam"])
def test_training_never_touches_the_global_generators(tmp_path, corpus, optimizer):
    """Training randomness comes from the seed alone: whatever torch's and numpy's global
    generators hold, the vectors are the same, and training draws nothing from them."""
    digests = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        np.random.seed(global_seed)
        torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
        name = f"global{global_seed}"
        digests.append(vectors_digest(tmp_path, corpus, name, **{"model.optimizer": optimizer}))
        assert torch.equal(torch.get_rng_state(), torch_state)
        assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    assert digests[0] == digests[1]
