"""run(cfg, run_dir): build the objects a config describes, train, and write the run's artefacts.

run_dir/vectors.txt          in_embed rows in word2vec text format, most frequent word first
run_dir/metrics.json         final losses, vocabulary size, tokens seen, wall time, words/s
run_dir/tb/                  TensorBoard events
run_dir/checkpoints/last.ckpt
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from sgns.config import validate
from sgns.data.datamodule import SkipGramDataModule
from sgns.export import save_word2vec
from sgns.model.module import SkipGramModule

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train as `cfg` says, write vectors and metrics into `run_dir`, return the metrics."""
    start = time.perf_counter()
    conf = OmegaConf.to_container(cfg, resolve=True)
    validate(conf)
    run_dir = Path(run_dir)
    L.seed_everything(conf["seed"], workers=True, verbose=False)

    datamodule = SkipGramDataModule(**conf["data"], seed=conf["seed"])
    datamodule.prepare_data()
    datamodule.setup("fit")
    vocab = datamodule.vocab
    max_epochs = conf["trainer"]["max_epochs"]
    module = SkipGramModule(
        vocab.words,
        vocab.counts,
        **conf["model"],
        seed=conf["seed"],
        total_steps=datamodule.expected_batches_per_epoch() * max_epochs,
    )
    trainer = L.Trainer(
        **conf["trainer"],
        default_root_dir=run_dir,
        logger=TensorBoardLogger(run_dir, name="tb", version="", default_hp_metric=False),
        callbacks=[
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0, **conf["checkpoint"]
            ),
            LearningRateMonitor(logging_interval="step"),
        ],
        # Each epoch's data is drawn from (seed, epoch): the loader must be rebuilt per epoch.
        reload_dataloaders_every_n_epochs=1,
    )
    fit_start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=conf.get("resume"))
    fit_seconds = time.perf_counter() - fit_start

    epochs_done = trainer.current_epoch
    tokens_seen = datamodule.train_tokens * epochs_done
    wall = time.perf_counter() - start
    metrics = {
        "final_train_loss": _metric(trainer, "train/loss_epoch"),
        "final_val_loss": _metric(trainer, "val/loss"),
        "vocab_size": len(vocab),
        "train_tokens": datamodule.train_tokens,
        "epochs": epochs_done,
        "tokens_seen": tokens_seen,
        "steps": trainer.global_step,
        "train_seconds": fit_seconds,
        "wall_time_s": wall,
        "train_words_per_sec": tokens_seen / fit_seconds if fit_seconds > 0 else None,
        "words_per_sec_incl_setup": tokens_seen / wall if wall > 0 else None,
    }
    if trainer.is_global_zero:
        _write_outputs(run_dir, module, vocab.words, conf["export"], metrics)
    return metrics


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


def _write_outputs(run_dir: Path, module: SkipGramModule, words, export: dict, metrics) -> None:
    binary = export["format"] == "binary"
    path = run_dir / ("vectors.bin" if binary else "vectors.txt")
    save_word2vec(path, module.embeddings(export["vectors"]).cpu().numpy(), words, binary=binary)
    write_json(run_dir / "metrics.json", metrics)
    log.info("wrote %s and metrics.json: %s", path.name, json.dumps(metrics))


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
