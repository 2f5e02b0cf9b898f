"""run(cfg, run_dir): build the objects a config describes, train, and write the run's artefacts.

run_dir/vectors.txt          in_embed rows in word2vec text format, most frequent word first
run_dir/metrics.json         final losses, vocabulary size, tokens seen, wall time, words/s
run_dir/run_info.json        git commit, library versions, device, host, start time
run_dir/tb/                  TensorBoard events
run_dir/checkpoints/last.ckpt

Several devices or nodes: ``trainer=ddp`` (GPUs) or ``trainer=ddp_cpu`` (CPU processes). Each
rank trains on its own share of every epoch's batches; only rank zero writes the artefacts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from sgns.config import validate
from sgns.data.datamodule import SkipGramDataModule
from sgns.distributed import DistributedRun, check_backend, strategy
from sgns.export import save_word2vec
from sgns.model.module import SkipGramModule
from sgns.runinfo import write_run_info

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train as `cfg` says, write vectors and metrics into `run_dir`, return the metrics."""
    start, started_at = time.perf_counter(), dt.datetime.now().astimezone()
    conf = OmegaConf.to_container(cfg, resolve=True)
    validate(conf)
    run_dir = Path(run_dir)
    L.seed_everything(conf["seed"], workers=True, verbose=False)
    if conf.get("cpu_threads"):
        torch.set_num_threads(conf["cpu_threads"])

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
    trainer_conf = dict(conf["trainer"])
    trainer_conf["strategy"] = strategy(
        trainer_conf.get("strategy", "auto"),
        trainer_conf.pop("process_group_backend", None),
        sparse_grads=module.model.in_embed.sparse,
        multirun=_local_multirun(),
    )
    trainer = L.Trainer(
        **trainer_conf,
        default_root_dir=run_dir,
        logger=TensorBoardLogger(run_dir, name="tb", version="", default_hp_metric=False),
        callbacks=[
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0, **conf["checkpoint"]
            ),
            LearningRateMonitor(logging_interval="step"),
            DistributedRun(conf["seed"]),
        ],
        # Each epoch's data is drawn from (seed, epoch): the loader must be rebuilt per epoch.
        reload_dataloaders_every_n_epochs=1,
        # The training set deals batches to ranks itself, and every rank validates on all
        # validation batches, so rank zero's validation loss is the single-device one.
        use_distributed_sampler=False,
    )
    check_backend(trainer, module.model.in_embed.sparse)
    world_size = trainer.num_devices * trainer.num_nodes
    if world_size > 1:
        # Known only now that the trainer has counted devices: each rank takes every
        # world_size-th batch, so an epoch is that many times fewer optimiser steps.
        module.hparams.total_steps = datamodule.expected_batches_per_epoch(world_size) * max_epochs
        log.info("%d ranks: each optimiser step consumes %d batches", world_size, world_size)
    if trainer.is_global_zero:
        write_run_info(run_dir, trainer.strategy.root_device, started_at)
    fit_start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=conf.get("resume"))
    fit_seconds = time.perf_counter() - fit_start

    # Under ddp_spawn this process did not train: rank zero's progress came back in metrics.
    epochs_done = trainer.current_epoch or int(trainer.callback_metrics.get("run/epochs", 0))
    tokens_seen = datamodule.train_tokens * epochs_done
    wall = time.perf_counter() - start
    metrics = {
        "final_train_loss": _metric(trainer, "train/loss_epoch"),
        "final_val_loss": _metric(trainer, "val/loss"),
        "vocab_size": len(vocab),
        "train_tokens": datamodule.train_tokens,
        "epochs": epochs_done,
        "tokens_seen": tokens_seen,
        "steps": trainer.global_step or int(trainer.callback_metrics.get("run/steps", 0)),
        "train_seconds": fit_seconds,
        "wall_time_s": wall,
        "train_words_per_sec": tokens_seen / fit_seconds if fit_seconds > 0 else None,
        "words_per_sec_incl_setup": tokens_seen / wall if wall > 0 else None,
    }
    if trainer.is_global_zero:
        _write_outputs(run_dir, module, vocab.words, conf["export"], metrics)
    return metrics


def _local_multirun() -> bool:
    """True inside a Hydra multirun whose jobs run in this process (not a SLURM or torchrun
    task, where the cluster starts one process per rank)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return False
    return not (SLURMEnvironment.detect() or TorchElasticEnvironment.detect())


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
