"""Runs of a sweep side by side through Ray (conf/hydra/launcher/parallel.yaml).

Ray gives each run its share of the machine: ``num_cpus`` cores, whose count reaches the run
as OMP_NUM_THREADS (sgns.run.train.cpu_threads follows it), and ``num_gpus`` GPUs, fractional so
that several small runs share one. The config's GPU share comes from `gpus_per_run`: where
there is no GPU, a run that asked for a share would wait for ever, and one that asks for
none on a GPU machine is hidden from its GPUs (Ray empties CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

RESOLVER = "sgns.gpus_per_run"


def gpus_per_run(share: float, address: str | None = None) -> float:
    """`share` of a GPU per run where the runs will find GPUs, else 0 (they run on the CPU).

    Resolved when Hydra sets the launcher up, before the launcher starts Ray: with no
    `address` (Ray starts here) it asks torch on this machine, as the runs will; with one, it
    connects to that cluster now (the launcher then finds the connection made) and asks it.
    """
    if not address:
        import torch  # only a parallel sweep resolves this

        return float(share) if torch.cuda.is_available() else 0.0
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)  # as conf/hydra/launcher/parallel.yaml
    return float(share) if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def prepare() -> None:
    """Call before Hydra composes: registers the resolver and sets Ray's worker priority."""
    OmegaConf.register_new_resolver(RESOLVER, gpus_per_run, replace=True)
    # Ray starts its workers at niceness 15, which starves a sweep's runs whenever anything
    # else uses the machine; the runs are the work here. Read only by a Ray instance that
    # this process starts (a cluster keeps its own setting).
    os.environ.setdefault("RAY_worker_niceness", "0")
