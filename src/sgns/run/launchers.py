"""Runs of a sweep side by side through Ray (conf/hydra/launcher/parallel.yaml).

Ray gives each run its share of the machine: ``num_cpus`` cores, whose count reaches the run
as OMP_NUM_THREADS (sgns.run.auto.cores_given follows it), and ``num_gpus`` GPUs, fractional
so that several small runs share one: sgns.run.auto.gpus_per_run decides the share, through
the resolver `prepare` registers.
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

GPUS_PER_RUN_RESOLVER = "sgns.gpus_per_run"


def prepare() -> None:
    """Call before Hydra composes: registers the resolver and sets Ray's worker priority."""
    OmegaConf.register_new_resolver(GPUS_PER_RUN_RESOLVER, _gpus_per_run, replace=True)
    # Ray starts its workers at niceness 15, which starves a sweep's runs whenever anything
    # else uses the machine; the runs are the work here. Read only by a Ray instance that
    # this process starts (a cluster keeps its own setting).
    os.environ.setdefault("RAY_worker_niceness", "0")


def _gpus_per_run(address: str | None = None) -> float:
    # sgns.run.auto imports torch, seconds that a config printed (--cfg job) or refused
    # should not wait for: imported only where a parallel launcher's config is resolved.
    from sgns.run.auto import gpus_per_run

    return gpus_per_run(address)
