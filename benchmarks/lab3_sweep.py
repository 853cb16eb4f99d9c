"""Benchmark: Lab 3's full learning-rate sweep (HW4), in full mode, on the CPU.

Three learning rates × 100 epochs of the 784-64-10 ReLU MLP (SGD, batch 256) on
50,000 MNIST images, fed by ``TensorBatches``; selects (lr, epoch) on validation
loss and prints the time and the selected model's test error. In the same run it
times a few epochs fed by ``DataLoader(MNIST, ToTensor)`` and extrapolates the
sweep to that loader, so the ratio is measured side by side.

    python benchmarks/lab3_sweep.py [--epochs 100] [--dataloader-epochs 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.data import TensorBatches, data_root, mnist_splits  # noqa: E402
from course.training import History  # noqa: E402

LRS = (0.01, 0.1, 1.0)


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def epoch(model: nn.Module, batches, opt: torch.optim.Optimizer) -> float:
    model.train()
    total, n = 0.0, 0
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


@torch.no_grad()
def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) != y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--dataloader-epochs", type=int, default=2, help="epochs timed with a DataLoader (0: skip)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (small MLPs run fastest on one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = mnist_splits(seed=0)
    t0 = time.perf_counter()
    runs: dict[float, History] = {}
    for lr in LRS:
        model = mlp(0)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        batches = TensorBatches(*data.train, 256, seed=0)
        h = History()
        for _ in range(args.epochs):
            train_loss = epoch(model, batches, opt)
            val_loss, val_err = measure(model, *data.val)
            h.log(train_loss=train_loss, val_loss=val_loss, val_error=val_err, model=model)
        runs[lr] = h
        print(f"lr={lr:<5g} best epoch {h.best_epoch:3d}  val loss {h.best_val_loss:.4f}  "
              f"({time.perf_counter() - t0:.0f} s so far)", flush=True)
    sweep_s = time.perf_counter() - t0
    best_lr = min(runs, key=lambda lr: runs[lr].best_val_loss)
    print(f"\nsweep: {len(LRS)} × {args.epochs} epochs in {sweep_s:.0f} s ({sweep_s / 60:.1f} min) with TensorBatches")
    for lr, h in runs.items():
        model = h.load_best(mlp(0))
        _, test_err = measure(model, *data.test)
        mark = "  <- selected on validation loss" if lr == best_lr else ""
        print(f"  lr={lr:<5g} epoch {h.best_epoch:3d}: val error {h.val_error[h.best_epoch - 1]:.2%}, "
              f"test error {test_err:.2%}{mark}")

    if args.dataloader_epochs:
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        ds = datasets.MNIST(data_root(), train=True, transform=transforms.ToTensor(), download=False)
        loader = DataLoader(ds, batch_size=256, shuffle=True)
        model = mlp(0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        t1 = time.perf_counter()
        for _ in range(args.dataloader_epochs):
            epoch(model, loader, opt)
        per_epoch = (time.perf_counter() - t1) / args.dataloader_epochs
        # Scale to the same 50k examples per epoch as the sweep.
        per_epoch *= 50_000 / len(ds)
        est = per_epoch * len(LRS) * args.epochs
        print(f"\nDataLoader(MNIST, ToTensor): {per_epoch:.2f} s/epoch → the sweep would take about "
              f"{est / 60:.0f} min; TensorBatches is {est / sweep_s:.1f}× faster")


if __name__ == "__main__":
    main()
