"""MNIST as in-memory tensors: :func:`mnist_splits`."""
from __future__ import annotations

from pathlib import Path

from ._types import Device, PathLike
from .locations import _download, _places, cache_dir, data_root
from .splits import Splits, _make_splits

__all__ = ["mnist_splits"]

_MNIST_CLASSES = tuple(str(d) for d in range(10))
_MNIST_FILES = tuple(f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
_MNIST_HOST = "ossci-datasets.s3.amazonaws.com"


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
    import torchvision  # slow to import; only needed here

    base_root = data_root(root)
    places = _places(base_root)
    found = next((p for p in places if _has_mnist(p)), None)
    if found is None:
        def fetch() -> Path:
            target = cache_dir(base_root)
            for train in (True, False):
                torchvision.datasets.MNIST(target, train=train, download=True)
            return target

        found = _download("MNIST", [p / "MNIST" / "raw" for p in places], download, _MNIST_HOST, fetch)
    # .data/.targets are the whole set as tensors; indexing the Dataset would decode image by image.
    train = torchvision.datasets.MNIST(found, train=True, download=False)
    test = torchvision.datasets.MNIST(found, train=False, download=False)
    return _make_splits(
        train.data.unsqueeze(1), train.targets,  # (60000, 1, 28, 28) uint8
        test.data.unsqueeze(1), test.targets,  # (10000, 1, 28, 28) uint8
        _MNIST_CLASSES, seed, n_val, device,
    )
