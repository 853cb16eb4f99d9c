"""Train / validation / test tensors of a data set: :class:`Splits`, and the seeded split that makes them."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from ._types import Device

__all__ = ["Splits"]


@dataclass(frozen=True, eq=False)  # eq=False: == on tensors is elementwise, not a bool
class Splits:
    """Train / validation / test tensors of one data set, plus its class names."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"{part}_x"), getattr(self, f"{part}_y")
            if len(x) != len(y):
                raise ValueError(f"{part}_x has {len(x)} examples but {part}_y has {len(y)}")

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.train_x, self.train_y

    @property
    def val(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.val_x, self.val_y

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.test_x, self.test_y

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "classes"}

    def to(self, device: torch.device | str) -> Splits:
        """A copy with every tensor on ``device`` (tensors already there are not copied)."""
        return replace(self, **{name: t.to(device) for name, t in self._tensors().items()})

    def subset(self, n_train: int | None = None, n_val: int | None = None, n_test: int | None = None) -> Splits:
        """The first ``n`` examples of each part (all of it for None or n larger than the part).

        Slices are views, so this costs no memory. Train and val are already in
        shuffled order, so a prefix is a random sample of them.
        """
        wanted = {"train": n_train, "val": n_val, "test": n_test}
        changes: dict[str, torch.Tensor] = {}
        for part, n in wanted.items():
            if n is None:
                continue
            if n < 0:
                raise ValueError(f"n_{part} must be >= 0 or None, got {n}")
            changes[f"{part}_x"] = getattr(self, f"{part}_x")[:n]
            changes[f"{part}_y"] = getattr(self, f"{part}_y")[:n]
        return replace(self, **changes)

    def __repr__(self) -> str:
        def part(name: str) -> str:
            x = getattr(self, f"{name}_x")
            return f"{name}={tuple(x.shape)}"

        x = self.train_x
        return (
            f"Splits({part('train')}, {part('val')}, {part('test')}, "
            f"dtype={x.dtype}, device={x.device}, classes={len(self.classes)})"
        )


def _make_splits(
    train_x: torch.Tensor,  # (N, C, H, W) uint8
    train_y: torch.Tensor,  # (N,) int64
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    classes: tuple[str, ...],
    seed: int,
    n_val: int,
    device: Device,
) -> Splits:
    """Split the training set into train/val by a seeded permutation; scale images to [0, 1]."""
    n = len(train_x)
    if not 0 <= n_val < n:
        raise ValueError(f"n_val must be in [0, {n}) for a training set of {n} examples, got {n_val}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:n_val], perm[n_val:]

    def images(x: torch.Tensor) -> torch.Tensor:
        # Move uint8 before converting: 4x less to transfer, and the division runs on the device.
        if device is not None:
            x = x.to(device)
        return x.float().div_(255)

    def labels(y: torch.Tensor) -> torch.Tensor:
        y = y.long()
        return y.to(device) if device is not None else y

    return Splits(
        # index_select: about twice as fast as x[idx] on large uint8 tensors.
        train_x=images(train_x.index_select(0, train_idx)), train_y=labels(train_y[train_idx]),
        val_x=images(train_x.index_select(0, val_idx)), val_y=labels(train_y[val_idx]),
        test_x=images(test_x), test_y=labels(test_y),
        classes=classes,
    )
