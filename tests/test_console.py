"""The training console: a progress bar with a total, errors on their own line, no noise."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest

from conftest import ROOT, planted_groups_text, small_run_overrides
from sgns.data.datamodule import SkipGramDataModule
from sgns.model.module import SkipGramModule
from sgns.run.console import EpochProgressBar


class BarTotals(L.Callback):
    """The progress bar's total at every training batch."""

    def __init__(self, bar: EpochProgressBar):
        self.bar, self.totals = bar, []

    def on_train_batch_end(self, *args) -> None:
        self.totals.append(self.bar.train_progress_bar.total)


def small_datamodule(tmp_path) -> SkipGramDataModule:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(planted_groups_text(n_tokens=3000)[0])
    datamodule = SkipGramDataModule(
        source="text_file", path=str(corpus), cache_dir=tmp_path / "cache",
        normalization="lower", min_count=1, subsample_t=0, batch_size=64,
        pairs_on="host", block_tokens=1 << 20,
    )  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def fit_one_epoch(datamodule, callbacks) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        callbacks=callbacks, limit_val_batches=0, enable_model_summary=False,
    )  # fmt: skip
    vocab = datamodule.vocab
    module = SkipGramModule(
        vocab.words,
        vocab.counts,
        embed_dim=8,
        shared_negatives=1,
        sgd_chunk=4096,
        gpu_step="torch",
    )
    trainer.fit(module, datamodule=datamodule)
    return trainer


def test_bar_total_is_the_expected_batch_count_and_the_epoch_is_not_cut(tmp_path):
    datamodule = small_datamodule(tmp_path)
    real = sum(1 for _ in datamodule.train_set)  # epoch 0's batches
    expected = datamodule.expected_batches_per_epoch(1)
    assert real != expected  # an estimate: the epoch must still train every real batch

    bar = EpochProgressBar()
    totals = BarTotals(bar)
    trainer = fit_one_epoch(datamodule, [bar, totals])
    assert trainer.num_training_batches == float("inf")  # Lightning counts none itself
    assert totals.totals == [expected] * real
    assert trainer.global_step == real


def _epoch_redraws(out: str) -> list[str]:
    return [part for part in out.replace("\n", "\r").split("\r") if part.startswith("Epoch 0:")]


def test_bar_written_to_a_file_redraws_seldom_and_still_shows_the_end(tmp_path, capsys):
    datamodule = small_datamodule(tmp_path)
    real = sum(1 for _ in datamodule.train_set)
    assert real >= 40

    fit_one_epoch(datamodule, [EpochProgressBar(redraw_seconds=0)])  # as on a terminal
    terminal = _epoch_redraws(capsys.readouterr().out)
    assert len(terminal) >= 2 * real  # Lightning redraws twice a batch

    fit_one_epoch(datamodule, [EpochProgressBar()])  # pytest's stdout is not a terminal
    logged = _epoch_redraws(capsys.readouterr().out)
    assert len(logged) <= 6  # opening, the first batch, the last, the epoch's end
    assert f"{real}/" in logged[-1]
    assert "train/loss=" in logged[-1]


# The failure is planted when scripts/train.py imports sgns.model.module, not before: Lightning
# comes in after Hydra has set up logging, as in a user's run.
CRASH_AT_STEP_3 = """
import importlib.abc, importlib.util, runpy, sys

def crash(module, *args):
    if module.global_step == 3:
        from sgns.errors import SgnsError
        raise SgnsError("planted failure")

class PlantCrash(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "sgns.model.module":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module
        def exec_module(module):
            load(module)
            module.SkipGramModule.on_train_batch_end = crash
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, PlantCrash())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory) -> subprocess.CompletedProcess:
    """scripts/train.py with its progress bar, failing at step 3; stdout and stderr merged,
    as a terminal shows them."""
    tmp = tmp_path_factory.mktemp("console")
    (tmp / "corpus.txt").write_text(planted_groups_text(n_tokens=3000)[0])
    overrides = small_run_overrides(
        tmp / "corpus.txt",
        tmp / "cache",
        **{"trainer.enable_progress_bar": True, "eval.enabled": False},
    )
    return subprocess.run(
        [sys.executable, "-c", CRASH_AT_STEP_3, str(ROOT / "scripts" / "train.py"),
         *overrides, f"hydra.run.dir={tmp / 'run'}"],
        cwd=tmp, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_error_mid_training_starts_a_line_of_its_own(crashed_run):
    out = crashed_run.stdout
    assert crashed_run.returncode == 2, out[-3000:]
    assert "Epoch 0: " in out  # the bar was on screen when training failed
    at = out.index("error: planted failure")
    assert out[at - 1] == "\n", repr(out[at - 200 : at + 30])
    assert out.count("error: ") == 1


@pytest.mark.slow
def test_console_has_no_litlogger_tip_and_no_pytree_warning(crashed_run):
    out = crashed_run.stdout
    assert "GPU available" in out  # Lightning's own start-up lines still reach the console
    # Lightning's messages print once, in the run's format, and are filed in train.log.
    assert out.count("GPU available") == 1
    assert "][lightning.pytorch.utilities.rank_zero][INFO] - GPU available" in out
    train_log = Path(crashed_run.args[-1].removeprefix("hydra.run.dir=")) / "train.log"
    assert "GPU available" in train_log.read_text()
    assert "litlogger" not in out.lower()
    assert "Tip:" not in out
    assert "LeafSpec" not in out
    assert "_pytree" not in out
