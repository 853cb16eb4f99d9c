"""The roofline: which layers of a network are compute-bound and which memory-bound on a given machine.

A layer of arithmetic intensity I (MACs per byte moved) can run at most at min(peak, bandwidth × I) MACs/s:
left of the ridge I* = peak / bandwidth (the machine balance) memory traffic limits it, right of it the
arithmetic units do. Williams, Waterman & Patterson, "Roofline", CACM 2009.
"""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import FuncFormatter

from ._axes import _clean_log_axis
from .display import show_figure
from ._labels import _BestLabelLayout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_roofline"]


def _rate(value: float, unit: str = "") -> str:
    """'50.6 G MACs/s', '9.67 GB/s', '20 G': 3 significant digits and an SI prefix."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def plot_roofline(report: Any, *, macs_per_s: float, bytes_per_s: float, ax: "Axes | None" = None,
                  label_top: int = 8, title: str | None = None, show: bool = True) -> "Figure":
    """Each layer of a :class:`course.cost.CostReport` with MACs, at (its intensity, the MACs/s it can attain).

    x = MACs per byte moved (weights + input + output), y = min(``macs_per_s``, ``bytes_per_s`` × x), both
    log scales; points are coloured by kind and sized by their MACs, and the ``label_top`` costliest are named
    (layers at the same spot share a label). The ridge at the machine balance ``macs_per_s / bytes_per_s``
    splits memory-bound (left) from compute-bound (right). Layers with 0 MACs (batch norm, ReLU, pooling,
    additions: intensity 0) cannot sit on a log axis; the legend says how many there are and what they move.
    Draws into ``ax`` if given, else a new figure; returns the figure.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    if not (macs_per_s > 0 and bytes_per_s > 0 and np.isfinite(macs_per_s) and np.isfinite(bytes_per_s)):
        raise ValueError(f"macs_per_s and bytes_per_s must be positive and finite, got {macs_per_s}, {bytes_per_s}")
    layers = [r for r in getattr(report, "layers", []) if r.macs > 0 and r.bytes_moved > 0]
    if not layers:
        raise ValueError("the report has no layer with MACs (Conv/Linear) to place on a roofline")
    free = [r for r in report.layers if r.macs == 0]
    ridge = macs_per_s / bytes_per_s
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    else:
        fig = ax.figure

    xs = np.array([r.intensity for r in layers])
    ys = np.minimum(macs_per_s, bytes_per_s * xs)
    lo, hi = min(xs.min(), ridge) / 4, max(xs.max(), ridge) * 4
    grid = np.geomspace(lo, hi, 256)
    ax.axvspan(lo, ridge, color="tab:blue", alpha=0.07, linewidth=0)
    ax.axvspan(ridge, hi, color="tab:red", alpha=0.07, linewidth=0)
    ax.plot(grid, np.minimum(macs_per_s, bytes_per_s * grid), color="black", linewidth=2,
            label=f"roof: min({_rate(macs_per_s, ' MACs/s')}, {_rate(bytes_per_s, 'B/s')} × intensity)")
    ax.axvline(ridge, color="dimgrey", linestyle="--", linewidth=1.2,
               label=f"ridge: machine balance {ridge:.3g} MACs/byte")
    top = macs_per_s * 3
    ax.text(ridge / 1.15, top / 1.25, "← memory-bound", color="tab:blue", ha="right", va="top", fontsize=11)
    ax.text(ridge * 1.15, top / 1.25, "compute-bound →", color="tab:red", ha="left", va="top", fontsize=11)

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    biggest = max(r.macs for r in layers)
    sizes = [25 + 400 * r.macs / biggest for r in layers]   # marker areas, points²
    for i, kind in enumerate(dict.fromkeys(r.kind for r in layers)):
        idx = [j for j, r in enumerate(layers) if r.kind == kind]
        ax.scatter(xs[idx], ys[idx], s=[sizes[j] for j in idx], zorder=3, alpha=0.7,
                   color=colours[i % len(colours)], edgecolor="black", linewidth=0.6,
                   label=f"{kind} ({len(idx)}), sized by MACs")
    if free:
        kinds = ", ".join(dict.fromkeys(r.kind for r in free))
        moved = _rate(sum(r.bytes_moved for r in free), "B")
        note = f"not shown: {len(free)} layers with 0 MACs ({kinds}), pure memory traffic: {moved}"
        ax.plot([], [], linestyle="none", label="\n".join(textwrap.wrap(note, 46)))

    # Name the costliest spots: layers at the same spot (a stage's identical convs) share one label, and spots are
    # ranked by their layers' MACs together. The labels are placed at draw time, clear of each other and of
    # their points, by the layout that places the best-epoch labels of learning curves.
    spots: dict[float, list[int]] = {}
    for j in range(len(layers)):
        spots.setdefault(float(f"{xs[j]:.3g}"), []).append(j)
    items = []
    for key in sorted(spots, key=lambda key: -sum(layers[j].macs for j in spots[key]))[:max(label_top, 0)]:
        j = max(spots[key], key=lambda j: layers[j].macs)
        text = layers[j].name + (f" (+{len(spots[key]) - 1} alike)" if len(spots[key]) > 1 else "")
        # an invisible marker as big as the biggest point there: the layout keeps labels off it
        mark, = ax.plot([xs[j]], [ys[j]], linestyle="none", marker="o", alpha=0.0,
                        markersize=max(sizes[i] for i in spots[key]) ** 0.5 / 0.9)
        tag = ax.annotate(text, xy=(xs[j], ys[j]), xytext=(0, 0), textcoords="offset points", ha="center",
                          va="center", fontsize=8, zorder=4,
                          bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "grey", "alpha": 0.9},
                          arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.8, "shrinkA": 0,
                                      "shrinkB": 0})
        tag.set_in_layout(False)   # the layout keeps it inside the axes
        items.append((tag, mark))
    if items:
        ax.add_artist(_BestLabelLayout(items))

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(ys.min(), bytes_per_s * lo) / 3, top)
    ax.set_xlabel("arithmetic intensity (MACs per byte moved: weights + input + output)")
    ax.set_ylabel("attainable MACs per second (1 MAC = 2 FLOPs)")
    batch = report.input_shape[0] if getattr(report, "input_shape", None) else "?"
    ax.set_title(title if title is not None else f"Roofline of {getattr(report, 'model_name', 'the model')}, "
                                                 f"batch {batch}")
    _clean_log_axis(ax, _rate)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    if show:
        show_figure(fig)
    return fig
