"""Instruments the judges place around a module inside the sandbox, to observe how student code uses it."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ModeRecorder"]


class ModeRecorder(nn.Module):
    """Wraps a module; each forward call appends ``[training, grad_enabled]`` to ``calls``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[list[bool]] = []

    def forward(self, *args, **kwargs):
        self.calls.append([bool(self.training), bool(torch.is_grad_enabled())])
        return self.inner(*args, **kwargs)
