"""Instruments the judges place around a module inside the sandbox, to observe how student code uses it."""
from __future__ import annotations

import torch
from torch import nn

from ..device import autocast

__all__ = ["ModeRecorder", "predict"]


class ModeRecorder(nn.Module):
    """Wraps a module; each forward call appends ``[training, grad_enabled]`` to ``calls``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls: list[list[bool]] = []

    def forward(self, *args, **kwargs):
        self.calls.append([bool(self.training), bool(torch.is_grad_enabled())])
        return self.inner(*args, **kwargs)


def predict(model: nn.Module, images: torch.Tensor, *, reduced_precision: bool = False) -> torch.Tensor:
    """Logits (float32) of ``model`` for uint8 images (sent as bytes), in eval mode, without gradients.

    With ``reduced_precision`` the model runs channels-last under ``course.autocast`` (bfloat16 where the CPU
    runs it fast, float32 elsewhere): the lab's notebook measures its saved model the same way.
    """
    x = images.float().div(255)
    model.eval()
    with torch.no_grad():
        if reduced_precision:
            model = model.to(memory_format=torch.channels_last)
            with autocast("cpu"):
                return model(x.contiguous(memory_format=torch.channels_last)).float()
        return model(x).float()
