"""Stopping and resuming in-process: a resumed run is the run it would have been.

The tests that train share one uninterrupted reference run and are marked slow.

A run stopped mid-epoch (by SIGTERM, Ctrl-C, or killed after a periodic checkpoint) and
resumed with resume=last.ckpt must end with the vectors an uninterrupted run writes: same
batches (none trained twice, none skipped), same negative samples, same learning rates.
"""

import os
import shutil
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import make_config, planted_groups_text, small_run_overrides
from sgns.data.host_batches import SkipGramPairs
from sgns.errors import ConfigError, DataError
from sgns.eval.vectors import load_word2vec
from sgns.model.module import SkipGramModule
from sgns.run.folders import FAILED
from sgns.run.resume import Interrupted
from sgns.run.summary import load_run
from sgns.run.train import run

STEPS_PER_EPOCH_ABOUT = 76  # of the corpus below with these settings; 2 epochs
COPY_AT_STEP = 100  # a periodic checkpoint in the second epoch (every 25 steps)


def overrides(tmp, **extra):
    settings = {
        "data.batch_size": 128,
        "data.subsample_t": 1e-2,
        "data.subsample_rule": "mikolov",  # the step counts above are this rule's
        "checkpoint.every_n_train_steps": 25,
    }
    return small_run_overrides(tmp / "corpus.txt", tmp / "cache", **{**settings, **extra})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, keeping a copy of the periodic checkpoint of step COPY_AT_STEP."""
    tmp = tmp_path_factory.mktemp("resume")
    (tmp / "corpus.txt").write_text(planted_groups_text(n_tokens=3000)[0])

    def keep_checkpoint(module, *args):
        if module.global_step == COPY_AT_STEP:
            shutil.copy(tmp / "A" / "checkpoints" / "last.ckpt", tmp / "periodic.ckpt")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SkipGramModule, "on_train_batch_end", keep_checkpoint, raising=False)
        metrics = run(make_config(overrides(tmp)), tmp / "A")
    assert metrics["steps"] > 2 * STEPS_PER_EPOCH_ABOUT - 10
    return tmp, metrics, load_word2vec(tmp / "A" / "vectors.txt")[0]


def stop_at(step: int, how):
    def hook(module, *args):
        if module.global_step == step:
            how()

    return hook


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_and_resume_equals_uninterrupted(reference, tmp_path):
    tmp, full, vectors = reference
    with pytest.MonkeyPatch.context() as patch:
        sigterm = stop_at(50, lambda: os.kill(os.getpid(), signal.SIGTERM))
        patch.setattr(SkipGramModule, "on_train_batch_end", sigterm, raising=False)
        with pytest.raises(Interrupted) as stopped:
            run(make_config(overrides(tmp)), tmp_path / "B")
    checkpoint = tmp_path / "B" / "checkpoints" / "last.ckpt"
    assert (stopped.value.signal, stopped.value.step, stopped.value.checkpoint) == (
        "SIGTERM",
        50,
        checkpoint,
    )
    assert not (tmp_path / "B" / "vectors.txt").exists()
    assert not (tmp_path / "B" / "metrics.json").exists()

    resumed = run(make_config([*overrides(tmp), f"resume={checkpoint}"]), tmp_path / "C")
    assert (resumed["epochs"], resumed["steps"]) == (2, full["steps"])
    assert resumed["resumed_at_step"] == 50
    np.testing.assert_array_equal(load_word2vec(tmp_path / "C" / "vectors.txt")[0], vectors)


@pytest.mark.slow
def test_resume_from_a_periodic_checkpoint_in_the_second_epoch(reference, tmp_path):
    tmp, full, vectors = reference
    saved = torch.load(tmp / "periodic.ckpt", weights_only=True)
    assert (saved["global_step"], saved["epoch"]) == (COPY_AT_STEP, 1)
    resumed = run(make_config([*overrides(tmp), f"resume={tmp / 'periodic.ckpt'}"]), tmp_path)
    assert (resumed["epochs"], resumed["steps"]) == (2, full["steps"])
    np.testing.assert_array_equal(load_word2vec(tmp_path / "vectors.txt")[0], vectors)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_to_resume_from(reference, tmp_path):
    tmp, _, _ = reference

    def ctrl_c():
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SkipGramModule, "on_train_batch_end", stop_at(5, ctrl_c), raising=False)
        with pytest.raises(Interrupted, match=r"^interrupted \(Ctrl-C\) at step 5: saved "):
            run(make_config(overrides(tmp)), tmp_path)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 5
    assert not (tmp_path / "vectors.txt").exists()

    # Resumed in the same folder, where scripts/train.py left the reason it stopped: once the
    # run finishes, the folder no longer says it failed.
    (tmp_path / FAILED).write_text('{"error": "interrupted (Ctrl-C) at step 5", "type": "x"}')
    assert load_run(tmp_path)["status"] == "failed"
    last = tmp_path / "checkpoints" / "last.ckpt"
    resumed = run(make_config([*overrides(tmp), f"resume={last}"]), tmp_path)
    assert resumed["resumed_at_step"] == 5
    assert not (tmp_path / FAILED).exists()
    assert load_run(tmp_path)["status"] == "ok"


@pytest.mark.slow
def test_a_finished_run_can_be_extended_by_more_epochs(reference, tmp_path):
    tmp, full, _ = reference
    last = tmp / "A" / "checkpoints" / "last.ckpt"
    more = run(
        make_config([*overrides(tmp, **{"trainer.max_epochs": 3}), f"resume={last}"]), tmp_path
    )
    assert more["epochs"] == 3
    assert more["steps"] > full["steps"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.embed_dim=8",
            r"it was trained with model.embed_dim=16, this run has model.embed_dim=8",
        ),
        ("data.window=2", r"it was trained with data.window=5, this run has data.window=2"),
        ("seed=1", r"it was trained with seed=0, this run has seed=1"),
        (
            "data.min_count=30",
            r"its vocabulary \(30 words\) differs from this corpus's \(0 words\)",
        ),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_run(reference, tmp_path, override, message):
    tmp, _, _ = reference
    last = tmp / "A" / "checkpoints" / "last.ckpt"
    if override.startswith("data.min_count"):
        # Same settings, other text: a vocabulary of other words.
        (tmp_path / "corpus.txt").write_text(planted_groups_text(n_tokens=3000, seed=1)[0])
        conf = overrides(tmp_path) + [f"resume={last}"]
        message = r"its vocabulary \(30 words\) differs"
    else:
        conf = overrides(tmp) + [override, f"resume={last}"]
    with pytest.raises(ConfigError, match=rf"^cannot resume from {last}: {message}"):
        run(make_config(conf), tmp_path / "run")
    assert not (tmp_path / "run" / "vectors.txt").exists()


def test_resume_from_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "corpus.txt").write_text("a b c d " * 50)
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(DataError, match=f"^checkpoint not found: {missing}$"):
        run(make_config([*overrides(tmp_path), f"resume={missing}"]), tmp_path)
    assert not (tmp_path / "cache").exists()  # before the corpus is tokenised


def rank_batches(pairs: SkipGramPairs, n_workers: int) -> list[int]:
    """Batch numbers a rank's DataLoader yields, as it takes them from its workers in turn."""
    per_worker = [[] for _ in range(n_workers)]
    for i in range(60):
        worker = pairs._deals_to(i, n_workers)
        if worker is not None:
            per_worker[worker].append(i)
    order = []
    while any(per_worker):
        for queue in per_worker:
            if queue:
                order.append(queue.pop(0))
    return order


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("n_workers", [1, 2, 3])
@pytest.mark.parametrize("skip", [0, 1, 4, 5])
def test_skipped_batches_are_exactly_those_already_trained(world_size, n_workers, skip):
    pairs = SkipGramPairs(np.zeros(10, np.int32), np.ones(1), 1, 1, seed=0)
    pairs.world_size = world_size
    for rank in range(world_size):
        pairs.rank, pairs.skip_batches = rank, 0
        uninterrupted = rank_batches(pairs, n_workers)
        pairs.skip_batches = skip
        assert rank_batches(pairs, n_workers) == uninterrupted[skip:]


def test_loader_workers_continue_the_epoch_in_order():
    ids = np.random.default_rng(0).integers(0, 50, 3000).astype(np.int32)
    pairs = SkipGramPairs(ids, np.full(50, 0.9), window=5, batch_size=128, seed=0)

    def first_pairs(n_workers, skip):
        pairs.skip_batches = skip
        loader = DataLoader(pairs, batch_size=None, num_workers=n_workers)
        return [inputs[:4].tolist() for inputs, _ in loader]

    uninterrupted = first_pairs(2, 0)
    assert first_pairs(2, 7) == uninterrupted[7:]
    # Workers change nothing but (for a partial last round) how many batches are dealt.
    assert first_pairs(0, 0)[: len(uninterrupted)] == uninterrupted
