"""Training plumbing: progress bars, per-epoch history, best-epoch tracking, timing.

These are generic pieces. The epoch loop itself (forward, loss, backward, step)
is what students write in the labs, so it is deliberately not here.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

__all__ = ["History", "Timer", "progress", "epochs"]

_METRICS = ("train_loss", "val_loss", "train_error", "val_error")


@dataclass
class History:
    """Per-epoch record of one training run, plus the weights of its best epoch.

    Epochs are numbered from 1. ``best_epoch`` is the epoch with the lowest
    ``val_loss`` seen so far (earliest on ties), and ``best_state`` a CPU copy of
    the model's ``state_dict`` at that epoch (when a model was passed to ``log``).
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.val_loss)

    def log(
        self,
        *,
        train_loss: float,
        val_loss: float,
        train_error: float | None = None,
        val_error: float | None = None,
        model: torch.nn.Module | None = None,
        seconds: float | None = None,
    ) -> bool:
        """Append one epoch; return True when it is the new best (lowest val_loss)."""
        self.train_loss.append(float(train_loss))
        self.val_loss.append(float(val_loss))
        if train_error is not None:
            self.train_error.append(float(train_error))
        if val_error is not None:
            self.val_error.append(float(val_error))
        if seconds is not None:
            self.seconds.append(float(seconds))
        best = self.best_epoch is None or self.val_loss[-1] < self.val_loss[self.best_epoch - 1]
        if best:
            self.best_epoch = len(self.val_loss)
            if model is not None:
                # A deep copy on the CPU: later optimiser steps must not change it.
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return best

    @property
    def best_val_loss(self) -> float:
        if self.best_epoch is None:
            raise ValueError("History is empty: call log() at least once")
        return self.val_loss[self.best_epoch - 1]

    def load_best(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the best epoch's weights into ``model`` (in place) and return it."""
        if self.best_state is None:
            raise ValueError("no weights were recorded: pass model=... to History.log")
        model.load_state_dict(self.best_state)
        return model

    def as_dict(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in (*_METRICS, "seconds")} | {"best_epoch": self.best_epoch}

    def copy(self) -> "History":
        return copy.deepcopy(self)


class Timer:
    """Context manager measuring wall time in seconds: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def progress(iterable: Iterable, desc: str | None = None, total: int | None = None, **kwargs: Any) -> Iterator:
    """A tqdm progress bar that renders as a widget in Jupyter and as text elsewhere."""
    kwargs.setdefault("leave", True)
    kwargs.setdefault("dynamic_ncols", True)
    return iter(tqdm(iterable, desc=desc, total=total, **kwargs))


def epochs(n: int, desc: str = "epochs", **kwargs: Any) -> Iterator[int]:
    """``for epoch in epochs(100): ...`` counts 1..n with a progress bar."""
    return progress(range(1, n + 1), desc=desc, total=n, **kwargs)
