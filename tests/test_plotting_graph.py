"""Tests for course.plotting.graph (headless, Agg). Example figures are saved to /tmp/plots."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course.plotting.graph import graph_of, show_graph, to_dot  # noqa: E402

PLOTS = Path("/tmp/plots")
SPEC = {"q": ("+", ["x", "y"]), "f": ("*", ["q", "z"])}
VALUES = {"x": -2, "y": 5, "z": -4, "q": 3, "f": -12}
GRADS = {"x": -4, "y": -4, "z": 3, "q": -4, "f": 1}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class Node:
    """A micrograd-style value: what graph_of walks."""

    def __init__(self, data, children=(), op="", label=""):
        self.data, self.grad, self._prev, self._op, self.label = data, 0.0, tuple(children), op, label

    def __add__(self, other):
        return Node(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        return Node(self.data * other.data, (self, other), "*")


def _texts(fig) -> dict[str, str]:
    return {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}


def _boxes(fig) -> dict[str, tuple[float, float]]:
    return {p.get_gid().removeprefix("node:"): (p.get_x(), p.get_y()) for p in fig.axes[0].patches
            if (p.get_gid() or "").startswith("node:")}


def test_a_spec_graph_shows_every_node_value_and_gradient() -> None:
    fig = show_graph(SPEC, VALUES, GRADS, title="f = (x + y)·z")
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / "graph_add_mul.png", dpi=90)
    boxes = _boxes(fig)
    assert set(boxes) == {"x", "y", "z", "q", "f"}
    texts = _texts(fig)
    assert texts["value:f"] == "-12" and texts["grad:x"] == "grad -4" and texts["grad:f"] == "grad 1"
    # Left to right: inputs, then q (z sits beside it, just before its consumer), then f.
    assert boxes["x"][0] == boxes["y"][0] < boxes["q"][0] == boxes["z"][0] < boxes["f"][0]
    heads = [t.get_text() for t in fig.axes[0].texts]
    assert "q  [+]" in heads and "f  [*]" in heads
    arrows = [p for p in fig.axes[0].patches if not (p.get_gid() or "").startswith("node:")]
    assert len(arrows) == 4
    assert "gradients in red" in fig.axes[0].get_title()


def test_values_and_gradients_are_optional() -> None:
    fig = show_graph(SPEC, {"f": -12}, show=False)
    texts = _texts(fig)
    assert texts == {"value:f": "-12"}


def test_graph_of_walks_a_value_once_per_node_in_input_order() -> None:
    x, y = Node(2.0, label="x"), Node(-3.0, label="y")
    s = x * y
    out = s + x          # x is used twice: it must appear once
    out.grad, s.grad, x.grad, y.grad = 1.0, 1.0, -2.0, 2.0
    graph, values, grads, labels = graph_of(out)
    assert len(values) == 4
    names = {labels[n]: n for n in labels if labels[n] in ("x", "y")}
    top = [n for n in graph if graph[n][0] == "+"][0]
    assert graph[top][1][1] == names["x"] and values[top] == -4.0 and grads[names["x"]] == -2.0
    fig = show_graph(out)
    assert len(_boxes(fig)) == 4


def test_graph_of_a_deep_chain_needs_no_recursion() -> None:
    x = Node(1.0)
    node = x
    for _ in range(5000):
        node = node + x
    graph, values, _, _ = graph_of(node)
    assert len(graph) == 5000 and len(values) == 5001
    with pytest.raises(ValueError, match="too many"):
        show_graph(node, show=False)


def test_bad_graphs_are_explained() -> None:
    with pytest.raises(ValueError, match="cycle"):
        show_graph({"a": ("+", ["b"]), "b": ("*", ["a"])}, show=False)
    with pytest.raises(ValueError, match=r"\(op, \[input names\]\)"):
        show_graph({"q": ("+", "xy")}, show=False)
    with pytest.raises(TypeError, match="Value-like"):
        show_graph(42, show=False)


def test_to_dot_writes_nodes_and_edges() -> None:
    dot = to_dot(SPEC, VALUES, GRADS)
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert '"x" -> "q";' in dot and '"z" -> "f";' in dot
    assert 'label="{q [+] | value 3 | grad -4}"' in dot
    assert to_dot(Node(1.5, label="a")).count("->") == 0


def test_draws_into_a_given_axes() -> None:
    fig, axes = plt.subplots(1, 2)
    out = show_graph(SPEC, VALUES, GRADS, ax=axes[1], show=False)
    assert out is fig and len(axes[1].patches) > 0 and len(axes[0].patches) == 0
