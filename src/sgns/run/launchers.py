"""What the sweep configs resolve in the launching process: GPUs per run, a search's direction.

Runs of a sweep side by side through Ray (conf/hydra/launcher/parallel.yaml): Ray gives each
run its share of the machine, ``num_cpus`` cores, whose count reaches the run as
OMP_NUM_THREADS (sgns.run.auto.cores_given follows it), and ``num_gpus`` GPUs, fractional so
that several small runs share one: sgns.run.auto.gpus_per_run decides the share, through
``${sgns.gpus_per_run:}``.

An Optuna search (conf/sweep/optuna.yaml) minimises or maximises as its ``objective`` asks,
through ``${sgns.direction:${objective}}``: a loss or a time down, a score up.
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from sgns.run.summary import lower_is_better

GPUS_PER_RUN_RESOLVER = "sgns.gpus_per_run"
DIRECTION_RESOLVER = "sgns.direction"


def prepare() -> None:
    """Call before Hydra composes: registers the resolvers and sets Ray's worker priority."""
    OmegaConf.register_new_resolver(GPUS_PER_RUN_RESOLVER, _gpus_per_run, replace=True)
    OmegaConf.register_new_resolver(DIRECTION_RESOLVER, direction, replace=True)
    # Ray starts its workers at niceness 15, which starves a sweep's runs whenever anything
    # else uses the machine; the runs are the work here. Read only by a Ray instance that
    # this process starts (a cluster keeps its own setting).
    os.environ.setdefault("RAY_worker_niceness", "0")


def _gpus_per_run(address: str | None = None) -> float:
    # sgns.run.auto imports torch, seconds that a config printed (--cfg job) or refused
    # should not wait for: imported only where a parallel launcher's config is resolved.
    from sgns.run.auto import gpus_per_run

    return gpus_per_run(address)


def direction(objective: str) -> str:
    """Optuna's direction for `objective`: ``minimize`` for a loss or a time, else
    ``maximize``, as scripts/summarize.py ranks it."""
    return "minimize" if lower_is_better(objective) else "maximize"
