"""Data sets as in-memory tensors: MNIST and CIFAR-10 splits, and a fast batch iterator.

Both data sets fit in memory, so instead of a ``Dataset`` that decodes one image
at a time, each loader returns a :class:`Splits` of ready-to-use float tensors
(train / validation / test), and :class:`TensorBatches` cuts them into shuffled
mini-batches. That is one to two orders of magnitude faster than a
``DataLoader`` with ``ToTensor()``, which matters on laptops and CI machines.

Where data is looked for (see :func:`data_root`): the ``root=`` argument, else
the ``COURSE_DATA`` environment variable, else a default cache folder. Nothing
is downloaded unless the download host answers (or ``download=True``); when no
copy is found a :class:`DataNotFoundError` says where it looked and what to do.
"""
from __future__ import annotations

from .batches import TensorBatches
from .cifar10 import CIFAR10_CLASSES, cifar10_splits
from .locations import DataNotFoundError, cache_dir, data_root
from .mnist import mnist_splits
from .splits import Splits

__all__ = [
    "CIFAR10_CLASSES",
    "DataNotFoundError",
    "Splits",
    "TensorBatches",
    "cache_dir",
    "cifar10_splits",
    "data_root",
    "mnist_splits",
]
