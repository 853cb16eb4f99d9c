"""Image grids: :func:`show_images` with labels and predictions, wrong ones in red."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_images"]


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
    # Size the figure to its content: cells as wide as the images need (1.6 in each), rows as
    # tall as the images' aspect plus their captions (9 pt lines), so no blank bands between rows.
    cell = 1.6
    row = cell * arr.shape[2] / arr.shape[3] + (0.16 * caption_lines + 0.06 if caption_lines else 0.0)
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, row * rows + 0.35 * (title is not None)),
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
        show_figure(fig)
    return fig
