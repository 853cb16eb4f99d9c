"""Best-epoch stars' labels, placed at draw time so they overlap neither each other nor the stars."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.artist import Artist

from ._geometry import _crosses, _curve_samples, _middle, _nearest, _overlap, _segments_cross


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
