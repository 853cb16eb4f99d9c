"""Hidden tests of Lab 2, as judges: the student's code runs in the sandbox on inputs chosen here, and the verdict
is computed here, against torch.autograd or formulas evaluated in float64.

Task 2.4's expression graphs are described here as data (a list of operations on earlier nodes and constants),
built in the sandbox out of the student's ``Value`` with the ``operator`` module (``operator.sub(1.0, v)`` makes
Python call ``v.__rsub__``), and built here in torch from the same description. Each judge uses inputs of its own,
so a bug in one task does not cost the points of another (2.6 trains with the student's 2.5, and is judged
leniently when 2.5 failed).
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from course.grader.judge import Context, Fail, judge
from course.grader.kernel import RemoteError
from course.grader.toolkit import number, single_threaded

from .lab2_graph import (
    Engine,
    Graph,
    check_graph,
    depth,
    fmt,
    graph_close,
    near,
    neuron_and_mlp,
    order_cause,
    random_graph,
    relu_grad,
    torch_run,
    unit_cause,
    units,
)

F64 = torch.float64





# --------------------------------------------------------------------------- 2.1 f = (x + y)·z

_KEYS = ("x", "y", "z", "q", "f")
_WHY_2_1 = {
    "x": "∂f/∂x = ∂f/∂q · ∂q/∂x = z · 1",
    "y": "∂f/∂y = ∂f/∂q · ∂q/∂y = z · 1",
    "z": "∂f/∂z = q = x + y",
    "q": "∂f/∂q = z",
    "f": "∂f/∂f = 1",
}


def _node_dict(obj, task: str, which: str) -> dict[str, float]:
    if not isinstance(obj, dict):
        raise Fail(f"{task}: forward_backward should return two dicts (values, grads); the {which} is a "
                   f"{type(obj).__name__}")
    missing = [key for key in _KEYS if key not in obj]
    if missing:
        raise Fail(f"{task}: the {which} dict has no {', '.join(repr(m) for m in missing)} — key both dicts by "
                   "'x', 'y', 'z', 'q', 'f'")
    return {key: number(task, obj[key], f"{which}[{key!r}]") for key in _KEYS}


@judge("2_1", timeout=30)
@single_threaded
def add_mul_by_hand(ctx: Context) -> None:
    k = ctx.kernel
    fb = k.ns.forward_backward
    seen = {}
    for x, y, z in [(-2.0, 5.0, -4.0), (1.5, -0.5, 2.0), (0.0, 3.0, -1.25), (-3.5, -1.0, 0.5), (2.0, -2.0, 7.0)]:
        got = k.fetch(fb(x, y, z))
        if not isinstance(got, list) or len(got) != 2:
            raise Fail(f"2.1: forward_backward should return (values, grads), two dicts; got {type(got).__name__}")
        values, grads = _node_dict(got[0], "2.1", "values"), _node_dict(got[1], "2.1", "grads")
        q = x + y
        want_v = {"x": x, "y": y, "z": z, "q": q, "f": q * z}
        want_g = {"x": z, "y": z, "z": q, "q": z, "f": 1.0}
        at = f"at (x, y, z) = ({x:g}, {y:g}, {z:g})"
        for key in _KEYS:
            if not near(values[key], want_v[key]):
                raise Fail(f"2.1: {at} the value of {key} is {fmt(values[key])}, expected {fmt(want_v[key])} "
                           "(q = x + y, f = q·z)")
        if seen and all(near(grads[key], seen[key]) for key in ("x", "y", "z")) and (x, y, z) != (-2.0, 5.0, -4.0):
            raise Fail(f"2.1: {at} your gradients are those of (−2, 5, −4) again — compute them from x, y and z")
        for key in ("f", "q", "z", "x", "y"):
            if not near(grads[key], want_g[key]):
                raise Fail(f"2.1: {at} ∂f/∂{key} is {fmt(grads[key])}, expected {fmt(want_g[key])} "
                           f"({_WHY_2_1[key]})")
        seen = seen or grads


# --------------------------------------------------------------------------- 2.2 the sigmoid neuron

def _neuron_mutants(w: list[float], x: list[float]) -> dict[str, tuple[list[float], list[float]]]:
    s = w[0] * x[0] + w[1] * x[1] + w[2]
    f = 1 / (1 + math.exp(-s))
    out = {}
    for why, ds in (("you multiply by σ alone: the local gradient is σ(1 − σ)", f),
                    ("you multiply by (1 − σ) alone: the local gradient is σ(1 − σ)", 1 - f),
                    ("the local gradient is σ(1 − σ), not σ(1 + σ)", f * (1 + f))):
        out[why] = ([x[0] * ds, x[1] * ds, ds], [w[0] * ds, w[1] * ds])
    ds = f * (1 - f)
    out["the bias's gradient is ∂f/∂s itself (it multiplies a constant input 1)"] = (
        [x[0] * ds, x[1] * ds, 0.0], [w[0] * ds, w[1] * ds])
    out["∂f/∂w_i = x_i·∂f/∂s and ∂f/∂x_i = w_i·∂f/∂s: you swapped them"] = (
        [w[0] * ds, w[1] * ds, ds], [x[0] * ds, x[1] * ds])
    return out


def _vector(obj, n: int, task: str, what: str) -> list[float]:
    if torch.is_tensor(obj):
        obj = obj.reshape(-1).tolist()
    if not isinstance(obj, list) or len(obj) != n:
        size = len(obj) if isinstance(obj, list) else type(obj).__name__
        raise Fail(f"{task}: {what} should hold {n} numbers, got {size}")
    return [number(task, v, f"{what}[{i}]") for i, v in enumerate(obj)]


@judge("2_2", timeout=30)
@single_threaded
def sigmoid_neuron(ctx: Context) -> None:
    k = ctx.kernel
    fn = k.ns.sigmoid_neuron
    cases = [([2.0, -3.0, -3.0], [-1.0, -2.0]), ([0.5, 1.5, -0.25], [2.0, -1.0]), ([-1.2, 0.7, 2.0], [1.5, 2.5]),
             ([3.0, -2.0, 1.0], [-1.5, 0.5]), ([0.1, -0.4, 0.0], [-3.0, 2.0])]   # s from −4.5 to +4.3
    as_tensors = False
    for w, x in cases:
        watch = w is cases[0][0]   # the first inputs stay in the sandbox, to see afterwards that they were only read
        args = (torch.tensor(w, dtype=F64), torch.tensor(x, dtype=F64)) if as_tensors else (list(w), list(x))
        args = tuple(k.value(a) for a in args) if watch else args
        try:
            got = k.fetch(fn(*args))
        except RemoteError as exc:
            if as_tensors or exc.ename not in ("TypeError", "AttributeError"):
                raise
            as_tensors = True      # written for tensors: give it tensors, the task allows either reading
            args = (torch.tensor(w, dtype=F64), torch.tensor(x, dtype=F64))
            args = tuple(k.value(a) for a in args) if watch else args
            got = k.fetch(fn(*args))
        for name, sent, now in zip("wx", (w, x), [k.fetch(a) for a in args] if watch else ()):
            now = now.tolist() if torch.is_tensor(now) else now
            if now != sent:
                raise Fail(f"2.2: sigmoid_neuron changed its input {name}: {sent} became {now} — it only reads w "
                           "and x (for the bias, use a new list, x + [1.0], or w[2] alone)")
        if not isinstance(got, list) or len(got) != 3:
            raise Fail(f"2.2: sigmoid_neuron should return (f, dw, dx); got {type(got).__name__}")
        f = number("2.2", got[0], "f")
        dw, dx = _vector(got[1], 3, "2.2", "dw"), _vector(got[2], 2, "2.2", "dx")
        tw, tx = torch.tensor(w, dtype=F64, requires_grad=True), torch.tensor(x, dtype=F64, requires_grad=True)
        out = torch.sigmoid(tw[0] * tx[0] + tw[1] * tx[1] + tw[2])
        out.backward()
        at = f"at w = {tuple(w)}, x = {tuple(x)}"
        s = w[0] * x[0] + w[1] * x[1] + w[2]
        if not near(f, out.item(), 1e-6, 1e-9):
            hint = " — σ(s) = 1/(1 + e^(−s)): check the sign of the exponent" if near(f, 1 / (1 + math.exp(s))) else ""
            raise Fail(f"2.2: {at} f = {fmt(f)}, expected σ({s:g}) = {fmt(out.item())}{hint}")
        want_w, want_x = tw.grad.tolist(), tx.grad.tolist()
        if all(near(a, b) for a, b in zip(dw + dx, want_w + want_x)):
            continue
        for why, (mw, mx) in _neuron_mutants(w, x).items():
            if all(near(a, b) for a, b in zip(dw + dx, mw + mx)):
                raise Fail(f"2.2: {at} {why}")
        raise Fail(f"2.2: {at} dw = ({', '.join(f'{v:.4f}' for v in dw)}), dx = ({', '.join(f'{v:.4f}' for v in dx)}); "
                   f"expected dw = ({', '.join(f'{v:.4f}' for v in want_w)}), dx = "
                   f"({', '.join(f'{v:.4f}' for v in want_x)}) — ∂f/∂s = f(1 − f), ∂f/∂w_i = x_i·∂f/∂s "
                   "(x_2 = 1 for the bias), ∂f/∂x_i = w_i·∂f/∂s")


# --------------------------------------------------------------------------- 2.3 numerical gradients

def _centred(fn, x: torch.Tensor, h: float, *, mode: str = "centred") -> torch.Tensor:
    """The judge's own difference quotients (and known wrong ones), in float64."""
    x = x.clone()
    g = torch.zeros_like(x)
    flat, gflat = x.view(-1), g.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        if mode == "forward":
            f0 = float(fn(x))
            flat[i] = old + h
            gflat[i] = (float(fn(x)) - f0) / h
        elif mode == "backward":
            f0 = float(fn(x))
            flat[i] = old - h
            gflat[i] = (f0 - float(fn(x))) / h
        else:
            flat[i] = old + h
            plus = float(fn(x))
            flat[i] = old - h
            minus = float(fn(x))
            gflat[i] = (plus - minus) / (2 * h if mode in ("centred", "unrestored") else h)
        if mode != "unrestored":
            flat[i] = old
    return g


def _rel_pairs() -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    t = lambda v: torch.tensor(v, dtype=F64)   # noqa: E731
    return [
        (t([1.0, 0.0, -2.0]), t([1.1, 0.0, -2.0]), "a = [1, 0, −2], b = [1.1, 0, −2]"),
        (t([0.0, 0.5]), t([0.0, 0.0]), "a = [0, 0.5], b = [0, 0] (b is 0 where a is not)"),
        (t([0.0, 0.0]), t([0.0, 0.5]), "a = [0, 0], b = [0, 0.5] (a is 0 where b is not)"),
        (t([-1.0, -3.0]), t([-1.1, -3.0]), "a = [−1, −3], b = [−1.1, −3] (negative values)"),
        (t([[0.5, 2.0], [3.0, 4.0]]), t([[0.6, 2.0], [3.0, 4.01]]), "2×2 tensors whose worst element is the first"),
        (t([2.0, -1.0]), t([2.0, 1.0]), "a = [2, −1], b = [2, 1] (opposite signs)"),
        (t([0.0, 0.0, 0.0]), t([0.0, 0.0, 0.0]), "a = b = [0, 0, 0]"),
    ]


def _rel(a: torch.Tensor, b: torch.Tensor, denominator: str) -> float:
    scale = torch.maximum(a.abs(), b.abs()) if denominator == "max" else a.abs() + b.abs()
    rel = torch.where(scale > 0, (a - b).abs() / torch.where(scale > 0, scale, 1.0), 0.0)
    return float(rel.max())


@judge("2_3", timeout=30)
@single_threaded
def numerical(ctx: Context) -> None:
    k = ctx.kernel
    rtorch, functools_ = k.module("torch"), k.module("functools")
    g = torch.Generator().manual_seed(23)
    other = torch.randn(2, 3, generator=g, dtype=F64)
    point = [0.3, -1.2, 0.5]
    cases = [   # (what, remote f, local f, x, h, tolerance); x may have any shape and dtype, h any value
        ("logsumexp of a 2×3×2 tensor", functools_.partial(rtorch.logsumexp, dim=[0, 1, 2]),
         lambda t: torch.logsumexp(t, dim=[0, 1, 2]), torch.randn(2, 3, 2, generator=g, dtype=F64), 1e-3, 1e-6),
        ("the determinant of a 3×3 matrix", rtorch.linalg.det, torch.linalg.det,
         torch.randn(3, 3, generator=g, dtype=F64), 1e-3, 1e-6),
        ("the product of 5 numbers", rtorch.prod, torch.prod, torch.rand(5, generator=g, dtype=F64) + 0.5, 1e-3, 1e-6),
        ("a 3-norm distance of a 2×3 tensor", functools_.partial(rtorch.dist, other=k.value(other), p=3),
         lambda t: torch.dist(t, other, p=3), torch.randn(2, 3, generator=g, dtype=F64), 1e-7, 1e-6),
        # The text lets f return a Python float as well as a 0-dim tensor.
        ("a distance returned as a Python float (math.dist)", functools_.partial(k.module("math").dist, k.value(point)),
         lambda t: math.dist(point, t.tolist()), torch.randn(3, generator=g, dtype=F64), 1e-4, 1e-6),
        # A large step, where the centred difference is far from the derivative: the h given must be the h used.
        ("logsumexp of 4 numbers", functools_.partial(rtorch.logsumexp, dim=0), lambda t: torch.logsumexp(t, dim=0),
         torch.randn(4, generator=g, dtype=F64), 0.25, 1e-6),
        # float32 in, float32 out ("a tensor of x's shape and dtype"); its round-off allows only a loose comparison.
        ("logsumexp of a float32 3×2 tensor", functools_.partial(rtorch.logsumexp, dim=[0, 1]),
         lambda t: torch.logsumexp(t, dim=[0, 1]), torch.randn(3, 2, generator=g).float(), 1e-2, 1e-2),
    ]
    numerical_gradient = k.ns.numerical_gradient
    for what, remote_f, local_f, x, h, tol in cases:
        rx = k.value(x)
        try:
            got = k.fetch(numerical_gradient(remote_f, rx, h))
        except RemoteError as exc:
            hint = (" — f may return a Python float as well as a 0-dim tensor: convert with float(f(x)), not .item()"
                    if "float" in what and "item" in exc.evalue else "")
            raise Fail(f"2.3: numerical_gradient of {what} (h = {h:g}) raised {exc}{hint}") from None
        after = k.fetch(rx)
        where = f"numerical_gradient of {what} (h = {h:g})"
        if not torch.is_tensor(got):
            raise Fail(f"2.3: {where} returned a {type(got).__name__}; a tensor shaped like x {tuple(x.shape)} "
                       "expected")
        if not torch.equal(after, x):
            raise Fail(f"2.3: {where} left x changed — put every element back after perturbing it")
        if tuple(got.shape) != tuple(x.shape):
            raise Fail(f"2.3: {where} has shape {tuple(got.shape)}; expected x's shape {tuple(x.shape)}")
        if got.dtype != x.dtype:
            if x.dtype == F64:
                raise Fail(f"2.3: {where} is {got.dtype} for a {x.dtype} x — keep x's dtype (torch.zeros_like(x)): "
                           "float32 loses the digits a gradient check needs")
            raise Fail(f"2.3: {where} is {got.dtype} for a {x.dtype} x — return a tensor of x's dtype, as the task "
                       "says (torch.zeros_like(x), or .to(x.dtype) at the end)")
        if x.dtype != F64:
            want = _centred(local_f, x.double(), h)
            if bool(torch.allclose(got.double(), want, rtol=tol, atol=1e-3)):
                continue
            raise Fail(f"2.3: {where} is {got.tolist()}; the centred difference is {want.tolist()}")
        want = _centred(local_f, x, h)
        if bool(torch.allclose(got, want, rtol=tol, atol=1e-9)):
            continue
        if h > 1e-3 and bool(torch.allclose(got, _centred(local_f, x, 1e-5), rtol=1e-5, atol=1e-9)):
            raise Fail(f"2.3: {where} is the centred difference with h = 1e-5, not with the h = {h:g} it was given — "
                       "use the argument h (its default 1e-5 is only a default)")
        for mode, why in (("forward", "a one-sided difference (f(x + h) − f(x))/h — use the centred one, "
                                      "(f(x + h) − f(x − h))/2h"),
                          ("backward", "a one-sided difference (f(x) − f(x − h))/h — use the centred one, "
                                       "(f(x + h) − f(x − h))/2h"),
                          ("twice", "twice the centred difference — divide by 2h, not h"),
                          ("unrestored", "x is not put back between elements — restore each element after "
                                         "evaluating f(x ± h)")):
            if bool(torch.allclose(got, _centred(local_f, x, h, mode=mode), rtol=1e-6, atol=1e-9)):
                raise Fail(f"2.3: {where} is {why}")
        i = int((got - want).abs().reshape(-1).argmax())
        index = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), x.shape))
        raise Fail(f"2.3: {where} differs from the centred difference (f(x + h·e_i) − f(x − h·e_i)) / 2h at element "
                   f"{list(index)}: {fmt(float(got.reshape(-1)[i]))} instead of {fmt(float(want.reshape(-1)[i]))}")

    relative_error = k.ns.relative_error
    for a, b, what in _rel_pairs():
        got = number("2.3", k.fetch(relative_error(a, b)), f"relative_error({what})")
        want = _rel(a, b, "max")
        if near(got, want, 1e-5, 1e-9) or near(got, _rel(a, b, "sum"), 1e-5, 1e-9):
            continue
        if not math.isfinite(got):
            both_zero = bool(((a == 0) & (b == 0)).any())
            why = ("0/0 where a and b are both 0: count such elements as 0 (the task's rule)" if both_zero
                   else "a division by 0 — divide by max(|a|, |b|), which is 0 only where both are")
        elif got < 0:
            why = "negative — take absolute values in the denominator: max(|a|, |b|)"
        else:
            why = f"expected max |a − b| / max(|a|, |b|) = {fmt(want)}"
        raise Fail(f"2.3: relative_error with {what} is {fmt(got)}: {why}")


# --------------------------------------------------------------------------- 2.4 the Value engine

@judge("2_4", timeout=30)
@single_threaded
def value_engine(ctx: Context) -> None:
    eng = Engine(ctx)
    k = ctx.kernel
    try:
        probe = eng.leaf(1.25)
        start = eng.read([probe], "data") + eng.read([probe], "grad")
    except RemoteError as exc:
        raise Fail(f"2.4: Value(1.25) failed: {exc}") from None
    if start != [1.25, 0.0]:
        raise Fail(f"2.4: Value(1.25) has data {start[0]} and grad {start[1]}; expected 1.25 and 0.0")

    # 1. Each operation on its own: value, then local gradient × the gradient arriving from above.
    built = []
    for u in units():
        built.append((u, eng.build(u.graph)))
    for u, remote in built:
        want_v, want_g = torch_run(u.graph, u.out)
        got_v = eng.read(remote, "data")
        if not near(got_v[u.out], want_v[u.out], 1e-9, 1e-12):
            raise Fail(f"2.4: {u.what} gives the value {fmt(got_v[u.out])}; expected {fmt(want_v[u.out])}")
        eng.backward(remote[u.out], u.what)
        got_g = eng.read(remote, "grad")
        if not near(got_g[u.out], 1.0):
            raise Fail(f"2.4: after out.backward() on {u.what}, out.grad is {fmt(got_g[u.out])} — backward() sets "
                       "the output's own .grad to 1 (after resetting the others to 0), then propagates")
        if any(not near(got_g[i], want_g[i]) for i in u.leaves):
            grads = ", ".join(f"{fmt(got_g[i])}" for i in u.leaves)
            wants = ", ".join(f"{fmt(want_g[i])}" for i in u.leaves)
            scaled = "" if u.upstream == 1.0 else f", then times {u.upstream:g}"
            cause = unit_cause(u, got_g, want_g, lambda a: relu_grad(eng, a))
            if not cause and u.upstream != 1.0:
                # The operation alone passed: what is left is how backward() orders the two nodes.
                order = order_cause(u.graph, u.out, got_g)
                if order:
                    raise Fail(f"2.4: on {u.what}{scaled}: {order}")
            raise Fail(f"2.4: {u.what}{scaled}: the leaves get .grad = {grads}; expected {wants}, since {u.formula}"
                       + cause)

    # 2. A node used twice receives both contributions.
    for what, op, value, expected in (("x · x", "mul", -1.3, -2.6), ("x + x", "add", 0.9, 2.0)):
        g = Graph()
        x = g.leaf(value)
        out = g.add(op, x, x)
        remote = eng.build(g)
        eng.backward(remote[out], f"{what} at x = {value:g}")
        got = eng.read([remote[x]], "grad")[0]
        if not near(got, expected):
            half = " — only one of the two uses counted: accumulate with += in _backward, never =" \
                if near(got, expected / 2) else ""
            raise Fail(f"2.4: {what} at x = {value:g} gives x.grad = {fmt(got)}; expected {fmt(expected)}{half}")

    # Two different nodes with equal values must stay two nodes (a sort keyed on .data would merge them).
    g = Graph()
    x, y = g.leaf(1.5), g.leaf(1.5)
    p, q = g.add("mul", x, 2.0), g.add("mul", y, 2.0)
    check_graph(eng, g, g.add("add", g.add("mul", p, q), p), "x·2 · y·2 + x·2 with x = y = 1.5 (equal values)")

    # 3. Random expression graphs with reused nodes and diamonds, against torch.autograd.
    graphs = [random_graph(seed) for seed in (20260, 20261, 20262, 20263, 20264, 20265)]
    kept = None
    for seed, (graph, out) in zip(range(20260, 20266), graphs):
        what = f"a random expression graph (seed {seed}, {len(graph.nodes)} nodes, depth {depth(graph, out)})"
        remote = check_graph(eng, graph, out, what)
        kept = kept or (graph, out, remote, what)

    # A node used directly and through another node, as either argument: c = tanh(x) feeds both c·exp(c) and
    # exp(c)·c, so c's _backward must wait for exp's (a sort that marks nodes as seen when it first meets them,
    # not when it has finished their inputs, gets one of the two wrong). After the random graphs, whose messages
    # name the other wrong orders.
    g = Graph()
    parts = []
    for first in (True, False):
        x = g.leaf(0.7 if first else -0.4)
        c = g.add("tanh", x)
        e = g.add("exp", c)
        parts.append((x, c, e, g.add("mul", *((c, e) if first else (e, c)))))
    out = g.add("add", parts[0][3], parts[1][3])
    what = "c · exp(c) + exp(d) · d with c = tanh(0.7), d = tanh(−0.4)"
    remote = eng.build(g)
    try:
        check_graph(eng, g, out, what, remote)
    except Fail:
        got = eng.read([remote[p[0]] for p in parts], "grad")
        for (x, c, e, _), grad, name in zip(parts, got, ("c", "d")):
            if near(grad, g.values[e] * (1 - g.values[c] ** 2)):    # only the direct use of c reached x
                raise Fail(f"2.4: on {what}: the leaf under {name} gets .grad = {fmt(grad)}, only the share of the "
                           f"direct use of {name} — {name}'s _backward ran before exp({name})'s had added to "
                           f"{name}.grad. A node may run only after every node that uses it: append a node to the "
                           "topological order only once all its inputs are finished (seen is not finished), and "
                           "run that order reversed") from None
        raise

    # 4. backward() resets: twice in a row, and on a second graph sharing a leaf.
    graph, out, remote, what = kept
    first = eng.read(remote, "grad")
    eng.backward(remote[out], what)
    again = eng.read(remote, "grad")
    if graph_close(again, first):
        doubled = not graph_close(again, [2 * v for v in first])
        raise Fail("2.4: calling backward() a second time changed the gradients"
                   + (" (it doubled them)" if doubled else "") + " — the task's backward() first sets .grad = 0 on "
                   "every node of the graph (leaves included), then the output's .grad = 1")
    g2 = Graph()
    x, y = g2.leaf(1.5), g2.leaf(-0.5)
    out1 = g2.add("mul", x, y)
    out2 = g2.add("mul", x, 3.0)
    remote2 = eng.build(g2)
    eng.backward(remote2[out1], "x · y")
    eng.backward(remote2[out2], "x · 3 after x · y")
    got = eng.read([remote2[x]], "grad")[0]
    if not near(got, 3.0):
        why = " — the gradient of the first graph (−0.5) is still in it" if near(got, 2.5) else ""
        raise Fail(f"2.4: after (x·y).backward() then (x·3).backward(), x.grad = {fmt(got)}; expected 3: backward() "
                   f"resets every .grad of its graph (leaves included) before it starts{why}")

    # 5. A neuron and a small MLP built from Values.
    g3 = Graph()
    w = [g3.leaf(v) for v in (0.8, -1.1, 0.4)]
    b = g3.leaf(-0.3)
    s = b
    for wi, xi in zip(w, (1.5, 0.5, -2.0)):
        s = g3.add("add", g3.add("mul", wi, xi), s)
    check_graph(eng, g3, g3.add("tanh", s), "a tanh neuron w·x + b with x = (1.5, 0.5, −2)")
    graph, out, what = neuron_and_mlp(24)
    check_graph(eng, graph, out, what)

    # 6. A deep chain: 5,000 additions of the same Value, and 5,000 multiplications by a constant.
    reduce = k.module("functools").reduce
    x = eng.leaf(0.5)
    for what, chain, want_data, want_grad in (
            ("x + x + … (5,000 terms)", lambda: reduce(eng.fns["add"], k.value([x] * 5000)), 2500.0, 5000.0),
            ("x · 1.0001 · 1.0001 · … (5,000 factors)", lambda: reduce(eng.fns["mul"], k.value([1.0001] * 5000), x),
             0.5 * 1.0001 ** 5000, 1.0001 ** 5000)):
        try:
            top = chain()
        except RemoteError as exc:
            raise Fail(f"2.4: building {what} raised {exc}") from None
        t0 = time.monotonic()
        try:
            _deep_backward(k, eng, top)
        except RemoteError as exc:
            hint = (" — a recursive topological sort nests one call per level: sort with an explicit stack"
                    if exc.ename == "RecursionError" else "")
            raise Fail(f"2.4: backward() on {what} raised {exc}{hint}") from None
        seconds = time.monotonic() - t0
        data, grad = eng.read([top], "data")[0], eng.read([x], "grad")[0]
        if not (near(data, want_data, 1e-9) and near(grad, want_grad, 1e-6)):
            raise Fail(f"2.4: on {what}, x = 0.5: value {fmt(data)} and x.grad {fmt(grad)}; expected "
                       f"{fmt(want_data)} and {fmt(want_grad)}")
        if seconds > 10:
            raise Fail(f"2.4: backward() on {what} took {seconds:.0f} s — a 5,000-node graph should take milliseconds "
                       "(visit each node once: a set of visited nodes, not a search through a list)")


def _deep_backward(k, eng: Engine, top) -> None:
    """top.backward() with room for a recursive topological sort, as the task promises: the recursion limit raised
    to 20,000 for this call only (elsewhere an endless recursion must stop with RecursionError, not overflow the C
    stack), in a worker thread with a 64 MB stack (recursion through C code, generators, needs more than 8 MB)."""
    rsys, threading = k.module("sys"), k.module("threading")
    limit = k.fetch(rsys.getrecursionlimit())
    rsys.setrecursionlimit(max(limit, 20_000))
    try:
        try:
            old_stack = k.fetch(threading.stack_size(64 * 2**20))
            try:
                pool = k.module("concurrent.futures").ThreadPoolExecutor(1)
                future = pool.submit(eng.backward_call, top)
            finally:
                threading.stack_size(old_stack)
        except RemoteError:
            eng.backward_call(top)   # no threads here: the main thread's stack will do for plain recursion
            return
        try:
            future.result()
        finally:
            pool.shutdown()
    finally:
        rsys.setrecursionlimit(limit)


# --------------------------------------------------------------------------- 2.5 the MLP by hand

def _mlp_reference(params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor):
    leaves = {name: t.clone().requires_grad_(True) for name, t in params.items()}
    loss = F.cross_entropy(torch.relu(X @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"], y)
    loss.backward()
    return loss.detach(), {name: t.grad for name, t in leaves.items()}


def _mlp_mutants(params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor):
    """Gradients of known mistakes: {why: grads}."""
    W1, b1, W2, b2 = (params[n] for n in ("W1", "b1", "W2", "b2"))
    N = X.shape[0]
    A = X @ W1 + b1
    R = A.clamp(min=0)
    P = torch.softmax(R @ W2 + b2, dim=1)
    Y = F.one_hot(y, P.shape[1]).to(P.dtype)
    out = {}

    def grads(dZ, mask, r_for_w2=R):
        dA = (dZ @ W2.T) * mask
        return {"W1": X.T @ dA, "b1": dA.sum(0), "W2": r_for_w2.T @ dZ, "b2": dZ.sum(0)}

    out["∂L/∂Z lacks the one-hot subtraction: the softmax-cross-entropy gradient is (P − Y)/N"] = grads(P / N, A > 0)
    out["the ReLU's gradient is on the wrong side of 0: let the gradient through where A > 0, not A < 0"] = \
        grads((P - Y) / N, A < 0)
    out["the ReLU's gradient is missing: zero ∂L/∂A where A ≤ 0"] = grads((P - Y) / N, torch.ones_like(A))
    out["W2's gradient uses the pre-activation A: the second layer's input is relu(A)"] = grads((P - Y) / N, A > 0, A)
    return out


_ABSENT = "N = 7, D = 3, H = 5, C = 4, labels 0–2 only (class 3 absent from the batch)"


def _mlp_case(seed: int, N: int, D: int, H: int, C: int, logit_shift: float = 0.0, labels: tuple[int, ...] = ()):
    g = torch.Generator().manual_seed(seed)
    params = {"W1": torch.randn(D, H, generator=g, dtype=F64), "b1": 0.5 * torch.randn(H, generator=g, dtype=F64),
              "W2": torch.randn(H, C, generator=g, dtype=F64), "b2": torch.randn(C, generator=g, dtype=F64)}
    params["b2"] += logit_shift
    X = torch.randn(N, D, generator=g, dtype=F64)
    y = torch.randint(0, C, (N,), generator=g)
    if labels:
        y = torch.tensor(labels)[torch.arange(N) % len(labels)]   # these classes only
    elif N >= C:
        y[:C] = torch.randperm(C, generator=g)    # every class present, the first rows in a scrambled order
    return params, X, y


def _grads_dict(obj, task: str) -> dict:
    names = ("W1", "b1", "W2", "b2")
    if isinstance(obj, list) and len(obj) == 4:
        return dict(zip(names, obj))
    if not isinstance(obj, dict):
        raise Fail(f"{task}: the gradients should be a dict with keys 'W1', 'b1', 'W2', 'b2'; got {type(obj).__name__}")
    missing = [n for n in names if n not in obj]
    if missing:
        raise Fail(f"{task}: the gradient dict has no {', '.join(repr(m) for m in missing)} (keys: {sorted(obj)})")
    return {n: obj[n] for n in names}


def _no_autograd_call(ctx: Context, fn, *args, **kwargs):
    """fn(*args, **kwargs) in the sandbox with autograd switched off, as the text says, and its engine made to fail
    (so ``torch.enable_grad()`` and ``backward()``, ``torch.autograd.grad`` or ``torch.func`` cannot get around it):
    gradients must be computed by hand."""
    k = ctx.kernel
    rtorch = k.module("torch")
    guard = k.module("course.grader.forbid").forbidding
    rtorch.set_grad_enabled(False)
    try:
        return guard(fn, *args, autograd=True, **kwargs)
    except RemoteError as exc:
        if (exc.ename == "ForbiddenOperation" or "does not require grad" in exc.evalue
                or "does not have a grad_fn" in exc.evalue):
            raise Fail(f"{ctx.task}: your code uses autograd ({exc.evalue[:120]}) — compute the gradients yourself "
                       "with tensor operations") from None
        raise
    finally:
        rtorch.set_grad_enabled(True)


@judge("2_5", timeout=30)
@single_threaded
def mlp_by_hand(ctx: Context) -> None:
    k = ctx.kernel
    cases = [("N = 11 examples, D = 5, H = 7, C = 3", _mlp_case(250, 11, 5, 7, 3)),
             ("N = 1 example, D = 4, H = 6, C = 5", _mlp_case(251, 1, 4, 6, 5)),
             ("N = 9, D = 3, H = 8, C = 4, logits around 900", _mlp_case(252, 9, 3, 8, 4, logit_shift=900.0)),
             # y ∈ {0, …, C−1} need not use every class: C is W2's width, not the largest label + 1.
             (_ABSENT, _mlp_case(253, 7, 3, 5, 4, labels=(2, 0, 1)))]
    for what, (params, X, y) in cases:
        classes = (" — a batch need not contain every class: C is W2.shape[1], not y.max() + 1 "
                   "(F.one_hot(y, C))") if what == _ABSENT else ""
        remote_params, remote_X = k.value(params), k.value(X)
        try:
            got = k.fetch(_no_autograd_call(ctx, k.ns.mlp_loss_and_grads, remote_params, remote_X, k.value(y)))
        except RemoteError as exc:
            if not classes:
                raise
            raise Fail(f"2.5: {what}: mlp_loss_and_grads raised {exc}{classes}") from None
        if not isinstance(got, list) or len(got) != 2:
            raise Fail(f"2.5: mlp_loss_and_grads should return (loss, grads); got {type(got).__name__}")
        after = k.fetch(remote_params)
        if any(not torch.is_tensor(after.get(n)) or after[n].shape != params[n].shape
               or not torch.equal(after[n], params[n]) for n in params):
            raise Fail(f"2.5: mlp_loss_and_grads changed the parameters it was given ({what}) — compute, don't update")
        if not torch.equal(k.fetch(remote_X), X):
            raise Fail(f"2.5: mlp_loss_and_grads changed X ({what}) — it only reads its inputs")
        loss = number("2.5", got[0], "the loss")
        grads = _grads_dict(got[1], "2.5")
        want_loss, want = _mlp_reference(params, X, y)
        N = X.shape[0]
        if not math.isfinite(loss) or any(torch.is_tensor(v) and not bool(torch.isfinite(v).all())
                                          for v in grads.values()):
            hint = (" — exp overflows for logits this large: subtract each row's maximum before exp"
                    if "900" in what else "")
            raise Fail(f"2.5: {what}: the loss or a gradient is NaN or infinite{hint}")
        if not near(loss, want_loss.item(), 1e-7, 1e-10):
            hint = ""
            if N > 1 and near(loss, N * want_loss.item(), 1e-7):
                hint = " — that is the sum over the examples; the loss is their mean"
            raise Fail(f"2.5: {what}: the loss is {fmt(loss)}, expected the mean cross-entropy "
                       f"{fmt(want_loss.item())}"
                       + (hint or classes))
        mutants = _mlp_mutants(params, X, y)
        for name in ("W2", "b2", "W1", "b1"):      # output side first: an error there spreads downstream
            g, w = grads[name], want[name]
            if not torch.is_tensor(g):
                raise Fail(f"2.5: the gradient of {name} is a {type(g).__name__}, not a tensor")
            if name[0] == "b" and tuple(g.shape) == (1, *w.shape):
                g = grads[name] = g.reshape(w.shape)   # a bias gradient kept as a row (keepdim=True) is fine
            if tuple(g.shape) != tuple(w.shape):
                if g.ndim == 2 and tuple(g.shape) == tuple(w.shape)[::-1] and bool(torch.allclose(g.T, w, rtol=1e-7,
                                                                                                   atol=1e-10)):
                    raise Fail(f"2.5: the gradient of {name} is transposed: shape {tuple(g.shape)}, but {name} has "
                               f"shape {tuple(w.shape)} — a gradient has the shape of its variable "
                               f"({'Xᵀ · ∂L/∂A' if name == 'W1' else 'relu(A)ᵀ · ∂L/∂Z'})")
                raise Fail(f"2.5: the gradient of {name} has shape {tuple(g.shape)}; {name} has shape "
                           f"{tuple(w.shape)} ({what})"
                           + (" — biases sum over the rows (dim 0)" if name[0] == "b" and not classes else classes))
            if g.dtype != F64:
                raise Fail(f"2.5: the gradient of {name} is {g.dtype} for float64 inputs — keep the inputs' dtype")
            if bool(torch.allclose(g, w, rtol=1e-7, atol=1e-9)):
                continue
            if N > 1 and all(torch.allclose(grads[n].double(), want[n] * N, rtol=1e-7, atol=1e-9) for n in want
                             if torch.is_tensor(grads[n]) and grads[n].shape == want[n].shape):
                raise Fail(f"2.5: {what}: every gradient is N = {N} times too large — the loss is a mean: ∂L/∂Z = "
                           "(P − Y)/N")
            if N > 1 and bool(torch.allclose(g, w / N, rtol=1e-7, atol=1e-9)):
                raise Fail(f"2.5: {what}: the gradient of {name} is N = {N} times too small — the 1/N is applied twice")
            for why, m in mutants.items():
                if bool(torch.allclose(g, m[name], rtol=1e-7, atol=1e-9)):
                    raise Fail(f"2.5: {what}: the gradient of {name} is wrong: {why}")
            i = int((g - w).abs().reshape(-1).argmax())
            index = [int(v) for v in torch.unravel_index(torch.tensor(i), w.shape)]
            raise Fail(f"2.5: {what}: the gradient of {name} differs from autograd's by up to "
                       f"{float((g - w).abs().max()):.3g} (at {index}: {fmt(float(g.reshape(-1)[i]))} instead of "
                       f"{fmt(float(w.reshape(-1)[i]))}){classes}")


# --------------------------------------------------------------------------- 2.6 training on spirals

def _spirals(seed: int, n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    points, labels = [], []
    for c in range(n_classes):
        r = torch.linspace(0.0, 1.0, n_per_class)
        t = torch.linspace(4.0 * c, 4.0 * (c + 1), n_per_class) + noise * torch.randn(n_per_class, generator=g)
        points.append(torch.stack([r * torch.sin(t), r * torch.cos(t)], dim=1))
        labels.append(torch.full((n_per_class,), c))
    perm = torch.randperm(n_per_class * n_classes, generator=g)   # classes interleaved, not in blocks
    return torch.cat(points)[perm], torch.cat(labels)[perm]


def _best_linear_accuracy(X: torch.Tensor, y: torch.Tensor, steps: int = 500) -> float:
    """The training accuracy of softmax regression fitted by gradient descent (what no linear model beats by
    much). Written out, as torch.optim's first use costs seconds of imports."""
    Xd = torch.cat([X.double(), torch.ones(len(X), 1, dtype=F64)], dim=1)   # (N, 3): a bias column
    Y = F.one_hot(y, int(y.max()) + 1).double()
    W = torch.zeros(Xd.shape[1], Y.shape[1], dtype=F64)
    for _ in range(steps):
        W -= 1.0 * Xd.T @ (torch.softmax(Xd @ W, dim=1) - Y) / len(X)
    return ((Xd @ W).argmax(1) == y).double().mean().item()


def _mlp_logits(params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    p = {n: t.double() for n, t in params.items()}
    return torch.relu(X.double() @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def _losses(losses, steps: int, call: str) -> list[float]:
    """The recorded losses as floats: exactly one per step (the loss before that step's update)."""
    if torch.is_tensor(losses):
        losses = losses.reshape(-1).tolist()
    if not isinstance(losses, (list, tuple)) or len(losses) != steps:
        got_n = len(losses) if isinstance(losses, (list, tuple)) else repr(losses)
        extra = (" (the loss before each step's update; not also the one after the last step)"
                 if isinstance(losses, (list, tuple)) and len(losses) == steps + 1 else "")
        raise Fail(f"2.6: {call} returned {got_n} losses; one loss per step expected{extra}")
    return [number("2.6", v, "a loss") for v in losses]


def _params(ctx: Context, params, D: int, hidden: int, C: int, call: str, dtype: torch.dtype) -> dict:
    """The returned parameters, biases as vectors, checked for shape and dtype."""
    if not isinstance(params, dict) or any(n not in params for n in ("W1", "b1", "W2", "b2")):
        raise Fail("2.6: the parameters should be a dict with keys 'W1', 'b1', 'W2', 'b2' (as in Task 2.5)")
    out = {}
    for name, shape in {"W1": (D, hidden), "b1": (hidden,), "W2": (hidden, C), "b2": (C,)}.items():
        t = params[name]
        if name[0] == "b" and torch.is_tensor(t) and tuple(t.shape) == (1, *shape):
            t = t.reshape(shape)       # a bias kept as a row works the same
        if not torch.is_tensor(t) or tuple(t.shape) != shape:
            raise Fail(f"2.6: {call}: {name} should have shape {shape}; got "
                       f"{tuple(t.shape) if torch.is_tensor(t) else type(t).__name__}")
        if t.dtype != dtype:
            raise Fail(f"2.6: {call}: {name} is {t.dtype} for a {dtype} X — create the parameters in X's dtype")
        out[name] = t
    return out


def _first_steps(ctx: Context, X: torch.Tensor, y: torch.Tensor) -> None:
    """The first two steps, by the text's definitions, on float64 data with other arguments (hidden=8, lr=0.5):
    the same seed gives the same start and another seed another one; the loss recorded at step 2 is the loss of the
    whole training set at the parameters after step 1 (before step 2's update); step 2 is p − lr·∂L/∂p."""
    k = ctx.kernel
    X64 = X.double()
    rX, ry = k.value(X64), k.value(y)
    hidden, lr = 8, 0.5
    D, C = X.shape[1], int(y.max()) + 1

    def run(steps: int, seed: int):
        call = f"train_mlp(float64 X, y, hidden={hidden}, lr={lr:g}, steps={steps}, seed={seed})"
        try:
            got = k.fetch(_no_autograd_call(ctx, k.ns.train_mlp, rX, ry, hidden=hidden, lr=lr, steps=steps,
                                            seed=seed))
        except RemoteError as exc:
            hint = (" — create the parameters in X's dtype (dtype=X.dtype)"
                    if any(w in exc.evalue for w in ("dtype", "Double", "Float")) else "")
            raise Fail(f"2.6: {call} raised {exc}{hint}") from None
        if not isinstance(got, list) or len(got) != 2:
            raise Fail(f"2.6: train_mlp should return (params, losses); got {type(got).__name__}")
        return _params(ctx, got[0], D, hidden, C, call, F64), _losses(got[1], steps, call)

    p1, (l0,) = run(1, 5)
    p2, (l0_again, l1) = run(2, 5)
    q1, _ = run(1, 6)
    if not near(l0_again, l0, 1e-9, 1e-12):
        raise Fail(f"2.6: two calls of train_mlp with seed=5 start from different losses ({l0:.6g}, then "
                   f"{l0_again:.6g}) — initialise from g = torch.Generator().manual_seed(seed), not from the global "
                   "random state")
    if all(torch.equal(p1[n], q1[n]) for n in p1):
        raise Fail("2.6: train_mlp gives the same initial parameters for seeds 5 and 6 — initialise from "
                   "g = torch.Generator().manual_seed(seed), with the seed it is given")

    def loss_at(params):
        return F.cross_entropy(_mlp_logits(params, X64), y).item()

    def grads_at(params):
        return _mlp_reference({n: t.double() for n, t in params.items()}, X64, y)[1]

    if all(bool(torch.allclose(p2[n], p1[n], rtol=1e-12, atol=0.0)) for n in p1):
        if not near(l1, l0, 1e-9, 1e-12):
            raise Fail("2.6: train_mlp returns the same parameters after 1 and after 2 steps, though its loss "
                       "changed — return the trained parameters")
        raise Fail("2.6: a step of train_mlp leaves the parameters as they were, so the loss stays flat — are the "
                   "parameters updated at every step, p ← p − lr·∂L/∂p?")
    before = loss_at(p1)
    if not near(l1, before, 1e-6, 1e-9):
        if near(l1, loss_at(p2), 1e-6, 1e-9):
            raise Fail(f"2.6: the loss recorded at step 2 ({l1:.6g}) is the loss after that step's update — record "
                       f"the loss mlp_loss_and_grads returns, before the update p ← p − lr·grad ({before:.6g})")
        raise Fail(f"2.6: the loss recorded at step 2 is {l1:.6g}, but the mean cross-entropy on the whole training "
                   f"set at that step's parameters (what train_mlp returns after 1 step) is {before:.6g} — one loss "
                   "per step, of all of X, before the update")
    g = grads_at(p1)
    want = {n: p1[n] - lr * g[n] for n in p1}
    bad = [n for n in p1 if not bool(torch.allclose(p2[n], want[n], rtol=1e-6, atol=1e-9))]
    if not bad:
        return
    call = f"hidden={hidden}, lr={lr:g}, seed=5, float64 X"
    if all(bool(torch.allclose(p2[n], p1[n] + lr * g[n], rtol=1e-6, atol=1e-9)) for n in p1):
        raise Fail(f"2.6: ({call}) step 2 goes up the gradient, so the loss rises — step against it, p − lr·grad")
    frozen = [n for n in bad if torch.equal(p2[n], p1[n])]
    if frozen and frozen == bad:
        raise Fail(f"2.6: ({call}) step 2 leaves {' and '.join(frozen)} unchanged — p ← p − lr·∂L/∂p for every "
                   "parameter" + (", biases included" if all(n[0] == "b" for n in frozen) else ""))
    delta = torch.cat([(p1[n] - p2[n]).reshape(-1) for n in p1])
    flat = torch.cat([g[n].reshape(-1) for n in p1])
    scale = float(delta @ flat / (flat @ flat))
    if bool(torch.allclose(delta, scale * flat, rtol=1e-6, atol=1e-9)):
        raise Fail(f"2.6: ({call}) step 2 is p − {scale:.4g}·grad, not p − lr·grad with lr = {lr:g} — use the lr "
                   "it is given")
    worst = max(bad, key=lambda n: float((p2[n] - want[n]).abs().max()))
    raise Fail(f"2.6: ({call}) after step 2, {worst} differs from p − lr·∂L/∂p computed from the parameters after "
               f"step 1 by up to {float((p2[worst] - want[worst]).abs().max()):.3g} — one plain gradient-descent "
               "step per iteration, with the gradient of the loss on the whole training set (no mini-batches, no "
               "momentum)")


@judge("2_6", timeout=60)
@single_threaded
def train_on_spirals(ctx: Context) -> None:
    k = ctx.kernel
    X, y = _spirals(2026)
    X_new, y_new = _spirals(2027)
    hidden, lr, steps = 32, 1.0, 600
    upstream_failed = bool(ctx.failed("2_5"))
    try:
        got = k.fetch(_no_autograd_call(ctx, k.ns.train_mlp, k.value(X), k.value(y), hidden=hidden, lr=lr,
                                        steps=steps, seed=3))
    except RemoteError as exc:
        note = (" (train_mlp calls your mlp_loss_and_grads, which failed Task 2.5)"
                if upstream_failed and "Task 2.6" not in exc.evalue else "")
        raise Fail(f"2.6: train_mlp raised {exc}{note}") from None
    if not isinstance(got, list) or len(got) != 2:
        raise Fail(f"2.6: train_mlp should return (params, losses); got {type(got).__name__}")
    params, losses = got
    if not isinstance(params, dict) or any(n not in params for n in ("W1", "b1", "W2", "b2")):
        raise Fail("2.6: the parameters should be a dict with keys 'W1', 'b1', 'W2', 'b2' (as in Task 2.5)")
    shapes = {"W1": (2, hidden), "b1": (hidden,), "W2": (hidden, 3), "b2": (3,)}
    for name, shape in shapes.items():
        t = params[name]
        if name[0] == "b" and torch.is_tensor(t) and tuple(t.shape) == (1, *shape):
            t = params[name] = t.reshape(shape)       # a bias kept as a row works the same
        if not torch.is_tensor(t) or tuple(t.shape) != shape:
            raise Fail(f"2.6: with 2 features, hidden={hidden} and 3 classes, {name} should have shape {shape}; got "
                       f"{tuple(t.shape) if torch.is_tensor(t) else type(t).__name__}")
    if torch.is_tensor(losses):
        losses = losses.reshape(-1).tolist()
    losses = _losses(losses, steps, f"train_mlp(..., steps={steps})")
    if upstream_failed:
        ctx.notes.append("2.6: graded on the format of train_mlp's results only, since mlp_loss_and_grads failed 2.5")
        return
    if not all(math.isfinite(v) for v in losses):
        bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
        raise Fail(f"2.6: the loss became NaN or infinite (after {bad} "
                   "steps) — check the update p − lr·grad")
    first, last = losses[0], losses[-1]
    W1 = params["W1"].double()
    if hidden > 1 and bool(torch.allclose(W1, W1[:, :1].expand_as(W1))):
        raise Fail("2.6: every hidden unit has the same weights, so they can never differ — initialise W1 randomly "
                   "(torch.randn(D, hidden, generator=g) · √(2/D))")
    _first_steps(ctx, X, y)
    if last > 0.5 * first:
        why = (" — it rises: step against the gradient, p ← p − lr·grad" if last > first + 1e-6 else
               " — it stays flat: are the parameters updated at every step?" if abs(last - first) < 1e-6 else "")
        raise Fail(f"2.6: the loss went from {first:.3f} to {last:.3f} in {steps} steps at lr={lr:g}; it should fall "
                   f"to less than half{why}")
    final = F.cross_entropy(_mlp_logits(params, X), y).item()
    if final > 1.5 * last + 0.05:
        raise Fail(f"2.6: the returned parameters have a loss of {final:.3f}, but the last recorded loss is {last:.3f} "
                   "— return the trained parameters")
    acc = (_mlp_logits(params, X).argmax(1) == y).double().mean().item()
    acc_new = (_mlp_logits(params, X_new).argmax(1) == y_new).double().mean().item()
    linear = _best_linear_accuracy(X, y)
    bound = max(0.75, linear + 0.2)
    if acc < bound:
        raise Fail(f"2.6: your MLP classifies {acc:.1%} of the training spirals correctly; it should reach {bound:.0%} "
                   f"(the best linear model reaches {linear:.0%})")
    if acc_new < bound - 0.05:
        raise Fail(f"2.6: your MLP classifies {acc_new:.1%} of new spirals correctly (training: {acc:.1%}); "
                   "expected at "
                   f"least {bound - 0.05:.0%}")
    ctx.notes.append(f"2.6: MLP accuracy {acc:.1%} on the judge's spirals, {acc_new:.1%} on new ones "
                     f"(best linear model: {linear:.1%})")
