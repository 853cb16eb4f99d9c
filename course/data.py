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

import codecs
import io
import os
import pickle
import socket
import stat
import tarfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

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

PathLike = Union[str, os.PathLike]
Device = Union[torch.device, str, None]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
_MNIST_CLASSES = tuple(str(d) for d in range(10))
_MNIST_FILES = tuple(f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
_CIFAR_BATCHES = "cifar-10-batches-py"
_CIFAR_JPEG_DIR = "cifar10-jpeg"
_CIFAR_TAR = "cifar10-jpeg.tar.gz"
_CIFAR_CACHE = "cifar10-uint8.pt"
# Bump when the cache's layout or decoding changes, so stale caches are rebuilt.
_CACHE_VERSION = 1
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_PROBE_TIMEOUT_S = 3.0
_MNIST_HOST = "ossci-datasets.s3.amazonaws.com"
_CIFAR_HOST = "www.cs.toronto.edu"
_LAYOUTS = {
    "MNIST": "  MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte   (uncompressed IDX files)",
    "CIFAR-10": (
        "  cifar-10-batches-py/                      (torchvision's python batches), or\n"
        "  cifar10-jpeg/{train,test}/<class>/*.jpg   (ImageFolder; also {train,test}/<class>/ directly), or\n"
        "  cifar10-jpeg.tar.gz                       (an archive of that ImageFolder, read without extracting)"
    ),
}


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places looked at, and could not be downloaded."""

    def __init__(self, dataset: str, searched: Iterable[PathLike] = (), reason: str = "") -> None:
        self.dataset = dataset
        self.searched = tuple(Path(p) for p in searched)
        self.reason = reason
        looked = "\n".join(f"  - {p}" for p in self.searched) or "  (nowhere)"
        layout = _LAYOUTS.get(dataset, "")
        message = (
            f"{dataset} data not found. Looked in:\n{looked}\n"
            f"Download: {reason or 'not attempted'}.\n"
            f"To use a local copy, set COURSE_DATA=/path/to/data (or pass root=...) "
            f"to a folder containing:\n{layout}\n"
            f"or, on a machine with internet access, pass download=True."
        )
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[str, tuple[Path, ...], str]]:
        # OSError pickles via self.args (the message); rebuild from the real fields instead.
        return (type(self), (self.dataset, self.searched, self.reason))


# --------------------------------------------------------------------------- where


def _default_cache() -> Path:
    """``COURSE_CACHE``, else ``<checkout>/data`` in a source checkout, else ``~/.cache/course/data``."""
    env = os.environ.get("COURSE_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    # data/README.md only exists in a git checkout, never in an installed wheel.
    if (checkout_data / "README.md").is_file():
        return checkout_data
    return (Path.home() / ".cache" / "course" / "data").resolve()


def data_root(root: PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else env ``COURSE_DATA``, else the default cache.

    The default cache is ``COURSE_CACHE`` if set, else the repository's ``data/``
    folder when ``course`` is imported from a source checkout, else
    ``~/.cache/course/data``. The result is absolute; it may not exist yet.
    """
    if root is None:
        env = os.environ.get("COURSE_DATA")
        if not env:
            return _default_cache()
        root = env
    return Path(root).expanduser().resolve()


def _is_writable(path: Path) -> bool:
    """Whether files may be created in ``path`` (or, if missing, in its nearest existing parent).

    Permission bits are honoured even for root: CI containers run as root, and a
    shared read-only copy (chmod a-w) must not be written into just because root could.
    """
    p = path
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    if not p.is_dir():
        return False
    return bool(p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(p, os.W_OK)


def _cache_target(root: Path) -> Path:
    return root if _is_writable(root) else _default_cache()


def cache_dir(root: PathLike | None = None) -> Path:
    """Folder for decoded caches: the data root if writable, else the default cache. Created."""
    target = _cache_target(data_root(root))
    target.mkdir(parents=True, exist_ok=True)
    return target


def _places(root: Path) -> list[Path]:
    """The data root, then (if different) where its caches and downloads go."""
    target = _cache_target(root)
    return [root] if target == root else [root, target]


# --------------------------------------------------------------------------- downloads


def _can_reach(host: str, port: int = 443, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """True if a TCP connection to ``host`` opens within ``timeout`` seconds.

    Runs in a daemon thread because DNS lookups ignore socket timeouts and can
    hang far longer than ``timeout`` on offline machines.
    """
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name=f"probe-{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer) and answer[0]


def _download(dataset: str, searched: list[Path], download: bool | None, host: str, fetch: Callable[[], Path]) -> Path:
    """Run ``fetch`` if ``download`` allows it; turn every way of failing into DataNotFoundError."""
    if download is False:
        raise DataNotFoundError(dataset, searched, "disabled (download=False), so nothing was downloaded")
    if download is None and not _can_reach(host):
        raise DataNotFoundError(
            dataset, searched,
            f"impossible: {host} did not answer within {_PROBE_TIMEOUT_S:g} s (offline?), so nothing was downloaded",
        )
    try:
        return fetch()
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError; torchvision raises RuntimeError
        raise DataNotFoundError(dataset, searched, f"failed ({type(err).__name__}: {err})") from err


# --------------------------------------------------------------------------- splits


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


# --------------------------------------------------------------------------- MNIST


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


# --------------------------------------------------------------------------- CIFAR-10


def _has_cifar_batches(base: Path) -> bool:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    return all((base / _CIFAR_BATCHES / name).is_file() for name in names)


def _find_jpegs(root: Path) -> tuple[str, Path] | None:
    """``("folder", path)`` or ``("tar", path)`` for a JPEG copy of CIFAR-10 under ``root``."""
    for folder in (root / _CIFAR_JPEG_DIR, root):
        if (folder / "test").is_dir() and any((folder / "train" / c).is_dir() for c in CIFAR10_CLASSES):
            return "folder", folder
    if (root / _CIFAR_TAR).is_file():
        return "tar", root / _CIFAR_TAR
    return None


def _source_id(kind: str, path: Path) -> str:
    """Identifies the decoded source inside the cache, so a different copy is not served stale."""
    size = path.stat().st_size if kind == "tar" else 0
    return f"{kind}:{path.resolve()}:{size}"


def _decode_image(data: bytes, where: str) -> np.ndarray:
    """One image file's bytes -> (32, 32, 3) uint8."""
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image.convert("RGB"))
    if array.shape != (32, 32, 3):
        raise ValueError(f"{where}: expected a 32x32 image, got {array.shape[1]}x{array.shape[0]}")
    return array


def _label(split: str, cls: str, where: str) -> int | None:
    """Class index of a file at ``<split>/<cls>/...``; None for files outside train/ and test/."""
    if split not in ("train", "test"):
        return None
    if cls not in CIFAR10_CLASSES:
        raise ValueError(f"{where}: {cls!r} is not a CIFAR-10 class (expected one of {', '.join(CIFAR10_CLASSES)})")
    return CIFAR10_CLASSES.index(cls)


Record = tuple[str, int, str, np.ndarray]  # (split, label, name, (32, 32, 3) uint8)


def _read_tar(path: Path) -> list[Record]:
    records: list[Record] = []
    size = path.stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"decoding {path.name} (once)", mininterval=0.5)
    with open(path, "rb") as raw, bar:
        # Streaming mode ("r|gz"): one pass, nothing extracted to disk (the root may be read-only).
        with tarfile.open(fileobj=raw, mode="r|gz") as archive:
            for member in archive:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) < 3 or not member.name.lower().endswith(_IMAGE_SUFFIXES):
                    continue
                where = f"{path}:{member.name}"
                label = _label(parts[-3], parts[-2], where)
                handle = archive.extractfile(member)
                if label is None or handle is None:
                    continue
                records.append((parts[-3], label, parts[-1], _decode_image(handle.read(), where)))
                bar.update(raw.tell() - bar.n)
    return records


def _read_folder(folder: Path) -> list[Record]:
    files = [
        (split, cls_dir, f)
        for split in ("train", "test")
        for cls_dir in sorted(p for p in (folder / split).iterdir() if p.is_dir())
        for f in sorted(cls_dir.iterdir())
        if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    records: list[Record] = []
    for split, cls_dir, f in tqdm(files, unit="img", desc=f"decoding {folder.name}/ (once)", mininterval=0.5):
        label = _label(split, cls_dir.name, str(f))
        if label is not None:
            records.append((split, label, f.name, _decode_image(f.read_bytes(), str(f))))
    return records


def _assemble(records: list[Record], source: str) -> dict[str, object]:
    """Records -> the cache payload: uint8 (N, 3, 32, 32) images and int64 labels per split."""
    payload: dict[str, object] = {"version": _CACHE_VERSION, "source": source, "classes": list(CIFAR10_CLASSES)}
    for split in ("train", "test"):
        rows = sorted((r for r in records if r[0] == split), key=lambda r: (r[1], r[2]))
        present = {r[1] for r in rows}
        if len(present) != len(CIFAR10_CLASSES):
            missing = [c for i, c in enumerate(CIFAR10_CLASSES) if i not in present]
            raise ValueError(f"{source}: the {split} split has no images of class(es) {', '.join(missing)}")
        # Folders are sorted by class; a fixed shuffle (independent of the split seed) makes any
        # prefix, e.g. Splits.subset's, mix all classes, like torchvision's batch files do.
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).tolist()
        x = np.stack([rows[i][3] for i in order])  # (N, 32, 32, 3)
        payload[f"{split}_x"] = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
        payload[f"{split}_y"] = torch.tensor([rows[i][1] for i in order], dtype=torch.int64)
    return payload


def _load_cache(path: Path, source: str | None) -> dict[str, object] | None:
    """The cache at ``path`` if it is current (and built from ``source`` when one is known), else None."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file fails in many ways; all mean "rebuild"
        warnings.warn(f"ignoring unreadable cache {path}: {err}", stacklevel=3)
        return None
    if not isinstance(payload, dict) or payload.get("version") != _CACHE_VERSION:
        return None
    if source is not None and payload.get("source") != source:
        return None
    return payload


def _save_cache(payload: dict[str, object], directory: Path) -> None:
    path = directory / _CIFAR_CACHE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warnings.warn(f"could not write the CIFAR-10 cache to {path} ({err}); it will be decoded again next time",
                      stacklevel=3)


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


def _cifar_from_batches(base: Path) -> dict[str, object]:
    """The python batch files in ``base/cifar-10-batches-py`` -> the same payload the JPEG cache holds.

    The files are read here rather than through ``torchvision.datasets.CIFAR10``,
    which checks each file's md5 against the original download and refuses any
    other copy (a re-packed or cut-down one, or a test's). Each ``data`` row is one
    image: 1024 red, then 1024 green, then 1024 blue values, each plane 32x32 row by
    row, so a reshape to (N, 3, 32, 32) is already channels-first.
    """
    folder = base / _CIFAR_BATCHES
    meta_path = folder / "batches.meta"
    names = _read_batch(meta_path).get("label_names")
    names = [n.decode("latin1") if isinstance(n, bytes) else n for n in names] if isinstance(names, list) else names
    if names != list(CIFAR10_CLASSES):
        raise ValueError(f"{meta_path}: label_names are {names!r}, not the CIFAR-10 classes {list(CIFAR10_CLASSES)}")
    payload: dict[str, object] = {"classes": list(CIFAR10_CLASSES)}
    for split, files in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        images, labels = [], []
        for name in files:
            path = folder / name
            entry = _read_batch(path)
            data, targets = entry.get("data"), entry.get("labels")
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
                raise ValueError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got {got}")
            try:
                targets = np.asarray(targets, dtype=np.int64)
                in_range = targets.size == 0 or 0 <= targets.min() <= targets.max() < 10
                valid = targets.shape == (len(data),) and in_range
            except (TypeError, ValueError):  # None, strings, ragged lists
                valid = False
            if not valid:
                raise ValueError(f"{path}: 'labels' must be a list of {len(data)} class indices in [0, 10)")
            images.append(data)
            labels.append(targets)
        x = np.concatenate(images).reshape(-1, 3, 32, 32)  # a copy: writable, contiguous
        payload[f"{split}_x"] = torch.from_numpy(x)  # (N, 3, 32, 32) uint8
        payload[f"{split}_y"] = torch.from_numpy(np.concatenate(labels))  # (N,) int64
    return payload


def _cifar_uint8(root: Path, download: bool | None) -> dict[str, object]:
    """CIFAR-10 as uint8 tensors, from the first source found (see :func:`cifar10_splits`)."""
    places = _places(root)
    for place in places:
        if _has_cifar_batches(place):
            return _cifar_from_batches(place)
    jpegs = _find_jpegs(root)
    source = _source_id(*jpegs) if jpegs is not None else None
    for place in places:
        cached = _load_cache(place / _CIFAR_CACHE, source)
        if cached is not None:
            return cached
    if jpegs is not None:
        kind, path = jpegs
        records = _read_tar(path) if kind == "tar" else _read_folder(path)
        payload = _assemble(records, _source_id(kind, path))
        _save_cache(payload, cache_dir(root))
        return payload

    def fetch() -> Path:
        import torchvision

        target = cache_dir(root)
        torchvision.datasets.CIFAR10(target, train=True, download=True)  # fetches train and test
        return target

    searched = [p / _CIFAR_BATCHES for p in places] + [p / _CIFAR_CACHE for p in places]
    searched += [root / _CIFAR_JPEG_DIR, root / "train", root / _CIFAR_TAR]
    return _cifar_from_batches(_download("CIFAR-10", searched, download, _CIFAR_HOST, fetch))


def cifar10_splits(
    root: PathLike | None = None,
    *,
    seed: int = 0,
    n_val: int = 5_000,
    device: Device = None,
    download: bool | None = None,
) -> Splits:
    """CIFAR-10 as tensors: train 45k / val 5k (a ``seed``-ed split of the 50k training set), test 10k.

    Images are float32 in [0, 1] of shape (N, 3, 32, 32), labels int64, classes in
    the standard order (:data:`CIFAR10_CLASSES`). Sources, first found wins:
    torchvision's ``cifar-10-batches-py/``; a JPEG ImageFolder
    (``cifar10-jpeg/{train,test}/<class>/``, or ``{train,test}/<class>/``) or
    the archive ``cifar10-jpeg.tar.gz``, decoded once into ``cifar10-uint8.pt``
    in :func:`cache_dir` and loaded from there afterwards; else a download (see
    :func:`mnist_splits` for ``download``).
    """
    data = _cifar_uint8(data_root(root), download)
    return _make_splits(
        data["train_x"], data["train_y"], data["test_x"], data["test_y"],  # type: ignore[arg-type]
        CIFAR10_CLASSES, seed, n_val, device,
    )


# --------------------------------------------------------------------------- batches


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
