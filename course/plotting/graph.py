"""Computational graphs: :func:`show_graph` draws a small graph left to right, each node with its forward value
and its gradient, as in the lectures' figures.

A graph is either a mapping ``name -> (op, [input names])`` for the computed nodes (names that only appear as
inputs are the leaves), with the values and gradients in two more mappings::

    show_graph({"q": ("+", ["x", "y"]), "f": ("*", ["q", "z"])},
               values={"x": -2, "y": 5, "z": -4, "q": 3, "f": -12}, grads={"x": -4, "y": -4, "z": 3, "q": -4, "f": 1})

or the output of a scalar autograd engine (an object with ``.data``, ``.grad``, and its inputs in ``._prev`` and
its operation in ``._op``, as in micrograd), whose graph is walked for you: ``show_graph(loss)``.
:func:`to_dot` writes the same graph as Graphviz DOT text, for those who have Graphviz.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .display import show_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["graph_of", "show_graph", "to_dot"]

Spec = Mapping[str, tuple[str, Sequence[str]]]

MAX_NODES = 60       # beyond this a drawing is unreadable: look at numbers instead
VALUE_COLOUR = "#1a7f37"
GRAD_COLOUR = "#c62828"


def graph_of(root: Any) -> tuple[dict[str, tuple[str, list[str]]], dict[str, float], dict[str, float],
                                 dict[str, str]]:
    """``(graph, values, grads, labels)`` of the graph that computed ``root`` (a micrograd-style Value).

    Nodes are walked without recursion, so deep graphs are fine; a node reached twice appears once. Labels come
    from a ``label`` attribute when the node has one, else from its operation.
    """
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(list(_inputs(node))))
    names = {id(node): f"n{i}" for i, node in enumerate(order)}   # order: inputs before the nodes they feed
    graph, values, grads, labels = {}, {}, {}, {}
    for node in order:
        name = names[id(node)]
        children = list(_inputs(node))
        if children:
            graph[name] = (str(getattr(node, "_op", "") or "?"), [names[id(c)] for c in children])
        values[name] = _number(getattr(node, "data", None))
        grads[name] = _number(getattr(node, "grad", None))
        label = getattr(node, "label", "")
        labels[name] = str(label) if label else (graph[name][0] if children else "")   # unnamed leaves: no title
    return graph, values, grads, labels


def _inputs(node: Any) -> Sequence[Any]:
    for attr in ("_prev", "_children", "children", "inputs"):
        got = getattr(node, attr, None)
        if got is not None:
            return list(got)
    return []


def _number(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _normalise(graph: Any, values: Mapping[str, Any] | None, grads: Mapping[str, Any] | None,
               labels: Mapping[str, str] | None) -> tuple[dict, dict, dict, dict]:
    if not isinstance(graph, Mapping):
        if not hasattr(graph, "data"):
            raise TypeError(f"graph must be a mapping name -> (op, [inputs]) or a Value-like object with .data, "
                            f"got {type(graph).__name__}")
        spec, vals, grds, lbls = graph_of(graph)
        return spec, vals, grds, {**lbls, **(labels or {})}
    spec = {}
    for name, entry in graph.items():
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2 and not isinstance(entry[1], str)):
            raise ValueError(f"graph[{name!r}] must be (op, [input names]), e.g. ('+', ['x', 'y']); got {entry!r}")
        spec[str(name)] = (str(entry[0]), [str(i) for i in entry[1]])
    vals = {str(k): _number(v) for k, v in (values or {}).items()}
    grds = {str(k): _number(v) for k, v in (grads or {}).items()}
    return spec, vals, grds, {str(k): str(v) for k, v in (labels or {}).items()}


def _names(spec: dict[str, tuple[str, list[str]]], *maps: Mapping[str, Any]) -> list[str]:
    """Every node: the inputs that are leaves (in order of first use), the computed nodes, then any other named."""
    names: list[str] = []
    for _, inputs in spec.values():
        names += [i for i in inputs if i not in spec and i not in names]
    names += list(spec)
    for m in maps:
        names += [n for n in m if n not in spec and n not in names]
    return names


def _depths(spec: dict[str, tuple[str, list[str]]], names: list[str]) -> dict[str, int]:
    """Longest path from a leaf, computed without recursion; a ValueError names a cycle."""
    depth: dict[str, int] = {}
    for start in names:
        stack, on_path = [(start, False)], set()
        while stack:
            n, done = stack.pop()
            if done:
                on_path.discard(n)
                depth[n] = 1 + max((depth[i] for i in spec[n][1]), default=-1) if n in spec else 0
                continue
            if n in depth:
                continue
            if n in on_path:
                raise ValueError(f"the graph has a cycle through {n!r}: a computational graph is acyclic")
            on_path.add(n)
            stack.append((n, True))
            stack.extend((i, False) for i in (spec[n][1] if n in spec else []) if i not in depth)
    return depth


def _layout(spec: dict[str, tuple[str, list[str]]], names: list[str]) -> dict[str, tuple[int, float]]:
    """Column = longest path from a leaf, a leaf sitting just before its first consumer; rows ordered by the
    mean row of a node's inputs (fewer crossings), leaves below the computed nodes of their column."""
    depth = _depths(spec, names)
    for leaf in (n for n in names if n not in spec):
        users = [depth[n] for n, (_, inputs) in spec.items() if leaf in inputs]
        depth[leaf] = max(0, min(users) - 1) if users else 0
    columns: dict[int, list[str]] = {}
    for n in names:
        columns.setdefault(depth[n], []).append(n)
    row: dict[str, float] = {}
    for c in sorted(columns):
        computed = [n for n in columns[c] if n in spec]
        computed.sort(key=lambda n: sum(row.get(i, 0.0) for i in spec[n][1]) / max(1, len(spec[n][1])))
        columns[c] = computed + [n for n in columns[c] if n not in spec]
        for k, n in enumerate(columns[c]):
            row[n] = float(k)
    tallest = max(len(v) for v in columns.values())
    # Centre every column vertically.
    return {n: (depth[n], row[n] + (tallest - len(columns[depth[n]])) / 2) for n in names}


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if x == 0:
        return "0"
    if math.isfinite(x) and 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.3g}"


def show_graph(graph: Spec | Any, values: Mapping[str, float] | None = None, grads: Mapping[str, float] | None = None,
               *, labels: Mapping[str, str] | None = None, title: str | None = None, ax: "Axes | None" = None,
               show: bool = True) -> "Figure":
    """Draw a computational graph left to right: each node's name, its value (green) and gradient (red).

    ``graph``: a mapping ``name -> (op, [input names])`` of the computed nodes, or a Value-like output (see the
    module's docstring). Values and gradients may be missing for some nodes (shown as nothing). Returns the figure.
    """
    spec, vals, grds, lbls = _normalise(graph, values, grads, labels)
    names = _names(spec, vals, grds, lbls)
    if len(names) > MAX_NODES:
        raise ValueError(f"{len(names)} nodes are too many to draw legibly (at most {MAX_NODES}); draw a smaller piece")
    if not names:
        raise ValueError("the graph is empty: give at least one node")
    pos = _layout(spec, names)
    n_cols = 1 + max(c for c, _ in pos.values())
    n_rows = 1 + max(math.ceil(r) for _, r in pos.values())
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.0, 2.1 * n_cols), max(1.6, 1.25 * n_rows + 0.4 * (title is not None))),
                               layout="constrained")
    else:
        fig = ax.figure
    w, h = 1.3, 0.95          # a node's box, in data units (one column is 2 wide, one row 1.25 high)
    xy = {n: (2.0 * c, -1.25 * r) for n, (c, r) in pos.items()}
    for name, (op, inputs) in spec.items():
        for i in inputs:
            (x0, y0), (x1, y1) = xy[i], xy[name]
            ax.add_patch(FancyArrowPatch((x0 + w / 2, y0), (x1 - w / 2, y1), arrowstyle="-|>", mutation_scale=10,
                                         color="0.45", linewidth=1.0, shrinkA=0, shrinkB=0, zorder=1))
    for name, (x, y) in xy.items():
        op = spec.get(name, ("", []))[0]
        leaf = name not in spec
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor="#f4f6fb" if leaf else "white", edgecolor="0.3", linewidth=1.0,
                                    zorder=2, gid=f"node:{name}"))
        label = lbls.get(name, name)
        head = label if leaf or label == op else f"{label}  [{op}]" if label else op
        if head:
            ax.text(x, y + 0.24, head, ha="center", va="center", fontsize=9, fontweight="bold", zorder=3)
        if vals.get(name) is not None:
            ax.text(x, y, _fmt(vals[name]), ha="center", va="center", fontsize=9, color=VALUE_COLOUR, zorder=3,
                    gid=f"value:{name}")
        if grds.get(name) is not None:
            ax.text(x, y - 0.25, f"grad {_fmt(grds[name])}", ha="center", va="center", fontsize=8.5,
                    color=GRAD_COLOUR, zorder=3, gid=f"grad:{name}")
    ax.set_xlim(-w / 2 - 0.2, 2.0 * (n_cols - 1) + w / 2 + 0.2)
    ax.set_ylim(-1.25 * (n_rows - 1) - h / 2 - 0.2, h / 2 + 0.2)
    ax.set_aspect("auto")
    ax.set_axis_off()
    key = "values in green, gradients in red"
    ax.set_title(f"{title}\n{key}" if title else key, fontsize=10)
    if show:
        show_figure(fig)
    return fig


def to_dot(graph: Spec | Any, values: Mapping[str, float] | None = None, grads: Mapping[str, float] | None = None,
           *, labels: Mapping[str, str] | None = None) -> str:
    """The graph as Graphviz DOT text (``dot -Tpng``, or ``graphviz.Source(text)`` in Jupyter)."""
    spec, vals, grds, lbls = _normalise(graph, values, grads, labels)
    names = _names(spec, vals, grds, lbls)
    _depths(spec, names)   # validates: no cycles

    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph G {", "  rankdir=LR;", '  node [shape=record, fontname="Helvetica", fontsize=10];']
    for name in names:
        op = spec.get(name, ("", []))[0]
        label = lbls.get(name, name)
        parts = [label if name not in spec or label == op else f"{label} [{op}]" if label else op]
        parts = [p for p in parts if p]
        if vals.get(name) is not None:
            parts.append(f"value {_fmt(vals[name])}")
        if grds.get(name) is not None:
            parts.append(f"grad {_fmt(grds[name])}")
        text = " | ".join(p.replace("|", "\\|").replace("{", "\\{").replace("}", "\\}")
                          .replace("<", "\\<").replace(">", "\\>") for p in parts)
        lines.append(f"  {quote(name)} [label={quote('{' + text + '}')}];")
    for name, (_, inputs) in spec.items():
        for i in inputs:
            lines.append(f"  {quote(i)} -> {quote(name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
