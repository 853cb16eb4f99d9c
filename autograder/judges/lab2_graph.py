"""Lab 2's expression graphs, for the judge of task 2.4 (the scalar ``Value`` engine): a graph as data, evaluated
and differentiated here in float64 (and by torch.autograd), built in the sandbox from the student's ``Value`` with
the ``operator`` module, compared node by node, and the likely cause named when a gradient differs."""
from __future__ import annotations

import math
import operator
import random
from collections import deque

import torch

from course.grader.judge import Context, Fail
from course.grader.kernel import RemoteError
from course.grader.toolkit import number

F64 = torch.float64

__all__ = ["BINARY", "Engine", "FLOAT_OPS", "Graph", "ORDER_BUGS", "SYMBOL", "UNARY", "Unit", "check_graph", "depth", "evaluate_node", "fmt", "graph_close", "local_gradients", "near", "neuron_and_mlp", "order_cause", "random_graph", "relu_grad", "simulate", "torch_run", "unit_cause", "units"]


def near(a: float, b: float, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    return math.isfinite(a) and abs(a - b) <= atol + rtol * abs(b)


def fmt(x: float) -> str:
    return f"{x:.6g}"


BINARY = ("add", "sub", "mul", "truediv", "pow")
UNARY = ("neg", "exp", "log", "tanh", "relu")
SYMBOL = {"add": "+", "sub": "−", "mul": "·", "truediv": "/", "pow": "**"}


class Graph:
    """An expression graph as data: node i is ("leaf", value) or (op, arg, ...), an arg being ("n", j) for node j
    or ("c", number) for a constant. Values are computed in float64 as nodes are added."""

    def __init__(self) -> None:   # (no dataclasses: the engine loads judges without registering a module)
        self.nodes: list[tuple] = []
        self.values: list[float] = []

    def leaf(self, value: float) -> int:
        self.nodes.append(("leaf", float(value)))
        self.values.append(float(value))
        return len(self.nodes) - 1

    def add(self, op: str, *args) -> int:
        """Node ``op(*args)``: an int is a node index, a float a constant."""
        node = (op, *[("n", a) if isinstance(a, int) else ("c", float(a)) for a in args])
        self.values.append(evaluate_node(node, self.values))
        self.nodes.append(node)
        return len(self.nodes) - 1

    def describe(self, i: int) -> str:
        node = self.nodes[i]
        if node[0] == "leaf":
            return f"a leaf ({node[1]:g})"
        name = lambda a: f"node {a[1]}" if a[0] == "n" else f"{a[1]:g}"   # noqa: E731
        if node[0] in UNARY:
            return f"{'−' if node[0] == 'neg' else node[0]}({name(node[1])})"
        return f"{name(node[1])} {SYMBOL[node[0]]} {name(node[2])}"

    def inputs(self, i: int) -> list[int]:
        return [a[1] for a in self.nodes[i][1:] if a[0] == "n"] if self.nodes[i][0] != "leaf" else []


FLOAT_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
              "pow": operator.pow, "neg": operator.neg, "exp": math.exp, "log": math.log, "tanh": math.tanh,
              "relu": lambda v: max(v, 0.0)}


def evaluate_node(node: tuple, values: list[float]) -> float:
    args = [values[a[1]] if a[0] == "n" else a[1] for a in node[1:]]
    return float(FLOAT_OPS[node[0]](*args))


def local_gradients(graph: Graph, i: int) -> list[tuple[int, float]]:
    """(input node, ∂node/∂input) for each node input of node i (constants have none)."""
    node, v = graph.nodes[i], graph.values
    if node[0] == "leaf":
        return []
    args = [(a[1], v[a[1]]) if a[0] == "n" else (None, a[1]) for a in node[1:]]
    op = node[0]
    if op == "add":
        d = [1.0, 1.0]
    elif op == "sub":
        d = [1.0, -1.0]
    elif op == "mul":
        d = [args[1][1], args[0][1]]
    elif op == "truediv":
        d = [1 / args[1][1], -args[0][1] / args[1][1] ** 2]
    elif op == "pow":
        d = [args[1][1] * args[0][1] ** (args[1][1] - 1), 0.0]
    elif op == "neg":
        d = [-1.0]
    elif op == "exp":
        d = [math.exp(args[0][1])]
    elif op == "log":
        d = [1 / args[0][1]]
    elif op == "tanh":
        d = [1 - math.tanh(args[0][1]) ** 2]
    else:
        d = [1.0 if args[0][1] > 0 else 0.0]
    return [(a[0], di) for a, di in zip(args, d) if a[0] is not None]


def simulate(graph: Graph, out: int, mode: str) -> list[float] | None:
    """Gradients that an engine with a known bug would give (None when the simulation would explode)."""
    grad = [0.0] * len(graph.nodes)
    grad[out] = 1.0

    def back(i: int, assign: bool = False) -> None:
        for j, d in local_gradients(graph, i):
            grad[j] = grad[i] * d if assign else grad[j] + grad[i] * d

    topo, seen, stack = [], set(), [(out, False)]
    while stack:
        i, done = stack.pop()
        if done:
            topo.append(i)
        elif i not in seen:
            seen.add(i)
            stack.append((i, True))
            stack.extend((j, False) for j in reversed(graph.inputs(i)))
    if mode in ("assign", "reversed-not"):
        for i in (reversed(topo) if mode == "assign" else topo):
            back(i, assign=mode == "assign")
    elif mode == "bfs":
        queue, queued = deque([out]), {out}
        while queue:
            i = queue.popleft()
            back(i)
            for j in graph.inputs(i):
                if j not in queued:
                    queued.add(j)
                    queue.append(j)
    elif mode == "preorder":
        order, seen2, stack2 = [], set(), [out]
        while stack2:
            i = stack2.pop()
            if i in seen2:
                continue
            seen2.add(i)
            order.append(i)
            stack2.extend(reversed(graph.inputs(i)))
        for i in order:
            back(i)
    elif mode == "recursive":
        calls = [0]
        stack3 = [out]
        while stack3:
            i = stack3.pop()
            calls[0] += 1
            if calls[0] > 200_000:
                return None
            back(i)
            stack3.extend(reversed(graph.inputs(i)))
    return grad


ORDER_BUGS = {
    "assign": "a node used more than once keeps only the last contribution: add with += in every _backward, never =",
    "reversed-not": "backward() runs the nodes inputs-first: run _backward over the topological order *reversed*, "
                    "from the output back to the leaves",
    "bfs": "backward() visits nodes breadth-first, so a node can run before every node that uses it has added to "
           "its .grad: run _backward in reversed topological order",
    "preorder": "backward() visits nodes in depth-first *pre*-order, so a node can run before every node that uses it "
                "has added to its .grad: build the order post-order (a node after its inputs) and reverse it",
    "recursive": "backward() propagates recursively node by node, so shared nodes pass their gradient on several "
                 "times (and before it is complete): sort the graph topologically once, then run each _backward "
                 "once, in reversed order",
}


def order_cause(graph: Graph, out: int, got: list[float]) -> str:
    """The known mistake of backward() whose gradients these are, or ''."""
    nodes = range(out + 1)
    for mode, why in ORDER_BUGS.items():
        sim = simulate(graph, out, mode)
        if sim is not None and not graph_close([got[i] for i in nodes], [sim[i] for i in nodes]):
            return why
    return ""


class Engine:
    """The student's Value, driven from here: operations through the sandbox's ``operator`` module."""

    def __init__(self, ctx: Context) -> None:
        self.k = k = ctx.kernel
        op = k.module("operator")
        self.fns = {name: getattr(op, name) for name in BINARY + ("neg",)}
        caller = op.methodcaller
        self.fns.update({name: caller(name) for name in ("exp", "log", "tanh", "relu")})
        self.backward_call = caller("backward")
        self.getters = {name: op.attrgetter(name) for name in ("data", "grad")}
        self.builtins = k.module("builtins")
        self.Value = k.ns.Value

    def leaf(self, value: float):
        return self.Value(float(value))

    def build(self, graph: Graph, leaves: dict[int, object] | None = None) -> list:
        """The graph's nodes as remote Values (``leaves`` may supply existing Values for some leaf indices)."""
        objs: list = []
        for i, node in enumerate(graph.nodes):
            if node[0] == "leaf":
                objs.append(leaves[i] if leaves and i in leaves else self.leaf(node[1]))
                continue
            args = [objs[a[1]] if a[0] == "n" else a[1] for a in node[1:]]
            try:
                objs.append(self.fns[node[0]](*args))
            except RemoteError as exc:
                raise Fail(f"2.4: computing {graph.describe(i)} raised {exc}") from None
        return objs

    def backward(self, node, what: str) -> None:
        try:
            self.backward_call(node)
        except RemoteError as exc:
            raise Fail(f"2.4: backward() on {what} raised {exc}") from None

    def read(self, nodes: list, attr: str) -> list[float]:
        values = self.k.fetch(self.builtins.list(self.builtins.map(self.getters[attr], self.k.value(nodes))))
        return [number("2.4", v, f"a Value's .{attr}") for v in values]


def torch_run(graph: Graph, out: int) -> tuple[list[float], list[float]]:
    """Values and gradients of every node, by torch.autograd in float64 (0 for nodes the output does not use)."""
    ts: list[torch.Tensor] = []
    fns = {name: getattr(operator, name) for name in BINARY + ("neg",)}
    fns.update({name: operator.methodcaller(name) for name in ("exp", "log", "tanh", "relu")})
    for node in graph.nodes:
        if node[0] == "leaf":
            ts.append(torch.tensor(node[1], dtype=F64, requires_grad=True))
        else:
            t = fns[node[0]](*[ts[a[1]] if a[0] == "n" else a[1] for a in node[1:]])
            t.retain_grad()
            ts.append(t)
    ts[out].backward()
    return [t.item() for t in ts], [0.0 if t.grad is None else t.grad.item() for t in ts]


def graph_close(got: list[float], want: list[float], rtol: float = 1e-6) -> list[int]:
    scale = max([1.0] + [abs(w) for w in want])
    return [i for i, (g, w) in enumerate(zip(got, want)) if not (math.isfinite(g) and abs(g - w) <= 1e-9 * scale
                                                                 + rtol * abs(w))]


class Unit:
    """One operation checked on its own: ``what`` is shown to the student ("a · b at a = −1.5, b = 2.5"),
    ``upstream`` is the gradient that reaches the operation from above, ``formula`` its local gradients in words."""

    def __init__(self, what: str, graph: Graph, out: int, leaves: tuple[int, ...], upstream: float,
                 formula: str) -> None:
        self.what, self.graph, self.out, self.leaves = what, graph, out, leaves
        self.upstream, self.formula = upstream, formula


def units() -> list[Unit]:
    units = []

    def unit(what: str, leaves: list[float], make, formula: str, scaled: bool = True) -> None:
        """The operation as the output (where the order of backward() cannot matter), then times −2 (the gradient
        from above must multiply the local one, and the two nodes must run in the right order)."""
        for upstream in (1.0, -2.0) if scaled else (1.0,):
            g = Graph()
            idx = [g.leaf(v) for v in leaves]
            node = make(g, *idx)
            out = node if upstream == 1.0 else g.add("mul", node, upstream)
            units.append(Unit(what, g, out, tuple(idx), upstream, formula))

    unit("a · b at a = −1.5, b = 2.5", [-1.5, 2.5], lambda g, a, b: g.add("mul", a, b), "∂/∂a = b, ∂/∂b = a", False)
    unit("a · 2.5 at a = −1.5", [-1.5], lambda g, a: g.add("mul", a, 2.5), "∂/∂a = 2.5", False)
    for base, n in ((1.3, 3), (0.8, -2), (2.0, 0.5), (1.7, 2)):
        unit(f"a ** {n:g} at a = {base:g}", [base], lambda g, a, n=n: g.add("pow", a, float(n)),
             f"∂/∂a = {n:g}·a^{n - 1:g}")
    unit("a + b at a = 0.7, b = −1.3", [0.7, -1.3], lambda g, a, b: g.add("add", a, b), "∂/∂a = ∂/∂b = 1")
    unit("−a at a = 0.8", [0.8], lambda g, a: g.add("neg", a), "∂/∂a = −1")
    unit("a − b at a = 0.7, b = −1.3", [0.7, -1.3], lambda g, a, b: g.add("sub", a, b), "∂/∂a = 1, ∂/∂b = −1")
    unit("a / b at a = −1.2, b = 1.7", [-1.2, 1.7], lambda g, a, b: g.add("truediv", a, b),
         "∂/∂a = 1/b, ∂/∂b = −a/b²")
    unit("2.5 + a at a = 0.4", [0.4], lambda g, a: g.add("add", 2.5, a), "∂/∂a = 1 (__radd__)")
    unit("2.5 · a at a = 0.4", [0.4], lambda g, a: g.add("mul", 2.5, a), "∂/∂a = 2.5 (__rmul__)")
    unit("1.5 − a at a = 0.4", [0.4], lambda g, a: g.add("sub", 1.5, a), "∂/∂a = −1 (__rsub__)")
    unit("2 / a at a = 1.3", [1.3], lambda g, a: g.add("truediv", 2.0, a), "∂/∂a = −2/a² (__rtruediv__)")
    unit("a − 0.75 at a = 0.4", [0.4], lambda g, a: g.add("sub", a, 0.75), "∂/∂a = 1")
    unit("a / 4 at a = 0.4", [0.4], lambda g, a: g.add("truediv", a, 4.0), "∂/∂a = 1/4")
    unit("exp(a) at a = −0.7", [-0.7], lambda g, a: g.add("exp", a), "∂/∂a = e^a")
    unit("log(a) at a = 2.3", [2.3], lambda g, a: g.add("log", a), "∂/∂a = 1/a")
    unit("tanh(a) at a = 0.6", [0.6], lambda g, a: g.add("tanh", a), "∂/∂a = 1 − tanh²(a)")
    unit("tanh(a) at a = −1.1", [-1.1], lambda g, a: g.add("tanh", a), "∂/∂a = 1 − tanh²(a)")
    unit("relu(a) at a = 1.7", [1.7], lambda g, a: g.add("relu", a), "∂relu(a)/∂a = 1 for a > 0")
    unit("relu(a) at a = −0.9", [-0.9], lambda g, a: g.add("relu", a), "∂relu(a)/∂a = 0 for a < 0")
    return units


def unit_cause(u: Unit, got: list[float], want: list[float], relu_grad=None) -> str:
    """A named cause when the gradients match a known mistake on this operation, else ''.

    ``relu_grad(a)``: the student's ∂relu(a)/∂a at another point, to tell a ReLU on the wrong side of 0."""
    g, w = [got[i] for i in u.leaves], [want[i] for i in u.leaves]
    if u.upstream != 1.0 and all(near(a, b / u.upstream) for a, b in zip(g, w)):
        return (f" — that is the local gradient alone, not multiplied by the gradient {u.upstream:g} arriving from "
                "above: _backward must add out.grad × local gradient")
    node = u.graph.nodes[u.out if u.upstream == 1.0 else u.graph.nodes[u.out][1][1]]
    a = u.graph.values[u.leaves[0]]
    if node[0] == "tanh" and near(g[0], u.upstream * (1 - math.tanh(a))):
        return " — that is 1 − tanh(a); the derivative of tanh is 1 − tanh²(a)"
    if node[0] == "pow":
        n = node[2][1]
        if near(g[0], u.upstream * n * a ** n):
            return " — that is n·aⁿ; the derivative of aⁿ is n·a^(n−1)"
        if near(g[0], u.upstream * a ** (n - 1)):
            return " — the factor n is missing: the derivative of aⁿ is n·a^(n−1)"
    if node[0] == "mul" and len(u.leaves) == 2 and near(g[0], a) and near(g[1], u.graph.values[u.leaves[1]]):
        return " — swapped: ∂(a·b)/∂a is b and ∂(a·b)/∂b is a"
    if node[0] == "relu" and u.upstream < 0 < a and near(g[0], 0.0):
        return (f" — ReLU lets the gradient through where its input was positive, whatever the sign of the gradient "
                f"arriving from above (here {u.upstream:g}): the mask is a > 0, not out.grad > 0")
    if node[0] == "relu" and relu_grad is not None:
        wrong_here = near(g[0], 0.0) if a > 0 else near(g[0], u.upstream)
        if wrong_here and near(relu_grad(-a), 1.0 if a > 0 else 0.0):
            return (" — ReLU's gradient is on the wrong side of 0: it must pass the gradient where the input is "
                    "positive and stop it where it is negative")
    if node[0] == "exp" and near(g[0], u.upstream * a):
        return " — the derivative of e^a is e^a itself (out.data)"
    return ""


def relu_grad(eng: "Engine", a: float) -> float:
    g = Graph()
    x = g.leaf(a)
    out = g.add("relu", x)
    remote = eng.build(g)
    eng.backward(remote[out], f"relu(a) at a = {a:g}")
    return eng.read([remote[x]], "grad")[0]


def random_graph(seed: int, levels: int = 4, per_level: int = 5) -> tuple[Graph, int]:
    """Leaves, then ``levels`` layers whose nodes each use a node of the layer before (so depth grows) and often an
    older node too (reuse, diamonds); the output combines every node no one uses yet, so all are on its path."""
    rng = random.Random(seed)
    g = Graph()
    layers = [[g.leaf(rng.choice([-1, 1]) * rng.uniform(0.3, 1.8)) for _ in range(4)]]
    used: set[int] = set()
    for _ in range(levels):
        layer, tries = [], 0
        while len(layer) < per_level and tries < 400:
            tries += 1
            a = rng.choice(layers[-1])
            everything = list(range(len(g.nodes)))
            pool = [i for i in everything if i not in used] if rng.random() < 0.5 else everything
            b = rng.choice(pool)
            va, vb = g.values[a], g.values[b]
            op = rng.choice(["add", "sub", "mul", "mul", "truediv", "pow", "exp", "log", "tanh", "relu", "neg",
                             "const"])
            if op in ("add", "sub", "mul"):
                args = (a, b) if rng.random() < 0.5 else (b, a)
            elif op == "truediv":
                if vb < 0.4:
                    continue          # positive divisors only (a / b may be written as a · b ** −1)
                args = (a, b)
            elif op == "pow":
                if va < 0.3:
                    continue          # only positive numbers are raised to powers
                args = (a, rng.choice([2.0, 3.0, -1.0, 0.5, 1.5, -0.5]))
            elif op == "log":
                if va < 0.2:
                    continue
                args = (a,)
            elif op == "exp":
                if va > 2.5:
                    continue
                args = (a,)
            elif op == "relu":
                if abs(va) < 0.05:
                    continue          # never at the kink
                args = (a,)
            elif op in ("tanh", "neg"):
                args = (a,)
            else:
                c = round(rng.uniform(-2, 2), 2) or 0.5
                op, args = rng.choice([("add", (a, c)), ("add", (c, a)), ("mul", (a, c)), ("mul", (c, a)),
                                       ("sub", (a, c)), ("sub", (c, a)), ("truediv", (a, abs(c) + 0.5))]
                                      + ([("truediv", (c, a))] if va > 0.4 else []))
            node = (op, *[("n", x) if isinstance(x, int) else ("c", float(x)) for x in args])
            try:
                value = evaluate_node(node, g.values)
            except (ValueError, ZeroDivisionError, OverflowError):
                continue
            if not (math.isfinite(value) and abs(value) <= 6 and (op != "relu" or value != 0.0 or va < 0)):
                continue
            i = g.add(op, *args)
            used.update(x for x in args if isinstance(x, int))
            layer.append(i)
        layers.append(layer)
    sinks = [i for i in range(len(g.nodes)) if i not in used and g.nodes[i][0] != "leaf"]
    while len(sinks) > 1:   # a balanced tree of + and ·, so the depth grows by log2(#sinks) only
        pairs = [sinks[j:j + 2] for j in range(0, len(sinks), 2)]
        sinks = [g.add("add" if (p[0] + p[1]) % 2 else "mul", p[0], p[1]) if len(p) == 2 else p[0] for p in pairs]
    return g, sinks[0]


def depth(graph: Graph, out: int) -> int:
    depth: dict[int, int] = {}
    for i in range(out + 1):
        depth[i] = 1 + max((depth[j] for j in graph.inputs(i)), default=-1)
    return depth[out]


def check_graph(eng: Engine, graph: Graph, out: int, what: str, remote: list | None = None) -> list:
    """Build ``graph`` from the student's Values, backward() from ``out``, compare every value and gradient."""
    remote = remote if remote is not None else eng.build(graph)
    want_v, want_g = torch_run(graph, out)
    got_v = eng.read(remote, "data")
    bad = graph_close(got_v, want_v, 1e-9)
    if bad:
        i = bad[0]
        raise Fail(f"2.4: on {what}, node {i} = {graph.describe(i)} has the value {fmt(got_v[i])}; torch: "
                   f"{fmt(want_v[i])} — check the forward computation of that operation")
    eng.backward(remote[out], what)
    got_g = eng.read(remote, "grad")
    reached = list(range(out + 1))
    bad = graph_close([got_g[i] for i in reached], [want_g[i] for i in reached])
    if not bad:
        return remote
    order = order_cause(graph, out, got_g)
    if order:
        raise Fail(f"2.4: on {what}: {order}")
    first = max(bad)          # the wrong gradient closest to the output: where the error enters
    users = [i for i in range(len(graph.nodes)) if first in graph.inputs(i)]
    used_by = ", ".join(graph.describe(u) for u in users[:3]) or "nothing"
    raise Fail(f"2.4: on {what}, {len(bad)} of {len(reached)} gradients differ from torch.autograd. Going back from "
               f"the output (nodes are numbered in the order they were built, leaves first), the first wrong one is "
               f"at node {first} = {graph.describe(first)}: .grad = "
               f"{fmt(got_g[first])}, torch: {fmt(want_g[first])}; it is used by {used_by}. Every operation's "
               "local gradient passed on its own, so look at how backward() combines them: the order (a node only "
               "after every node that uses it) and accumulation (+=)")


def neuron_and_mlp(seed: int) -> tuple[Graph, int, str]:
    """A 3 → 4 (ReLU) → 3 (tanh) → 1 MLP of Values on 4 examples, squared error averaged; inputs are constants."""
    rng = random.Random(seed)
    g = Graph()
    sizes = [3, 4, 3, 1]
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers.append([([g.leaf(rng.uniform(-1, 1)) for _ in range(n_in)], g.leaf(rng.uniform(-0.5, 0.5)))
                       for _ in range(n_out)])
    xs = [[round(rng.uniform(-2, 2), 3) for _ in range(3)] for _ in range(4)]
    ys = [round(rng.uniform(-1, 1), 3) for _ in range(4)]
    loss = None
    for x, y in zip(xs, ys):
        acts: list = list(x)
        for depth, layer in enumerate(layers):
            new = []
            for ws, b in layer:
                s = b
                for w, a in zip(ws, acts):
                    s = g.add("add", s, g.add("mul", a if isinstance(a, float) else a, w))
                act = {0: "relu", 1: "tanh"}.get(depth)
                if act == "relu" and abs(g.values[s]) < 0.05:
                    s = g.add("add", s, 0.1)           # keep ReLU away from its kink
                new.append(g.add(act, s) if act else s)
            acts = new
        d = g.add("sub", acts[0], y)
        sq = g.add("mul", d, d)
        loss = sq if loss is None else g.add("add", loss, sq)
    out = g.add("mul", loss, 0.25)
    return g, out, "an MLP of Values (3 → 4 ReLU → 3 tanh → 1, squared error on 4 examples)"
