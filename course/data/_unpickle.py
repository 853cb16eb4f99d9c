"""Reading CIFAR-10's python batch files with an unpickler that runs nothing but numpy's array rebuilding."""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np


def _batch_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR-10 batch file may name: what rebuilding a numpy array takes."""
    sample = np.zeros(1, dtype=np.uint8)
    reconstruct, frombuffer = sample.__reduce__()[0], sample.__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles written by Python 3
    }
    for package in ("numpy.core", "numpy._core"):  # the originals name numpy.core; numpy 2 writes numpy._core
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer  # protocol 5
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR-10's python batches that refuses every global but numpy's array rebuilding.

    The official ``cifar-10-python`` files are pickles (written by Python 2), and
    ``pickle.load`` would run whatever a tampered file names. Their content is only
    dicts, lists, strings, ints and uint8 arrays, so nothing else is allowed.
    """

    _allowed = _batch_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch file") from None


def _read_batch(path: Path) -> dict[str, object]:
    """One pickled batch (or ``batches.meta``) as a dict with str keys.

    ``encoding="latin1"`` as in torchvision: the files are Python 2 pickles whose
    strings (keys, label names, the arrays' raw bytes) are byte strings. Keys are
    str then; bytes keys (a file re-pickled by Python 3) are decoded too.
    """
    try:
        with open(path, "rb") as f:
            entry = _BatchUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{path} is not a CIFAR-10 python batch file ({type(err).__name__}: {err})") from err
    if not isinstance(entry, dict):
        raise ValueError(f"{path} is not a CIFAR-10 python batch file (it holds a {type(entry).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in entry.items()}
