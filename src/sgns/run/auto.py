"""What every ``auto`` of the config comes to: one policy, decided from the config and the hardware.

    >>> conf = {"cpu_threads": None, "trainer": {"devices": 1},
    ...         "data": {"batch_size": "auto", "pairs_on": "auto", "block_tokens": "auto",
    ...                  "num_workers": 0},
    ...         "model": {"optimizer": "sgd", "sgd_chunk": "auto", "shared_negatives": "auto",
    ...                   "gpu_step": "torch"}}
    >>> auto = AutoSettings(conf, cuda=True, cores=16)      # resolves `conf` in place
    >>> conf["data"]["batch_size"], conf["data"]["pairs_on"]
    (1048576, 'device')
    >>> auto.fit_to_corpus(pairs_per_epoch=560_000, vocab_size=9071)   # the bundled sample
    >>> conf["data"]["batch_size"], conf["model"]["sgd_chunk"], conf["model"]["shared_negatives"]
    (65536, 8192, 32)
    >>> print(auto.line())  # doctest: +NORMALIZE_WHITESPACE
    auto: data.batch_size=65536 (a CUDA GPU's default; 1048576 cut to 1/64 of 560,000 pairs an
    epoch, not below 65536), model.sgd_chunk=8192 (the whole batch on a GPU; 1048576 cut to 1/64
    of 560,000 pairs an epoch), data.pairs_on=device (made where a CUDA GPU trains),
    data.block_tokens=16777216 (device pairs), cpu_threads=16 (cores given: 16),
    model.shared_negatives=32 (a 9,071-word vocabulary)

The keys: ``data.batch_size``, ``model.sgd_chunk``, ``model.gpu_step``, ``data.pairs_on``,
``data.block_tokens``, ``model.shared_negatives`` and ``cpu_threads`` (null) in a run, and in a
parallel sweep the GPUs per run (`gpus_per_run`, an OmegaConf resolver,
conf/hydra/launcher/parallel.yaml). A run logs `line()` once, and metrics.json records
`record()` under ``auto``.

The rules, with the measurements behind them in docs/benchmarks.md:

- A CUDA GPU wants large steps and pairs made where it trains: GPU_BATCH_SIZE pairs per step in
  one update (the row bound of sgns.model.sgd keeps any size from diverging), pairs made on
  the device in DEVICE_BLOCK_TOKENS-token blocks. A CPU keeps what was measured fastest there:
  CPU_BATCH_SIZE-pair batches applied in CPU_SGD_CHUNK-pair updates, pairs made by numpy in
  HOST_BLOCK_TOKENS-token blocks. Loader workers make pairs on the host.
- A CUDA GPU steps with the fused Triton kernel (sgns.model.sgd_fused) where it can: sgd on
  float32 tables in one process, trainer.deterministic off, Triton installed, compute
  capability 8.0 or later (`fused_refusal` says why not); else with torch operations, the
  reference.
- Once the corpus is known, an automatic batch is cut to at most 1/MIN_STEPS_PER_EPOCH of an
  epoch (not below CPU_BATCH_SIZE), and so is every update, however model.sgd_chunk was set,
  the CPU's default too (not below MIN_SGD_CHUNK): the bounded row step keeps an update from
  diverging, but not a run from having too few of them ("Update size: at most 1/64 of an
  epoch").
- Groups of SHARED_NEGATIVES pairs share their negatives, SMALL_VOCAB_SHARED_NEGATIVES on a
  vocabulary under SMALL_VOCAB words (graph walks, ids), where sharing among more costs
  quality ("Graph walks").
- model.sgd_chunk and model.shared_negatives are sgd's: with another optimiser they are null
  and 1 (each pair its own negatives), said as unused.
- torch's threads: the cores this process was given, shared among the CPU processes of a DDP
  run on this node so that two ranks on two cores do not each start two threads.

A value set explicitly is kept as it is, except for the update cut above, which is logged as a
warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from sgns.errors import ConfigError
from sgns.model.sgd_fused import fused_available

log = logging.getLogger(__name__)

GPU_BATCH_SIZE = 1 << 20
CPU_BATCH_SIZE = 65_536
CPU_SGD_CHUNK = 4096
MIN_STEPS_PER_EPOCH = 64
# The smallest update the cut makes. A 20,000-token corpus of 30 words (about 7,000 pairs an
# epoch) trained in 4,096-pair updates, two an epoch, put its planted groups at Spearman 0.116
# against gensim's 0.596; in 1,024-, 256- and 128-pair updates at 0.531, 0.559, 0.530.
MIN_SGD_CHUNK = 256
# Tokens subsampled and paired at a time. On a device, pairing n tokens holds about 2 window n
# int32 candidates and their masks, then up to (window + 1) n int64 pairs: some 150 bytes a
# token at window 5, so 16M tokens (text8 whole) take about 2.5 GB at the peak.
HOST_BLOCK_TOKENS = 1 << 20
DEVICE_BLOCK_TOKENS = 1 << 24
# On the 1,000-node graph walks 32 pairs sharing negatives put 0.733 of nodes beside one of
# their own community, 8 put 0.793, as gensim does (0.79); the 9,071-word bundled sample and
# larger vocabularies keep 32, which is the faster.
SHARED_NEGATIVES = 32
SMALL_VOCAB, SMALL_VOCAB_SHARED_NEGATIVES = 5_000, 8
GPU_SHARE_PER_RUN = 0.25  # a parallel sweep puts 4 runs on each GPU


@dataclass(frozen=True)
class Decision:
    """What a key came to and why, in a few words."""

    value: Any
    why: str
    # Before a cut to the corpus: the value first chosen, and why (the cut's why says both).
    uncut: Any = None
    uncut_why: str = ""


class AutoSettings:
    """The run's ``auto`` keys, resolved in `conf` (a checked plain dict) as the facts arrive:
    the device at construction, the corpus in `fit_to_corpus`.

    Args:
        conf: the run's config; its ``auto`` values are replaced in place.
        cuda: whether training runs on a CUDA GPU (`trains_on_cuda`).
        cores: the cores this process was given (`cores_given`).
    """

    def __init__(self, conf: dict, cuda: bool, cores: int):
        self.conf, self.cuda = conf, cuda
        self.decisions: dict[str, Decision] = {}
        data, model = conf["data"], conf["model"]
        device = "a CUDA GPU's" if cuda else "a CPU's"
        if data["batch_size"] == "auto":
            self._set("data.batch_size", GPU_BATCH_SIZE if cuda else CPU_BATCH_SIZE,
                      f"{device} default")  # fmt: skip
        if model["optimizer"] != "sgd":
            # sgd's alone: an autograd optimiser steps once per batch, each pair its negatives.
            for key, value in (("sgd_chunk", None), ("shared_negatives", 1)):
                if model[key] == "auto":
                    self._set(f"model.{key}", value, f"unused by {model['optimizer']}")
        if model["sgd_chunk"] == "auto":
            chunk, why = (data["batch_size"], "the whole batch on a GPU") if cuda else (
                CPU_SGD_CHUNK, "a CPU's default")  # fmt: skip
            self._set("model.sgd_chunk", chunk, why)
        if data["pairs_on"] == "auto":
            if cuda and not data["num_workers"]:
                self._set("data.pairs_on", "device", "made where a CUDA GPU trains")
            else:
                why = "data.num_workers make them" if data["num_workers"] else "numpy on a CPU"
                self._set("data.pairs_on", "host", why)
        if data["block_tokens"] == "auto":
            on_device = data["pairs_on"] == "device"
            self._set("data.block_tokens", DEVICE_BLOCK_TOKENS if on_device else HOST_BLOCK_TOKENS,
                      "device pairs" if on_device else "host pairs")  # fmt: skip
        if model["gpu_step"] == "auto" and not cuda:
            self._set("model.gpu_step", "torch", "no CUDA GPU: the CPU's own step")
        elif model["gpu_step"] == "auto":
            refusal = fused_refusal(conf, cuda)
            self._set("model.gpu_step", "torch" if refusal else "fused",
                      refusal or "a CUDA GPU with Triton")  # fmt: skip
        elif model["gpu_step"] == "fused" and (refusal := fused_refusal(conf, cuda)):
            raise ConfigError(f"model.gpu_step=fused cannot train this run: {refusal}")
        if conf.get("cpu_threads") is None:
            ranks = 1 if cuda else local_processes(conf["trainer"].get("devices", 1))
            why = f"cores given: {cores}" + (f", shared by {ranks} ranks" if ranks > 1 else "")
            self._set("cpu_threads", max(1, cores // ranks), why)

    def fit_to_corpus(self, pairs_per_epoch: float, vocab_size: int) -> None:
        """Cut the batch and the updates to the epoch, and share negatives by vocabulary size."""
        data, model = self.conf["data"], self.conf["model"]
        share, pairs = epoch_share(pairs_per_epoch), round(pairs_per_epoch)
        batch = data["batch_size"]
        if "data.batch_size" in self.decisions and max(CPU_BATCH_SIZE, share) < batch:
            self._cut("data.batch_size", batch, share, CPU_BATCH_SIZE, pairs)
            if "model.sgd_chunk" in self.decisions and model["sgd_chunk"] == batch:
                self._cut("model.sgd_chunk", batch, share, data["batch_size"], pairs)
        if model["optimizer"] == "sgd":
            self._fit_updates(share, pairs)
        if model["shared_negatives"] == "auto":
            small = vocab_size < SMALL_VOCAB
            self._set("model.shared_negatives",
                      SMALL_VOCAB_SHARED_NEGATIVES if small else SHARED_NEGATIVES,
                      f"a {vocab_size:,}-word vocabulary"
                      + (f", under {SMALL_VOCAB:,}" if small else ""))  # fmt: skip

    def _fit_updates(self, share: int, pairs: int) -> None:
        """Cut model.sgd_chunk so that one update, all ranks together, covers at most
        1/MIN_STEPS_PER_EPOCH of an epoch, never below MIN_SGD_CHUNK."""
        batch, chunk = self.conf["data"]["batch_size"], self.conf["model"]["sgd_chunk"]
        asked = min(chunk or batch, batch)  # null: the whole batch in one update
        limit = max(MIN_SGD_CHUNK, share)
        if asked <= limit:
            return
        if "model.sgd_chunk" not in self.decisions:  # set explicitly
            self.decisions["model.sgd_chunk"] = Decision(chunk, "set")
            log.warning(
                "model.sgd_chunk=%s: %d-pair updates would each cover over 1/%d of an epoch "
                "(%d pairs), too few updates to train well; training in %d-pair updates",
                "null" if chunk is None else chunk, asked, MIN_STEPS_PER_EPOCH, pairs, limit,
            )  # fmt: skip
        self._cut("model.sgd_chunk", asked, share, MIN_SGD_CHUNK, pairs)

    def _cut(self, key: str, old: int, share: int, floor: int, pairs: int) -> None:
        """`key` from `old` down to `share` (1/MIN_STEPS_PER_EPOCH of the epoch's `pairs`, a
        power of two), not below `floor`; a second cut restates the first choice once."""
        before = self.decisions[key]
        uncut, uncut_why = (
            (before.uncut, before.uncut_why) if before.uncut_why else (old, before.why)
        )
        new = max(share, floor)
        why = f"{uncut_why}; {uncut} cut to 1/{MIN_STEPS_PER_EPOCH} of {pairs:,} pairs an epoch"
        why += f", not below {floor}" if new > share else ""
        self._set(key, new, why, uncut, uncut_why)

    def _set(self, key: str, value, why: str, uncut=None, uncut_why: str = "") -> None:
        section, _, name = key.rpartition(".")
        (self.conf[section] if section else self.conf)[name] = value
        self.decisions[key] = Decision(value, why, uncut, uncut_why)

    def line(self) -> str:
        """One line for the log: every decided key, its value and why."""
        if not self.decisions:
            return "auto: nothing to decide (every key is set)"
        return "auto: " + ", ".join(
            f"{k}={'null' if d.value is None else d.value} ({d.why})"
            for k, d in self.decisions.items()
        )

    def record(self) -> dict:
        """The decisions for metrics.json: {key: {"value": ..., "why": ...}}."""
        return {key: {"value": d.value, "why": d.why} for key, d in self.decisions.items()}


def fused_refusal(conf: dict, cuda: bool) -> str | None:
    """Why the fused GPU step (sgns.model.sgd_fused) cannot train this run, or None."""
    model, trainer = conf["model"], conf["trainer"]
    if model["optimizer"] != "sgd":
        return f"it is an sgd step, and model.optimizer={model['optimizer']}"
    if not fused_available("cuda" if cuda else "cpu"):
        return ("it needs a CUDA GPU of compute capability 8.0 or later and the triton "
                "package (on a CPU, TRITON_INTERPRET=1)")  # fmt: skip
    if model["table_dtype"] != "float32":
        return f"it trains float32 tables, and model.table_dtype={model['table_dtype']}"
    if trainer.get("deterministic"):
        return "trainer.deterministic is set, and its atomic adds land in any order"
    if local_processes(trainer.get("devices", 1), cuda) * trainer.get("num_nodes", 1) > 1:
        return "several processes train, and they exchange the torch step's row updates"
    return None


def trains_on_cuda(accelerator: str) -> bool:
    """Whether lightning.Trainer(accelerator=...) will train on a CUDA GPU."""
    if accelerator == "cuda":
        return True
    return accelerator in ("auto", "gpu") and torch.cuda.is_available()


def epoch_share(pairs_per_epoch: float) -> int:
    """The largest power of two at most 1/MIN_STEPS_PER_EPOCH of an epoch's pairs."""
    share = int(pairs_per_epoch / MIN_STEPS_PER_EPOCH)
    return 1 << max(0, share.bit_length() - 1)


def local_processes(devices, cuda: bool = False) -> int:
    """How many processes a run starts on this node for trainer.devices, as Lightning reads
    it: a count, a list or string of indices ("0,1"), or -1 (every core, or every GPU with
    `cuda`); auto is every GPU on CUDA and one process on the CPU."""
    if isinstance(devices, str):
        if "," in devices:  # indices
            return max(1, len([part for part in devices.split(",") if part.strip()]))
        devices = int(devices) if devices.strip().lstrip("-").isdigit() else devices
    if isinstance(devices, list):
        return max(1, len(devices))
    if devices == -1 or (cuda and devices == "auto"):
        return max(1, torch.cuda.device_count() if cuda else os.cpu_count() or 1)
    return devices if isinstance(devices, int) and devices > 0 else 1


def cores_given() -> int:
    """The cores this process may use: OMP_NUM_THREADS where a launcher sets it (Ray sets it
    to a run's num_cpus), else the CPU affinity (taskset, SLURM's cpusets), else every core."""
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def gpus_per_run(address: str | None = None) -> float:
    """GPU_SHARE_PER_RUN of a GPU per run of a parallel sweep where the runs will find GPUs,
    else 0 (they run on the CPU: a run asking for a share there would wait for ever, and one
    asking for none on a GPU machine is hidden from its GPUs, as Ray empties
    CUDA_VISIBLE_DEVICES).

    Resolved when Hydra sets the launcher up, before the launcher starts Ray: with no
    `address` (Ray starts here) it asks torch on this machine, as the runs will; with one, it
    connects to that cluster now (the launcher then finds the connection made) and asks it.
    """
    if not address:
        return GPU_SHARE_PER_RUN if torch.cuda.is_available() else 0.0
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)  # as conf/hydra/launcher/parallel.yaml
    return GPU_SHARE_PER_RUN if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
