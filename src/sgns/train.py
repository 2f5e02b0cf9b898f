"""run(cfg, run_dir): build the objects a config describes, train, and write the run's artefacts.

run_dir/vectors.txt          in_embed rows in word2vec text format, most frequent word first
run_dir/metrics.json         final losses, vocabulary size, tokens seen, wall time, words/s
run_dir/tb/                  TensorBoard events
run_dir/checkpoints/last.ckpt  rewritten while training and on SIGTERM; resume=PATH continues

A run that stops (a signal, a diverged loss, bad input) writes no vectors and no metrics, so
nothing half-trained is mistaken for a result.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from omegaconf import DictConfig, OmegaConf

from sgns.config import validate
from sgns.data.datamodule import SkipGramDataModule
from sgns.errors import ConfigError, DataError, SgnsError
from sgns.export import save_word2vec
from sgns.model.module import SkipGramModule
from sgns.resume import ResumeState, check_resume

log = logging.getLogger(__name__)
DIVERGED = 10  # a final loss this many times that of all-zero vectors means divergence


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
    resume = conf.get("resume")
    start_step = check_resume(resume, conf, vocab.words)["global_step"] if resume else 0
    max_epochs = conf["trainer"]["max_epochs"]
    module = SkipGramModule(
        vocab.words,
        vocab.counts,
        **conf["model"],
        seed=conf["seed"],
        total_steps=datamodule.expected_batches_per_epoch() * max_epochs,
    )
    resume_state = ResumeState(conf, run_dir / "checkpoints" / "last.ckpt")
    try:
        trainer = L.Trainer(
            **conf["trainer"],
            default_root_dir=run_dir,
            logger=TensorBoardLogger(run_dir, name="tb", version="", default_hp_metric=False),
            callbacks=[
                _checkpointing(run_dir / "checkpoints", **conf["checkpoint"]),
                resume_state,
                LearningRateMonitor(logging_interval="step"),
            ],
            # Each epoch's data is drawn from (seed, epoch): the loader must be rebuilt per epoch.
            reload_dataloaders_every_n_epochs=1,
        )
    except (TypeError, ValueError, MisconfigurationException) as err:
        # Trainer arguments beyond conf/trainer (e.g. +trainer.max_steps) are Lightning's to check.
        raise ConfigError(f"Lightning rejects the trainer settings: {_first_line(err)}") from None
    fit_start = time.perf_counter()
    try:
        # weights_only: a checkpoint is data; loading one must never run code from it.
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except (SIGTERMException, SystemExit):
        if resume_state.interrupted is None:
            raise
        raise resume_state.interrupted from None
    fit_seconds = time.perf_counter() - fit_start
    _check_trained(trainer, module.embeddings(conf["export"]["vectors"]), module.hparams.n_samples)

    epochs_done = trainer.current_epoch
    tokens_seen = datamodule.train_tokens * epochs_done
    # A resumed run trained only its last part in this process.
    steps_here = trainer.global_step - start_step
    tokens_here = tokens_seen * steps_here / max(1, trainer.global_step)
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
        "train_words_per_sec": tokens_here / fit_seconds if fit_seconds > 0 else None,
        "words_per_sec_incl_setup": tokens_here / wall if wall > 0 else None,
    }
    if resume:
        metrics.update(resumed_from=str(resume), resumed_at_step=start_step)
    if trainer.is_global_zero:
        _write_outputs(run_dir, module, vocab.words, conf["export"], metrics)
    return metrics


def _checkpointing(dirpath: Path, every_n_minutes=None, every_n_train_steps=None):
    """ModelCheckpoint rewriting last.ckpt every N steps, else every N minutes, and at the end.

    Lightning takes one trigger; steps, when given, replace the time interval.
    """
    if every_n_train_steps:
        trigger = {"every_n_train_steps": every_n_train_steps}
    elif every_n_minutes:
        trigger = {"train_time_interval": timedelta(minutes=every_n_minutes)}
    else:
        trigger = {}
    return ModelCheckpoint(dirpath=dirpath, save_last=True, save_top_k=0, **trigger)


def _check_trained(trainer: L.Trainer, vectors: torch.Tensor, n_samples: int) -> None:
    """Refuse to export `vectors` (V, D) that training never touched or that diverged."""
    if trainer.global_step == 0:
        raise DataError(
            "no training pairs: the corpus is too short for one (input, target) pair, or "
            "subsampling dropped every word (lower data.subsample_t or use more text)"
        )
    bad = int((~torch.isfinite(vectors)).any(dim=1).sum())
    if bad:
        raise SgnsError(
            f"training diverged: {bad} word vectors are not finite after step "
            f"{trainer.global_step}; lower model.lr"
        )
    # All-zero vectors score sigmoid(0) = 1/2 on every pair and negative: a loss of
    # (1 + n_samples) ln 2. A trained model is below it; far above, the weights blew up.
    untrained = (1 + n_samples) * math.log(2)
    loss = _metric(trainer, "train/loss_epoch")
    if loss is not None and loss > DIVERGED * untrained:
        raise SgnsError(
            f"training diverged: the last epoch's loss is {loss:.4g}, over {DIVERGED}x the "
            f"{untrained:.3g} of untrained all-zero vectors; lower model.lr"
        )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
