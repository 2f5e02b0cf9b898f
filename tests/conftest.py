"""Shared fixtures: tiny generated corpora and composed configs, all under tmp_path."""

from __future__ import annotations

import importlib.util
import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import torch

if not torch.cuda.is_available():
    # Where there is no GPU the fused GPU step's kernel runs in Triton's CPU interpreter.
    # Triton reads this when it is first imported (Lightning imports it), so before the
    # imports below.
    os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np
import pytest
import script_process
from hydra import compose, initialize_config_dir

import sgns.config.schema  # noqa: F401  (registers train_schema, which conf/train.yaml extends)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(ROOT / "conf")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per logical CPU: each keeps to one thread, here and in
    # every run it starts (sgns.run.train.cpu_threads follows OMP_NUM_THREADS), or the workers'
    # threads would wait on each other's cores.
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def pytest_configure(config):
    # pytest-xdist first hands each worker a quarter of its share of the suite in one piece:
    # one test at a time spreads the end-to-end runs put first (below) over every worker.
    if config.pluginmanager.hasplugin("xdist") and config.getoption("maxschedchunk") is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items):
    """End-to-end runs first, so that the many short tests fill in around them instead of one
    worker running the last long one alone (docs/benchmarks.md, the test suite's time)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """A token cache that every test of the session shares, across pytest-xdist workers, for
    corpora that are read but not under test (the bundled sample): tokenised once, as a user's
    ~/.cache/sgns would hold them. Concurrent runs share a cache safely
    (tests/data/test_tokens.py)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    path = root / "shared-cache"
    path.mkdir(exist_ok=True)
    return path


# evaluate()'s keys, in order: the contract loggers, metrics.json and sweeps rely on.
SCORE_KEYS = (
    "analogy_acc",
    "analogy_semantic_acc",
    "analogy_syntactic_acc",
    "analogy_coverage",
    "ws353_spearman",
    "ws353_oov",
    "simlex_spearman",
    "simlex_oov",
)


def run_script(name: str, *args: str, cwd: Path, timeout: int = 600):
    """Run scripts/<name> as a user would, in a process of its own (tests/script_process.py),
    on this checkout's sources (whichever copy of sgns the environment has installed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return script_process.run(
        ROOT / "scripts" / name, list(args), cwd=cwd, env=env, timeout=timeout
    )


def sample_ws353(run_dir: Path, cache: Path, *overrides: str) -> tuple[float, dict]:
    """The bundled sample trained with `overrides` into `run_dir`: its WS353, scored once at
    the end (the benchmarks at every validation would cost more than the training), and the
    run's metrics."""
    # Imported here, not at the top: the workers' thread settings above come first.
    from sgns.eval.vectors import load_word2vec
    from sgns.eval.word_pairs import WORDSIM353, word_pair_scores
    from sgns.run.train import run

    conf = make_config(
        ["experiment=sample", "trainer.enable_progress_bar=false", "eval.enabled=false",
         f"data.cache_dir={cache}", *overrides]
    )  # fmt: skip
    metrics = run(conf, run_dir)
    vectors, words = load_word2vec(run_dir / "vectors.txt")
    return word_pair_scores(vectors, words, WORDSIM353)[0], metrics


def log_stamps(log: str, message_start: str = "") -> list[datetime]:
    """When each message of a run's log (Hydra's format, millisecond stamps) that starts with
    `message_start` was logged, in order."""
    line = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[[^\]]+\]\[\w+\] - "
    found = re.findall(line + re.escape(message_start), log, re.MULTILINE)
    return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in found]


def import_script(name: str):
    """scripts/<name>.py imported as a module (scripts/ is not a package)."""
    module_name = "script_" + name.replace("/", "_")
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_config(overrides: list[str]):
    """The run configuration conf/train.yaml composes with `overrides`, as Hydra would."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def resolved_config(overrides: list[str], cuda: bool = False) -> dict:
    """`make_config(overrides)` as a plain dict with its device's `auto` settings decided,
    as sgns.run.train.run decides them before it builds the datamodule."""
    from omegaconf import OmegaConf

    from sgns.run.auto import AutoSettings

    conf = OmegaConf.to_container(make_config(overrides), resolve=True)
    AutoSettings(conf, cuda=cuda, cores=1)
    return conf


def planted_groups_text(
    n_groups=6, group_size=5, n_tokens=30_000, run=12, seed=0
) -> tuple[str, list[list[str]]]:
    """Text where words co-occur only with words of their own group.

    The text is runs of `run` words, each run drawn from one random group, so a word's
    contexts are (almost) only its group-mates: SGNS must place groups together.
    """
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}w{i}" for i in range(group_size)] for g in range(n_groups)]
    words = []
    while len(words) < n_tokens:
        group = groups[rng.integers(n_groups)]
        words += [group[i] for i in rng.integers(group_size, size=run)]
    return " ".join(words), groups


@pytest.fixture
def planted_corpus(tmp_path) -> tuple[Path, list[list[str]]]:
    text, groups = planted_groups_text()
    path = tmp_path / "planted.txt"
    path.write_text(text)
    return path, groups


def small_run_overrides(corpus: Path, cache: Path, **extra) -> list[str]:
    """Overrides for a quick CPU run on a generated corpus."""
    base = {
        "data": "text_file",
        "data.path": str(corpus),
        "data.cache_dir": str(cache),
        "data.normalization": "lower",
        "data.min_count": 1,
        "data.subsample_t": 0,
        "data.batch_size": 256,
        "model.embed_dim": 16,
        "trainer.max_epochs": 2,
        "trainer.accelerator": "cpu",
        "trainer.enable_progress_bar": False,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def in_threads(fn, n: int = 4) -> list:
    """`fn()` called from `n` threads at once; their results, or the first one's error."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        calls = [pool.submit(fn) for _ in range(n)]
        return [call.result(timeout=120) for call in calls]
