"""The plots of the class report: matplotlib Figures on the Agg canvas (no pyplot, no global backend), each
returned as a ``data:image/png;base64,...`` URI for an ``<img>``, so that the page needs no other file.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["task_grid", "total_plot", "time_plot"]

_GREEN, _AMBER, _RED, _BLUE, _INK = "#3e9b6b", "#e0a030", "#d0534a", "#4a78b5", "#323f4b"


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Any, xlabel: str, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(xlabel, fontsize=10, color=_INK)
    ax.set_ylabel(ylabel, fontsize=10, color=_INK)
    ax.tick_params(labelsize=9, colors=_INK)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.grid(axis="y", color="#e4e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _bar_width(xs: Sequence[float], top: float) -> float:
    """Bars 70% as wide as the closest two values (of ``xs``, 0 and ``top``), and never fat on a wide axis."""
    points = sorted({0.0, top, *xs})
    gaps = [b - a for a, b in zip(points, points[1:]) if b > a]
    return 0.7 * min([*gaps, top / 2 if top > 0 else 1.0])


def _bins_plot(ax: Any, bins: Sequence[dict[str, float]]) -> None:
    ax.bar([b["from"] for b in bins], [b["count"] for b in bins], width=[0.92 * (b["to"] - b["from"]) for b in bins],
           align="edge", color=_BLUE)
    ax.set_xlim(0, bins[-1]["to"] if bins else 1)


def task_grid(tasks: Sequence[dict[str, Any]]) -> str:
    """Small multiples: one bar chart per grade id, points on x, students on y; full marks green, zero red."""
    from matplotlib.figure import Figure

    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(2.75 * cols, 2.35 * rows), dpi=100, layout="constrained")
    for i, task in enumerate(tasks):
        ax = fig.add_subplot(rows, cols, i + 1)
        top = task["max_points"]
        xs = [x for x, _ in task["histogram"]]
        ns = [n for _, n in task["histogram"]]
        width = _bar_width(xs, top)
        colors = [_GREEN if x >= top else _RED if x <= 0 else _AMBER for x in xs]
        bars = ax.bar(xs, ns, width=width, color=colors)
        ax.bar_label(bars, fontsize=8, color=_INK, padding=1)
        ax.set_xlim(-width, top + width)
        ax.set_ylim(0, max(ns) * 1.25)
        ticks = sorted({0.0, top, *xs})
        ticks = ticks if len(ticks) <= 7 else [0.0, top / 2, top]
        ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
        ax.set_title(f"{task['task']}  ·  max {top:g}", fontsize=10, color=_INK, loc="left")
        _style(ax, "points", "students" if i % cols == 0 else "")
    return _png(fig)


def total_plot(lab: dict[str, Any]) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(5.2, 2.9), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    xs = [x for x, _ in lab["total_histogram"]]
    ns = [n for _, n in lab["total_histogram"]]
    top = lab["max_total"]
    if len(xs) <= 12 or (top <= 30 and all(float(x).is_integer() for x in (*xs, top))):
        width = _bar_width(xs, top)            # few distinct totals: one bar each
        ax.bar(xs, ns, width=width, color=_BLUE)
        ax.set_xlim(-width, top + width)
        if all(float(x).is_integer() for x in (*xs, top)):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _bins_plot(ax, lab["total_bins"])
        ns = [b["count"] for b in lab["total_bins"]]
    ax.set_ylim(0, max(ns) * 1.3)
    median = lab["median_total"]
    if median is not None:
        right = median > 0.7 * max(top, 1e-9)
        ax.axvline(median, color=_INK, linestyle="--", linewidth=1)
        ax.annotate(f"median {median:g}", (median, 1), xycoords=("data", "axes fraction"),
                    xytext=(-4 if right else 4, -2), textcoords="offset points", fontsize=9, va="top",
                    ha="right" if right else "left", color=_INK)
    ax.set_title(f"Total score (of {top:g})", fontsize=11, color=_INK, loc="left")
    _style(ax, "points", "students")
    return _png(fig)


def time_plot(timing: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 2.9), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    _bins_plot(ax, timing["histogram"])
    ax.set_title("Grading time", fontsize=11, color=_INK, loc="left")
    _style(ax, "seconds per submission", "submissions")
    return _png(fig)
