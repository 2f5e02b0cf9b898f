"""run(cfg, run_dir): build the objects a config describes, train, and write the run's artefacts.

run_dir/vectors.txt          in_embed rows in word2vec text format, most frequent word first
run_dir/vocab.txt            "word count" lines in the same order (word2vec's -save-vocab)
run_dir/metrics.json         final losses, vocabulary size, tokens seen, wall time, words/s,
                             and (eval.enabled) the final benchmark scores: analogy_acc, ...,
                             your own files' (eval.word_pairs, eval.analogies), analogy_sections
                             {section: accuracy}; null where nothing is answerable
run_dir/run_info.json        git commit, library versions, device, host, start time
run_dir/tb/                  TensorBoard events: losses, eval/ scores, hparams, projector, t-SNE
run_dir/checkpoints/last.ckpt  rewritten while training and on SIGTERM; resume=PATH continues

A run that stops (a signal, a diverged loss, bad input) writes no vectors and no metrics, so
nothing half-trained is mistaken for a result.

Several devices or nodes: ``trainer=ddp`` (GPUs) or ``trainer=ddp_cpu`` (CPU processes). Each
rank trains on its own share of every epoch's batches; only rank zero writes the artefacts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
import torch.utils.tensorboard  # noqa: F401  (see below)
from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from omegaconf import DictConfig

from sgns.config.check import checked
from sgns.config.schema import HPARAM_KEYS
from sgns.data.datamodule import SkipGramDataModule
from sgns.errors import ConfigError, DataError, SgnsError, first_line
from sgns.eval.benchmarks import Benchmark, benchmark_files, score_keys, unscorable_keys
from sgns.eval.callback import PREFIX, EmbeddingEvaluation, HparamsRow, final_scores
from sgns.eval.vectors import save_vocab, save_word2vec
from sgns.io import atomic_write_text, load_checkpoint
from sgns.model.module import DIVERGENCE_REMEDY, SkipGramModule
from sgns.run.auto import AutoSettings, cores_given, trains_on_cuda
from sgns.run.console import EpochProgressBar, outcome_line, quiet_library_noise
from sgns.run.distributed import DistributedRun, check_backend, strategy
from sgns.run.folders import FAILED
from sgns.run.progress import EPOCHS, EVAL_SECONDS, STEPS, TRAIN_STARTED, TrainingClock, carried
from sgns.run.resume import ResumeState, check_resume
from sgns.run.runinfo import write_run_info

# TensorBoardLogger imports tensorboard only when it first writes, inside fit; imported here,
# its quarter of a second (absl, protobuf) is start-up, and train_seconds counts training alone.

log = logging.getLogger(__name__)
DIVERGED = 10  # a final loss this many times that of all-zero vectors means divergence
# metrics.json's numbers that every run writes; with eval.enabled, the benchmarks' follow.
RUN_METRICS = (
    "final_train_loss", "final_val_loss", "vocab_size", "train_tokens", "epochs",
    "tokens_seen", "steps", "batch_size", "sgd_chunk", "shared_negatives", "train_seconds",
    "eval_seconds", "wall_time_s", "cpu_time_s", "train_words_per_sec",
    "words_per_sec_incl_setup",
)  # fmt: skip


def run(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Check `cfg` (sgns.config.check.checked), train as it says, write vectors and metrics
    into `run_dir`, return the metrics."""
    return run_checked(checked(cfg), run_dir)


def run_checked(conf: dict, run_dir: str | Path) -> dict:
    """`run` for a config already through sgns.config.check.checked (scripts/train.py checks
    it before loading torch, so a bad command line fails fast)."""
    start, started_at = time.perf_counter(), dt.datetime.now().astimezone()
    cpu_start = time.process_time()  # this process's threads; not ddp_spawn's ranks
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cuda = trains_on_cuda(conf["trainer"]["accelerator"])
    auto = AutoSettings(conf, cuda=cuda, cores=cores_given())  # the device's settings
    torch.set_num_threads(conf["cpu_threads"])
    # Your own benchmark files, read now: a wrong one fails before the corpus is tokenised.
    benchmarks = benchmark_files(conf["eval"]["word_pairs"], conf["eval"]["analogies"])
    _check_objective(conf, benchmarks)
    # And the checkpoint to resume (memory-mapped): a wrong path fails before tokenising too.
    resume = conf["resume"]
    checkpoint = load_checkpoint(resume) if resume else None

    datamodule = SkipGramDataModule(**conf["data"], seed=conf["seed"])
    log.info("%s", datamodule.describe())  # before tokenising: a wrong choice shows at once
    datamodule.prepare_data()
    datamodule.setup("fit")
    vocab = datamodule.vocab
    words = vocab.words
    _check_objective_scorable(conf, words, benchmarks)
    auto.fit_to_corpus(datamodule.expected_pairs_per_epoch(), len(words))  # the corpus's
    datamodule.set_batch_size(conf["data"]["batch_size"])
    log.info("%s", auto.line())

    start_step = check_resume(resume, conf, words, checkpoint)["global_step"] if resume else 0
    del checkpoint  # and its mapping of the file: Lightning loads the weights itself
    module = SkipGramModule(vocab.words, vocab.counts, **conf["model"], seed=conf["seed"])
    resume_state = ResumeState(conf)
    quiet_library_noise()
    callbacks = _callbacks(conf, run_dir, resume_state, cuda, benchmarks)
    trainer = _trainer(conf, run_dir, module, callbacks)
    if trainer.is_global_zero:
        write_run_info(run_dir, trainer.strategy.root_device, started_at)
    fit_seconds, eval_seconds = _fit(trainer, module, datamodule, resume, resume_state)

    # Under ddp_spawn this process did not train: rank zero's progress came back.
    epochs_done = int(carried(trainer, EPOCHS, trainer.current_epoch) or 0)
    steps = int(carried(trainer, STEPS, trainer.global_step) or 0)
    _check_trained(steps, trainer, module)
    tokens_seen = datamodule.train_tokens * epochs_done
    # A resumed run trained only its last part in this process.
    tokens_here = tokens_seen * (steps - start_step) / max(1, steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    metrics = {
        "final_train_loss": _metric(trainer, "train/loss_epoch"),
        "final_val_loss": _metric(trainer, "val/loss"),
        "vocab_size": len(words),
        "train_tokens": datamodule.train_tokens,
        "epochs": epochs_done,
        "tokens_seen": tokens_seen,
        "steps": steps,
        # What data.batch_size, model.sgd_chunk and model.shared_negatives came to.
        "batch_size": conf["data"]["batch_size"],
        "sgd_chunk": conf["model"]["sgd_chunk"],
        "shared_negatives": conf["model"]["shared_negatives"],
        "auto": auto.record(),  # every `auto` decided, with why (sgns.run.auto)
        "train_seconds": fit_seconds,
        "eval_seconds": eval_seconds,
        "wall_time_s": wall,
        "cpu_time_s": cpu,  # user + system seconds of this process, all its threads
        "train_words_per_sec": tokens_here / fit_seconds if fit_seconds > 0 else None,
        "words_per_sec_incl_setup": tokens_here / wall if wall > 0 else None,
        **final_scores(trainer.callback_metrics),
    }
    if resume:
        metrics.update(resumed_from=str(resume), resumed_at_step=start_step)
    if trainer.is_global_zero:
        _write_outputs(run_dir, module, words, conf["export"], metrics)
    return metrics


def _check_objective(conf: dict, benchmarks: tuple[Benchmark, ...]) -> None:
    """A sweeper's objective must be a metric this run writes: a misspelt one would fail every
    trial of a search, each only after training."""
    known = RUN_METRICS + (score_keys(benchmarks) if conf["eval"]["enabled"] else ())
    if conf["objective"] not in known:
        raise ConfigError(
            f"objective={conf['objective']!r} is not a metric this run writes; it writes "
            f"{', '.join(known)}"
        )


def _check_objective_scorable(conf: dict, words: list[str], benchmarks) -> None:
    """A score no vectors over this vocabulary can make a number (English analogies on graph
    walks) would fail every trial of a search, each only after training."""
    objective = conf["objective"]
    if not conf["eval"]["enabled"] or objective not in unscorable_keys(words, benchmarks):
        return
    missing = (
        "no analogy question has all four words in it"
        if objective.endswith("_acc")
        else "fewer than two of its word pairs have both words in it"
    )
    raise ConfigError(
        f"objective={objective} can never be a number on this vocabulary ({len(words):,} "
        f"words): {missing}; aim at another metric, e.g. objective=final_val_loss, or a file "
        f"of your own (eval.word_pairs, eval.analogies)"
    )


def _callbacks(
    conf: dict,
    run_dir: Path,
    resume_state: ResumeState,
    cuda: bool,
    benchmarks: tuple[Benchmark, ...],
) -> list:
    callbacks = [
        _checkpointing(run_dir / "checkpoints", **conf["checkpoint"]),
        resume_state,
        LearningRateMonitor(logging_interval="step"),
        DistributedRun(),
        TrainingClock(),
    ]
    trainer = conf["trainer"]
    if trainer.get("enable_progress_bar", True):
        # On a GPU the bar reads the logged loss back from the device whenever it redraws:
        # only as often as the loss is logged, so that the steps in between never wait.
        refresh = trainer["log_every_n_steps"] if cuda else 1
        # First to see an exception: it ends its line.
        callbacks.insert(0, EpochProgressBar(refresh_rate=refresh))
    eval_conf, objective, scores = conf["eval"], conf["objective"], score_keys(benchmarks)
    # The HPARAMS tab's columns: the losses, and with eval on hp_metric and every score.
    columns = ["val/loss", "train/loss_epoch"]
    if eval_conf["enabled"]:
        columns = ["hp_metric", *(PREFIX + k for k in scores), *columns]
        callbacks.append(
            EmbeddingEvaluation(
                vectors=conf["export"]["vectors"],
                projector_words=eval_conf["projector_words"],
                tsne=eval_conf["tsne"],
                tsne_words=eval_conf["tsne_words"],
                seed=conf["seed"],
                benchmarks=benchmarks,
                # A sweep aiming at a score sees it as hp_metric; otherwise analogy accuracy.
                hp_metric=objective if objective in scores else "analogy_acc",
            )
        )
    elif benchmarks:
        log.warning("eval.enabled=false: eval.word_pairs and eval.analogies are not scored")
    callbacks.append(HparamsRow(run_hparams(conf), columns, config=conf))
    return callbacks


def _trainer(conf, run_dir, module, callbacks) -> L.Trainer:
    """Lightning's Trainer for conf/trainer."""
    trainer_conf = dict(conf["trainer"])
    sparse_grads = module.model.in_embed.sparse  # only sparse_adam all-reduces gradients
    trainer_conf["strategy"] = strategy(
        trainer_conf.get("strategy", "auto"),
        trainer_conf.pop("process_group_backend", None),
        sparse_grads=sparse_grads,
        multirun=_local_multirun(),
    )
    try:
        trainer = L.Trainer(
            **trainer_conf,
            default_root_dir=run_dir,
            logger=TensorBoardLogger(run_dir, name="tb", version="", default_hp_metric=False),
            callbacks=callbacks,
            # The training set deals batches to ranks itself, and every rank validates on all
            # validation batches, so rank zero's validation loss is the single-device one.
            use_distributed_sampler=False,
        )
    except (TypeError, ValueError, MisconfigurationException) as err:
        # Trainer arguments beyond conf/trainer (e.g. +trainer.max_steps) are Lightning's to check.
        raise ConfigError(f"Lightning rejects the trainer settings: {first_line(err)}") from None
    check_backend(trainer, sparse_grads)
    return trainer


def _fit(trainer, module, datamodule, resume, resume_state: ResumeState) -> tuple[float, float]:
    """Train; returns the seconds of training and of the evaluations inside fit."""
    fit_start = time.time()
    try:
        # weights_only: a checkpoint is data; loading one must never run code from it.
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except (SIGTERMException, SystemExit):
        if resume_state.interrupted is None:
            raise
        raise resume_state.interrupted from None
    except MisconfigurationException as err:
        # Settings Lightning checks as fit starts: +trainer.gradient_clip_val with sgd, which
        # steps by hand (Lightning's manual optimisation), and the like.
        raise ConfigError(f"Lightning rejects the trainer settings: {first_line(err)}") from None
    if resume_state.interruption(trainer) is not None:  # the ranks stopped and saved
        raise resume_state.interrupted
    fit_end = time.time()
    started = float(trainer.callback_metrics.get(TRAIN_STARTED, fit_start))
    # Benchmarks, projector and t-SNE run inside fit; words/s counts training alone.
    eval_seconds = float(trainer.callback_metrics.get(EVAL_SECONDS, 0.0))
    return fit_end - started - eval_seconds, eval_seconds


def _local_multirun() -> bool:
    """True inside a Hydra multirun whose jobs run in this process (not a SLURM or torchrun
    task, where the cluster starts one process per rank)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return False
    return not (SLURMEnvironment.detect() or TorchElasticEnvironment.detect())


def run_hparams(conf: dict) -> dict:
    """The settings a sweep varies (HPARAM_KEYS), flat, for TensorBoard's HPARAMS tab."""
    return {key: _lookup(conf, key) for key in HPARAM_KEYS}


def _lookup(conf: dict, dotted: str):
    for part in dotted.split("."):
        conf = conf[part]
    return conf


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


def _check_trained(steps: int, trainer: L.Trainer, module: SkipGramModule) -> None:
    """Refuse to export vectors that training never touched or that diverged."""
    if steps == 0:
        raise DataError(
            "no training pairs: the corpus is too short for one (input, target) pair, or "
            "subsampling dropped every word (lower data.subsample_t or use more text)"
        )
    remedy = DIVERGENCE_REMEDY
    bad = int((~torch.isfinite(module.embeddings("in+out"))).any(dim=1).sum())
    if bad:
        raise SgnsError(
            f"training diverged: {bad} word vectors are not finite after step {steps}; {remedy}"
        )
    # All-zero vectors score sigmoid(0) = 1/2 on every pair and negative: a loss of
    # (1 + n_samples) ln 2. A trained model is below it; far above, the weights blew up.
    untrained = (1 + module.hparams.n_samples) * math.log(2)
    loss = _metric(trainer, "train/loss_epoch")
    if loss is not None and loss > DIVERGED * untrained:
        raise SgnsError(
            f"training diverged: the last epoch's loss is {loss:.4g}, over {DIVERGED}x the "
            f"{untrained:.3g} of untrained all-zero vectors; {remedy}"
        )


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


def _write_outputs(run_dir: Path, module: SkipGramModule, words, export: dict, metrics) -> None:
    binary = export["format"] == "binary"
    path = run_dir / ("vectors.bin" if binary else "vectors.txt")
    save_word2vec(path, module.embeddings(export["vectors"]).cpu().numpy(), words, binary=binary)
    save_vocab(run_dir / "vocab.txt", words, module.counts.cpu().numpy())
    write_json(run_dir / "metrics.json", metrics)
    # A stopped attempt's reason, from before this run resumed it here: no longer true.
    (run_dir / FAILED).unlink(missing_ok=True)
    log.info("wrote %s, vocab.txt and metrics.json: %s", path.name, outcome_line(metrics))


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically: a temporary file renamed into place."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
