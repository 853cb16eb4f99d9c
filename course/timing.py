"""What a network costs in time, and what this machine can do: wall-clock seconds per batch (warmed up, the device
synchronised), and the machine's multiply-accumulates and bytes per second, whose ratio is its balance point on a
roofline (:func:`course.plotting.plot_roofline`).
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .cost import batch_shape, device_and_dtype

__all__ = ["Timing", "time_per_batch", "measure_machine", "machine_balance"]


@dataclass(frozen=True)
class Timing:
    """Median seconds per batch: inference forward, and a training step's forward + backward (no optimiser)."""

    device: str
    forward_s: float
    forward_backward_s: float | None   # None when timed with backward=False
    repeats: int


def _resolve(device: torch.device | str | None, default: torch.device) -> torch.device:
    device = default if device is None else torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} asked for, but torch.cuda.is_available() is False here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' asked for, but torch.backends.mps.is_available() is False here")
    return device


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj.to(device)``: one seam, so tests can pretend to have a GPU."""
    return obj.to(device)


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work: GPU kernels run asynchronously, so a clock alone would time the launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_per_batch(model: nn.Module, input_shape: tuple[int, ...], *, device: torch.device | str | None = None,
                   backward: bool = True, warmup: int = 3, repeats: int = 10,
                   autocast_dtype: torch.dtype | None = None) -> Timing:
    """Median wall-clock seconds per batch of random inputs, after ``warmup`` untimed runs.

    ``forward_s`` times inference (eval mode, no autograd); ``forward_backward_s`` a training step without the
    optimiser (train mode, forward, ``out.sum().backward()``). The device is synchronised before the clock
    starts and before it stops. The model is moved to ``device`` (default: where it is) and keeps it; its
    mode, batch-norm statistics and gradients are restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"time_per_batch needs an nn.Module, got {type(model).__name__}")
    shape = batch_shape(input_shape, "time_per_batch")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    home, dtype = device_and_dtype(model)
    device = _resolve(device, home)
    model = to_device(model, device)
    x = to_device(torch.randn(shape, dtype=dtype), device)
    params = list(model.parameters())
    autocast = (lambda: torch.autocast(device.type, dtype=autocast_dtype)) if autocast_dtype else contextlib.nullcontext
    if backward and not any(p.requires_grad for p in params):
        x.requires_grad_(True)   # a frozen model: backward to the input, so there is something to compute

    def run(train: bool) -> float:
        for p in params:
            p.grad = None                              # as optimizer.zero_grad() does, outside the clock
        _sync(device)
        start = time.perf_counter()
        with autocast():
            out = model(x)
        if train:
            outs = out if isinstance(out, (tuple, list)) else [out]
            sum(o.float().sum() for o in outs if torch.is_tensor(o)).backward()
        _sync(device)
        return time.perf_counter() - start

    was_training = model.training
    grads = [p.grad for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]   # batch norm's running statistics
    try:
        model.eval()
        with torch.no_grad():
            times = [run(False) for _ in range(warmup + repeats)][warmup:]
        forward = statistics.median(times)
        both = None
        if backward:
            model.train()
            both = statistics.median([run(True) for _ in range(warmup + repeats)][warmup:])
    finally:
        model.train(was_training)
        for p, g in zip(params, grads):
            p.grad = g
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
    return Timing(str(device), forward, both, repeats)


def measure_machine(device: torch.device | str | None = None, *, seconds: float = 0.5) -> dict[str, float]:
    """This machine's peak rates, measured briefly (about 2 × ``seconds``): the best of repeated runs.

    ``macs_per_s`` from an n×n float32 matmul (n³ MACs), ``bytes_per_s`` from copying a buffer larger than the
    caches (bytes read + bytes written). On the CPU both use torch's current thread count.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    device = _resolve(device, torch.device("cpu"))
    n, mb = (1024, 128) if device.type == "cpu" else (4096, 512)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    src = torch.ones(mb * 2**20 // 4, device=device)
    dst = torch.empty_like(src)

    def best(fn: Callable[[], Any], work: float) -> float:
        fn()                                             # warm-up: allocation, kernel selection, page faults
        _sync(device)
        rates: list[float] = []
        deadline = time.perf_counter() + seconds
        while not rates or time.perf_counter() < deadline:
            start = time.perf_counter()
            fn()
            _sync(device)
            rates.append(work / (time.perf_counter() - start))
        return max(rates)                                # the least disturbed run: this machine is shared

    macs = best(lambda: torch.mm(a, b), float(n) ** 3)
    bandwidth = best(lambda: dst.copy_(src), 2.0 * src.numel() * src.element_size())
    return {"macs_per_s": macs, "bytes_per_s": bandwidth}


def machine_balance(macs_per_s: float, bytes_per_s: float) -> float:
    """The roofline's ridge, peak / bandwidth, in MACs per byte: a layer of higher intensity is compute-bound,
    one of lower intensity memory-bound."""
    if not (macs_per_s > 0 and bytes_per_s > 0 and math.isfinite(macs_per_s) and math.isfinite(bytes_per_s)):
        raise ValueError(f"macs_per_s and bytes_per_s must be positive and finite, got {macs_per_s}, {bytes_per_s}")
    return macs_per_s / bytes_per_s
