"""Optimisers' paths on a 2-D loss surface: one panel per optimiser, and an animation of all of them.

:func:`plot_paths` draws a large overview with every path on the contours of the loss, next to a grid of
small panels, one per optimiser (start ○, end ●, the known minimum ★, the final loss in the title).
:func:`animate_paths` draws the paths growing step by step; :func:`animation_html` turns the animation into
one self-contained piece of HTML (frames embedded as PNG, no link to the internet) for
``IPython.display.HTML``. Contours are log-spaced for a loss ≥ 0 that spans decades (Rosenbrock's valley
floor is ~1e-3, its walls ~1e3) and linear otherwise (a saddle x² − y² is negative). The x and y axes
have the same scale, so a gradient step looks perpendicular to the contour it crosses.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.animation import FuncAnimation
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_paths", "animate_paths", "animation_html"]

LossFn = Callable[[torch.Tensor], torch.Tensor]
_GRID = 200            # the loss is evaluated on a _GRID × _GRID grid of points


def _as_path(path: Any, name: str) -> np.ndarray:
    """A (T, 2) float array from a tensor, an array, or a list of (2,) points."""
    if isinstance(path, (list, tuple)) and path and all(isinstance(q, torch.Tensor) for q in path):
        path = torch.stack([q.detach().reshape(-1) for q in path])
    arr = path.detach().cpu().double().numpy() if isinstance(path, torch.Tensor) else np.asarray(path, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise ValueError(f"path {name!r} must be (T, 2) points (one row per step), got shape {arr.shape}")
    return arr


def _paths(paths: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not paths:
        raise ValueError("no paths to plot")
    return {str(name): _as_path(p, str(name)) for name, p in paths.items()}


def _losses(loss_fn: LossFn, points: np.ndarray) -> np.ndarray:
    """loss_fn on (N, 2) points -> (N,) floats, in float64 (float32 if the function insists)."""
    with torch.no_grad():
        try:
            z = loss_fn(torch.tensor(points, dtype=torch.float64))
        except RuntimeError:          # e.g. a function with float32 tensors inside it
            z = loss_fn(torch.tensor(points, dtype=torch.float32))
    z = z.detach().cpu().double().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, dtype=float)
    if z.size != len(points):
        raise ValueError(f"loss_fn must map (N, 2) points to (N,) losses; for N = {len(points)} it returned "
                         f"shape {tuple(np.shape(z))} — write it for a batch of points, with p[:, 0] and p[:, 1]")
    return z.reshape(-1)


def _surface(loss_fn: LossFn, xlim, ylim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.linspace(*xlim, _GRID), np.linspace(*ylim, _GRID))          # (n, n) each
    z = _losses(loss_fn, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(_GRID, _GRID)
    if not np.isfinite(z).any():
        raise ValueError(f"loss_fn has no finite value on the window x in {xlim}, y in {ylim}")
    return gx, gy, z


def _levels(z: np.ndarray, levels: int, log_levels: bool) -> np.ndarray:
    finite = z[np.isfinite(z)]
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:                                            # a flat surface: one level around it
        return np.array([lo - 1.0, lo + 1.0])
    if log_levels and lo >= 0:
        # Log-spaced: every decade of a valley like Rosenbrock's gets its share of lines, floor included.
        return np.geomspace(max(lo, hi * 1e-6), hi, levels)
    return np.linspace(lo, hi, levels)


def _contours(ax: "Axes", gx, gy, z, lv: np.ndarray, line_every: int = 1) -> None:
    from matplotlib.colors import BoundaryNorm

    # Light greys, darker towards low loss, so that coloured paths stand out on them.
    cmap = matplotlib.colormaps["Greys_r"]
    ax.contourf(gx, gy, z, levels=lv, cmap=cmap, norm=BoundaryNorm(lv, cmap.N), alpha=0.3, extend="both")
    ax.contour(gx, gy, z, levels=lv[::line_every], colors="dimgrey", linewidths=0.35, alpha=0.5)


def _style(ax: "Axes", xlim, ylim, minimum) -> None:
    if minimum is not None:
        ax.plot(*minimum, marker="*", color="gold", markeredgecolor="black", markersize=14, linestyle="none",
                zorder=6)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")


def _marker_key(with_minimum: bool, with_end: bool = True) -> list:
    """Legend entries for the markers: start ○, end ●, minimum ★."""
    from matplotlib.lines import Line2D

    key = [Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black", linestyle="none",
                  label="start")]
    if with_end:
        key.append(Line2D([], [], marker="o", color="grey", markeredgecolor="black", linestyle="none",
                          label="end"))
    if with_minimum:
        key.append(Line2D([], [], marker="*", color="gold", markeredgecolor="black", markersize=11,
                          linestyle="none", label="minimum"))
    return key


def _last_finite(arr: np.ndarray) -> int:
    """Index of the last step whose point is finite (a diverged path ends in inf/nan)."""
    ok = np.isfinite(arr).all(axis=1)
    return int(np.nonzero(ok)[0][-1]) if ok.any() else -1


def _colours() -> list[str]:
    return matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])


def plot_paths(loss_fn: LossFn, paths: Mapping[str, Any], *, xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), levels: int = 30,
               log_levels: bool = True, minimum: tuple[float, float] | None = None, ncols: int = 3,
               title: str | None = None, show: bool = True) -> "Figure":
    """Each optimiser's path on the contours of ``loss_fn``, one small panel each, and a large overview of all.

    ``loss_fn`` maps (N, 2) points to (N,) losses; ``paths`` is ``{name: (T, 2) points}`` (a tensor, an array
    or a list of (2,) tensors), step 0 first. Small panels are ``ncols`` wide; each marks its path's start ○
    and end ●, and gives the final loss (or the step where the path left the finite numbers). ``minimum`` is
    starred everywhere. Returns the figure.
    """
    import matplotlib.pyplot as plt

    arrs = _paths(paths)
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    gx, gy, z = _surface(loss_fn, xlim, ylim)
    lv = _levels(z, levels, log_levels)
    colours = _colours()
    n = len(arrs)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    # The overview is a square rows × rows panels big, on the left of the grid of small panels.
    aspect = float(np.clip((ylim[1] - ylim[0]) / (xlim[1] - xlim[0]), 0.4, 2.5))
    unit = 2.9
    fig = plt.figure(figsize=(unit * (rows + cols), unit * aspect * rows + 0.35 + 0.35 * (title is not None)),
                     layout="constrained")
    grid = fig.add_gridspec(rows, rows + cols)
    overview = fig.add_subplot(grid[:, :rows])
    small = [fig.add_subplot(grid[i // cols, rows + i % cols], sharex=overview, sharey=overview) for i in range(n)]

    for i, (ax, (name, arr)) in enumerate(zip(small, arrs.items())):
        c = colours[i % len(colours)]
        _contours(ax, gx, gy, z, lv)
        ax.plot(arr[:, 0], arr[:, 1], color=c, linewidth=1.6, marker="." if len(arr) <= 400 else None,
                markersize=2.5, zorder=3)
        ax.plot(*arr[0], marker="o", markerfacecolor="white", markeredgecolor=c, markeredgewidth=1.5,
                markersize=7, linestyle="none", zorder=4)
        end = _last_finite(arr)
        if end >= 0:
            ax.plot(*arr[end], marker="o", color=c, markeredgecolor="black", markeredgewidth=0.6, markersize=7,
                    linestyle="none", zorder=5)
        if end == len(arr) - 1:
            final = float(_losses(loss_fn, arr[-1:])[0])
            ax.set_title(f"{name}  (final loss {final:.3g})", fontsize=10)
        else:
            ax.set_title(f"{name}  (diverged at step {end + 1})", fontsize=10, color="firebrick")
        _style(ax, xlim, ylim, minimum)
        # Tick labels only on the outer edge of the grid of small panels.
        ax.tick_params(labelsize=8, labelleft=(i % cols == 0),
                       labelbottom=(i + cols >= n))

    _contours(overview, gx, gy, z, lv)
    handles = []
    for i, (name, arr) in enumerate(arrs.items()):
        c = colours[i % len(colours)]
        handles += overview.plot(arr[:, 0], arr[:, 1], color=c, linewidth=1.8, label=name, zorder=3)
        end = _last_finite(arr)
        if end >= 0:
            overview.plot(*arr[end], marker="o", color=c, markeredgecolor="black", markeredgewidth=0.6,
                          markersize=6, linestyle="none", zorder=5)
    starts = {tuple(a[0]) for a in arrs.values()}
    for start in starts:
        overview.plot(*start, marker="o", markerfacecolor="white", markeredgecolor="black", markersize=8,
                      linestyle="none", zorder=4)
    _style(overview, xlim, ylim, minimum)
    overview.set_title("all together", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    for axis in (overview.xaxis, overview.yaxis):         # shared by every panel: few enough for the small ones
        axis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    overview.set_xlabel("x")
    overview.set_ylabel("y")
    overview.legend(handles=[*handles, *_marker_key(minimum is not None)], fontsize=9,
                    loc="best", framealpha=0.9)
    if title is not None:
        fig.suptitle(title)
    if show:
        show_figure(fig)
    return fig


def animate_paths(loss_fn: LossFn, paths: Mapping[str, Any], *, xlim=(-2.0, 2.0), ylim=(-1.0, 3.0),
                  frames: int = 60, interval_ms: int = 80, minimum: tuple[float, float] | None = None,
                  levels: int = 30, log_levels: bool = True, title: str | None = None) -> "FuncAnimation":
    """All paths on one contour plot, drawn step by step: ``frames`` frames at evenly spaced steps, the last
    one the whole path (paths may have different lengths). Show it with
    ``IPython.display.HTML(animation_html(anim))``, or ``anim.to_jshtml()``: both embed every frame (no ffmpeg
    needed), but the latter's player loads its button icons from the internet. The figure is closed, so a
    notebook shows the animation only, not also a static copy of it."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    arrs = _paths(paths)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms}")
    gx, gy, z = _surface(loss_fn, xlim, ylim)
    colours = _colours()
    aspect = float(np.clip((ylim[1] - ylim[0]) / (xlim[1] - xlim[0]), 0.4, 2.5))
    # Small and at a modest dpi: every frame is embedded in the notebook as a PNG.
    fig, ax = plt.subplots(figsize=(5.6, 4.6 * aspect + 0.3), dpi=72, layout="constrained")
    # Every other contour line: a frame's PNG is half the size, and the fill still shows every level.
    _contours(ax, gx, gy, z, _levels(z, levels, log_levels), line_every=2)
    _style(ax, xlim, ylim, minimum)
    for start in {tuple(a[0]) for a in arrs.values()}:
        ax.plot(*start, marker="o", markerfacecolor="white", markeredgecolor="black", markersize=8,
                linestyle="none", zorder=4)
    lines, heads = [], []
    for i, name in enumerate(arrs):
        c = colours[i % len(colours)]
        lines.append(ax.plot([], [], color=c, linewidth=1.8, label=name, zorder=3)[0])
        heads.append(ax.plot([], [], marker="o", color=c, markeredgecolor="black", markeredgewidth=0.6,
                             markersize=7, linestyle="none", zorder=5)[0])
    ax.legend(handles=[*lines, *_marker_key(minimum is not None, with_end=False)], fontsize=9, loc="best",
              framealpha=0.9)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    longest = max(len(a) for a in arrs.values())
    steps = np.unique(np.linspace(1, longest, min(frames, longest)).round().astype(int))   # points shown per frame
    prefix = f"{title}: " if title else ""
    label = ax.set_title(f"{prefix}step {longest - 1} of {longest - 1}")
    # Lay the figure out once, for the longest title, then freeze it: the layout engine would otherwise run
    # again for every frame, and cost more than drawing it.
    fig.canvas.draw()
    fig.set_layout_engine(None)

    def draw(k: int) -> list:
        shown = int(steps[k])
        for arr, line, head in zip(arrs.values(), lines, heads):
            m = min(shown, len(arr))
            line.set_data(arr[:m, 0], arr[:m, 1])
            head.set_data([arr[m - 1, 0]], [arr[m - 1, 1]])
        label.set_text(f"{prefix}step {shown - 1} of {longest - 1}")
        return [*lines, *heads, label]

    anim = FuncAnimation(fig, draw, frames=len(steps), interval=interval_ms, blit=False)
    plt.close(fig)
    return anim


# matplotlib's player draws its buttons with Font Awesome icons from a CDN: offline they are blank squares.
# Their stand-ins are in every common font (DejaVu, Liberation): the media-control block (⏮ ⏸ ⏭) is not,
# and shows as blank boxes in a browser without an emoji font.
_ICONS = {"fa fa-minus": "−", "fa fa-fast-backward": "|◀", "fa fa-step-backward": "◁",
          "fa fa-play fa-flip-horizontal": "◀", "fa fa-pause": "‖", "fa fa-play": "▶",
          "fa fa-step-forward": "▷", "fa fa-fast-forward": "▶|", "fa fa-plus": "+"}


def animation_html(anim: "FuncAnimation", *, frame_format: str = "jpeg") -> str:
    """``anim.to_jshtml()`` with nothing fetched from the internet: every frame embedded in the HTML, and the
    player's icons, which matplotlib loads from a CDN stylesheet, replaced by Unicode symbols. For
    ``IPython.display.HTML``; it works offline, in exported HTML and in slides.

    ``frame_format="jpeg"`` keeps a notebook light (~20 KB a frame against ~60 KB as ``"png"``, which is
    lossless). An animation already turned into HTML keeps the frames it was first rendered with.
    """
    if frame_format not in ("png", "jpeg"):
        raise ValueError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        html = anim.to_jshtml()
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*"\s*/?>', "", html)
    return re.sub(r'<i class="(fa [^"]+)"></i>', lambda m: _ICONS.get(m.group(1), "·"), html)
