"""Plots the labs need again and again: learning curves and image grids.

Both functions work inline in Jupyter and headless (the Agg backend, in CI and
grading): they only open a pyplot figure when no ``ax`` is given, only call
``plt.show()`` on a backend that can show something, and always return the
figure. In Jupyter, end the call with ``;`` (or assign the result) so the
returned figure is not displayed a second time.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["display_error_curves", "show_images"]

_METRICS = ("loss", "error")
_FALLBACK_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _non_interactive_backends() -> set[str]:
    try:  # matplotlib >= 3.9 knows its own list
        from matplotlib.backends import BackendFilter, backend_registry

        return set(backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE))
    except ImportError:
        return _FALLBACK_NON_INTERACTIVE


def _maybe_show(fig: "Figure") -> None:
    """``plt.show()`` on inline/GUI backends; nothing on Agg & co, where it would only warn."""
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if "inline" in backend or backend not in _non_interactive_backends():
        plt.show()


# ---------------------------------------------------------------------------
# Learning curves
# ---------------------------------------------------------------------------

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


def _sparse_percent(value: float, _pos: int | None = None) -> str:
    """Minor-tick label on a log percent axis: only ticks whose leading digit is 2 or 5."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    if round(mantissa) not in (2, 5) or abs(mantissa - round(mantissa)) > 1e-6:
        return ""
    return f"{100 * value:.3g}%"


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
    percent). Each run's best validation epoch (lowest value) is marked and
    annotated. Draws into ``ax`` if given, else a new figure; returns the figure.
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
    from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

    colours = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    fmt = (lambda v: f"{100 * v:.3g}%") if metric == "error" else (lambda v: f"{v:.4g}")
    run_handles = []
    for i, (label, (train, val)) in enumerate(data.items()):
        colour = colours[i % len(colours)]
        epochs = np.arange(1, len(val) + 1)
        if train is not None:
            ax.plot(epochs, train, linestyle="--", color=colour, alpha=0.8,
                    label="train" if label is None else f"{label} (train)")
        line, = ax.plot(epochs, val, linestyle="-", color=colour,
                        label="validation" if label is None else f"{label} (validation)")
        run_handles.append((line, label))
        if np.isnan(val).all():
            continue
        best = int(np.nanargmin(val))
        ax.plot([epochs[best]], [val[best]], marker="*", markersize=14, color=colour,
                markeredgecolor="black", linestyle="none", zorder=5, gid=f"best:{label}")
        # Stack the labels of several runs so they do not overlap each other.
        ax.annotate(f"epoch {epochs[best]}: {fmt(val[best])}", xy=(epochs[best], val[best]),
                    xytext=(0, 12 + 14 * i), textcoords="offset points", ha="center", fontsize=9,
                    color=colour, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.85})

    if log_scale:
        ax.set_yscale("log")
    if metric == "error":
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        if log_scale:
            # Labelling every minor tick of a log axis crowds it; 2x and 5x are enough to read values.
            ax.yaxis.set_minor_formatter(FuncFormatter(_sparse_percent))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error rate" if metric == "error" else "loss")
    ax.set_title(title if title is not None else f"Training and validation {metric}")
    ax.grid(True, which="major", alpha=0.3)
    ax.margins(y=0.12)  # room for the annotations above the best points

    # Colour tells runs apart, line style tells train from validation: say so once each.
    style = [Line2D([], [], color="grey", linestyle="--", label="train"),
             Line2D([], [], color="grey", linestyle="-", label="validation"),
             Line2D([], [], color="grey", marker="*", markersize=10, markeredgecolor="black",
                    linestyle="none", label="best validation")]
    if len(run_handles) == 1 and run_handles[0][1] is None:
        ax.legend(handles=style, loc="best")
    else:
        runs_legend = [Line2D([], [], color=line.get_color(), linewidth=3, label=label) for line, label in run_handles]
        ax.legend(handles=runs_legend + style, loc="best", fontsize=9)
    if show:
        _maybe_show(fig)
    return fig


# ---------------------------------------------------------------------------
# Image grids
# ---------------------------------------------------------------------------

def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _class_indices(values: Any, n: int, what: str) -> list[Any]:
    arr = _as_numpy(values)
    if arr.ndim == 2 and what == "predictions":
        arr = arr.argmax(axis=1)  # scores/logits (N, K) -> predicted class
    arr = arr.reshape(-1) if arr.ndim <= 1 else arr
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{what} must have one entry per image ({n}), got shape {tuple(np.shape(values))}")
    return [v.item() if hasattr(v, "item") else v for v in arr]


def _name(value: Any, classes: Sequence[str] | None) -> str:
    if classes is not None and isinstance(value, (int, np.integer)):
        if not 0 <= value < len(classes):
            raise ValueError(f"class index {value} is out of range for {len(classes)} classes")
        return str(classes[value])
    return str(value)


def show_images(
    images: Any,
    labels: Any = None,
    predictions: Any = None,
    classes: Sequence[str] | None = None,
    *,
    ncols: int = 8,
    title: str | None = None,
    show: bool = True,
) -> "Figure":
    """Show a grid of images with their labels and, optionally, predictions.

    ``images``: (N, 1, H, W) grey, (N, 3, H, W) colour or (N, H, W), values in
    [0, 1]. ``labels``/``predictions``: N class indices (predictions may also be
    (N, K) scores; the argmax is used); ``classes`` maps indices to names.
    Wrong predictions are captioned in red. Returns the figure.
    """
    arr = _as_numpy(images)
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, H, W) -> (N, 1, H, W)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        hint = " (channels last? use images.permute(0, 3, 1, 2))" if arr.ndim == 4 and arr.shape[-1] in (1, 3) else ""
        raise ValueError(f"images must be (N, 1, H, W), (N, 3, H, W) or (N, H, W), got {tuple(arr.shape)}{hint}")
    n = arr.shape[0]
    if n == 0:
        raise ValueError("no images to show")
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    arr = arr.astype(np.float32)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if lo < -1e-3 or hi > 1 + 1e-3:
        warnings.warn(
            f"images lie in [{lo:.3g}, {hi:.3g}], not [0, 1] (normalised?); showing each rescaled to [0, 1]",
            stacklevel=2,
        )
        mins = arr.min(axis=(1, 2, 3), keepdims=True)
        spans = np.maximum(arr.max(axis=(1, 2, 3), keepdims=True) - mins, 1e-12)
        arr = (arr - mins) / spans
    arr = np.clip(arr, 0, 1)
    label_list = None if labels is None else _class_indices(labels, n, "labels")
    pred_list = None if predictions is None else _class_indices(predictions, n, "predictions")

    import matplotlib.pyplot as plt

    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    caption_lines = (label_list is not None) + (pred_list is not None)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, (1.6 + 0.3 * caption_lines) * rows + 0.4 * (title is not None)),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        image = arr[i]
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
        lines = []
        wrong = False
        if label_list is not None:
            lines.append(_name(label_list[i], classes))
        if pred_list is not None:
            lines.append(f"pred: {_name(pred_list[i], classes)}")
            wrong = label_list is not None and pred_list[i] != label_list[i]
        if lines:
            ax.set_title("\n".join(lines), fontsize=9, color="red" if wrong else "black")
    if title is not None:
        fig.suptitle(title)
    if show:
        _maybe_show(fig)
    return fig
