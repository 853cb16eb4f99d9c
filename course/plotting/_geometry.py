"""Pixel geometry for the best-epoch label layout: points along curves, boxes and segments."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _curve_samples(lines: Sequence[Any], step: float) -> np.ndarray:
    """Points every ``step`` pixels along the drawn ``lines`` (display coordinates), shape (M, 2)."""
    chunks = [np.empty((0, 2))]
    for line in lines:
        try:
            xy = np.asarray(line.get_transform().transform_path(line.get_path()).vertices, dtype=float)
        except (TypeError, ValueError):  # a foreign artist in a user's axes: just not avoided
            continue
        if len(xy) == 0:
            continue
        a, b = xy[:-1], xy[1:]
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        a, b = a[ok], b[ok]
        counts = np.maximum((np.hypot(*(b - a).T) // step).astype(int), 1)
        t = np.concatenate([np.linspace(0, 1, n + 1) for n in counts]) if len(counts) else np.empty(0)
        starts = np.repeat(a, counts + 1, axis=0)
        chunks.append(starts + (np.repeat(b, counts + 1, axis=0) - starts) * t[:, None])
        finite = xy[np.isfinite(xy).all(axis=1)]
        if len(finite) == 1:  # a one-epoch curve is a single point
            chunks.append(finite)
    samples = np.concatenate(chunks)
    return samples[:: -(-len(samples) // 5000)]  # long noisy curves: a thinned sample keeps layout fast


# Geometry on arrays of boxes (..., 4) = (x0, y0, x1, y1) and points (..., 2), in pixels.

def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of boxes ``a`` and ``b`` (broadcast)."""
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def _crosses(p: np.ndarray, q: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Whether segments p-q pass through ``box`` (Liang-Barsky clipping, broadcast)."""
    shape = np.broadcast_shapes(np.shape(p)[:-1], np.shape(q)[:-1], np.shape(box)[:-1])
    p, q = np.broadcast_to(p, (*shape, 2)), np.broadcast_to(q, (*shape, 2))
    box = np.broadcast_to(box, (*shape, 4))
    t0, t1 = np.zeros(shape), np.ones(shape)
    hit = np.ones(shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in (0, 1):
            d, start = q[..., axis] - p[..., axis], p[..., axis]
            lo, hi = box[..., axis], box[..., axis + 2]
            flat = np.abs(d) < 1e-12
            hit &= ~flat | ((lo < start) & (start < hi))
            ta, tb = (lo - start) / d, (hi - start) / d
            t0 = np.where(flat, t0, np.maximum(t0, np.minimum(ta, tb)))
            t1 = np.where(flat, t1, np.minimum(t1, np.maximum(ta, tb)))
    return hit & (t0 < t1)


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Whether segments p1-p2 and q1-q2 cross properly (broadcast). Touching at an end, as two
    leader lines to the same star do, does not count."""
    def side(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    return (side(q1, q2, p1) * side(q1, q2, p2) < 0) & (side(p1, p2, q1) * side(p1, p2, q2) < 0)


def _middle(box: np.ndarray) -> np.ndarray:
    return (box[..., :2] + box[..., 2:]) / 2


def _nearest(box: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The point of ``box`` nearest to ``point``, where a leader line from the box starts."""
    return np.clip(point, box[..., :2], box[..., 2:])
