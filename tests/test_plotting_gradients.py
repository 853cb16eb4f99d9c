"""Tests for course.plotting.gradients (headless, Agg). The example figure is saved to /tmp/plots."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course.plotting.gradients import plot_gradient_norms  # noqa: E402

PLOTS = Path("/tmp/plots")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _norms(activation: type[nn.Module], depth: int = 8) -> list[float]:
    """‖∂L/∂W‖ of each linear layer of a deep plain MLP at initialisation, input side first."""
    torch.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(16, 16), activation()]
    model = nn.Sequential(*layers, nn.Linear(16, 3))
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    nn.functional.cross_entropy(model(x), y).backward()
    return [float(m.weight.grad.norm()) for m in model if isinstance(m, nn.Linear)]


def test_one_line_per_network_on_a_log_axis() -> None:
    norms = {"plain, sigmoid": _norms(nn.Sigmoid), "plain, ReLU": _norms(nn.ReLU)}
    assert norms["plain, sigmoid"][0] / norms["plain, sigmoid"][-1] < 1e-3          # it does vanish
    fig = plot_gradient_norms(norms, title="vanishing", show=False)
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / "gradient_norms.png", dpi=80)
    assert plt.imread(PLOTS / "gradient_norms.png")[..., :3].std() > 0.05
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "vanishing" and ax.get_ylabel() == "‖∂L/∂W‖ per layer"
    lines = ax.get_lines()
    assert len(lines) == 2 and lines[0].get_color() != lines[1].get_color() and lines[0].get_marker() == "o"
    for line, values in zip(lines, norms.values()):
        assert list(line.get_xdata()) == list(range(1, 10))                            # layer 1 = input side
        assert np.allclose(line.get_ydata(), values)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    ratio = norms["plain, sigmoid"][0] / norms["plain, sigmoid"][-1]
    assert labels[0] == f"plain, sigmoid  (first/last {ratio:.1g})" and labels[1].startswith("plain, ReLU  (")
    assert ax.get_xlim() == (0.5, 9.5)
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_networks_of_different_depths_and_dead_layers() -> None:
    fig = plot_gradient_norms({"deep": np.geomspace(1e-8, 1.0, 20), "dead": [0.0, 0.5, 1.0],
                               "tensor": torch.tensor([0.1, 0.2])}, show=False)
    ax = fig.axes[0]
    deep, dead, tensor = ax.get_lines()
    assert len(deep.get_xdata()) == 20 and ax.get_xlim() == (0.5, 20.5)
    assert np.isnan(dead.get_ydata()[0]) and list(dead.get_ydata()[1:]) == [0.5, 1.0]   # a gap, not a crash
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == "dead  [1 layer at 0 or not finite: not shown]"
    assert labels[2] == "tensor  (first/last 0.5)"


def test_it_draws_into_a_given_axes() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    out = plot_gradient_norms({"a": [1.0, 2.0]}, ax=right, ylabel="norm", show=False)
    assert out is fig and len(right.get_lines()) == 1 and not left.get_lines() and right.get_ylabel() == "norm"


def test_bad_input_is_explained() -> None:
    with pytest.raises(ValueError, match="no networks"):
        plot_gradient_norms({}, show=False)
    with pytest.raises(ValueError, match="'x' has no norms"):
        plot_gradient_norms({"x": []}, show=False)
    with pytest.raises(ValueError, match="negative norm.*pass norms, not gradients"):
        plot_gradient_norms({"x": [0.1, -0.2]}, show=False)
    with pytest.raises(TypeError, match="one per layer"):
        plot_gradient_norms({"x": [[0.1, 0.2], [0.3]]}, show=False)
