"""What ``auto`` means for the settings that depend on the training device.

    >>> conf = {"trainer": {"accelerator": "cpu"}, "data": {"batch_size": "auto",
    ...         "pairs_on": "auto"}, "model": {"sgd_chunk": "auto"}}
    >>> resolve_auto(conf)["data"]   # no "auto" left in batch_size, sgd_chunk, pairs_on
    {'batch_size': 65536, 'pairs_on': 'host'}
    >>> conf["model"]
    {'sgd_chunk': 4096}

A CUDA GPU wants large steps and pairs made where it trains: 1,048,576 pairs per step in one
piece (the batch rule bounds every row's step at any size, sgns.model.sgd) and pairs made on
the device (sgns.data.device_batches). A CPU keeps the settings measured there
(docs/benchmarks.md): 65,536-pair batches applied in 4,096-pair pieces, pairs made by numpy.
A value set explicitly (anything but ``auto``) is kept as it is.
"""

from __future__ import annotations

import torch

GPU_BATCH_SIZE = 1 << 20
CPU_BATCH_SIZE = 65_536
CPU_SGD_CHUNK = 4096


def trains_on_cuda(accelerator: str) -> bool:
    """Whether lightning.Trainer(accelerator=...) will train on a CUDA GPU."""
    if accelerator == "cuda":
        return True
    return accelerator in ("auto", "gpu") and torch.cuda.is_available()


def resolve_auto(conf: dict) -> dict:
    """`conf` (a plain dict) with every ``auto`` device setting replaced, in place; returned."""
    cuda = trains_on_cuda(conf["trainer"].get("accelerator", "auto"))
    data, model = conf["data"], conf["model"]
    if data.get("batch_size") == "auto":
        data["batch_size"] = GPU_BATCH_SIZE if cuda else CPU_BATCH_SIZE
    if model.get("sgd_chunk") == "auto":
        model["sgd_chunk"] = data["batch_size"] if cuda else CPU_SGD_CHUNK
    if data.get("pairs_on") == "auto":
        # Loader workers were asked for explicitly: they make pairs on the host.
        data["pairs_on"] = "device" if cuda and not data.get("num_workers") else "host"
    return conf
