"""The ResNet skeleton: stem, stages and head around a block the student writes.

``ResNet(block=ResBlock, layers=[3, 3, 3], widths=[16, 32, 64])`` is the CIFAR ResNet-20 of He et al. (2016):
a 3×3 stem, three stages of three blocks, global average pooling and one linear layer.
``ResNet(block=ResBlock, layers=[2, 2, 2, 2], widths=[64, 128, 256, 512], stem="imagenet", num_classes=1000)``
is ResNet-18, with torchvision's parameter count when the block is the standard basic block.

The skeleton holds no graded answer: the block decides everything inside a stage (convolutions, batch norm,
where the ReLU goes, the shortcut). It only calls ``block(in_channels, out_channels, stride)``: the first block
of every stage but the first gets ``stride=2`` and the stage's new width, the others keep the shape.
A block class may set ``expansion`` (a bottleneck's 4): the block then outputs ``out_channels * expansion``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["ResNet"]

_STEMS = ("cifar", "imagenet")


def _probe(block: nn.Module, in_channels: int, out_channels: int, stride: int, where: str) -> None:
    """Run the block once on a small input and say clearly when its output shape is not the one the stage needs."""
    size = 8
    x = torch.zeros(2, in_channels, size, size)
    expected = (2, out_channels, -(-size // stride), -(-size // stride))
    was_training = block.training
    block.eval()  # batch norm in eval mode: the probe must not touch running statistics
    try:
        with torch.no_grad():
            out = block(x)
    except Exception as err:  # the student's block: report where it failed, with its own error
        raise ValueError(f"{where}: the block failed on an input of shape {tuple(x.shape)}: "
                         f"{type(err).__name__}: {err}") from err
    finally:
        block.train(was_training)
    if not torch.is_tensor(out):
        raise TypeError(f"{where}: the block returned a {type(out).__name__}, not a tensor")
    if tuple(out.shape) != expected:
        raise ValueError(f"{where}: the block maps an input of shape {tuple(x.shape)} to {tuple(out.shape)}; "
                         f"the stage needs {expected} ({out_channels} channels, spatial size divided by {stride})")


class ResNet(nn.Module):
    """A residual network around ``block``: stem → stages → global average pool → linear.

    Args:
        block: called as ``block(in_channels, out_channels, stride)``; returns an ``nn.Module`` mapping
            (B, in_channels, H, W) to (B, out_channels·expansion, ⌈H/stride⌉, ⌈W/stride⌉).
        layers: blocks per stage, e.g. ``[3, 3, 3]`` (ResNet-20) or ``[2, 2, 2, 2]`` (ResNet-18).
        widths: channels of each stage, e.g. ``[16, 32, 64]`` or ``[64, 128, 256, 512]``.
        stem: ``"cifar"`` (3×3 convolution, stride 1, for 32×32 images) or ``"imagenet"``
            (7×7 stride-2 convolution and 3×3 stride-2 max pooling, for 224×224 images).
        num_classes: outputs of the final linear layer.
        in_channels: channels of the input images.
        check: run every block once on a small input at construction, to report a wrong output shape
            with the stage and block it came from rather than deep inside a forward pass.
    """

    def __init__(
        self,
        block: Callable[[int, int, int], nn.Module],
        layers: Sequence[int],
        widths: Sequence[int],
        *,
        stem: str = "cifar",
        num_classes: int = 10,
        in_channels: int = 3,
        check: bool = True,
    ) -> None:
        super().__init__()
        layers, widths = list(layers), list(widths)
        if not layers or len(layers) != len(widths):
            raise ValueError(f"layers and widths need one entry per stage; got layers={layers}, widths={widths}")
        if any(not isinstance(n, int) or n < 1 for n in layers) or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"layers and widths must be positive ints; got layers={layers}, widths={widths}")
        if stem not in _STEMS:
            raise ValueError(f"stem must be one of {_STEMS}, got {stem!r}")
        expansion = int(getattr(block, "expansion", 1))
        self.layers, self.widths, self.expansion = layers, widths, expansion

        if stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )

        stages = []
        channels = widths[0]
        for s, (n_blocks, width) in enumerate(zip(layers, widths)):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (s > 0 and b == 0) else 1
                module = block(channels, width, stride)
                if not isinstance(module, nn.Module):
                    raise TypeError(f"stage {s + 1}, block {b + 1}: block({channels}, {width}, {stride}) returned "
                                    f"a {type(module).__name__}, not an nn.Module")
                if check:
                    _probe(module, channels, width * expansion, stride, f"stage {s + 1}, block {b + 1} "
                                                                      f"(block({channels}, {width}, stride={stride}))")
                blocks.append(module)
                channels = width * expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He initialisation for convolutions, BN at identity: the usual ResNet start (torchvision does the same).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def blocks(self) -> list[nn.Module]:
        """Every block, from the input side to the output side."""
        return [b for stage in self.stages for b in stage]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))                   # (B, C, H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)         # (B, C)
        return self.fc(x)                                  # (B, num_classes)

    def extra_repr(self) -> str:
        return f"layers={self.layers}, widths={self.widths}, expansion={self.expansion}"
