"""The run configuration: every key with its type, default, allowed values and meaning.

conf/train.yaml extends `RunConfig` (stored as ``train_schema``; Hydra's schema pattern), so
Hydra rejects an unknown key or a wrongly typed value while composing, whether it comes from a
YAML file or the command line. The files under conf/ set only what differs from the defaults
here; ``python scripts/train.py --cfg job`` prints the composed whole. Ranges and choices are
field metadata (sgns.config.rules), checked by sgns.config.check on the composed config; the
choices themselves come from the packages that implement them (sgns.data, sgns.model,
sgns.eval). Importing this module registers the schema with Hydra.

    >>> RULES["model.embed_dim"].allowed()
    'an integer in [1, 100000]'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from sgns.config.rules import (
    HPARAM,
    TRAINS,
    flag,
    keys_with,
    lightning_devices,
    number,
    one_of,
    rules_of,
    text,
)
from sgns.data import PAIRS_ON, SOURCES, SUBSAMPLE_RULES
from sgns.data.corpus import NORMALIZATIONS
from sgns.eval import EXPORT_FORMATS, VECTORS
from sgns.model import GPU_STEPS, INITS, OPTIMIZERS, TABLE_DTYPES

# Lightning's own values, checked here so that a typo fails before Lightning is loaded.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
PRECISIONS += ("64", "32", "16", "bf16", 64, 32, 16)  # Lightning's short aliases
BACKENDS = ("gloo", "nccl", "mpi")
# Field roles (sgns.config.rules): what a resume must match, what the HPARAMS tab shows.
SWEPT = (TRAINS, HPARAM)


@dataclass
class CheckpointConfig:
    """checkpoints/last.ckpt is rewritten during training, so a killed run loses at most one
    interval; SIGTERM and Ctrl-C save it too. Resume: the same command plus
    resume=RUN_DIR/checkpoints/last.ckpt"""

    # Save every this many minutes of training (null: only at the end).
    every_n_minutes: float | None = number(10.0, 0.0, 1e6, open_low=True)
    # Or every N optimiser steps; when set, replaces every_n_minutes.
    every_n_train_steps: int | None = number(None, 1)


@dataclass
class ExportConfig:
    """The vectors file a finished run writes into its run directory."""

    # in | in+out (input + output vectors summed; Levy et al. 2015)
    vectors: str = one_of("in", VECTORS, roles=(HPARAM,))
    # text (vectors.txt) | binary (vectors.bin)
    format: str = one_of("text", EXPORT_FORMATS)


@dataclass
class EvalConfig:
    """Benchmarks in TensorBoard: at every validation, Google analogies, WordSim-353 and
    SimLex-999 (sgns.eval); at the end, hyper-parameters with the final scores (HPARAMS tab)
    and the projector."""

    enabled: bool = True
    # Most frequent words in the embedding projector; 0: none.
    projector_words: int = number(5000, 0)
    # Also a t-SNE map as a TensorBoard image (needs the viz extra).
    tsne: bool = False
    # Most frequent words in that map (the notebook's 380).
    tsne_words: int = number(380, 2, 100_000)
    # Your own benchmarks, scored beside the standard ones (sgns.eval.benchmarks), each under
    # its file's stem: word-similarity files ("word1 word2 score" lines, tab-, comma- or
    # space-separated; the benchmarks' own files as downloaded) as NAME_spearman and
    # NAME_oov; analogy files (": section", then "a b c d" lines) as NAME_acc and
    # NAME_coverage. A path or a list of them.
    word_pairs: Any | None = text(None, "a word-pair file or a list of them", lists=True)
    analogies: Any | None = text(None, "an analogy file or a list of them", lists=True)


@dataclass
class DataConfig:
    """conf/data: the corpus, its vocabulary and the pairs drawn from it (SkipGramDataModule)."""

    # wiki_sample: the English Wikipedia sample shipped inside gensim's wheel (~470k words, no
    # download) | text_file: your own text, data.path | text8: downloaded on first use.
    source: str = one_of("wiki_sample", SOURCES, roles=(HPARAM,))
    # text_file: a file, a folder or a glob, or a list of them; plain, .gz, .bz2 or .xz.
    path: Any | None = text(None, "a file, folder or glob", lists=True)
    # text8: pin the archive's SHA-256.
    sha256: str | None = text(None, "64 hex digits", pattern="[0-9a-fA-F]{64}")
    # Downloads and token caches.
    cache_dir: str = text("${oc.env:SGNS_CACHE,'~/.cache/sgns'}", "a folder")
    # none (words as written, split on whitespace) | lower (the same, lower-cased) |
    # text8 (a-z only, digits spelled out: English only) | punct (the notebook's <PERIOD>
    # tokens). text8 for English Wikipedia, prepared the way text8 was (data=text_file: none).
    normalization: str = one_of("text8", NORMALIZATIONS, roles=(TRAINS,))
    # Keep words seen at least this often...
    min_count: int = number(5, 1, roles=SWEPT)
    # ...then keep at most this many of the most frequent.
    max_vocab: int | None = number(None, 1, roles=(TRAINS,))
    # Subsampling threshold t, the notebook's; 0 disables (data=text_file: 1e-3).
    subsample_t: float = number(1e-5, 0.0, 1.0, roles=SWEPT)
    # mikolov: drop with 1 - sqrt(t/f) | word2vec: the C tool's / gensim's rule.
    subsample_rule: str = one_of("mikolov", SUBSAMPLE_RULES, roles=SWEPT)
    # Context window W; each centre word draws R ~ U[1, W].
    window: int = number(5, 1, 1000, roles=SWEPT)
    # Pairs per optimiser step and rank (sgd applies them in model.sgd_chunk pieces);
    # auto: the device's default, cut to the corpus (sgns.run.auto).
    batch_size: Any = number("auto", 1, 1 << 26, words=("auto",), roles=SWEPT)
    # Pairs only inside consecutive chunks of this many kept words (null: no chunks).
    context_chunk: int | None = number(None, 2, roles=(TRAINS,))
    # Shuffle pairs within each block of text.
    shuffle: bool = flag(True, roles=(TRAINS,))
    # Tail of the corpus held out for the validation loss.
    val_fraction: float = number(0.01, 0.0, 0.5, roles=(TRAINS,))
    # DataLoader worker processes generating pairs (host pairs only).
    num_workers: int = number(0, 0, 256)
    # host: numpy in the loader | device: torch on the training device, an epoch's ids kept
    # there (num_workers 0) | auto: device on a CUDA GPU without loader workers, else host.
    pairs_on: str = one_of("auto", ("auto", *PAIRS_ON))
    # Tokens subsampled and paired at a time (bounds memory); auto: the host's or the
    # device's block (sgns.run.auto).
    block_tokens: Any = number("auto", 1024, 1 << 31, words=("auto",), roles=(TRAINS,))


@dataclass
class ModelConfig:
    """conf/model: SkipGramModule's arguments, one for one."""

    # D, size of each word vector.
    embed_dim: int = number(100, 1, 100_000, roles=SWEPT)
    # Negative samples per (input, target) pair.
    n_samples: int = number(5, 1, 10_000, roles=SWEPT)
    # Noise distribution = unigram counts ^ noise_power, normalised.
    noise_power: float = number(0.75, 0.0, 2.0, roles=SWEPT)
    # sgd (sparse, linear decay) | sparse_adam | adam (dense, the notebook's).
    optimizer: str = one_of("sgd", OPTIMIZERS, roles=SWEPT)
    # sgd: word2vec's per-pair step size; adam/sparse_adam: the usual lr.
    lr: float = number(0.025, 0.0, 100.0, open_low=True, roles=SWEPT)
    # sgd decays linearly to lr * min_lr_ratio.
    min_lr_ratio: float = number(1e-4, 0.0, 1.0, roles=SWEPT)
    # sgd: pairs per group sharing one set of negatives (Ji et al. 2016). auto: by the
    # vocabulary's size (sgns.run.auto).
    shared_negatives: Any = number("auto", 1, 1 << 20, words=("auto",), roles=SWEPT)
    # sgd: a batch is applied as consecutive updates of this many pairs (under DDP, all
    # ranks together: each rank's piece is its share); every row's step is bounded at any
    # size. auto: the device's default (sgns.run.auto); null: the whole batch (every rank's)
    # in one update. Whatever the value, an update covering too much of an epoch is cut
    # (sgns.run.auto), said in the log.
    sgd_chunk: Any | None = number("auto", 1, 1 << 26, words=("auto",), roles=SWEPT)
    # sgd: storage of both tables: float32 | bfloat16 | float16; updates are computed in
    # float32 and each row rounded once per step.
    table_dtype: str = one_of("float32", TABLE_DTYPES, roles=SWEPT)
    # sgd on a CUDA GPU: fused (one Triton kernel; groups of shared_negatives pairs, each
    # applied as it is computed; not bit-reproducible) | torch (torch operations in
    # sgd_chunk updates; bit-reproducible under trainer.deterministic=true) | auto: fused
    # where it can run, else torch (sgns.run.auto). A CPU steps with its compiled loops.
    gpu_step: str = one_of("auto", ("auto", *GPU_STEPS), roles=(HPARAM,))
    # word2vec (input +-0.5/D, output 0) | uniform (both U(-1, 1), the notebook's).
    init: str = one_of("word2vec", INITS, roles=SWEPT)
    # Validation words: half frequent, half rarer.
    n_val_words: int = number(16, 0, 1000, roles=(HPARAM,))
    # Neighbours shown per validation word.
    n_neighbors: int = number(8, 1, 1000, roles=(HPARAM,))
    # Words of your own whose neighbours are shown too, after the drawn ones (n_val_words=0:
    # only these), e.g. model.val_words=[paris,physics]; each must be in the vocabulary.
    val_words: Any | None = text(None, "a word or a list of words", lists=True)


@dataclass
class TrainerConfig:
    """conf/trainer: passed to lightning.Trainer as keyword arguments. Any other Trainer
    argument can be added, e.g. +trainer.max_steps=100; Lightning checks it."""

    # auto: a GPU when there is one.
    accelerator: str = one_of("auto", ACCELERATORS)
    # Devices per node (GPUs; on CPU, processes): a count, auto, -1 (all) or a list of indices.
    devices: Any = lightning_devices(1)
    num_nodes: int = number(1, 1, 1 << 16)
    # auto | ddp (re-runs this script per device) | ddp_spawn | ddp_fork (Linux), or any name
    # Lightning knows (sgns.run.distributed).
    strategy: str = text("auto", "a strategy name")
    # null: gloo when the gradients are sparse (model.optimizer=sparse_adam, since NCCL cannot
    # all-reduce sparse tensors), else Lightning's default (nccl on GPUs, gloo on CPU). sgd
    # exchanges dense row updates, which NCCL carries.
    process_group_backend: str | None = one_of(None, BACKENDS)
    max_epochs: int = number(5, 1, 1_000_000, roles=(HPARAM,))
    # Lightning's precision, for adam and sparse_adam; sgd takes 32-true or 64-true (its
    # reduced-precision tables are model.table_dtype).
    precision: Any = one_of("32-true", PRECISIONS)
    log_every_n_steps: int = number(50, 1)
    # null: validate at each epoch end; an int: every N training steps. Epoch length is
    # unknown in advance (pairs are drawn on the fly): steps, not fractions.
    val_check_interval: int | None = number(None, 1)
    num_sanity_val_steps: int = number(0, -1)
    enable_model_summary: bool = False
    enable_progress_bar: bool = True
    deterministic: Any = flag(False, also=("warn",))


@dataclass
class RunConfig:
    """conf/train.yaml: one training run."""

    seed: int = number(0, 0, 2**32 - 1, roles=SWEPT)
    # torch's intra-op CPU threads. null: the cores this process was given, shared out among
    # the processes of a CPU DDP run (sgns.run.auto). Fastest on an otherwise idle machine;
    # where other processes keep the cores busy, threads that wait for each other slow the
    # small ops of a step badly: use 1 there.
    cpu_threads: int | None = number(None, 1, 4096)
    # Checkpoint path to resume from, e.g. resume=outputs/runs/RUN/checkpoints/last.ckpt
    resume: str | None = text(None, "a checkpoint path")
    # The metric returned to sweepers (Optuna maximises or minimises it): any number in
    # metrics.json, your own benchmark files' too; checked before training (sgns.run.train).
    objective: str = text("final_val_loss", "a metric name")
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


# conf/train.yaml's defaults list starts with it; importing this module registers it.
ConfigStore.instance().store(name="train_schema", node=RunConfig)

RULES = rules_of(RunConfig)  # {"model.embed_dim": Number(...), ...}: every key's rule
SECTIONS = sorted({key.split(".")[0] for key in RULES if "." in key})
# Settings a resumed run must share with its checkpoint (sgns.run.resume); the rest (epochs,
# devices, workers, checkpoint, export and validation output) may change.
MUST_MATCH = keys_with(RunConfig, TRAINS)
# The settings a sweep varies, for TensorBoard's HPARAMS tab (sgns.run.train.run_hparams).
HPARAM_KEYS = keys_with(RunConfig, HPARAM)
# Keys run() passes to lightning.Trainer itself; a config value would clash with them.
TRAINER_RESERVED = (
    "logger",
    "callbacks",
    "default_root_dir",
    "reload_dataloaders_every_n_epochs",
    "enable_checkpointing",
    "use_distributed_sampler",
)
