"""MNIST as in-memory tensors: :func:`mnist_splits`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._types import Device, PathLike
from .locations import _download, _places, cache_dir, data_root
from .splits import Splits, _make_splits

__all__ = ["mnist_splits"]

_MNIST_CLASSES = tuple(str(d) for d in range(10))
_MNIST_FILES = tuple(f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
_MNIST_HOST = "ossci-datasets.s3.amazonaws.com"


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """An uncompressed IDX file of unsigned bytes (the MNIST format) as a uint8 tensor."""
    raw = path.read_bytes()
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + ndim or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path} is not an IDX file of {ndim}-d unsigned bytes (magic {magic:#x})")
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {body.size} bytes for a shape {shape}: truncated or corrupt")
    return torch.from_numpy(body.copy()).reshape(shape)


def _has_mnist(base: Path) -> bool:
    return all((base / "MNIST" / "raw" / name).is_file() for name in _MNIST_FILES)


def mnist_splits(
    root: PathLike | None = None,
    *,
    seed: int = 0,
    n_val: int = 10_000,
    device: Device = None,
    download: bool | None = None,
) -> Splits:
    """MNIST as tensors: train 50k / val 10k (a ``seed``-ed split of the 60k training set), test 10k.

    Images are float32 in [0, 1] of shape (N, 1, 28, 28), labels int64. The same
    seed always gives the same split. ``download``: None tries only if the
    download host answers within 3 s, False never, True always (failures raise
    :class:`DataNotFoundError`).
    """
    base_root = data_root(root)
    places = _places(base_root)
    found = next((p for p in places if _has_mnist(p)), None)
    if found is None:
        def fetch() -> Path:
            import torchvision  # slow to import; only needed to download

            target = cache_dir(base_root)
            for train in (True, False):
                torchvision.datasets.MNIST(target, train=train, download=True)
            return target

        found = _download("MNIST", [p / "MNIST" / "raw" for p in places], download, _MNIST_HOST, fetch)
    # The IDX files are read directly (torchvision's reader gives the same tensors, after a 2 s import).
    raw = found / "MNIST" / "raw"
    return _make_splits(
        read_idx(raw / "train-images-idx3-ubyte", 3).unsqueeze(1),  # (60000, 1, 28, 28) uint8
        read_idx(raw / "train-labels-idx1-ubyte", 1).long(),
        read_idx(raw / "t10k-images-idx3-ubyte", 3).unsqueeze(1),  # (10000, 1, 28, 28) uint8
        read_idx(raw / "t10k-labels-idx1-ubyte", 1).long(),
        _MNIST_CLASSES, seed, n_val, device,
    )
