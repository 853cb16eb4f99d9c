"""Tests for course.data: where data is found, MNIST/CIFAR-10 splits, caches, batches.

Real-data tests read the offline copies in ``COURSE_DATA`` (CI sets it), else in
``../shared/data`` next to the checkout; without either they are skipped.
"""
from __future__ import annotations

import os
import pickle
import socket
import struct
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import course.data.cifar10 as cifar10_module
import course.data.locations as locations
from course.data import (
    CIFAR10_CLASSES,
    DataNotFoundError,
    Splits,
    TensorBatches,
    cache_dir,
    cifar10_splits,
    data_root,
    mnist_splits,
)


def _real_data() -> Path | None:
    env = os.environ.get("COURSE_DATA")
    if env:
        return Path(env).expanduser().resolve()  # set but wrong should fail loudly, not skip
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    return shared if shared.is_dir() else None


REAL = _real_data()
needs_real = pytest.mark.skipif(
    REAL is None, reason="no offline data: set COURSE_DATA to a folder with MNIST/raw and cifar10-jpeg.tar.gz"
)
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may write caches into the checkout's data/ or ~/.cache."""
    cache = tmp_path / "course-cache"
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    return cache


def _counts(y: torch.Tensor, n: int = 10) -> list[int]:
    return torch.bincount(y, minlength=n).tolist()


# ---------------------------------------------------------------- data_root / cache_dir


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg, env, cache = tmp_path / "arg", tmp_path / "env", tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA", str(env))
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    assert data_root(arg) == arg  # argument beats env
    assert data_root(str(arg)) == arg
    assert data_root() == env  # env beats default
    monkeypatch.delenv("COURSE_DATA")
    assert data_root() == cache  # COURSE_CACHE redirects the default
    monkeypatch.delenv("COURSE_CACHE")
    checkout = Path(locations.__file__).resolve().parents[2] / "data"
    expected = checkout if (checkout / "README.md").is_file() else Path.home() / ".cache" / "course" / "data"
    assert data_root() == expected.resolve()


def test_data_root_is_absolute_and_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_root("rel") == tmp_path.resolve() / "rel"
    assert data_root("~/x") == Path.home().resolve() / "x"
    monkeypatch.setenv("COURSE_DATA", "")  # empty counts as unset
    assert data_root() == Path(os.environ["COURSE_CACHE"]).resolve()


def test_cache_dir_writable_root_is_used_and_created(tmp_path: Path) -> None:
    root = tmp_path / "new" / "root"
    assert cache_dir(root) == root and root.is_dir()


def test_cache_dir_read_only_root_falls_back(tmp_path: Path, _isolated_cache: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)  # honoured even when the tests run as root
    try:
        assert cache_dir(root) == _isolated_cache and _isolated_cache.is_dir()
    finally:
        root.chmod(0o755)


# ---------------------------------------------------------------- MNIST


@pytest.fixture(scope="module")
def mnist() -> Splits:
    if REAL is None:
        pytest.skip("no offline data: set COURSE_DATA")
    return mnist_splits(REAL, download=False)


@needs_real
def test_mnist_shapes_dtypes_ranges(mnist: Splits) -> None:
    for (x, y), n in ((mnist.train, 50_000), (mnist.val, 10_000), (mnist.test, 10_000)):
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
        assert y.shape == (n,) and y.dtype == torch.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert 0 <= int(y.min()) and int(y.max()) <= 9
    assert mnist.classes == tuple("0123456789")
    assert mnist.train[0] is mnist.train_x and mnist.test[1] is mnist.test_y


@needs_real
def test_mnist_label_counts(mnist: Splits) -> None:
    assert _counts(mnist.test_y) == MNIST_TEST_COUNTS
    assert [a + b for a, b in zip(_counts(mnist.train_y), _counts(mnist.val_y))] == MNIST_TRAIN_COUNTS


@needs_real
def test_mnist_split_is_seeded(mnist: Splits) -> None:
    again = mnist_splits(REAL, seed=0, download=False)
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(again, name), getattr(mnist, name)), name
    other = mnist_splits(REAL, seed=1, download=False)
    assert not torch.equal(other.val_y, mnist.val_y)
    assert not torch.equal(other.val_x, mnist.val_x)
    assert torch.equal(other.test_x, mnist.test_x)  # the test set never depends on the seed


def _keys(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One int64 per (image, label): a random linear hash of the uint8 pixels, times 10, plus the label."""
    u8 = x if x.dtype == torch.uint8 else (x * 255).round().to(torch.uint8)
    flat = u8.reshape(len(u8), -1).long()
    w = torch.randint(1, 2**31, (flat.shape[1],), generator=torch.Generator().manual_seed(0))
    return (flat * w).sum(1) * 10 + y  # max 784 * 255 * 2**31 * 10, far below 2**63


@needs_real
def test_mnist_train_val_partition_the_training_set(mnist: Splits) -> None:
    import torchvision

    full = torchvision.datasets.MNIST(REAL, train=True, download=False)
    full_keys = _keys(full.data, full.targets)
    assert len(torch.unique(full_keys)) == 60_000  # MNIST has no duplicate images, so keys identify them
    train_keys, val_keys = _keys(*mnist.train), _keys(*mnist.val)
    assert not set(train_keys.tolist()) & set(val_keys.tolist())
    assert torch.equal(torch.sort(torch.cat([train_keys, val_keys])).values, torch.sort(full_keys).values)
    test = torchvision.datasets.MNIST(REAL, train=False, download=False)
    assert torch.equal(_keys(*mnist.test), _keys(test.data, test.targets))  # test set, in its own order


@needs_real
def test_mnist_n_val_and_device() -> None:
    s = mnist_splits(REAL, n_val=1_000, device="cpu", download=False)
    assert len(s.train_x) == 59_000 and len(s.val_x) == 1_000 and s.train_x.device.type == "cpu"
    with pytest.raises(ValueError, match="n_val"):
        mnist_splits(REAL, n_val=60_000, download=False)


def test_mnist_missing_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        mnist_splits(tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "COURSE_DATA" in message and "root=" in message and "download=False" in message
    assert "MNIST/raw/" in message
    copy = pickle.loads(pickle.dumps(info.value))  # e.g. raised in a DataLoader worker or subprocess
    assert isinstance(copy, DataNotFoundError) and str(copy) == message


def test_missing_error_names_course_data_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        mnist_splits(download=False)


def test_download_none_skips_unreachable_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locations, "_can_reach", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(DataNotFoundError, match="did not answer"):
        mnist_splits(tmp_path)
    with pytest.raises(DataNotFoundError, match="did not answer"):
        cifar10_splits(tmp_path)
    assert time.perf_counter() - start < 5


def test_download_true_failure_is_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    def broken(self: object) -> None:
        raise RuntimeError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", broken)
    with pytest.raises(DataNotFoundError, match="network is unreachable") as info:
        mnist_splits(tmp_path, download=True)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_can_reach_never_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(*args: object, **kwargs: object) -> socket.socket:
        release.wait(30)  # like a DNS lookup that ignores the socket timeout
        raise OSError("gave up")

    monkeypatch.setattr(socket, "create_connection", stuck)
    start = time.perf_counter()
    try:
        assert locations._can_reach("example.invalid", timeout=0.5) is False
        assert time.perf_counter() - start < 2
    finally:
        release.set()


def test_can_reach_local_ports() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert locations._can_reach("127.0.0.1", server.getsockname()[1], timeout=2) is True
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        assert locations._can_reach("127.0.0.1", closed.getsockname()[1], timeout=2) is False


# ---------------------------------------------------------------- Splits


def _toy_splits() -> Splits:
    def part(n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.arange(offset, offset + n, dtype=torch.float32).reshape(n, 1, 1, 1), torch.arange(n) % 3

    (tx, ty), (vx, vy), (sx, sy) = part(10, 0), part(4, 100), part(6, 200)
    return Splits(tx, ty, vx, vy, sx, sy, classes=("a", "b", "c"))


def test_splits_subset() -> None:
    s = _toy_splits()
    sub = s.subset(3, n_test=2)
    assert [len(t) for t in (sub.train_x, sub.train_y, sub.val_x, sub.test_x, sub.test_y)] == [3, 3, 4, 2, 2]
    assert torch.equal(sub.train_x, s.train_x[:3]) and torch.equal(sub.test_y, s.test_y[:2])
    assert sub.train_x.data_ptr() == s.train_x.data_ptr()  # a view, not a copy
    assert len(s.subset(n_val=100).val_x) == 4  # more than there is: all of it
    assert sub.classes == s.classes and len(s.train_x) == 10  # the original is untouched
    with pytest.raises(ValueError, match="n_train"):
        s.subset(-1)


def test_splits_to_and_repr() -> None:
    s = _toy_splits()
    moved = s.to("meta")  # a real device move that needs no GPU
    assert all(getattr(moved, n).device.type == "meta" for n in ("train_x", "val_y", "test_x"))
    assert s.train_x.device.type == "cpu" and moved.classes == s.classes
    same = s.to("cpu")
    assert same.train_x is s.train_x  # already there: no copy
    text = repr(s)
    assert "tensor(" not in text and "(10, 1, 1, 1)" in text and "(6, 1, 1, 1)" in text
    with pytest.raises(ValueError, match="val_x has 4 examples but val_y has 3"):
        Splits(s.train_x, s.train_y, s.val_x, s.val_y[:3], s.test_x, s.test_y, classes=s.classes)


@needs_real
def test_mnist_subset(mnist: Splits) -> None:
    sub = mnist.subset(1_000, 500, 200)
    assert (len(sub.train_x), len(sub.val_y), len(sub.test_x)) == (1_000, 500, 200)
    assert len(set(sub.train_y.tolist())) == 10  # train is shuffled, so a prefix has every digit


# ---------------------------------------------------------------- TensorBatches


def _xy(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1).repeat(1, 3)  # (n, 3), row i is all i
    return x, torch.arange(n) * 2


def _epoch(batches: TensorBatches) -> list[int]:
    return [int(v) for xb, _ in batches for v in xb[:, 0]]


def test_batches_cover_every_example_once_and_keep_last() -> None:
    x, y = _xy(10)
    batches = TensorBatches(x, y, 4, seed=0)
    assert len(batches) == 3
    for _ in range(3):
        sizes, seen = [], []
        for xb, yb in batches:
            sizes.append(len(xb))
            assert torch.equal(yb, xb[:, 0].long() * 2)  # pairs stay together
            seen += xb[:, 0].long().tolist()
        assert sizes == [4, 4, 2] and sorted(seen) == list(range(10))


def test_batches_are_reproducible_and_epochs_differ() -> None:
    x, y = _xy(100)
    a, b = TensorBatches(x, y, 16, seed=3), TensorBatches(x, y, 16, seed=3)
    run_a, run_b = [_epoch(a) for _ in range(3)], [_epoch(b) for _ in range(3)]
    assert run_a == run_b
    assert run_a[0] != run_a[1] != run_a[2]
    assert run_a[0] != list(range(100))
    assert _epoch(TensorBatches(x, y, 16, seed=4)) != run_a[0]


def test_batches_without_shuffle_are_views_in_order() -> None:
    x, y = _xy(7)
    batches = TensorBatches(x, y, 3, shuffle=False, device="cpu")
    assert _epoch(batches) == list(range(7)) == _epoch(batches)
    xb, _ = next(iter(batches))
    assert xb.data_ptr() == x.data_ptr()  # already on the device: no copy
    assert len(TensorBatches(x, y, 100)) == 1 and len(TensorBatches(x[:0], y[:0], 4)) == 0


def test_batches_move_to_device() -> None:
    x, y = _xy(5)
    xb, yb = next(iter(TensorBatches(x, y, 2, device="meta")))
    assert xb.device.type == "meta" and yb.device.type == "meta" and xb.shape == (2, 3)


def test_batches_validate_inputs() -> None:
    x, y = _xy(5)
    with pytest.raises(ValueError, match="same number of examples, got 5 and 4"):
        TensorBatches(x, y[:4], 2)
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            TensorBatches(x, y, bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TensorBatches(x.tolist(), y, 2)  # type: ignore[arg-type]


# ---------------------------------------------------------------- CIFAR-10 (synthetic)

# One flat colour per class, far enough apart to survive JPEG: lets tests check labels match images.
COLOURS = [(25 * i, 240 - 20 * i, 60 + 15 * i) for i in range(10)]


def _make_tree(folder: Path, n_train: int = 3, n_test: int = 2) -> None:
    for split, n in (("train", n_train), ("test", n_test)):
        for label, cls in enumerate(CIFAR10_CLASSES):
            d = folder / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), COLOURS[label]).save(d / f"{i:04d}.jpg", quality=95)


@pytest.fixture
def cifar_tar(tmp_path: Path) -> Path:
    """A root holding only ``cifar10-jpeg.tar.gz`` with 3 train + 2 test images per class."""
    _make_tree(tmp_path / "build" / "cifar10-jpeg")
    root = tmp_path / "tar-root"
    root.mkdir()
    with tarfile.open(root / "cifar10-jpeg.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "build" / "cifar10-jpeg", arcname="cifar10-jpeg")
    return root


def _check_toy_cifar(s: Splits, n_val: int = 6) -> None:
    assert s.train_x.shape == (30 - n_val, 3, 32, 32) and s.val_x.shape == (n_val, 3, 32, 32)
    assert s.test_x.shape == (20, 3, 32, 32) and s.test_y.dtype == torch.int64 and s.train_x.dtype == torch.float32
    assert s.classes == CIFAR10_CLASSES
    assert _counts(s.test_y) == [2] * 10
    assert [a + b for a, b in zip(_counts(s.train_y), _counts(s.val_y))] == [3] * 10
    for x, y in (s.train, s.val, s.test):
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        colours = torch.tensor(COLOURS, dtype=torch.float32)[y]  # (N, 3)
        assert torch.allclose(x.mean(dim=(2, 3)) * 255, colours, atol=6)  # each image has its label's colour
    assert len(set(s.test_y[:10].tolist())) > 1  # stored order mixes classes, so prefixes do too


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("decoded JPEGs although a cache exists")

    monkeypatch.setattr(cifar10_module, "_decode_image", fail)


def _count_decoding(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Images decoded from now on, as ``calls["decoded"]``."""
    calls = Counter[str]()
    decode = cifar10_module._decode_image

    def counting(data: bytes, where: str) -> object:
        calls["decoded"] += 1
        return decode(data, where)

    monkeypatch.setattr(cifar10_module, "_decode_image", counting)
    return calls


def test_cifar_tar_decodes_once_then_uses_cache(cifar_tar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cifar10_splits(cifar_tar, n_val=6, download=False)
    _check_toy_cifar(first)
    assert (cifar_tar / "cifar10-uint8.pt").is_file()  # the root is writable, so the cache sits there
    assert not (cifar_tar / "cifar10-jpeg").exists()  # nothing extracted
    _forbid_decoding(monkeypatch)
    second = cifar10_splits(cifar_tar, n_val=6, download=False)
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    other = cifar10_splits(cifar_tar, n_val=6, seed=1, download=False)
    assert not torch.equal(other.train_y, first.train_y)


@pytest.mark.parametrize("layout", ["cifar10-jpeg", "."])
def test_cifar_folder_layouts_match_tar(tmp_path: Path, cifar_tar: Path, layout: str) -> None:
    root = tmp_path / "folder-root"
    _make_tree(root / layout)
    from_folder = cifar10_splits(root, n_val=6, download=False)
    _check_toy_cifar(from_folder)
    from_tar = cifar10_splits(cifar_tar, n_val=6, download=False)
    assert torch.equal(from_folder.test_x, from_tar.test_x) and torch.equal(from_folder.val_y, from_tar.val_y)
    assert (root / "cifar10-uint8.pt").is_file()


def test_cifar_read_only_root_caches_in_course_cache(
    cifar_tar: Path, _isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cifar_tar.chmod(0o555)
    try:
        first = cifar10_splits(cifar_tar, n_val=6, download=False)
        assert not (cifar_tar / "cifar10-uint8.pt").exists()
        assert (_isolated_cache / "cifar10-uint8.pt").is_file()
        _forbid_decoding(monkeypatch)
        assert torch.equal(cifar10_splits(cifar_tar, n_val=6, download=False).val_x, first.val_x)
    finally:
        cifar_tar.chmod(0o755)


def test_cifar_stale_cache_is_rebuilt(cifar_tar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save({"version": -1}, cifar_tar / "cifar10-uint8.pt")
    calls = _count_decoding(monkeypatch)
    _check_toy_cifar(cifar10_splits(cifar_tar, n_val=6, download=False))
    assert calls["decoded"] == 50
    assert torch.load(cifar_tar / "cifar10-uint8.pt", weights_only=True)["version"] == cifar10_module._CACHE_VERSION


def test_cifar_cache_follows_the_archive_bytes_not_its_path(cifar_tar: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the archive elsewhere reuses the cache; an archive of the same size but other bytes is decoded."""
    first = cifar10_splits(cifar_tar, n_val=6, download=False)           # decodes, caches beside the archive
    moved = tmp_path / "moved"
    moved.mkdir()
    (cifar_tar / "cifar10-jpeg.tar.gz").rename(moved / "cifar10-jpeg.tar.gz")
    (cifar_tar / "cifar10-uint8.pt").rename(moved / "cifar10-uint8.pt")
    with monkeypatch.context() as m:
        _forbid_decoding(m)
        again = cifar10_splits(moved, n_val=6, download=False)
    assert torch.equal(again.train_x, first.train_x)

    archive = moved / "cifar10-jpeg.tar.gz"
    data = bytearray(archive.read_bytes())
    data[4] ^= 0xFF                       # the gzip header's timestamp: same size and images, other bytes
    archive.write_bytes(bytes(data))
    calls = _count_decoding(monkeypatch)
    third = cifar10_splits(moved, n_val=6, download=False)   # another archive: decoded, not served from the cache
    assert calls["decoded"] == 50 and torch.equal(third.train_x, first.train_x)


def test_cifar_rejects_unknown_class_folder(tmp_path: Path) -> None:
    _make_tree(tmp_path / "cifar10-jpeg", n_train=1, n_test=1)
    (tmp_path / "cifar10-jpeg" / "train" / "zebra").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "cifar10-jpeg" / "train" / "zebra" / "0.jpg")
    with pytest.raises(ValueError, match="'zebra' is not a CIFAR-10 class"):
        cifar10_splits(tmp_path, n_val=1, download=False)


def test_cifar_missing_raises_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        cifar10_splits(tmp_path, download=False)
    message = str(info.value)
    for expected in ("CIFAR-10", str(tmp_path / "cifar10-jpeg.tar.gz"), "cifar-10-batches-py", "COURSE_DATA"):
        assert expected in message


# ---------------------------------------------------------------- CIFAR-10 (torchvision's python batches)


class _Python2Pickler(pickle._Pickler):
    """Pickles the way Python 2's cPickle wrote the CIFAR-10 python batches.

    Protocol 2; byte strings (the keys, label names and an array's raw bytes) as
    Python 2 ``str`` (SHORT_BINSTRING/BINSTRING), which ``encoding="latin1"`` turns
    into ``str`` and ``encoding="bytes"`` into ``bytes`` (hence b'data' in the
    dataset's own unpickling example); numpy's globals under their Python 2 era
    names (``numpy.core.multiarray._reconstruct``).
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:  # numpy's dtype state ('u1', '|') was Python 2 str as well
        self.save_bytes(obj.encode("latin1"))

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def _dump_py2(obj: object, path: Path) -> None:
    with open(path, "wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


def _dump_py3(obj: object, path: Path) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


BATCH_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _write_cifar_batches(root: Path, n: int = 20, dump: Callable[[object, Path], None] = _dump_py2,
                         ) -> dict[str, tuple[np.ndarray, list[int]]]:
    """A small ``cifar-10-batches-py/`` (``n`` images per batch) in the official format; returns what was written.

    Image 0 of ``test_batch`` is a probe: red = 7 * row, green = 7 * column, blue = 200.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for number, name in enumerate(BATCH_FILES, start=1):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)  # one row per image: R, G, B planes, 32x32 each
        labels = [int(v) for v in rng.integers(0, 10, n)]
        if name == "test_batch":
            rows, cols = np.mgrid[0:32, 0:32]
            data[0] = np.concatenate([(7 * rows).ravel(), (7 * cols).ravel(), np.full(1024, 200)]).astype(np.uint8)
        description = "testing batch 1 of 1" if name == "test_batch" else f"training batch {number} of 5"
        dump({b"batch_label": description.encode(), b"labels": labels, b"data": data,
              b"filenames": [f"img_{number}_{i}.png".encode() for i in range(n)]}, folder / name)
        written[name] = (data, labels)
    dump({b"num_cases_per_batch": n, b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072},
         folder / "batches.meta")
    return written


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).numpy()


def test_cifar_batches_are_read_with_the_right_layout(tmp_path: Path) -> None:
    written = _write_cifar_batches(tmp_path, n=20)
    s = cifar10_splits(tmp_path, n_val=7, download=False)
    assert s.classes == CIFAR10_CLASSES
    assert s.train_x.shape == (93, 3, 32, 32) and s.val_x.shape == (7, 3, 32, 32) and s.test_x.shape == (20, 3, 32, 32)
    assert s.train_y.shape == (93,) and s.val_y.shape == (7,) and s.test_y.shape == (20,)
    for x, y in (s.train, s.val, s.test):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # The probe image: channel 0 is red and varies down the rows, channel 1 green across the columns.
    probe = s.test_x[0] * 255
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    assert torch.allclose(probe[0], 7 * rows) and torch.allclose(probe[1], 7 * cols)
    assert torch.allclose(probe[2], torch.full((32, 32), 200.0))
    assert float(s.test_x[0, 0, 3, 1]) == pytest.approx(21 / 255)  # red, row 3, column 1
    # The test set in file order; every pixel and label as written.
    test_data, test_labels = written["test_batch"]
    assert np.array_equal(_u8(s.test_x).reshape(20, 3072), test_data)
    assert s.test_y.tolist() == test_labels
    # Train + val: the 100 written training images, each once and with its own label.
    expected = {}
    for name in BATCH_FILES[:5]:
        data, labels = written[name]
        expected.update({row.tobytes(): label for row, label in zip(data, labels)})
    assert len(expected) == 100  # random images: all distinct
    got = [(img.tobytes(), int(label)) for x, y in (s.train, s.val) for img, label in zip(_u8(x).reshape(-1, 3072), y)]
    assert sorted(got) == sorted(expected.items())
    # The split is seeded.
    again = cifar10_splits(tmp_path, n_val=7, download=False)
    other = cifar10_splits(tmp_path, n_val=7, seed=1, download=False)
    assert torch.equal(again.val_x, s.val_x) and not torch.equal(other.val_y, s.val_y)


def test_cifar_batches_match_torchvision_which_refuses_copies_by_md5(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision
    from torchvision.datasets import cifar

    _write_cifar_batches(tmp_path, n=20)
    with pytest.raises(RuntimeError, match="corrupted"):  # why course.data reads the files itself
        torchvision.datasets.CIFAR10(tmp_path, train=True, download=False)
    payload = cifar10_module._cifar_from_batches(tmp_path)
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)
    for split, train in (("train", True), ("test", False)):
        ds = torchvision.datasets.CIFAR10(tmp_path, train=train, download=False)  # (N, 32, 32, 3), as PIL wants
        assert torch.equal(payload[f"{split}_x"], torch.from_numpy(ds.data).permute(0, 3, 1, 2))
        assert payload[f"{split}_y"].tolist() == ds.targets
        assert tuple(ds.classes) == CIFAR10_CLASSES


def test_cifar_batches_pickled_by_python3_are_read_too(tmp_path: Path) -> None:
    written = _write_cifar_batches(tmp_path, n=4, dump=_dump_py3)  # bytes keys, numpy._core names, protocol 5
    s = cifar10_splits(tmp_path, n_val=2, download=False)
    assert np.array_equal(_u8(s.test_x).reshape(4, 3072), written["test_batch"][0])
    assert s.test_y.tolist() == written["test_batch"][1] and len(s.train_x) == 18


class _Sneaky:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.target),)  # harmless here, but it could be any call


def test_cifar_batches_refuse_pickles_that_call_anything(tmp_path: Path) -> None:
    _write_cifar_batches(tmp_path, n=2)
    target = tmp_path / "created-by-unpickling"
    _dump_py3({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": _Sneaky(target)},
              tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(ValueError, match=r"data_batch_3.*(posix|nt)\.mkdir is not allowed"):
        cifar10_splits(tmp_path, n_val=1, download=False)
    assert not target.exists()


def test_cifar_batches_with_other_classes_or_shapes_raise(tmp_path: Path) -> None:
    _write_cifar_batches(tmp_path, n=2)
    folder = tmp_path / "cifar-10-batches-py"
    _dump_py2({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, folder / "data_batch_2")  # grey 32x32
    with pytest.raises(ValueError, match=r"data_batch_2.*\(N, 3072\)"):
        cifar10_splits(tmp_path, n_val=1, download=False)
    _dump_py2({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, folder / "data_batch_2")
    with pytest.raises(ValueError, match=r"data_batch_2.*'labels'"):
        cifar10_splits(tmp_path, n_val=1, download=False)
    _dump_py2({b"label_names": [f"c{i}".encode() for i in range(100)]}, folder / "batches.meta")  # e.g. CIFAR-100
    with pytest.raises(ValueError, match="label_names"):
        cifar10_splits(tmp_path, n_val=1, download=False)


def test_relative_env_paths_resolve_against_the_cwd_they_are_given_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("COURSE_DATA", "rel/data")
    monkeypatch.setenv("COURSE_CACHE", "./rel/cache")
    root = data_root()
    assert root.is_absolute() and root == here.resolve() / "rel" / "data"
    assert locations._default_cache() == here.resolve() / "rel" / "cache"
    assert cache_dir() == root  # writable, so caches go next to the data; created
    monkeypatch.setenv("COURSE_DATA", "")
    assert data_root() == here.resolve() / "rel" / "cache"  # no COURSE_DATA: the (absolute) cache
    monkeypatch.setenv("COURSE_DATA", "rel/data")
    with pytest.raises(DataNotFoundError) as info:
        mnist_splits(download=False)
    assert str(here.resolve() / "rel" / "data" / "MNIST" / "raw") in str(info.value)  # messages name absolute paths
    monkeypatch.chdir(elsewhere)
    assert root == here.resolve() / "rel" / "data" and root.is_dir()  # a path handed out stays valid after a chdir


def test_cifar_batches_found_through_relative_course_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_cifar_batches(tmp_path / "rel" / "data", n=3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_DATA", "rel/data")
    s = cifar10_splits(n_val=2, download=False)
    assert s.train_x.shape == (13, 3, 32, 32) and s.test_x.shape == (3, 3, 32, 32)


# ---------------------------------------------------------------- CIFAR-10 (real, slow)


@needs_real
@pytest.mark.slow
def test_cifar_real_archive(_isolated_cache: Path) -> None:
    start = time.perf_counter()
    s = cifar10_splits(REAL, download=False)
    first = time.perf_counter() - start
    assert s.train_x.shape == (45_000, 3, 32, 32) and s.val_x.shape == (5_000, 3, 32, 32)
    assert s.test_x.shape == (10_000, 3, 32, 32) and s.train_x.dtype == torch.float32
    assert s.classes == CIFAR10_CLASSES
    assert _counts(s.test_y) == [1_000] * 10
    assert [a + b for a, b in zip(_counts(s.train_y), _counts(s.val_y))] == [5_000] * 10
    assert float(s.train_x.min()) == 0.0 and float(s.train_x.max()) == 1.0
    assert (cache_dir(REAL) / "cifar10-uint8.pt").is_file()
    start = time.perf_counter()
    again = cifar10_splits(REAL, download=False)
    second = time.perf_counter() - start
    assert torch.equal(again.val_y, s.val_y)
    print(f"\nCIFAR-10: first call {first:.1f} s, from cache {second:.1f} s")
    assert second < 15  # loading the cache is seconds; decoding 60k JPEGs is not


def test_mnist_idx_reader_gives_torchvisions_tensors(mnist) -> None:
    """The IDX files are read without torchvision (2 s faster to import); the tensors must be the same."""
    import torchvision

    from course.data import data_root
    from course.data.mnist import read_idx

    raw = data_root() / "MNIST" / "raw"
    tv = torchvision.datasets.MNIST(data_root(), train=False, download=False)
    assert torch.equal(read_idx(raw / "t10k-images-idx3-ubyte", 3), tv.data)
    assert torch.equal(read_idx(raw / "t10k-labels-idx1-ubyte", 1).long(), tv.targets)


def test_a_truncated_idx_file_is_a_clear_error(tmp_path) -> None:
    from course.data.mnist import read_idx

    bad = tmp_path / "x-ubyte"
    bad.write_bytes((0x0803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28)) + b"\0" * 100)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(bad, 3)


def test_read_only_cache_folders_are_searched_and_never_written(tmp_path: Path, cifar_tar: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader shows its decoded cache to the sandbox via COURSE_CACHE_READONLY: read there, never decoded again."""
    first = cifar10_splits(cifar_tar, n_val=6, download=False)           # decodes, caches beside the archive
    ro_cache = tmp_path / "grader-cache"
    ro_cache.mkdir()
    (cifar_tar / "cifar10-uint8.pt").rename(ro_cache / "cifar10-uint8.pt")
    ro_cache.chmod(0o555)
    root = tmp_path / "ro-root"                                          # the data as the sandbox sees it: read-only
    root.mkdir()
    # The same archive under another path (as the sandbox mounts it): the cache names it by content, so it holds.
    (cifar_tar / "cifar10-jpeg.tar.gz").rename(root / "cifar10-jpeg.tar.gz")
    root.chmod(0o555)
    try:
        monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "empty-cache"))
        monkeypatch.setenv("COURSE_CACHE_READONLY", str(ro_cache))
        _forbid_decoding(monkeypatch)
        again = cifar10_splits(root, n_val=6, download=False)
        assert torch.equal(again.train_x, first.train_x) and torch.equal(again.test_y, first.test_y)
        assert sorted(p.name for p in ro_cache.iterdir()) == ["cifar10-uint8.pt"]
    finally:
        root.chmod(0o755)
        ro_cache.chmod(0o755)
