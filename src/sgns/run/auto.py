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
A value set explicitly (anything but ``auto``) is kept as it is, with one exception below.
Once the corpus is known, an automatic batch is cut to at most 1/MIN_STEPS_PER_EPOCH of an
epoch (`fit_batch_to_epoch`), and so is every update, however model.sgd_chunk was set
(`fit_updates_to_epoch`): the bounded row step keeps any update from diverging, but not a
run from having too few. On the bundled sample (~560k pairs an epoch, 30 epochs; the default
reaches WS353 0.550 and 0.566 at seeds 0 and 1) whole-epoch updates reach 0.41, 65,536-pair
ones 0.531 at seed 1, and 8,192-pair ones, the cut there, 0.538 and 0.552 (docs/benchmarks.md,
"Updates of at most 1/64 of an epoch").
"""

from __future__ import annotations

import torch

GPU_BATCH_SIZE = 1 << 20
CPU_BATCH_SIZE = 65_536
CPU_SGD_CHUNK = 4096
MIN_STEPS_PER_EPOCH = 64  # an automatic batch, and any update, is at most this fraction of an epoch


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


def fit_batch_to_epoch(conf: dict, datamodule, chunk_was_auto: bool) -> int:
    """Cut an automatic batch size (already resolved in `conf`) to the largest power of two
    that gives the epoch at least MIN_STEPS_PER_EPOCH steps, never below CPU_BATCH_SIZE; the
    datamodule and `conf` are updated in place, and an automatic sgd_chunk follows the batch.
    Returns the batch size."""
    batch = conf["data"]["batch_size"]
    fitted = max(CPU_BATCH_SIZE, _epoch_share(datamodule))
    if fitted >= batch:
        return batch
    datamodule.set_batch_size(fitted)
    conf["data"]["batch_size"] = fitted
    if chunk_was_auto and conf["model"]["sgd_chunk"] == batch:
        conf["model"]["sgd_chunk"] = fitted
    return fitted


def fit_updates_to_epoch(conf: dict, datamodule) -> tuple[int, int] | None:
    """Cut model.sgd_chunk (already resolved in `conf`, in place) so that one update, all
    ranks together, covers at most 1/MIN_STEPS_PER_EPOCH of an epoch, rounded down to a power
    of two, never below CPU_SGD_CHUNK (the CPU's default, which small corpora keep). Returns
    the update size asked for and the one applied when it cut, else None."""
    batch, chunk = conf["data"]["batch_size"], conf["model"]["sgd_chunk"]
    asked = min(chunk or batch, batch)  # null: the whole batch in one update
    limit = max(CPU_SGD_CHUNK, _epoch_share(datamodule))
    if asked <= limit:
        return None
    conf["model"]["sgd_chunk"] = limit
    return asked, limit


def _epoch_share(datamodule) -> int:
    """The largest power of two at most 1/MIN_STEPS_PER_EPOCH of the epoch's pairs."""
    share = int(datamodule.expected_pairs_per_epoch() / MIN_STEPS_PER_EPOCH)
    return 1 << max(0, share.bit_length() - 1)
