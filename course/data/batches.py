"""Mini-batches of in-memory tensors: :class:`TensorBatches`, a fast stand-in for ``DataLoader``."""
from __future__ import annotations

from collections.abc import Iterator

import torch

from ._types import Device

__all__ = ["TensorBatches"]


class TensorBatches:
    """Mini-batches ``(xb, yb)`` of in-memory tensors; each ``iter()`` is one epoch.

    A fast stand-in for ``DataLoader`` when the data set is already a tensor.
    With ``shuffle``, every epoch has a new order drawn from one generator seeded
    at construction: epochs differ, yet the whole run is reproducible. The last,
    smaller batch is kept. With ``device``, batches are moved there (no copy when
    ``x`` already lives there).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        device: Device = None,
    ) -> None:
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError("x and y need a first (example) dimension; got a 0-d tensor")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same number of examples, got {len(x)} and {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = torch.device(device) if device is not None else None
        self._generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)  # ceil: the partial batch counts

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        # Draw the order now, not lazily, so epochs follow the order iter() was called in.
        perm = torch.randperm(n, generator=self._generator).to(self.x.device) if self.shuffle else None
        return self._batches(n, perm)

    def _batches(self, n: int, perm: torch.Tensor | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, n, self.batch_size):
            if perm is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]  # views
            else:
                idx = perm[start:start + self.batch_size]
                # index_select is a few times faster than x[idx] for small batches of rows.
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx.to(self.y.device))
            if self.device is not None:
                xb, yb = xb.to(self.device), yb.to(self.device)
            yield xb, yb

    def __repr__(self) -> str:
        return (f"TensorBatches(n={len(self.x)}, batch_size={self.batch_size}, batches={len(self)}, "
                f"shuffle={self.shuffle}, device={self.device})")
