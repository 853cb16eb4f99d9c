"""Tests for course.plotting.roofline: one point per layer with MACs, on the roof, the ridge at the stated balance."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torchvision
from torch import nn

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from course.cost import layer_costs  # noqa: E402
from course.plotting.roofline import plot_roofline  # noqa: E402


def _points(ax) -> np.ndarray:
    return np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])


def test_roofline_points_ridge_and_regions(tmp_path) -> None:
    report = layer_costs(torchvision.models.resnet18(), (2, 3, 64, 64))
    peak, bandwidth = 1e11, 1e10                                   # balance: 10 MACs per byte
    fig = plot_roofline(report, macs_per_s=peak, bytes_per_s=bandwidth, show=False)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    with_macs = [r for r in report.layers if r.macs > 0]
    points = _points(ax)
    assert len(points) == len(with_macs) == 21                    # 20 convolutions and the classifier
    xs = sorted(r.intensity for r in with_macs)
    assert np.allclose(sorted(points[:, 0]), xs)
    assert np.allclose(points[:, 1], np.minimum(peak, bandwidth * points[:, 0]))   # each layer under its roof
    assert (points[:, 0] < 10).any() and (points[:, 0] > 10).any()               # both sides of the ridge here
    ridge = [line for line in ax.get_lines() if "machine balance" in str(line.get_label())]
    assert len(ridge) == 1 and np.allclose(ridge[0].get_xdata(), 10.0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("machine balance 10 MACs/byte" in t for t in legend)
    assert any("not shown" in t and "0 MACs" in t and "BatchNorm2d" in t for t in legend)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "memory-bound" in texts and "compute-bound" in texts
    roof = [line for line in ax.get_lines() if str(line.get_label()).startswith("roof")][0]
    x, y = roof.get_data()
    assert np.allclose(y, np.minimum(peak, bandwidth * x))
    labels = [t for t in ax.texts if "bound" not in t.get_text()]
    assert 1 <= len(labels) <= 8 and any(t.get_text() == "conv1" for t in labels)
    fig.savefig(tmp_path / "roofline.png", dpi=80)
    assert (tmp_path / "roofline.png").stat().st_size > 10_000
    plt.close(fig)


def test_roofline_options_and_errors() -> None:
    report = layer_costs(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)), (3, 8))
    fig, ax = plt.subplots()
    got = plot_roofline(report, macs_per_s=2e9, bytes_per_s=1e9, ax=ax, label_top=0, title="mine", show=False)
    assert got is fig and ax.get_title() == "mine" and len(_points(ax)) == 2
    assert all("bound" in t.get_text() for t in ax.texts)         # label_top=0: no layer names
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        plot_roofline(report, macs_per_s=0, bytes_per_s=1, show=False)
    with pytest.raises(ValueError, match="no layer with MACs"):
        plot_roofline(layer_costs(nn.ReLU(), (1, 4)), macs_per_s=1, bytes_per_s=1, show=False)
