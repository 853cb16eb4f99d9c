"""Tests for course.resnet: the skeleton builds ResNet-20 and ResNet-18 around any block, and says clearly
when a block has the wrong shape."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course import ResNet, count_parameters


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.short is None else self.short(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))


def test_resnet18_and_50_match_torchvision_counts() -> None:
    r18 = ResNet(block=Basic, layers=[2, 2, 2, 2], widths=[64, 128, 256, 512], stem="imagenet", num_classes=1000)
    assert count_parameters(r18) == count_parameters(torchvision.models.resnet18()) == 11_689_512
    r50 = ResNet(block=Bottleneck, layers=[3, 4, 6, 3], widths=[64, 128, 256, 512], stem="imagenet", num_classes=1000)
    assert count_parameters(r50) == count_parameters(torchvision.models.resnet50()) == 25_557_032
    assert r18(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_cifar_resnet20_shapes_and_blocks() -> None:
    torch.manual_seed(0)
    net = ResNet(block=Basic, layers=[3, 3, 3], widths=[16, 32, 64])
    assert count_parameters(net) == 272_474
    assert len(net.blocks) == 9
    # the construction-time probe ran in eval mode: no running statistics moved
    assert all(m.num_batches_tracked.item() == 0 for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert net.training
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 64, 8, 8)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_block_of_the_wrong_shape_is_reported_with_its_stage() -> None:
    class NoProjection(Basic):
        def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
            super().__init__(cin, cout, stride)
            self.short = None

    with pytest.raises(ValueError, match=r"stage 2, block 1 .*block\(16, 32, stride=2\).*failed"):
        ResNet(block=NoProjection, layers=[1, 1], widths=[16, 32])

    class KeepsSize(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    with pytest.raises(ValueError, match=r"stage 2, block 1.*\(2, 32, 8, 8\).*needs \(2, 32, 4, 4\)"):
        ResNet(block=KeepsSize, layers=[1, 1], widths=[16, 32])
    with pytest.raises(TypeError, match="not an nn.Module"):
        ResNet(block=lambda cin, cout, stride: None, layers=[1], widths=[8])
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet(block=Basic, layers=[1, 1], widths=[8])
    with pytest.raises(ValueError, match="stem"):
        ResNet(block=Basic, layers=[1], widths=[8], stem="mnist")
