"""Gradient norm per layer, for several networks: vanishing (or exploding) gradients at a glance.

A network whose early layers get gradients 10⁻⁸ times those of its last layer barely trains them: on a log
axis that is a line climbing from left (input) to right (output); a healthy network (batch norm, residual
connections) gives a line that stays flat.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_gradient_norms"]


def plot_gradient_norms(norms: Mapping[str, Sequence[float]], *, ax: "Axes | None" = None, title: str | None = None,
                        ylabel: str = "‖∂L/∂W‖ per layer", show: bool = True) -> "Figure":
    """One line per network, ``{name: [‖∂L/∂W₁‖, ‖∂L/∂W₂‖, …]}`` (layer 1 = input side); log y axis.

    Networks may have different depths. A norm of exactly 0 (a dead layer) cannot sit on a log axis: it is
    left out of its line and counted in the legend. The legend also gives each network's ratio first/last
    layer, the number that says "vanishing". Returns the figure.
    """
    if not norms:
        raise ValueError("no networks to plot")
    series = {}
    for name, values in norms.items():
        try:
            ys = np.asarray([float(v) for v in values], dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"network {name!r}: norms must be a sequence of numbers, one per layer") from None
        if len(ys) == 0:
            raise ValueError(f"network {name!r} has no norms")
        if (ys < 0).any():
            raise ValueError(f"network {name!r} has a negative norm ({ys.min():.3g}): pass norms, not gradients")
        series[str(name)] = ys
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    else:
        fig = ax.figure
    from matplotlib.ticker import MaxNLocator

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, (name, ys) in enumerate(series.items()):
        shown = np.where(np.isfinite(ys) & (ys > 0), ys, np.nan)   # NaN: a gap in the line
        label = name
        if np.isfinite(shown[0]) and np.isfinite(shown[-1]) and len(ys) > 1:
            label += f"  (first/last {shown[0] / shown[-1]:.1g})"
        hidden = int(np.isnan(shown).sum())
        if hidden:
            label += f"  [{hidden} layer{'s' * (hidden > 1)} at 0 or not finite: not shown]"
        ax.plot(np.arange(1, len(ys) + 1), shown, color=colours[i % len(colours)], marker="o", markersize=3.5,
                linewidth=1.6, label=label)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    longest = max(len(ys) for ys in series.values())
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="y", alpha=0.1)
    ax.legend(fontsize=9, loc="best", framealpha=0.9)
    if show:
        show_figure(fig)
    return fig
