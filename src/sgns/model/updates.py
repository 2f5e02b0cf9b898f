"""What one closed-form SGD step hands from computing its updates to applying them: the row
updates (RowUpdates), the bound on every row's step (STEP_BOUND, see sgns.model.sgd), and the
buffers a step reuses (Workspace). Shared by the torch step (sgns.model.sgd) and the CPU's
compiled loops (sgns.model.sgd_cpu), which import it and not each other's internals.

    work = Workspace()
    u = work.get("u", (4096, 100), like=table)   # kept and reused step after step
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# A row's step is at most STEP_BOUND / L (see sgns.model.sgd's docstring). Measured on the bundled
# sample: 4 trains it without subsampling and with one 1M-pair step per epoch, and leaves the
# default runs' scores unchanged; 1 over-damps, 16 no longer holds 1M-pair steps.
STEP_BOUND = 4.0


@dataclass
class RowUpdates:
    """Summed SGD updates for rows of one table, before the per-row bound.

    ids: (M,) int64 row ids, repeats allowed; deltas: (M, D) the update of each term, the
    learning rate applied; curvature: (M,) float, each term's share of its row's L.
    """

    ids: torch.Tensor
    deltas: torch.Tensor
    curvature: torch.Tensor


class Workspace:
    """Tensors an SGD step writes its (batch, dim) intermediates into, kept between steps.

    A step of 4096 pairs at dim 100 needs a few 1.6 MB buffers. Fresh allocations that size
    are, depending on the allocator's state, mapped from and returned to the kernel every
    step, and then page faults cost as much as the arithmetic (up to 2x per step on CPU).
    """

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}

    def zeros(self, name: str, shape, like: torch.Tensor) -> torch.Tensor:
        """A tensor of `shape` that is zeroed when made; callers return it zeroed."""
        kept = self._tensors.get(name)
        tensor = self.get(name, shape, like)
        return tensor if tensor is kept else tensor.zero_()

    def get(self, name: str, shape, like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of `shape`, with `like`'s dtype and device."""
        tensor = self._tensors.get(name)
        wanted = (torch.Size(shape), like.dtype, like.device)
        if tensor is None or (tensor.shape, tensor.dtype, tensor.device) != wanted:
            tensor = self._tensors[name] = like.new_empty(shape)
        return tensor
