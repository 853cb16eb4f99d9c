"""Figures for coordinate networks: reconstructions side by side, PSNR per step, sweeps, and a PSNR table.

:func:`show_reconstructions` shows images (H, W, 3) in a row with their PSNR in the titles;
:func:`plot_psnr_curves` draws PSNR against the training step, one colour per run and one line style per
set of pixels (training pixels dashed); :func:`plot_lines` draws several series against one x (a kernel
against the offset, PSNR against σ) and can star each series' best point; :func:`psnr_table` formats
numbers as an aligned text table. Like the rest of ``course.plotting`` they return the figure and show it
only on a backend that can.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["show_reconstructions", "plot_psnr_curves", "plot_lines", "psnr_table"]


def _image(value: Any, name: str) -> np.ndarray:
    """(H, W, 3), (H, W, 1), (H, W) or (3, H, W) as a float array (H, W, C) clipped to [0, 1]."""
    arr = value.detach().cpu().float().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, float)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)                                        # (C, H, W) -> (H, W, C)
    if arr.ndim == 2 and arr.shape[1] == 3 and arr.shape[0] != 3:
        raise ValueError(f"image {name!r} has shape {tuple(arr.shape)}: a flat (H·W, 3) prediction? reshape it to "
                         "(H, W, 3)")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"image {name!r} must be (H, W, 3), (H, W) or (3, H, W), got {tuple(arr.shape)}")
    return np.clip(arr, 0.0, 1.0)


def show_reconstructions(images: Mapping[str, Any], *, psnr: Mapping[str, float] | None = None,
                         ncols: int | None = None, title: str | None = None, size: float = 2.4,
                         show: bool = True) -> "Figure":
    """Show ``{name: image}`` side by side, ``name`` over each, and ``PSNR x dB`` under it when given.

    Images are (H, W, 3) in [0, 1] (also (H, W) grey or (3, H, W)); values outside [0, 1] are clipped.
    Pixels are drawn as squares without smoothing, so a blurry reconstruction looks blurry and a noisy
    one noisy. ``ncols`` defaults to all in one row (at most 6). Returns the figure.
    """
    if not images:
        raise ValueError("no images to show")
    psnr = dict(psnr or {})
    unknown = set(psnr) - set(images)
    if unknown:
        raise ValueError(f"psnr names {sorted(unknown)} are not among the images {list(images)}")
    arrays = {str(name): _image(img, str(name)) for name, img in images.items()}
    n = len(arrays)
    cols = ncols or min(n, 6)
    if cols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    rows = math.ceil(n / cols)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size + 0.45) * rows + 0.4 * (title is not None)),
                             squeeze=False, layout="constrained")
    for ax, (name, arr) in zip(axes.flat, arrays.items()):
        ax.imshow(arr[:, :, 0] if arr.shape[-1] == 1 else arr, cmap="gray" if arr.shape[-1] == 1 else None,
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        if name in psnr:
            ax.set_xlabel(f"PSNR {float(psnr[name]):.1f} dB", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    if title is not None:
        fig.suptitle(title)
    if show:
        show_figure(fig)
    return fig


def _curve(values: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
    """A sequence of values at steps 1..n, or a pair (steps, values)."""
    if isinstance(values, tuple) and len(values) == 2 and np.ndim(values[0]) == 1 and np.ndim(values[1]) == 1:
        x, y = np.asarray(values[0], float), np.asarray(values[1], float)
    else:
        y = np.asarray([float(v) for v in values], float)
        x = np.arange(1, len(y) + 1, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"curve {label!r}: {len(x)} steps but {len(y)} values")
    if len(y) == 0:
        raise ValueError(f"curve {label!r} is empty")
    return x, y


def spread(values: list[float], gap: float) -> list[float]:
    """``values`` pushed apart, in sorted order, until neighbours are at least ``gap`` apart, then shifted back
    so that their mean stays where it was (a crowd of labels stays centred on its lines); original order."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [values[i] for i in order]
    for j in range(1, len(placed)):
        placed[j] = max(placed[j], placed[j - 1] + gap)
    shift = (sum(values) - sum(placed)) / max(len(placed), 1)
    placed = [v + shift for v in placed]
    out = [0.0] * len(values)
    for j, i in enumerate(order):
        out[i] = placed[j]
    return out


def plot_psnr_curves(runs: Mapping[str, Any], *, title: str | None = None, log_steps: bool = False,
                     ax: "Axes | None" = None, show: bool = True) -> "Figure":
    """PSNR (dB) against the training step: ``{run: curve}`` or ``{run: {pixels: curve}}``.

    A curve is a sequence of values at steps 1, 2, ... or a pair ``(steps, values)``. Each run has a
    colour; with several sets of pixels per run (e.g. ``{"train": ..., "held-out": ...}``) each set has a
    line style, training pixels dashed. The last value of each line is written at its end. Returns the figure.
    """
    if not runs:
        raise ValueError("no runs to plot")
    nested = {str(run): (dict(c) if isinstance(c, Mapping) else {"": c}) for run, c in runs.items()}
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    else:
        fig = ax.figure
    from matplotlib.lines import Line2D

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    splits = list(dict.fromkeys(s for curves in nested.values() for s in curves))
    others = iter(["-", ":", "-."])
    styles = {s: "--" if s.lower().startswith("train") else next(others, "-") for s in splits}
    ends = []   # (x, y, colour) of each line's last point
    for i, (run, curves) in enumerate(nested.items()):
        colour = colours[i % len(colours)]
        for split, values in curves.items():
            x, y = _curve(values, f"{run} {split}".strip())
            ax.plot(x, y, color=colour, linestyle=styles[split], linewidth=1.6)
            ends.append((x[-1], y[-1], colour))
    # The last values, written at the lines' ends and moved apart vertically so that close ones stay readable.
    lo, hi = ax.get_ylim()
    placed = spread([y for _, y, _ in ends], gap=0.035 * (hi - lo))
    for (x_end, y_end, colour), y_text in zip(ends, placed):
        ax.annotate(f"{y_end:.1f}", xy=(x_end, y_end), xytext=(x_end, y_text), textcoords="data",
                    va="center", fontsize=8, color=colour)
    if log_steps:
        ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title if title is not None else "PSNR per step")
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.1)
    handles = [Line2D([], [], color=colours[i % len(colours)], linewidth=3, label=run) for i, run in enumerate(nested)]
    if len(splits) > 1 or splits[0]:
        handles += [Line2D([], [], color="grey", linestyle=styles[s], label=s) for s in splits]
    ax.legend(handles=handles, loc="best", fontsize=9)
    if show:
        show_figure(fig)
    return fig


def plot_lines(x: Sequence[float], series: Mapping[str, Sequence[float]], *, xlabel: str, ylabel: str,
               title: str | None = None, log_x: bool = False, best: str | Mapping[str, str] | None = None,
               ax: "Axes | None" = None, show: bool = True) -> "Figure":
    """Several series against one ``x``: ``{label: values}``, each as long as ``x``.

    ``best="max"`` (or ``"min"``) stars each series' best point and writes its x above it, as for held-out
    PSNR against σ; ``best={"held-out": "max"}`` stars only the series named. With ``log_x`` the ticks sit
    at the x values themselves. Returns the figure.
    """
    if not series:
        raise ValueError("no series to plot")
    bests = dict(best) if isinstance(best, Mapping) else {label: best for label in series}
    for label, how in bests.items():
        if how not in (None, "max", "min"):
            raise ValueError(f"best must be None, 'max' or 'min', got {how!r}")
        if label not in series:
            raise ValueError(f"best names {label!r}, which is not among the series {list(series)}")
    xs = np.asarray([float(v) for v in x], float)
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    else:
        fig = ax.figure
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, (label, values) in enumerate(series.items()):
        ys = np.asarray([float(v) for v in values], float)
        if len(ys) != len(xs):
            raise ValueError(f"series {label!r} has {len(ys)} values for {len(xs)} x values")
        colour = colours[i % len(colours)]
        ax.plot(xs, ys, color=colour, marker="o" if len(xs) <= 20 else None, markersize=4, label=str(label))
        how = bests.get(label)
        if how is not None and np.isfinite(ys).any():
            j = int(np.nanargmax(ys) if how == "max" else np.nanargmin(ys))
            ax.plot([xs[j]], [ys[j]], marker="*", markersize=14, color=colour, markeredgecolor="black",
                    linestyle="none", zorder=5)
            ax.annotate(f"{xs[j]:g}", xy=(xs[j], ys[j]), xytext=(0, 9), textcoords="offset points", ha="center",
                        fontsize=9, color=colour)
    if log_x:
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(xs[xs > 0]))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.margins(y=0.12)
    ax.legend(loc="best", fontsize=9)
    if show:
        show_figure(fig)
    return fig


def psnr_table(rows: Mapping[str, Mapping[str, float]], *, columns: Sequence[str] | None = None,
               fmt: str = "{:.1f}", unit: str = "dB") -> str:
    """An aligned text table: one row per key of ``rows``, one column per key of their values.

    ``psnr_table({"raw": {"training pixels": 18.2, "held-out": 17.0}, ...})``; a missing value shows as "–".
    ``columns`` picks and orders the columns (default: in order of first appearance).
    """
    if not rows:
        raise ValueError("no rows")
    if columns is None:
        columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    header = [""] + [f"{c} ({unit})" if unit else str(c) for c in columns]
    body = [[str(name)] + [fmt.format(float(row[c])) if c in row else "–" for c in columns]
            for name, row in rows.items()]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)   # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in body])
