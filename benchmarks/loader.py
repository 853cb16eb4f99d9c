"""Benchmark: one MNIST training epoch fed by TensorBatches vs by a DataLoader.

Trains the same 784-64-10 ReLU MLP (SGD, lr 0.1, batch 256) on 50,000 MNIST
training images, once from in-memory tensors (``course.data.TensorBatches`` over
``mnist_splits``) and once the textbook way (``DataLoader`` over
``torchvision.datasets.MNIST(transform=ToTensor())``, which decodes every image
in Python every epoch). Prints seconds per epoch for each and their ratio.

    python benchmarks/loader.py [--epochs 1] [--data PATH] [--workers 0] [--threads 1]

``--data`` defaults to ``course.data.data_root()`` (``COURSE_DATA`` or the cache).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

# Benchmark this checkout's code even when the package is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.data import TensorBatches, cache_dir, data_root, mnist_splits  # noqa: E402

BATCH_SIZE = 256
LR = 0.1
GOAL = 15.0


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)  # both runs start from the same weights
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 10))


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """One epoch; returns wall seconds, data loading included."""
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for xb, yb in batches:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return (model(x).argmax(1) == y).float().mean().item()


def run(name: str, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], epochs: int, seed: int,
        val: tuple[torch.Tensor, torch.Tensor]) -> float:
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    seconds = [train_epoch(model, opt, batches) for _ in range(epochs)]
    per_epoch = statistics.mean(seconds)
    print(f"{name:<34} {per_epoch:8.2f} s/epoch   (val accuracy after {epochs} epoch(s): {accuracy(model, *val):.3f})")
    return per_epoch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="epochs per loader (default 1)")
    parser.add_argument("--data", default=None, help="data root holding MNIST/raw (default: COURSE_DATA or the cache)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers (default 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: fastest for this tiny MLP, and immune to the "
                             "slow-down OpenMP suffers when other jobs share the cores; 0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import torchvision
    from torchvision.transforms import ToTensor

    root = data_root(args.data)
    start = time.perf_counter()
    splits = mnist_splits(root, seed=args.seed)
    load_s = time.perf_counter() - start
    n_train = len(splits.train_x)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {root}")
    print(f"mnist_splits (one-off load of all 70k images): {load_s:.2f} s\n")

    tensor_batches = TensorBatches(*splits.train, BATCH_SIZE, shuffle=True, seed=args.seed)
    fast = run("TensorBatches", tensor_batches, args.epochs, args.seed, splits.val)

    # mnist_splits may have found (or downloaded) MNIST in the cache folder rather than the root.
    mnist_root = root if (root / "MNIST" / "raw").is_dir() else cache_dir(root)
    dataset = torchvision.datasets.MNIST(mnist_root, train=True, transform=ToTensor(), download=False)
    # Same number of examples per epoch as the tensor run (50k of the 60k).
    subset = torch.utils.data.Subset(dataset, range(n_train))
    loader = torch.utils.data.DataLoader(subset, batch_size=BATCH_SIZE, shuffle=True, num_workers=args.workers)
    slow = run(f"DataLoader+ToTensor (workers={args.workers})", loader, args.epochs, args.seed, splits.val)

    ratio = slow / fast
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"\nspeed-up: {ratio:.1f}x  (goal >= {GOAL:g}x: {verdict}); {n_train} examples/epoch, batch {BATCH_SIZE}")


if __name__ == "__main__":
    main()
