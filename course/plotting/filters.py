"""Learned weights as pictures: :func:`show_filters` for linear-classifier templates and conv filters."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_filters", "scale_filters"]


def scale_filters(weights: Any, scale: str = "each") -> np.ndarray:
    """Map weights (N, C, H, W) of any range to [0, 1] for display, as float32 numpy.

    ``scale="each"`` stretches every filter's own min..max to 0..1 (shapes show best);
    ``"shared"`` uses one symmetric range ±max|w| for all, so 0.5 is a zero weight and
    filters can be compared in strength.
    """
    arr = weights.detach().cpu().float().numpy() if torch.is_tensor(weights) else np.asarray(weights, np.float32)
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, H, W) -> (N, 1, H, W)
    if arr.ndim != 4:
        raise ValueError(f"filters must be (N, C, H, W) or (N, H, W), got shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError("filters contain NaN or inf values — did training diverge?")
    if scale == "each":
        lo = arr.min(axis=(1, 2, 3), keepdims=True)
        span = arr.max(axis=(1, 2, 3), keepdims=True) - lo
        return ((arr - lo) / np.maximum(span, 1e-12)).astype(np.float32)
    if scale == "shared":
        bound = max(float(np.abs(arr).max()), 1e-12)
        return (0.5 + arr / (2 * bound)).astype(np.float32)
    raise ValueError(f"scale must be 'each' or 'shared', got {scale!r}")


def show_filters(
    weights: Any,
    titles: Sequence[str] | None = None,
    *,
    scale: str = "each",
    ncols: int = 10,
    title: str | None = None,
    cmap: str = "RdBu_r",
    show: bool = True,
) -> "Figure":
    """Show N filters (N, C, H, W) as a grid of pictures: RGB when C = 3, a diverging map per channel otherwise.

    A linear classifier's W (10, 3072) is ``show_filters(W.reshape(10, 3, 32, 32), classes)``: each row of W
    is a template that the scores match images against. Conv filters (out, in, k, k) show their first input
    channel (or RGB when in = 3). Returns the figure.
    """
    arr = scale_filters(weights, scale)
    n, c = arr.shape[:2]
    if n == 0:
        raise ValueError("no filters to show")
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} filters")
    import matplotlib.pyplot as plt

    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)
    cell = 1.3 if arr.shape[-1] > 8 else 0.8
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, (cell + 0.25 * (titles is not None)) * rows
                                                  + 0.4 * (title is not None)), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        if c == 3:
            ax.imshow(arr[i].transpose(1, 2, 0), interpolation="nearest")  # (3, H, W) -> (H, W, 3)
        else:
            ax.imshow(arr[i, 0], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if title is not None:
        fig.suptitle(title)
    if show:
        show_figure(fig)
    return fig
