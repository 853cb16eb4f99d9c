"""Plots the labs need again and again: learning curves and image grids.

Both functions work inline in Jupyter and headless (the Agg backend, in CI and
grading): they only open a pyplot figure when no ``ax`` is given, only call
``plt.show()`` on a backend that can show something, and always return the
figure. A figure they have just shown does not display a second time when the
call is the last line of a Jupyter cell (no ``;`` needed); from the next cell on
it displays normally, e.g. ``fig`` on its own line shows it again.
"""
from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import torch
from matplotlib.artist import Artist
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator, PercentFormatter

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


def _maybe_show(fig: "Figure") -> bool:
    """``plt.show()`` on inline/GUI backends; nothing on Agg & co, where it would only warn.

    Returns whether the figure was shown.
    """
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if "inline" in backend or backend not in _non_interactive_backends():
        plt.show()
        return True
    return False


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


class _LogMinorLabels(Formatter):
    """Minor-tick labels of a log axis as plain numbers ("0.2", "20%"), never "2x10^-1".

    How many are labelled depends on the span shown: most leading digits on a short
    axis (which might otherwise show no label at all), fewer as it grows, none beyond
    about two decades (the decade labels suffice; labelling every minor tick crowds it).
    """

    def __init__(self, fmt: Callable[[float], str]) -> None:
        super().__init__()
        self.fmt = fmt

    def __call__(self, value: float, pos: int | None = None) -> str:
        if not value > 0:
            return ""
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        digit = round(mantissa)
        if abs(mantissa - digit) > 1e-6:
            return ""
        lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (0.0, 0.0)
        decades = math.log10(hi / lo) if 0 < lo < hi else 1.0
        wanted = ((2, 3, 4, 5, 6, 8) if decades <= 0.6 else (2, 3, 5) if decades <= 1.2
                  else (2, 5) if decades <= 2.2 else ())
        return self.fmt(value) if digit in wanted else ""


class _Percent(PercentFormatter):
    """Fractions as percent, without trailing zeros ("10%", "12.5%", not "10.0%")."""

    def __init__(self) -> None:
        super().__init__(xmax=1)

    def format_pct(self, x: float, display_range: float) -> str:
        text = super().format_pct(x, display_range)
        number, sign = text[:-len(self.symbol)], self.symbol
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        return number + sign


class _EpochLocator(MaxNLocator):
    """Ticks on whole epochs from 1 on: never a tick at epoch 0 or 2.5."""

    def __init__(self) -> None:
        super().__init__(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        ticks = np.asarray(super().tick_values(vmin, vmax), dtype=float)
        ticks = ticks[np.isclose(ticks, np.round(ticks)) & (ticks >= 1 - 1e-9)]
        if len(ticks) == 0:  # MaxNLocator falls back to fractions on very short ranges
            lo, hi = sorted((vmin, vmax))
            ticks = np.arange(max(1.0, math.ceil(lo)), math.floor(hi) + 1.0)
        return np.round(ticks)


# Best-epoch stars and their labels. Several runs often reach their best at the same or
# neighbouring epochs, so fixed offsets overlap; the labels are placed at draw time, when
# the axes' final size is known (constrained layout, savefig's dpi, a resized window).
_STAR_SIZE = 14.0  # points
_LABEL_GAP = 3.0  # points between a star and its label, and between two labels
# Preference between equally free spots: above the star first (curves at a minimum rise
# on both sides, the train curve usually runs below), then beside it, then below.
_DIRECTIONS = (  # (unit direction, extra cost in points)
    ((0.0, 1.0), 0.0), ((1.0, 1.0), 4.0), ((-1.0, 1.0), 4.0),  # above, above right, above left
    ((1.0, 0.0), 8.0), ((-1.0, 0.0), 8.0),  # right, left
    ((0.0, -1.0), 6.0), ((1.0, -1.0), 10.0), ((-1.0, -1.0), 10.0),  # below, below right, below left
)


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


@dataclass
class _Tag:
    """One best-epoch label during layout (display coordinates, pixels)."""

    label: Any  # the Annotation
    centre: np.ndarray  # its star's centre
    w: float
    h: float
    clearance: float  # from the star's centre to the near side of a label right above it


class _BestLabelLayout(Artist):
    """Invisible artist that places the best-epoch labels each time the figure is drawn.

    It draws before the labels (lower zorder), so they are drawn where it put them.
    Each label goes to the free spot near its star that overlaps no other label and no
    star, stays inside the axes, and covers as little of the curves as possible; a
    leader line joins label and star (hidden under the star when they touch). Labels of
    stars so close that their labels would collide are also tried as a column beside the
    cluster or a row above or below it, in the stars' order, so leader lines do not cross.
    Stars stay on their data points: runs with the same best point share one spot.
    """

    def __init__(self, items: list[tuple[Any, Any]]) -> None:  # (Annotation, star Line2D)
        super().__init__()
        self._items = items
        self.set_zorder(-1)
        self.set_in_layout(False)

    def draw(self, renderer: Any) -> None:
        ax = self.axes
        if ax is None or not self.get_visible() or not self._items:
            return
        self._pt = pt = renderer.points_to_pixels(1.0)
        self._gap = _LABEL_GAP * pt
        tags: list[_Tag] = []
        stars = []
        for label, star in self._items:
            centre = ax.transData.transform((star.get_xdata()[0], star.get_ydata()[0]))
            radius = 0.45 * star.get_markersize() * pt
            if not np.isfinite(centre).all():
                continue
            stars.append(np.r_[centre - radius, centre + radius])
            if not label.get_visible():
                continue
            label.update_positions(renderer)
            label.update_bbox_position_size(renderer)
            extent = label.get_bbox_patch().get_window_extent(renderer)
            # + the frame's line width
            tags.append(_Tag(label, centre, extent.width + 2 * pt, extent.height + 2 * pt, radius + self._gap))
        self._stars = np.array(stars).reshape(-1, 4)
        frame = ax.bbox
        self._inner = np.array([frame.x0, frame.y0, frame.x1, frame.y1]) + np.array([1, 1, -1, -1]) * 2 * pt
        star_lines = [star for _, star in self._items]
        self._samples = _curve_samples(
            [line for line in ax.get_lines() if line.get_visible() and line not in star_lines], step=2 * pt)
        self._placed: list[tuple[np.ndarray, np.ndarray]] = []  # (box, star centre)
        for group in self._clusters(tags):
            options = [self._greedy(group)]
            if len(group) > 1:
                for sets in (self._columns(group), self._rows(group)):
                    costs = self._set_costs(group, sets)
                    options.append((sets[int(np.argmin(costs))], float(costs.min())))
            boxes, _ = min(options, key=lambda bc: bc[1])
            for tag, box in zip(group, boxes):
                self._placed.append((box, tag.centre))
                self._move(tag, box)

    def _move(self, tag: _Tag, box: np.ndarray) -> None:
        """Put ``tag``'s label at ``box``, its leader line starting at the box's point nearest the star."""
        label, pt = tag.label, self._pt
        offset = tuple(round(float(v), 2) for v in (_middle(box) - tag.centre) / pt)
        start = (_nearest(box, tag.centre) - box[:2]) / np.maximum(box[2:] - box[:2], 1e-9)
        relpos = tuple(round(float(v), 3) for v in start)
        # Setting marks the figure stale (a GUI would draw again): only on change.
        if tuple(label.xyann) != offset:
            label.xyann = offset
        # Where on the label the leader starts: Annotation reads it from arrowprops only at creation.
        if getattr(label, "_arrow_relpos", None) is not None and tuple(label._arrow_relpos) != relpos:
            label._arrow_relpos = relpos
            label.stale = True

    # -- grouping and candidates ------------------------------------------------------

    def _clusters(self, tags: list[_Tag]) -> list[list[_Tag]]:
        """Tags whose labels right above their stars would collide (transitively), each group
        sorted top star first, biggest group first."""
        g = self._gap
        parent = list(range(len(tags)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        above = [np.array([t.centre[0] - t.w / 2 - g, t.centre[1] + t.clearance - g,
                           t.centre[0] + t.w / 2 + g, t.centre[1] + t.clearance + t.h + g]) for t in tags]
        for i in range(len(tags)):
            for j in range(i):
                if _overlap(above[i], above[j]) > 0:
                    parent[root(i)] = root(j)
        groups: dict[int, list[_Tag]] = {}
        for i, tag in enumerate(tags):
            groups.setdefault(root(i), []).append(tag)
        ordered = [sorted(grp, key=lambda t: -t.centre[1]) for grp in groups.values()]  # stable: run order on ties
        return sorted(ordered, key=lambda grp: (-len(grp), -grp[0].centre[1]))

    def _inside(self, boxes: np.ndarray) -> np.ndarray:
        """Candidate sets ``boxes`` (S, k, 4), each shifted as a whole to lie inside the axes (if it fits)."""
        lo = boxes[..., :2].min(axis=-2, keepdims=True)
        hi = boxes[..., 2:].max(axis=-2, keepdims=True)
        shift = np.maximum(self._inner[:2] - lo, 0.0) - np.maximum(hi - self._inner[2:], 0.0)
        return boxes + np.concatenate([shift, shift], axis=-1)

    def _around(self, tag: _Tag) -> tuple[np.ndarray, np.ndarray]:
        """Candidate boxes (N, 4) around one star, and each one's extra cost for its direction."""
        boxes, extras = [], []
        for ring in range(10):
            reach = tag.clearance + ring * (0.6 * tag.h + self._gap)
            for (dx, dy), extra in _DIRECTIONS:
                for shift in ((0.0, -0.3, 0.3, -0.5, 0.5) if dx == 0 else (0.0,)):
                    cx = tag.centre[0] + dx * (tag.w / 2 + (reach if dy == 0 else 0.5 * reach)) + shift * tag.w
                    cy = tag.centre[1] + dy * (tag.h / 2 + (reach if dx == 0 else 0.5 * reach))
                    boxes.append([cx - tag.w / 2, cy - tag.h / 2, cx + tag.w / 2, cy + tag.h / 2])
                    extras.append(extra * self._pt)
        return self._inside(np.array(boxes)[:, None, :])[:, 0, :], np.array(extras)

    def _greedy(self, group: list[_Tag]) -> tuple[np.ndarray, float]:
        """Each label of the group in turn at its own best spot; (boxes (k, 4), total cost)."""
        chosen: list[tuple[np.ndarray, np.ndarray]] = []
        total = 0.0
        for tag in group:
            boxes, extras = self._around(tag)
            costs = self._box_costs(boxes, tag.centre, self._placed + chosen) + extras
            best = int(np.argmin(costs))
            chosen.append((boxes[best], tag.centre))
            total += float(costs[best] - extras[best])
        return np.array([box for box, _ in chosen]), total

    def _columns(self, group: list[_Tag]) -> np.ndarray:
        """Candidate sets (S, k, 4): the labels stacked top star first, in a column beside the stars."""
        g = self._gap
        xs = [t.centre[0] for t in group]
        height = sum(t.h for t in group) + g * (len(group) - 1)
        mid = float(np.mean([t.centre[1] for t in group]))
        sets = []
        for side in (1, -1):
            for ring in range(6):
                edge = max(xs) + max(t.clearance for t in group) + ring * 2 * g
                if side < 0:
                    edge = min(xs) - max(t.clearance for t in group) - ring * 2 * g
                for shift in (0.0, 0.25, -0.25, 0.5, -0.5):
                    top = mid + height / 2 + shift * height
                    boxes = []
                    for t in group:
                        x0 = edge if side > 0 else edge - t.w
                        boxes.append([x0, top - t.h, x0 + t.w, top])
                        top -= t.h + g
                    sets.append(boxes)
        return self._inside(np.array(sets))

    def _rows(self, group: list[_Tag]) -> np.ndarray:
        """Candidate sets (S, k, 4): the labels side by side, in the stars' left-to-right order,
        above or below the stars."""
        g = self._gap
        by_x = sorted(range(len(group)), key=lambda i: (group[i].centre[0], -group[i].centre[1]))
        width = sum(t.w for t in group) + g * (len(group) - 1)
        mid = float(np.mean([t.centre[0] for t in group]))
        top_star = max(t.centre[1] for t in group)
        low_star = min(t.centre[1] for t in group)
        clearance = max(t.clearance for t in group)
        sets = []
        for side in (1, -1):
            for ring in range(6):
                reach = clearance + ring * 2 * g
                for shift in (0.0, 0.25, -0.25):
                    left = mid - width / 2 + shift * width
                    boxes = [[0.0] * 4 for _ in group]
                    for i in by_x:
                        t = group[i]
                        y0 = top_star + reach if side > 0 else low_star - reach - t.h
                        boxes[i] = [left, y0, left + t.w, y0 + t.h]
                        left += t.w + g
                    sets.append(boxes)
        return self._inside(np.array(sets))

    # -- cost -------------------------------------------------------------------------

    def _box_costs(self, boxes: np.ndarray, centre: np.ndarray,
                   others: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Badness of each candidate box (N, 4) for the label of the star at ``centre``.

        Hard: overlapping a label in ``others`` (boxes with their stars' centres, each (4,)
        and (2,) or one per candidate) or any star. Soft: leader lines crossing labels or
        each other, labels stacked in another order than their stars, curves under the
        label, and its distance from its star.
        """
        g, pt = self._gap, self._pt
        padded = boxes + np.array([-g, -g, g, g])
        start = _nearest(boxes, centre)
        clash = _overlap(boxes[:, None, :], self._stars[None, :, :]).sum(axis=1)
        crossings = np.zeros(len(boxes))
        disorder = np.zeros(len(boxes))
        for other, c in others:
            clash = clash + _overlap(padded, other)
            other_start = _nearest(other, c)
            crossings += (_crosses(start, centre, other) | _crosses(other_start, c, boxes)
                          | _segments_cross(start, centre, other_start, c))
            # Labels one above the other should be in the order of their stars.
            stacked = np.minimum(boxes[:, 2], other[..., 2]) > np.maximum(boxes[:, 0], other[..., 0])
            flipped = (centre[1] - c[1]) * (_middle(boxes)[:, 1] - _middle(other)[..., 1]) < 0
            disorder += stacked & flipped & (abs(centre[1] - c[1]) > pt)
        s = self._samples
        covered = ((s[None, :, 0] > boxes[:, None, 0]) & (s[None, :, 0] < boxes[:, None, 2])
                   & (s[None, :, 1] > boxes[:, None, 1]) & (s[None, :, 1] < boxes[:, None, 3])).sum(axis=1)
        distance = np.hypot(*(start - centre).T)
        distance = distance + distance**2 / (40 * pt)  # long leader lines read worse than short ones
        return 1e6 * clash + 60 * pt * crossings + 40 * pt * disorder + 0.5 * pt * covered + distance

    def _set_costs(self, group: list[_Tag], sets: np.ndarray) -> np.ndarray:
        """Total badness of each candidate set (S, k, 4) of boxes for ``group``."""
        total = np.zeros(len(sets))
        for k, tag in enumerate(group):
            earlier = [(sets[:, j, :], group[j].centre) for j in range(k)]
            total += self._box_costs(sets[:, k, :], tag.centre, self._placed + earlier)
        return total


def _clean_log_axis(ax: "Axes", fmt: Callable[[float], str]) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v) if v > 0 else ""))
    ax.yaxis.set_minor_formatter(_LogMinorLabels(fmt))


def _quiet_echo(fig: "Figure") -> None:
    """Let ``fig`` print nothing as the last expression of the running Jupyter cell.

    The figure was just shown; IPython would display the returned figure a second
    time (inline backend) or print its repr. For the rest of this cell the figure
    tells IPython it has displayed itself (the ``_ipython_display_`` protocol); from
    the next cell on, ``fig`` displays normally again.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "events"):
        return
    fig._ipython_display_ = _shown_already  # type: ignore[attr-defined]

    def restore(*_args: Any, **_kwargs: Any) -> None:
        fig.__dict__.pop("_ipython_display_", None)
        try:
            shell.events.unregister("post_run_cell", restore)
        except ValueError:
            pass

    shell.events.register("post_run_cell", restore)


def _shown_already() -> None:
    """``_ipython_display_`` of a figure shown in this cell: display nothing more."""


def _show(fig: "Figure") -> None:
    if _maybe_show(fig):
        _quiet_echo(fig)


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
        _show(fig)
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
        _show(fig)
    return fig
