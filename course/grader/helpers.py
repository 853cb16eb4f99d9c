"""Helpers shared by the labs' judges: judge-side data, remote histories, and re-measuring saved weights.

Everything here runs in the grader's process. Inputs go to the sandbox; answers are computed here.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from .judge import Context, Fail
from .kernel import Kernel, Remote, RemoteError

__all__ = ["mnist", "cifar10", "remote_history", "find_param", "checkpoint_error", "remote_images"]


@functools.lru_cache(maxsize=2)
def mnist(seed: int = 0):
    """MNIST splits as the grader sees them (from the grader's own data root)."""
    from ..data import mnist_splits

    return mnist_splits(seed=seed, download=False)


@functools.lru_cache(maxsize=1)
def cifar10(seed: int = 0):
    """CIFAR-10 splits as the grader sees them (decoded once into the grader's cache)."""
    from ..data import cifar10_splits

    return cifar10_splits(seed=seed, download=False)


def remote_images(kernel: Kernel, images: torch.Tensor) -> Remote:
    """Send float images in [0, 1] as uint8 (a quarter of the bytes) and turn them back into floats there."""
    as_bytes = (images * 255).round().to(torch.uint8)
    return kernel.value(as_bytes).float().div(255)


def remote_history(ctx: Context, val: Sequence[float], train: Sequence[float] | None = None,
                   val_error: Sequence[float] | None = None) -> Remote:
    """A ``course.History`` in the sandbox with these epochs logged (no weights)."""
    h = ctx.kernel.module("course").History()
    for i, v in enumerate(val):
        h.log(train_loss=(train or val)[i], val_loss=v, val_error=None if val_error is None else val_error[i])
    return h


def find_param(params: Sequence[torch.Tensor], *shapes: tuple[int, ...]) -> torch.Tensor | None:
    """The parameter of the first shape (or of another, transposed to it); a bias of shape (n,) may be (1, n)."""
    for p in params:
        for i, s in enumerate(shapes):
            if tuple(p.shape) == s:
                return p if i == 0 else p.T
    if len(shapes) == 1 and len(shapes[0]) == 1:
        for p in params:
            if p.numel() == shapes[0][0] == max(p.shape):
                return p.reshape(-1)
    return None


def checkpoint_error(ctx: Context, filename: str, builder: str, images: torch.Tensor, labels: torch.Tensor,
                     *, chunk: int = 2000, reduced_precision: bool = False) -> float:
    """Test error of the weights in ``filename``, loaded into the student's ``builder()`` and measured here.

    The model runs in a fresh sandbox that has no data folder, so it cannot look the labels up; the images
    are sent in an order of the judge's choosing, and the error is computed here from the logits. With
    ``reduced_precision`` it runs channels-last under ``course.autocast`` (bfloat16 where the CPU supports it),
    as the lab's notebook measures it: a ResNet on 10,000 CIFAR-10 images takes seconds instead of half a minute.
    """
    key = ("checkpoint_error", filename, builder)
    if key in ctx.cache:
        value = ctx.cache[key]
        if isinstance(value, Fail):
            raise value
        return value
    try:
        value = _measure(ctx, filename, builder, images, labels, chunk, reduced_precision)
    except Fail as exc:
        ctx.cache[key] = exc
        raise
    ctx.cache[key] = value
    return value


def _measure(ctx: Context, filename: str, builder: str, images: torch.Tensor, labels: torch.Tensor,
             chunk: int, reduced_precision: bool = False) -> float:
    task = ctx.task
    path = ctx.submission / filename
    if not path.is_file():
        raise Fail(f"{task}: no {filename} was handed in — run the notebook in full mode (it saves {filename} with "
                   "course.save_model) and hand the file in beside the notebook")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)  # no code runs from a checkpoint here
        meta = blob["meta"]
    except Exception as exc:  # noqa: BLE001
        raise Fail(f"{task}: {filename} is not a checkpoint written by course.save_model "
                   f"({type(exc).__name__}: {str(exc)[:150]})") from None
    if ctx.fresh_kernel is None:
        raise Fail(f"{task}: cannot re-measure {filename} here")
    k = ctx.fresh_kernel(builder)
    try:
        course = k.module("course")
        try:
            model = course.load_model(getattr(k.ns, builder), filename)
        except RemoteError as exc:
            raise Fail(f"{task}: {filename} could not be loaded into {builder}(): {exc}") from None
        model.eval()
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(20260101))
        wrong = 0
        for start in range(0, len(labels), chunk):
            idx = order[start:start + chunk]
            if reduced_precision:
                as_bytes = (images[idx] * 255).round().to(torch.uint8)
                logits = k.fetch(k.module("course.grader.probes").predict(model, k.value(as_bytes),
                                                                          reduced_precision=True))
            else:
                logits = k.fetch(model(remote_images(k, images[idx])))
            if not torch.is_tensor(logits) or logits.shape[0] != len(idx):
                raise Fail(f"{task}: {builder}() returned {type(logits).__name__} of shape "
                           f"{getattr(logits, 'shape', '?')} for a batch of {len(idx)} images; logits (N, 10) expected")
            wrong += int((logits.argmax(dim=1) != labels[idx]).sum())
    finally:
        k.close()
    error = wrong / len(labels)
    ctx.notes.append(f"{filename}: test error {error:.2%} ({'fast' if meta.get('fast') else 'full'} mode)")
    ctx.cache[("checkpoint_fast", filename)] = bool(meta.get("fast"))
    return error

