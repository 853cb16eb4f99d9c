"""Learning curves: :func:`display_error_curves` of one run or several, best epochs marked."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np

from ._axes import _clean_log_axis, _EpochLocator, _Percent
from .display import show_figure
from ._labels import _STAR_SIZE, _BestLabelLayout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["display_error_curves"]

_METRICS = ("loss", "error")


def _is_run(obj: Any) -> bool:
    keys = [f"{split}_{m}" for split in ("train", "val") for m in _METRICS]
    if isinstance(obj, Mapping):
        return any(k in obj for k in keys)
    return any(hasattr(obj, k) for k in keys)


def _get(run: Any, key: str) -> Any:
    if isinstance(run, Mapping):
        return run.get(key)
    return getattr(run, key, None)


def _normalise_runs(histories: Any) -> dict[str | None, Any]:
    """One run -> {None: run}; a mapping of runs stays; a list of runs gets labels "run 1", ..."""
    if _is_run(histories):
        return {None: histories}
    if isinstance(histories, Mapping):
        if not histories:
            raise ValueError("histories is empty: pass a History or a mapping label -> History")
        return {str(label): run for label, run in histories.items()}
    if isinstance(histories, Sequence) and not isinstance(histories, str) and histories:
        return {f"run {i + 1}": run for i, run in enumerate(histories)}
    raise TypeError(
        "histories must be a History (or a dict with train_loss/val_loss/... lists) "
        f"or a mapping label -> History, got {type(histories).__name__}"
    )


def _series(run: Any, label: str | None, metric: str) -> tuple[np.ndarray | None, np.ndarray]:
    """(train, val) values of ``metric`` for one run, validated; train is None when not logged."""
    which = "the run" if label is None else f"run {label!r}"
    if not _is_run(run):
        raise TypeError(f"{which} is a {type(run).__name__}, not a History or a mapping with train_/val_ lists")
    values = {}
    for key in (f"train_{metric}", f"val_{metric}"):
        got = _get(run, key)
        values[key] = None if got is None or len(got) == 0 else np.array([float(v) for v in got], dtype=float)
    train, val = values[f"train_{metric}"], values[f"val_{metric}"]
    if val is None:
        hint = " (pass val_error= to History.log)" if metric == "error" else ""
        raise ValueError(f"{which} has no 'val_{metric}' values to plot{hint}")
    # Training error is often not measured (it costs a pass over the data): plot validation alone then.
    if train is not None and len(train) != len(val):
        raise ValueError(
            f"{which}: train_{metric} has {len(train)} epochs but val_{metric} has {len(val)}; "
            "log both once per epoch"
        )
    return train, val


def display_error_curves(
    histories: Any,
    *,
    metric: str = "loss",
    log_scale: bool = False,
    title: str | None = None,
    ax: "Axes | None" = None,
    show: bool = True,
) -> "Figure":
    """Plot per-epoch train (dashed) and validation (solid) curves of one or several runs.

    ``histories`` is one run (a ``course.training.History``, or any object or
    mapping with ``train_loss``/``val_loss``/``train_error``/``val_error`` lists)
    or a mapping ``label -> run`` such as ``{"lr=0.01": h1, "lr=0.1": h2}``.
    ``metric`` is ``"loss"`` or ``"error"`` (fractions in [0, 1], shown as
    percent). Each run's best validation epoch (lowest value) is marked with a
    star and labelled; labels of several runs are placed so they do not overlap.
    Draws into ``ax`` if given, else a new figure; returns the figure (which, once
    shown, prints nothing more when the call ends a Jupyter cell).
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    runs = _normalise_runs(histories)
    data = {label: _series(run, label, metric) for label, run in runs.items()}  # validate before drawing

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    else:
        fig = ax.figure
    from matplotlib.lines import Line2D

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    fmt = (lambda v: f"{100 * v:.3g}%") if metric == "error" else (lambda v: f"{v:.4g}")
    run_handles = []
    best_items = []
    drew_train = drew_single = False
    for i, (label, (train, val)) in enumerate(data.items()):
        colour = colours[i % len(colours)]
        epochs = np.arange(1, len(val) + 1)
        # A one-epoch run is a single point: a line through it has zero length and is invisible.
        single = len(val) == 1
        dot = {"marker": "o", "markersize": 6} if single else {}
        drew_single |= single
        if train is not None:
            ax.plot(epochs, train, linestyle="--", color=colour, alpha=0.8, **dot,
                    **({"markerfacecolor": "white"} if single else {}),
                    label="train" if label is None else f"{label} (train)")
            drew_train = True
        line, = ax.plot(epochs, val, linestyle="-", color=colour, **dot,
                        label="validation" if label is None else f"{label} (validation)")
        run_handles.append((line, label))
        if np.isnan(val).all():
            continue
        best = int(np.nanargmin(val))
        star, = ax.plot([epochs[best]], [val[best]], marker="*", markersize=_STAR_SIZE, color=colour,
                        markeredgecolor="black", linestyle="none", zorder=5, gid=f"best:{label}")
        note = ax.annotate(
            f"epoch {epochs[best]}: {fmt(val[best])}", xy=(epochs[best], val[best]),
            xytext=(0, 0), textcoords="offset points", ha="center", va="center", fontsize=9, color=colour,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.85},
            arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.8, "shrinkA": 0, "shrinkB": 0},
            zorder=4,
        )
        note.set_in_layout(False)  # always kept inside the axes, so it never needs layout room
        best_items.append((note, star))
    if best_items:
        ax.add_artist(_BestLabelLayout(best_items))

    if log_scale:
        ax.set_yscale("log")
    if metric == "error":
        if log_scale:
            _clean_log_axis(ax, fmt)
        else:
            ax.yaxis.set_major_formatter(_Percent())
    elif log_scale:
        _clean_log_axis(ax, lambda v: f"{v:.3g}")
    ax.xaxis.set_major_locator(_EpochLocator())
    lo, hi = ax.get_xlim()
    if hi - lo < 2:  # one or two epochs: keep a sensible width around them
        ax.set_xlim(min(lo, 0.5), max(hi, max(len(val) for _, val in data.values()) + 0.5))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error rate" if metric == "error" else "loss")
    ax.set_title(title if title is not None else f"Training and validation {metric}")
    ax.grid(True, which="major", alpha=0.3)
    ax.margins(y=0.12)  # room for the labels above the best points

    # Colour tells runs apart, line style tells train from validation: say so once each,
    # and only for what was drawn.
    dot = {"marker": "o", "markersize": 5} if drew_single else {}
    style = []
    if drew_train:
        style.append(Line2D([], [], color="grey", linestyle="--", label="train", **dot,
                            **({"markerfacecolor": "white"} if drew_single else {})))
    style.append(Line2D([], [], color="grey", linestyle="-", label="validation", **dot))
    if best_items:
        style.append(Line2D([], [], color="grey", marker="*", markersize=10, markeredgecolor="black",
                            linestyle="none", label="best validation"))
    if len(run_handles) == 1 and run_handles[0][1] is None:
        ax.legend(handles=style, loc="best")
    else:
        runs_legend = [Line2D([], [], color=line.get_color(), linewidth=3, label=label) for line, label in run_handles]
        ax.legend(handles=runs_legend + style, loc="best", fontsize=9)
    if show:
        show_figure(fig)
    return fig
