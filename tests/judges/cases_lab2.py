"""Lab 2's mutation corpus (the judges: autograder/judges/lab2_backprop.py): each BUG variant of an answer cell must lose
its task's points with a message naming the cause; each OK variant, a correct answer written another way, must
keep full marks. ``test_contract.py`` runs them; what is particular to this lab is here."""
from __future__ import annotations

import textwrap

from harness import LabSpec, Notebook, bug, ok, src

LAB = "lab2_backprop"
NB = Notebook.of(LAB)

# The plain cell the judges need (test_cell_layout checks it is what we think).
SETUP = "start+1"
ANSWERS = ("2_1_code", "2_2_code", "2_3_code", "2_4_code", "2_5_code", "2_6_code")




P = NB.patched

# --------------------------------------------------------------------------- 2.1 (x + y)·z by hand
DZ = "    dz = df * q          #            ∂f/∂z = q"
DX = "    dx = dq * 1.0        # q = x + y: ∂q/∂x = 1"
RET_2_1 = '    return {"x": x, "y": y, "z": z, "q": q, "f": f}, {"x": dx, "y": dy, "z": dz, "q": dq, "f": df}'
CASES_2_1 = [
    bug("2.1", "dz-is-z", P("2_1_code", (DZ, "    dz = df * z")), r"2\.1: .*∂f/∂z .*q = x \+ y"),
    bug("2.1", "dx-is-q", P("2_1_code", (DX, "    dx = dq * q")), r"2\.1: .*∂f/∂x .*z · 1"),
    bug("2.1", "dq-is-q", P("2_1_code", ("    dq = df * z ", "    dq = df * q ")), r"2\.1: .*∂f/∂q .*expected"),
    bug("2.1", "no-q-gradient", P("2_1_code", (RET_2_1, RET_2_1.replace(', "q": dq', ""))), r"2\.1: .*no 'q'"),
    bug("2.1", "hard-coded-lecture-numbers", src('''
        def forward_backward(x, y, z):
            q = x + y
            return {"x": x, "y": y, "z": z, "q": q, "f": q * z}, {"x": -4.0, "y": -4.0, "z": 3.0, "q": -4.0, "f": 1.0}
        '''), r"2\.1: .*\(−2, 5, −4\) again"),
    bug("2.1", "df-zero", P("2_1_code", ("    df = 1.0", "    df = 0.0")), r"2\.1: .*∂f/∂f .*expected 1"),
    bug("2.1", "untouched-stub", NB.stub("2_1_code"), r"NotImplementedError"),
    ok("2.1", "ints-and-comprehension", src('''
        def forward_backward(x, y, z):
            q = x + y
            values = dict(x=x, y=y, z=z, q=q, f=q * z)
            local = {"q": z, "z": q}
            grads = {"f": 1, "q": local["q"], "z": local["z"]}
            grads.update({name: grads["q"] * 1 for name in ("x", "y")})
            return values, grads
        ''')),
    ok("2.1", "torch-scalars", src('''
        def forward_backward(x, y, z):
            x, y, z = (torch.tensor(float(v), dtype=torch.float64) for v in (x, y, z))
            q = x + y
            f = q * z
            return {"x": x, "y": y, "z": z, "q": q, "f": f}, {"x": z, "y": z, "z": q, "q": z, "f": torch.tensor(1.0)}
        ''')),
]

# --------------------------------------------------------------------------- 2.2 the sigmoid neuron
DS = "    ds = (1.0 - f) * f                      # the sigmoid's local gradient, from its forward value"
DW = "    dw = [x[0] * ds, x[1] * ds, 1.0 * ds]   # the bias multiplies a constant input 1"
CASES_2_2 = [
    bug("2.2", "sigma-only", P("2_2_code", (DS, "    ds = f")), r"2\.2: .*σ alone.*σ\(1 − σ\)"),
    bug("2.2", "one-minus-sigma-only", P("2_2_code", (DS, "    ds = 1.0 - f")), r"2\.2: .*\(1 − σ\) alone"),
    bug("2.2", "bias-gradient-zero", P("2_2_code", (DW, "    dw = [x[0] * ds, x[1] * ds, 0.0]")), r"2\.2: .*bias"),
    bug("2.2", "dw-dx-swapped", P("2_2_code", (DW, "    dw = [w[0] * ds, w[1] * ds, ds]"),
                                  ("    dx = [w[0] * ds, w[1] * ds]", "    dx = [x[0] * ds, x[1] * ds]")),
        r"2\.2: .*swapped"),
    bug("2.2", "exp-sign", P("2_2_code", ("math.exp(-s)", "math.exp(s)")), r"2\.2: .*sign of the exponent"),
    bug("2.2", "no-bias-in-dw", P("2_2_code", (DW, "    dw = [x[0] * ds, x[1] * ds]")), r"2\.2: dw should hold 3"),
    bug("2.2", "dx-uses-shifted-weights", P("2_2_code", ("    dx = [w[0] * ds, w[1] * ds]",
                                                         "    dx = [w[1] * ds, w[2] * ds]")), r"2\.2: .*expected dw"),
    bug("2.2", "hard-coded-lecture-numbers", src('''
        def sigmoid_neuron(w, x):
            return 0.7310585786300049, [-0.19661193, -0.39322387, 0.19661193], [0.39322387, -0.5898358]
        '''), r"2\.2: .*f = .*expected σ"),
    bug("2.2", "untouched-stub", NB.stub("2_2_code"), r"NotImplementedError"),
    ok("2.2", "torch-tensors", src('''
        def sigmoid_neuron(w, x):
            w = torch.as_tensor(w, dtype=torch.float64)
            x = torch.cat([torch.as_tensor(x, dtype=torch.float64), torch.ones(1, dtype=torch.float64)])
            f = torch.sigmoid(w @ x)
            ds = f * (1 - f)
            return f.item(), (x * ds).tolist(), (w[:2] * ds).tolist()
        ''')),
    ok("2.2", "tanh-identity-tuples", src('''
        def sigmoid_neuron(w, x):
            s = sum(wi * xi for wi, xi in zip(w, list(x) + [1.0]))
            f = 0.5 * (1 + math.tanh(s / 2))
            grad_s = f * (1 - f)
            return f, tuple(xi * grad_s for xi in (*x, 1)), tuple(wi * grad_s for wi in w[:2])
        ''')),
    ok("2.2", "gate-by-gate", src('''
        def sigmoid_neuron(w, x):
            s = w[0] * x[0] + w[1] * x[1] + w[2]
            e = math.exp(-s)
            d = 1 + e
            f = 1 / d
            dd = -1 / d ** 2
            de = dd
            ds = de * -e
            return f, [x[0] * ds, x[1] * ds, ds], [w[0] * ds, w[1] * ds]
        ''')),
    ok("2.2", "tensor-only-code", src('''
        def sigmoid_neuron(w, x):
            s = w[:2] @ x + w[2]
            f = torch.sigmoid(s)
            ds = f * (1 - f)
            return f, torch.cat([x * ds, ds.reshape(1)]), w[:2] * ds
        ''')),
]

# --------------------------------------------------------------------------- 2.3 numerical gradients
CENTRED = "        gflat[i] = (f_plus - f_minus) / (2 * h)"
RESTORE = "        flat[i] = old                         # put it back before the next element\n"
SCALE = "    scale = torch.maximum(a.abs(), b.abs())"
REL = "    rel = torch.where(scale > 0, (a - b).abs() / torch.where(scale > 0, scale, 1.0), 0.0)"
NUMGRAD_REST = '''

def relative_error(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float(((a - b).abs() / torch.maximum(a.abs(), b.abs()).clamp_min(1e-12)).max())
'''
CASES_2_3 = [
    bug("2.3", "one-sided-forward", P("2_3_code", ("        flat[i] = old - h\n", "        flat[i] = old\n"),
                                      (CENTRED, "        gflat[i] = (f_plus - f_minus) / h")),
        r"2\.3: .*one-sided.*centred"),
    bug("2.3", "one-sided-backward", P("2_3_code", ("        flat[i] = old + h\n", "        flat[i] = old\n"),
                                       (CENTRED, "        gflat[i] = (f_plus - f_minus) / h")),
        r"2\.3: .*one-sided.*centred"),
    bug("2.3", "divides-by-h", P("2_3_code", (CENTRED, "        gflat[i] = (f_plus - f_minus) / h")),
        r"2\.3: .*divide by 2h"),
    bug("2.3", "not-restored", P("2_3_code", (RESTORE, "")), r"2\.3: .*(put every element back|restore)"),
    bug("2.3", "float32-gradient", P("2_3_code", ("    grad = torch.zeros_like(x)", "    grad = torch.zeros(x.shape)")),
        r"2\.3: .*float32.*dtype"),
    bug("2.3", "rel-no-abs", P("2_3_code", (SCALE, "    scale = torch.maximum(a, b)")), r"2\.3: relative_error"),
    bug("2.3", "rel-divides-by-b", P("2_3_code", (REL, "    rel = (a - b).abs() / b.abs()")),
        r"2\.3: relative_error .*(division by 0|0/0)"),
    bug("2.3", "rel-divides-by-a-signed", P("2_3_code", (REL, "    rel = (a - b).abs() / a")),
        r"2\.3: relative_error"),
    bug("2.3", "rel-mean", P("2_3_code", ("    return float(rel.max())", "    return float(rel.mean())")),
        r"2\.3: relative_error .*max"),
    bug("2.3", "rel-nan-for-zeros", P("2_3_code", (REL, "    rel = (a - b).abs() / scale")),
        r"2\.3: relative_error .*0/0.*count such elements as 0"),
    bug("2.3", "rel-abs-difference", P("2_3_code", (REL, "    rel = (a - b).abs()")), r"2\.3: relative_error"),
    bug("2.3", "loops-over-rows-only", src('''
        def numerical_gradient(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            for i in range(len(x)):
                old = x[i].clone()
                x[i] = old + h
                fp = float(f(x))
                x[i] = old - h
                fm = float(f(x))
                x[i] = old
                grad[i] = (fp - fm) / (2 * h)
            return grad
        ''') + NUMGRAD_REST, r"2\.3: numerical_gradient of .*differs from the centred difference"),
    bug("2.3", "untouched-stub", NB.stub("2_3_code"), r"NotImplementedError"),
    ok("2.3", "clone-per-element-itertools", src('''
        import itertools

        def numerical_gradient(f, x, h=1e-5):
            grad = torch.empty_like(x)
            for idx in itertools.product(*(range(n) for n in x.shape)):
                xp, xm = x.clone(), x.clone()
                xp[idx] += h
                xm[idx] -= h
                grad[idx] = (f(xp) - f(xm)) / (2 * h)
            return grad

        def relative_error(a, b):
            num = (a - b).abs()
            den = torch.maximum(a.abs(), b.abs())
            return torch.where(den == 0, torch.zeros_like(num), num / den).max()
        ''')),
    ok("2.3", "basis-vectors-and-eps", src('''
        def numerical_gradient(f, x, h=1e-5):
            flat = x.reshape(-1)
            out = []
            for i in range(flat.numel()):
                e = torch.zeros_like(flat)
                e[i] = h
                out.append((f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) / (2 * h))
            return torch.stack([torch.as_tensor(o, dtype=x.dtype) for o in out]).reshape(x.shape)

        def relative_error(a, b):
            a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
            return ((a - b).abs() / (torch.maximum(a.abs(), b.abs()) + 1e-12)).max().item()
        ''')),
    ok("2.3", "cs231n-sum-denominator", P("2_3_code", (SCALE, "    scale = a.abs() + b.abs()"))),
    ok("2.3", "numpy-loops", src('''
        import numpy as np

        def numerical_gradient(f, x, h=1e-5):
            grad = np.zeros(x.shape)
            it = np.nditer(np.zeros(x.shape), flags=["multi_index"])
            while not it.finished:
                i = it.multi_index
                old = x[i].item()
                x[i] = old + h
                fp = float(f(x))
                x[i] = old - h
                fm = float(f(x))
                x[i] = old
                grad[i] = (fp - fm) / (2 * h)
                it.iternext()
            return torch.from_numpy(grad).to(x.dtype)

        def relative_error(a, b):
            a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            worst = 0.0
            for ai, bi in zip(a.ravel(), b.ravel()):
                scale = max(abs(ai), abs(bi))
                if scale > 0:
                    worst = max(worst, abs(ai - bi) / scale)
            return worst
        ''')),
]

# --------------------------------------------------------------------------- 2.4 the Value engine
V = "2_4_code"
MUL_BW = ("            self.grad += out.grad * other.data\n"
          "            other.grad += out.grad * self.data\n")
TANH_BW = "            self.grad += out.grad * (1.0 - t * t)"
RELU_BW = "            self.grad += out.grad * (1.0 if self.data > 0 else 0.0)"
POW_BW = "            self.grad += out.grad * n * self.data ** (n - 1)"
EXP_BW = "            self.grad += out.grad * out.data     # the forward value is the local gradient"
LOG_BW = "            self.grad += out.grad / self.data"
ADD_BW = "            self.grad += out.grad * 1.0\n            other.grad += out.grad * 1.0\n"
RESET = "        for node in order:\n            node.grad = 0.0\n"
BACKWARD_HEAD = '        """Set every .grad in this graph to 0, then self.grad = 1, then apply the chain rule output → inputs."""\n'


def backward_variant(*parts: str) -> str:
    """The solution's Value with the body of backward() replaced by ``parts``, one after the other."""
    cell = NB.source(V)
    start = cell.index(BACKWARD_HEAD) + len(BACKWARD_HEAD)
    return cell[:start] + textwrap.indent("\n".join(src(p) for p in parts), " " * 8) + "\n"


def op_variant(method: str, body: str) -> str:
    """The solution's Value with one method's solution region replaced."""
    cell = NB.source(V)
    start = cell.index(f"    def {method}(")
    begin = cell.index("### BEGIN SOLUTION\n", start) + len("### BEGIN SOLUTION\n")
    end = cell.index("        ### END SOLUTION", begin)
    return cell[:begin] + textwrap.indent(src(body), " " * 8) + "\n" + cell[end:]


TOPO_RECURSIVE = '''
topo, visited = [], set()

def build(v):
    if v not in visited:
        visited.add(v)
        for child in v._prev:
            build(child)
        topo.append(v)

build(self)
'''
CASES_2_4 = [
    bug("2.4", "mul-assigns", P(V, (MUL_BW, MUL_BW.replace("+=", "="))), r"2\.4: x · x .*\+= in _backward"),
    bug("2.4", "every-op-assigns", P(V, (MUL_BW, MUL_BW.replace("+=", "=")), (TANH_BW, TANH_BW.replace("+=", "=")),
                                     (RELU_BW, RELU_BW.replace("+=", "=")), (POW_BW, POW_BW.replace("+=", "=")),
                                     (EXP_BW, EXP_BW.replace("+=", "=")), (LOG_BW, LOG_BW.replace("+=", "=")),
                                     (ADD_BW, ADD_BW.replace("+=", "="))),
        r"2\.4: .*(\+= in _backward|keeps only the last contribution)"),
    bug("2.4", "add-assigns", P(V, (ADD_BW, ADD_BW.replace("+=", "="))), r"2\.4: x \+ x .*\+= in _backward"),
    bug("2.4", "order-not-reversed", P(V, ("        for node in reversed(order):", "        for node in order:")),
        r"2\.4: .*(reversed|order)"),
    bug("2.4", "order-breadth-first", backward_variant('''
        nodes, seen, queue = [], {id(self)}, [self]
        while queue:
            node = queue.pop(0)
            nodes.append(node)
            for child in node._prev:
                if id(child) not in seen:
                    seen.add(id(child))
                    queue.append(child)
        for node in nodes:
            node.grad = 0.0
        self.grad = 1.0
        for node in nodes:
            node._backward()
        '''), r"2\.4: .*(breadth-first|order)"),
    bug("2.4", "order-preorder", backward_variant('''
        order, seen, stack = [], set(), [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            order.append(node)
            stack.extend(node._prev)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in order:
            node._backward()
        '''), r"2\.4: .*order"),
    bug("2.4", "recursive-propagation", backward_variant('''
        def reset(v):
            v.grad = 0.0
            for child in v._prev:
                reset(child)

        def propagate(v):
            v._backward()
            for child in v._prev:
                propagate(child)

        reset(self)
        self.grad = 1.0
        propagate(self)
        '''), r"2\.4: .*(recursively|order)"),
    bug("2.4", "no-reset", P(V, (RESET, "")), r"2\.4: .*second time.*set[s]? \.grad = 0"),
    bug("2.4", "micrograd-no-reset", backward_variant(TOPO_RECURSIVE, '''
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
        '''), r"2\.4: .*second time.*\.grad = 0"),
    bug("2.4", "resets-inner-nodes-only", P(V, (RESET, "        for node in order:\n            if node._prev:\n"
                                                     "                node.grad = 0.0\n")),
        r"2\.4: .*(second time|resets every \.grad).*leaves"),
    bug("2.4", "tanh-one-minus-tanh", P(V, (TANH_BW, "            self.grad += out.grad * (1.0 - t)")),
        r"2\.4: tanh.*1 − tanh\(a\); the derivative of tanh is 1 − tanh²"),
    bug("2.4", "relu-wrong-side", P(V, (RELU_BW, RELU_BW.replace("self.data > 0", "self.data < 0"))),
        r"2\.4: relu.*wrong side of 0"),
    bug("2.4", "relu-gradient-is-value", P(V, (RELU_BW, "            self.grad += out.grad * out.data")),
        r"2\.4: relu.*expected"),
    bug("2.4", "pow-n-x-to-n", P(V, (POW_BW, "            self.grad += out.grad * n * self.data ** n")),
        r"2\.4: a \*\* .*n·aⁿ"),
    bug("2.4", "pow-missing-n", P(V, (POW_BW, "            self.grad += out.grad * self.data ** (n - 1)")),
        r"2\.4: a \*\* .*factor n is missing"),
    bug("2.4", "exp-gradient-is-input", P(V, (EXP_BW, "            self.grad += out.grad * self.data")),
        r"2\.4: exp.*e\^a itself"),
    bug("2.4", "log-gradient-is-log", P(V, (LOG_BW, "            self.grad += out.grad * out.data")),
        r"2\.4: log\(a\).*1/a"),
    bug("2.4", "exp-forgets-out-grad", P(V, (EXP_BW, "            self.grad += out.data")),
        r"2\.4: exp.*not multiplied by the gradient"),
    bug("2.4", "mul-swapped", P(V, (MUL_BW, "            self.grad += out.grad * self.data\n"
                                            "            other.grad += out.grad * other.data\n")),
        r"2\.4: a · b.*swapped"),
    bug("2.4", "rsub-backwards", P(V, ("        return (-self) + other", "        return self - other")),
        r"2\.4: 1\.5 − a .*value"),
    bug("2.4", "rtruediv-backwards", P(V, ("        return self ** -1 * other", "        return self / other")),
        r"2\.4: 2 / a .*value"),
    bug("2.4", "no-radd", P(V, ("    def __radd__(self, other: float) -> \"Value\":           # 2 + a\n"
                                "        ### BEGIN SOLUTION\n        return self + other\n        ### END SOLUTION\n", "")),
        r"2\.4: computing 2\.5 \+ node 0 raised TypeError"),
    bug("2.4", "div-own-backward-wrong-sign", op_variant("__truediv__", '''
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad += out.grad * self.data / other.data ** 2
        out._backward = _backward
        return out
        '''), r"2\.4: a / b .*−a/b²"),
    bug("2.4", "untouched-stub", NB.stub(V), r"NotImplementedError"),
    ok("2.4", "micrograd-recursive-topo-with-reset", backward_variant(TOPO_RECURSIVE, '''
        for v in topo:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
        ''')),
    ok("2.4", "reset-while-sorting", backward_variant('''
        topo, visited = [], set()

        def build(v):
            if id(v) in visited:
                return
            visited.add(id(v))
            v.grad = 0.0
            for child in v._prev:
                build(child)
            topo.append(v)

        build(self)
        self.grad = 1
        for v in topo[::-1]:
            v._backward()
        ''')),
    ok("2.4", "kahn-in-degrees", backward_variant('''
        nodes, stack, seen = [], [self], {id(self)}
        while stack:
            v = stack.pop()
            nodes.append(v)
            for c in v._prev:
                if id(c) not in seen:
                    seen.add(id(c))
                    stack.append(c)
        users = {id(v): 0 for v in nodes}
        for v in nodes:
            for c in v._prev:
                users[id(c)] += 1
            v.grad = 0.0
        self.grad = 1.0
        ready = [self]
        while ready:
            v = ready.pop()
            v._backward()
            for c in v._prev:
                users[id(c)] -= 1
                if users[id(c)] == 0:
                    ready.append(c)
        ''')),
    ok("2.4", "pow-backward-via-exp-log", P(V, (POW_BW, "            self.grad += out.grad * n * math.exp((n - 1) * "
                                                        "math.log(self.data))"))),
    ok("2.4", "pow-backward-via-out-data", P(V, (POW_BW, "            self.grad += n * out.data / self.data * out.grad"))),
    ok("2.4", "pow-forward-via-exp-log", op_variant("__pow__", '''
        out = Value(math.exp(n * math.log(self.data)), (self,), f"**{n}")

        def _backward():
            self.grad += out.grad * n * out.data / self.data
        out._backward = _backward
        return out
        ''')),
    ok("2.4", "sub-div-with-own-backward", op_variant("__truediv__", '''
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / other.data ** 2
        out._backward = _backward
        return out
        ''').replace("        return self + (-other)\n", textwrap.indent(src('''
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = _backward
        return out
        '''), " " * 8) + "\n")),
    ok("2.4", "tanh-from-exp-relu-from-out", P(V, ("        t = math.tanh(self.data)",
                                                   "        t = (math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)"),
                                               (RELU_BW, "            self.grad += (out.data > 0) * out.grad"),
                                               ("        out = Value(self.data if self.data > 0 else 0.0, (self,), \"relu\")",
                                                "        out = Value(max(0.0, self.data), (self,), \"relu\")"))),
    ok("2.4", "reflected-by-alias-and-wrapping", P(V, ("        return (-self) + other", "        return Value(other) - self"),
                                                   ("        return self ** -1 * other", "        return Value(other) / self"),
                                                   ("        return self * -1.0", "        return -1 * self"))),
    ok("2.4", "children-as-set", P(V, ("        self._prev = tuple(_children)    # the Values this one was computed from",
                                       "        self._prev = set(_children)"))),
]

# --------------------------------------------------------------------------- 2.5 the MLP by hand
C5 = "2_5_code"
DW2 = "    dW2 = R.T @ dZ                                        # (H, C)"
DW1 = "    dW1 = X.T @ dA                                        # (D, H)"
DB2 = "    db2 = dZ.sum(dim=0)                                   # (C,)"
DB1 = "    db1 = dA.sum(dim=0)                                   # (H,)"
DA = "    dA = (dZ @ W2.T) * (A > 0)                            # (N, H): through the ReLU where its input was positive"
MEAN = "    dZ /= N                                               # the mean's 1/N\n"
ONEHOT = "    dZ[rows, y] -= 1.0                                    # P − Y\n"
SHIFT = "    Z = Z - Z.max(dim=1, keepdim=True).values             # a per-row shift: same softmax, no overflow\n"
LOSS = "    loss = -log_P[rows, y].mean()"
_HEAD = ('def mlp_loss_and_grads(params, X, y):\n    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], '
            'params["b2"]\n    N = X.shape[0]\n')


def mlp_variant(body: str) -> str:
    """mlp_loss_and_grads with the given body after its unpacking of params and N."""
    return _HEAD + textwrap.indent(src(body), "    ")
CASES_2_5 = [
    bug("2.5", "dW2-transposed", P(C5, (DW2, "    dW2 = dZ.T @ R")), r"2\.5: the gradient of W2 is transposed"),
    bug("2.5", "dW1-transposed", P(C5, (DW1, "    dW1 = dA.T @ X")), r"2\.5: the gradient of W1 is transposed"),
    bug("2.5", "no-1-over-N", P(C5, (MEAN, "")), r"2\.5: .*N = 11 times too large.*mean"),
    bug("2.5", "no-one-hot-subtraction", P(C5, (ONEHOT, "")), r"2\.5: .*one-hot subtraction"),
    bug("2.5", "relu-mask-wrong-side", P(C5, (DA, DA.replace("(A > 0)", "(A < 0)"))), r"2\.5: .*wrong side of 0"),
    bug("2.5", "relu-mask-wrong-side-le", P(C5, (DA, DA.replace("(A > 0)", "(A <= 0)"))), r"2\.5: .*wrong side of 0"),
    bug("2.5", "no-relu-mask", P(C5, (DA, "    dA = dZ @ W2.T")), r"2\.5: .*ReLU's gradient is missing"),
    bug("2.5", "dW2-from-pre-activation", P(C5, (DW2, "    dW2 = A.T @ dZ")), r"2\.5: .*pre-activation"),
    bug("2.5", "bias-summed-over-columns", P(C5, (DB1, "    db1 = dA.sum(dim=1)")), r"2\.5: the gradient of b1 has shape"),
    bug("2.5", "bias-mean-over-rows", P(C5, (DB2, "    db2 = dZ.mean(dim=0)")), r"2\.5: .*b2 is N = 11 times too small"),
    bug("2.5", "loss-summed", P(C5, (LOSS, "    loss = -log_P[rows, y].sum()")), r"2\.5: .*sum over the examples"),
    bug("2.5", "softmax-not-shifted", P(C5, (SHIFT, "")), r"2\.5: .*logits around 900.*row's maximum"),
    bug("2.5", "computes-in-float32", P(C5, ("    A = X @ W1 + b1 ", "    X, W1, b1, W2, b2 = X.float(), W1.float(), "
                                              "b1.float(), W2.float(), b2.float()\n    A = X @ W1 + b1 ")),
        r"2\.5: .*(float32.*dtype|differs from autograd)"),
    bug("2.5", "uses-autograd", src('''
        def mlp_loss_and_grads(params, X, y):
            leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
            logits = torch.relu(X @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
            loss = F.cross_entropy(logits, y)
            loss.backward()
            return loss.detach(), {k: v.grad for k, v in leaves.items()}
        '''), r"2\.5: your code uses autograd"),
    # The rule by behaviour: autograd switched back on inside the function, or reached another way, still fails.
    bug("2.5", "autograd-inside-enable-grad", src('''
        def mlp_loss_and_grads(params, X, y):
            with torch.enable_grad():
                leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
                logits = torch.relu(X @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
                loss = F.cross_entropy(logits, y)
                grads = torch.autograd.grad(loss, list(leaves.values()))
            return loss.detach(), dict(zip(leaves, grads))
        '''), r"2\.5: your code uses autograd \(autograd"),
    bug("2.5", "torch-func-grad", src('''
        def mlp_loss_and_grads(params, X, y):
            def loss_of(p):
                logits = torch.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
                return F.cross_entropy(logits, y)
            return loss_of(params), torch.func.grad(loss_of)(params)
        '''), r"2\.5: your code uses autograd \(autograd"),
    bug("2.5", "updates-params-in-place", P(C5, ('    return loss, {"W1": dW1', '    W1 -= 0.1 * dW1\n    return loss, {"W1": dW1')),
        r"2\.5: .*changed the parameters"),
    bug("2.5", "untouched-stub", NB.stub(C5), r"NotImplementedError"),
    ok("2.5", "einsum-ones-vector-bias", P(C5, (DW2, "    dW2 = torch.einsum('nh,nc->hc', R, dZ)"),
                                           (DW1, "    dW1 = torch.einsum('nd,nh->dh', X, dA)"),
                                           (DB2, "    db2 = torch.ones(N, dtype=dZ.dtype) @ dZ"),
                                           (DB1, "    db1 = dA.T @ torch.ones(N, dtype=dA.dtype)"))),
    ok("2.5", "softmax-one-hot-cross-entropy", mlp_variant('''
            A = X @ W1 + b1
            R = torch.relu(A)
            logits = R @ W2 + b2
            P = F.softmax(logits, dim=1)
            loss = F.cross_entropy(logits, y)
            dlogits = (P - F.one_hot(y, logits.shape[1]).to(P.dtype)) / N
            dR = dlogits @ W2.T
            dA = torch.where(A > 0, dR, torch.zeros_like(dR))
            return loss, {"W1": X.T @ dA, "b1": dA.sum(0), "W2": R.T @ dlogits, "b2": dlogits.sum(0)}
        ''')),
    ok("2.5", "logsumexp-mask-from-output", mlp_variant('''
            h = (X @ W1 + b1).clamp_min(0)
            z = h @ W2 + b2
            log_p = z - torch.logsumexp(z, dim=1, keepdim=True)
            loss = -log_p.gather(1, y[:, None]).mean()
            dz = log_p.exp()
            dz.scatter_add_(1, y[:, None], -torch.ones(N, 1, dtype=dz.dtype))
            dz = dz / N
            dh = dz @ W2.T
            dh[h <= 0] = 0
            return loss, {"W2": h.T @ dz, "b2": dz.sum(axis=0), "W1": X.T @ dh, "b1": dh.sum(axis=0)}
        ''')),
    ok("2.5", "tuple-of-grads-python-loop-bias", mlp_variant('''
            A = X.matmul(W1) + b1
            R = A * (A > 0)
            Z = R.matmul(W2) + b2
            Z = Z - Z.max(1, keepdim=True)[0]
            E = Z.exp()
            P = E / E.sum(1, keepdim=True)
            loss = -P[range(N), y].log().mean()
            G = P.clone()
            for n in range(N):
                G[n, y[n]] -= 1
            G /= N
            dR = G.matmul(W2.t())
            dA = dR * (A > 0).to(dR.dtype)
            return loss, {"W1": X.t().matmul(dA), "b1": sum(dA[n] for n in range(N)), "W2": R.t().matmul(G),
                          "b2": sum(G[n] for n in range(N))}
        ''')),
]

# --------------------------------------------------------------------------- 2.6 training
C6 = "2_6_code"
UPDATE = "        params = {name: p - lr * grads[name] for name, p in params.items()}"
CASES_2_6 = [
    bug("2.6", "gradient-ascent", P(C6, (UPDATE, UPDATE.replace(" - lr", " + lr"))), r"2\.6: .*(rises|NaN).*p − lr·grad"),
    bug("2.6", "zero-init", P(C6, ('torch.randn(D, hidden, generator=g, dtype=X.dtype) * math.sqrt(2.0 / D)',
                                   'torch.zeros(D, hidden, dtype=X.dtype)'),
                              ('torch.randn(hidden, C, generator=g, dtype=X.dtype) * math.sqrt(1.0 / hidden)',
                               'torch.zeros(hidden, C, dtype=X.dtype)')), r"2\.6: every hidden unit has the same weights"),
    bug("2.6", "never-updates", P(C6, (UPDATE, "        new = {name: p - lr * grads[name] for name, p in params.items()}")),
        r"2\.6: .*stays flat.*updated"),
    bug("2.6", "lr-ignored-tiny", P(C6, (UPDATE, UPDATE.replace("lr *", "0.005 *"))),
        r"2\.6: .*p − 0\.005·grad, not p − lr·grad .*use the lr"),
    bug("2.6", "returns-initial-params", P(C6, ("    losses = []\n", "    initial = dict(params)\n    losses = []\n"),
                                           ("    return params, losses", "    return initial, losses")),
        r"2\.6: .*return the trained parameters"),
    bug("2.6", "hidden-hard-coded", P(C6, ("    D, C = X.shape[1], int(y.max()) + 1", "    D, C = X.shape[1], int(y.max()) + 1\n"
                                           "    hidden = 64")), r"2\.6: .*W1 should have shape \(2, 32\)"),
    bug("2.6", "no-losses", P(C6, ("        losses.append(float(loss))\n", "")), r"2\.6: .*losses; one loss per step"),
    bug("2.6", "untouched-stub", NB.stub(C6), r"NotImplementedError"),
    ok("2.6", "in-place-update-tensor-losses", P(C6, (UPDATE, "        for name in params:\n            params[name] -= lr * grads[name]"),
                                                 ("        losses.append(float(loss))", "        losses.append(loss)"))),
    # The text's loss of a step is the loss before its update, on the whole training set (issue 21, kind 1).
    bug("2.6", "xavier-init-loss-after-step", src('''
        def train_mlp(X, y, hidden, lr, steps, seed=0):
            torch.manual_seed(seed)
            D, C = X.shape[1], int(y.max()) + 1
            params = {"W1": torch.randn(D, hidden, dtype=X.dtype) / math.sqrt(D), "b1": torch.zeros(hidden, dtype=X.dtype),
                      "W2": torch.randn(hidden, C, dtype=X.dtype) / math.sqrt(hidden), "b2": torch.zeros(C, dtype=X.dtype)}
            losses = []
            for step in range(steps):
                _, grads = mlp_loss_and_grads(params, X, y)
                for k in params:
                    params[k] = params[k] - lr * grads[k]
                losses.append(mlp_loss_and_grads(params, X, y)[0].item())
            return params, losses
        '''), r"2\.6: the loss recorded at step 2 .* is the loss after that step's update"),
]


# --------------------------------------------------------------------------- more realistic mistakes and variants
CASES_MORE = [
    bug("2.1", "plus-gate-negates-y", P("2_1_code", ("    dy = dq * 1.0 ", "    dy = -dq * 1.0 ")), r"2\.1: .*∂f/∂y .*z · 1"),
    bug("2.3", "item-on-a-float", P("2_3_code", ("        f_plus = float(f(x))", "        f_plus = f(x).item()"),
                                               ("        f_minus = float(f(x))", "        f_minus = f(x).item()")),
        r"2\.3: numerical_gradient of a distance returned as a Python float .*float\(f\(x\)\), not \.item\(\)"),
    bug("2.3", "no-division-by-2h", P("2_3_code", (CENTRED, "        gflat[i] = f_plus - f_minus")),
        r"2\.3: numerical_gradient of .*differs from the centred difference"),
    bug("2.3", "rel-elementwise-not-max", P("2_3_code", ("    return float(rel.max())", "    return rel")),
        r"2\.3: relative_error.* should be a number"),
    bug("2.4", "no-seed-gradient", P(V, ("        self.grad = 1.0\n        # Reversed", "        # Reversed")),
        r"2\.4: after out\.backward\(\).*out\.grad is 0.*to 1"),
    bug("2.4", "seed-before-reset", P(V, (RESET + "        self.grad = 1.0\n", "        self.grad = 1.0\n" + RESET)),
        r"2\.4: after out\.backward\(\).*out\.grad is 0"),
    bug("2.4", "tanh-derivative-from-input", P(V, (TANH_BW, "            self.grad += out.grad * (1.0 - self.data ** 2)")),
        r"2\.4: tanh\(a\).*1 − tanh²\(a\)"),
    bug("2.4", "rtruediv-recurses", P(V, ("        return self ** -1 * other", "        return other / self")),
        r"2\.4: computing 2 / node 0 raised RecursionError"),
    bug("2.4", "no-rmul", P(V, ("    def __rmul__(self, other: float) -> \"Value\":           # 2 * a\n"
                                "        ### BEGIN SOLUTION\n        return self * other\n        ### END SOLUTION\n", "")),
        r"2\.4: computing 2\.5 · node 0 raised TypeError"),
    bug("2.4", "sub-adds", P(V, ("        return self + (-other)", "        return self + other")), r"2\.4: a − b .*value"),
    bug("2.4", "log-forgets-out-grad", P(V, (LOG_BW, "            self.grad += 1.0 / self.data")),
        r"2\.4: log\(a\).*not multiplied by the gradient"),
    bug("2.4", "visited-keyed-by-value", backward_variant('''
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
            elif node.data not in seen:
                seen.add(node.data)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
        '''), r"2\.4: .*(equal values|gradients differ|expected)"),
    bug("2.4", "neg-detached", P(V, ("        return self * -1.0", "        return Value(-self.data)")),
        r"2\.4: −a .*expected"),
    bug("2.4", "radd-recurses", P(V, ("        return self + other\n", "        return other + self\n")),
        r"2\.4: computing 2\.5 \+ node 0 raised RecursionError"),
    bug("2.5", "bias-summed-to-scalar", P(C5, (DB2, "    db2 = dZ.sum()")), r"2\.5: the gradient of b2 has shape \(\)"),
    bug("2.5", "relu-mask-from-gradient", P(C5, (DA, "    dA = (dZ @ W2.T)\n    dA = dA * (dA > 0)")),
        r"2\.5: .*gradient of W1 differs from autograd"),
    bug("2.6", "trains-last-layer-only", P(C6, (UPDATE, "        params = {name: p - lr * grads[name] if name in ('W2', 'b2') "
                                                       "else p for name, p in params.items()}")),
        r"2\.6: .*leaves W1 and b1 unchanged"),
    ok("2.5", "bias-gradients-as-rows", P(C5, (DB2, "    db2 = dZ.sum(dim=0, keepdim=True)"),
                                          (DB1, "    db1 = dA.sum(dim=0, keepdim=True)"))),
    ok("2.6", "biases-as-rows", P(C6, ('"b1": torch.zeros(hidden, dtype=X.dtype)', '"b1": torch.zeros(1, hidden, dtype=X.dtype)'),
                                  ('"b2": torch.zeros(C, dtype=X.dtype)', '"b2": torch.zeros(1, C, dtype=X.dtype)'))),
    ok("2.6", "small-init", P(C6, ("* math.sqrt(2.0 / D)", "* 0.01"), ("* math.sqrt(1.0 / hidden)", "* 0.01"))),
    bug("2.6", "minibatch-sgd", src("""
        def train_mlp(X, y, hidden, lr, steps, seed=0):
            g = torch.Generator().manual_seed(seed)
            D, C = X.shape[1], int(y.max()) + 1
            params = {"W1": torch.randn(D, hidden, generator=g, dtype=X.dtype) * math.sqrt(2.0 / D),
                      "b1": torch.zeros(hidden, dtype=X.dtype),
                      "W2": torch.randn(hidden, C, generator=g, dtype=X.dtype) * math.sqrt(1.0 / hidden),
                      "b2": torch.zeros(C, dtype=X.dtype)}
            losses = []
            for _ in range(steps):
                batch = torch.randint(0, len(y), (64,), generator=g)
                loss, grads = mlp_loss_and_grads(params, X[batch], y[batch])
                losses.append(loss.item())
                for name in params:
                    params[name] = params[name] - lr * grads[name]
            return params, losses
        """), r"2\.6: .*whole training set"),
]


# --------------------------------------------------------------------------- issue 21: what a class writes from the text
# (kinds: 1 what a recorded number means, 2 stated rules, 3 inputs the text allows, 4 side effects)
TOPO_PUSH_SEEN = """
order, seen, stack = [], {id(self)}, [(self, False)]
while stack:
    node, inputs_done = stack.pop()
    if inputs_done:
        order.append(node)
        continue
    stack.append((node, True))
    for child in node._prev:
        if id(child) not in seen:
            seen.add(id(child))
            stack.append((child, False))
for node in order:
    node.grad = 0.0
self.grad = 1.0
for node in reversed(order):
    node._backward()
"""
LOOP_6 = ("        loss, grads = mlp_loss_and_grads(params, X, y)\n"
          "        losses.append(float(loss))\n"
          "        params = {name: p - lr * grads[name] for name, p in params.items()}\n")
CASES_ISSUE21 = [
    # 2.1
    bug("2.1", "dq-forgets-z", P("2_1_code", ("    dq = df * z ", "    dq = df ")), r"2\.1: .*∂f/∂q .*z"),
    ok("2.1", "local-gradients-named", src('''
        def forward_backward(x, y, z):
            q = x + y
            f = q * z
            local = {("f", "q"): z, ("f", "z"): q, ("q", "x"): 1.0, ("q", "y"): 1.0}
            g = {"f": 1.0}
            g["q"] = g["f"] * local["f", "q"]
            g["z"] = g["f"] * local["f", "z"]
            g["x"] = g["q"] * local["q", "x"]
            g["y"] = g["q"] * local["q", "y"]
            return {"x": x, "y": y, "z": z, "q": q, "f": f}, g
        ''')),
    # 2.2
    bug("2.2", "appends-bias-input-to-x", src('''
        def sigmoid_neuron(w, x):
            x.append(1.0)                      # the bias as a constant input
            s = sum(wi * xi for wi, xi in zip(w, x))
            f = 1 / (1 + math.exp(-s))
            ds = f * (1 - f)
            return f, [xi * ds for xi in x], [w[0] * ds, w[1] * ds]
        '''), r"2\.2: .*changed (its|the) (input|argument)"),
    bug("2.2", "sigmoid-derivative-of-s", P("2_2_code", ("    ds = (1.0 - f) * f ", "    ds = (1.0 - s) * s ")),
        r"2\.2: .*expected dw"),
    ok("2.2", "exp-over-one-plus-exp", src('''
        def sigmoid_neuron(w, x):
            xs = list(x) + [1.0]
            s = sum(a * b for a, b in zip(w, xs))
            f = math.exp(s) / (1.0 + math.exp(s))
            ds = math.exp(-s) / (1.0 + math.exp(-s)) ** 2
            return f, [v * ds for v in xs], [w[i] * ds for i in range(2)]
        ''')),
    # 2.3
    bug("2.3", "h-ignored", src('''
        def numerical_gradient(f, x, h=1e-5):
            eps = 1e-5
            grad = torch.zeros_like(x)
            flat, gflat = x.view(-1), grad.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                fp = float(f(x))
                flat[i] = old - eps
                fm = float(f(x))
                flat[i] = old
                gflat[i] = (fp - fm) / (2 * eps)
            return grad
        ''') + NUMGRAD_REST, r"2\.3: .*\(h = 0\.25\) is the centred difference with h = 1e-5.*use the argument h"),
    bug("2.3", "numpy-gradient-stays-float64", src('''
        import numpy as np

        def numerical_gradient(f, x, h=1e-5):
            grad = np.zeros(x.shape)
            flat = x.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + h
                fp = float(f(x))
                flat[i] = old - h
                fm = float(f(x))
                flat[i] = old
                grad.reshape(-1)[i] = (fp - fm) / (2 * h)
            return torch.from_numpy(grad)
        ''') + NUMGRAD_REST, r"2\.3: .*torch\.float64 for a torch\.float32 x"),
    bug("2.3", "gradient-always-float64", P("2_3_code", ("    grad = torch.zeros_like(x)",
                                                         "    grad = torch.zeros(x.shape, dtype=torch.float64)")),
        r"2\.3: .*torch\.float64 for a torch\.float32 x"),
    bug("2.3", "one-or-two-dimensions-only", src('''
        def numerical_gradient(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            rows, cols = (x.shape[0], x.shape[1]) if x.dim() == 2 else (x.shape[0], 1)
            for i in range(rows):
                for j in range(cols):
                    idx = (i, j) if x.dim() == 2 else (i,)
                    old = x[idx].item()
                    x[idx] = old + h
                    fp = float(f(x))
                    x[idx] = old - h
                    fm = float(f(x))
                    x[idx] = old
                    grad[idx] = (fp - fm) / (2 * h)
            return grad
        ''') + NUMGRAD_REST, r"2\.3: numerical_gradient of logsumexp of a 2×3×2 tensor .*raised"),
    bug("2.3", "restores-by-arithmetic", src('''
        def numerical_gradient(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            flat, gflat = x.view(-1), grad.view(-1)
            for i in range(flat.numel()):
                flat[i] += h
                fp = float(f(x))
                flat[i] -= 2 * h
                fm = float(f(x))
                flat[i] += h
                gflat[i] = (fp - fm) / (2 * h)
            return grad
        ''') + NUMGRAD_REST, r"2\.3: .*left x changed"),
    bug("2.3", "rel-ratio-of-maxima", P("2_3_code", (REL, "    rel = (a - b).abs().max() / scale.max()")),
        r"2\.3: relative_error"),
    bug("2.3", "rel-norms", P("2_3_code", (SCALE, "    scale = None"), (REL, "    rel = (a - b).norm() / torch.maximum(a.norm(), b.norm())")),
        r"2\.3: relative_error"),
    ok("2.3", "float64-copy-cast-back", src('''
        def numerical_gradient(f, x, h=1e-5):
            work = x.detach().clone()
            grad = torch.zeros(work.numel(), dtype=torch.float64)
            for i in range(work.numel()):
                plus, minus = work.clone(), work.clone()
                plus.view(-1)[i] += h
                minus.view(-1)[i] -= h
                grad[i] = (float(f(plus)) - float(f(minus))) / (2 * h)
            return grad.reshape(x.shape).to(x.dtype)

        def relative_error(a, b):
            diff, scale = (a - b).abs(), torch.max(a.abs(), b.abs())
            scale[scale == 0] = 1.0
            return (diff / scale).max().item()
        ''')),
    # 2.4
    bug("2.4", "topo-marks-seen-when-pushed", backward_variant(TOPO_PUSH_SEEN),
        r"2\.4: on c · exp\(c\) \+ exp\(d\) · d.*ran before exp\([cd]\).*topological order"),
    bug("2.4", "relu-mask-from-upstream", P(V, (RELU_BW, "            self.grad += out.grad if out.grad > 0 else 0.0")),
        r"2\.4: relu\(a\) at a = 1\.7, then times -2.*not out\.grad > 0"),
    ok("2.4", "isinstance-int-float", P(V, (("        other = other if isinstance(other, Value) else Value(other)\n"
                                               "        out = Value(self.data * other.data"),
                                              ("        if isinstance(other, (int, float)):\n            other = Value(other)\n"
                                               "        out = Value(self.data * other.data")))),
    # 2.5
    bug("2.5", "one-hot-width-from-labels", P(C5, (ONEHOT, "    dZ = dZ - F.one_hot(y).to(dZ.dtype)\n")),
        r"2\.5: .*class 3 absent.*W2\.shape\[1\]"),
    bug("2.5", "classes-from-labels", mlp_variant('''
            A = X @ W1 + b1
            R = torch.relu(A)
            Z = R @ W2 + b2
            Z = Z - Z.max(dim=1, keepdim=True).values
            P = Z.exp() / Z.exp().sum(dim=1, keepdim=True)
            Y = torch.eye(int(y.max()) + 1, dtype=X.dtype)[y]     # one-hot rows
            loss = -(P[torch.arange(N), y]).log().mean()
            dZ = (P - Y) / N
            dA = dZ @ W2.T * (A > 0)
            return loss, {"W1": X.T @ dA, "b1": dA.sum(0), "W2": R.T @ dZ, "b2": dZ.sum(0)}
        '''), r"2\.5: .*class 3 absent.*W2\.shape\[1\]"),
    ok("2.5", "global-max-shift-log-softmax", mlp_variant('''
            A = X @ W1 + b1
            R = torch.relu(A)
            Z = R @ W2 + b2
            log_P = F.log_softmax(Z - Z.max(), dim=1)
            loss = F.nll_loss(log_P, y)
            dZ = log_P.exp() - F.one_hot(y, num_classes=W2.shape[1]).to(Z.dtype)
            dZ = dZ / N
            dA = (dZ @ W2.T) * (R > 0)
            return loss, {"W1": X.T @ dA, "b1": dA.sum(0), "W2": R.T @ dZ, "b2": dZ.sum(0)}
        ''')),
    # 2.6
    bug("2.6", "loss-recorded-after-update", P(C6, (LOOP_6, (
        "        _, grads = mlp_loss_and_grads(params, X, y)\n"
        "        params = {name: p - lr * grads[name] for name, p in params.items()}\n"
        "        losses.append(float(mlp_loss_and_grads(params, X, y)[0]))\n"))),
        r"2\.6: the loss recorded at step 2 .* is the loss after that step's update"),
    bug("2.6", "initial-loss-too", P(C6, ("    return params, losses",
                                          ("    losses.append(float(mlp_loss_and_grads(params, X, y)[0]))\n"
                                           "    return params, losses"))),
        r"2\.6: .*losses; one loss per step"),
    bug("2.6", "seed-ignored", P(C6, ("    g = torch.Generator().manual_seed(seed)", "    g = torch.Generator().manual_seed(0)")),
        r"2\.6: .*same initial parameters for seeds 5 and 6"),
    bug("2.6", "unseeded-init", P(C6, ("generator=g, dtype=X.dtype) * math.sqrt(2.0 / D)", "dtype=X.dtype) * math.sqrt(2.0 / D)"),
                                      ("generator=g, dtype=X.dtype) * math.sqrt(1.0 / hidden)", "dtype=X.dtype) * math.sqrt(1.0 / hidden)")),
        r"2\.6: .*seed=5 start from different losses.*global random state"),
    bug("2.6", "lr-hard-coded", P(C6, ("p - lr * grads[name]", "p - 1.0 * grads[name]")), r"2\.6: .*p − 1·grad, not p − lr·grad"),
    bug("2.6", "biases-never-updated", P(C6, ("p - lr * grads[name] for name, p in params.items()}",
                                              "(p - lr * grads[name] if name[0] == 'W' else p) for name, p in params.items()}")),
        r"2\.6: .*leaves b1 and b2 unchanged.*every parameter"),
    bug("2.6", "momentum", P(C6, ("    losses = []\n", "    velocity = {name: torch.zeros_like(p) for name, p in params.items()}\n    losses = []\n"),
                             ("        params = {name: p - lr * grads[name] for name, p in params.items()}\n",
                              ("        for name in params:\n"
                               "            velocity[name] = 0.9 * velocity[name] + grads[name]\n"
                               "            params[name] = params[name] - lr * velocity[name]\n"))),
        r"2\.6: .*differs from p − lr·∂L/∂p.*no momentum"),
    bug("2.6", "params-float32", P(C6, ("torch.randn(D, hidden, generator=g, dtype=X.dtype)", "torch.randn(D, hidden, generator=g)"),
                                   ("torch.randn(hidden, C, generator=g, dtype=X.dtype)", "torch.randn(hidden, C, generator=g)"),
                                   ('"b1": torch.zeros(hidden, dtype=X.dtype)', '"b1": torch.zeros(hidden)'),
                                   ('"b2": torch.zeros(C, dtype=X.dtype)', '"b2": torch.zeros(C)')),
        r"2\.6: train_mlp\(float64 X.*raised.*X's dtype"),
    ok("2.6", "global-seed-randn-then-cast", P(C6, ("    g = torch.Generator().manual_seed(seed)", "    torch.manual_seed(seed)"),
                                               ("torch.randn(D, hidden, generator=g, dtype=X.dtype)", "torch.randn(D, hidden).to(X.dtype)"),
                                               ("torch.randn(hidden, C, generator=g, dtype=X.dtype)", "torch.randn(hidden, C).to(X.dtype)"))),
    ok("2.6", "xavier-init-while-loop", src('''
        def train_mlp(X, y, hidden, lr, steps, seed=0):
            g = torch.Generator().manual_seed(seed)
            D, C = X.shape[1], int(y.max()) + 1
            params = {"W1": torch.randn(D, hidden, generator=g, dtype=X.dtype) / math.sqrt(D),
                      "b1": torch.zeros(hidden, dtype=X.dtype),
                      "W2": torch.randn(hidden, C, generator=g, dtype=X.dtype) / math.sqrt(hidden),
                      "b2": torch.zeros(C, dtype=X.dtype)}
            losses = []
            while len(losses) < steps:
                loss, grads = mlp_loss_and_grads(params, X, y)
                losses.append(loss.item())
                for k in params:
                    params[k] = params[k] - lr * grads[k]
            return params, losses
        ''')),
    bug("2.4", "topo-marks-seen-when-pushed-reversed", backward_variant(TOPO_PUSH_SEEN.replace(
        "for child in node._prev:", "for child in reversed(node._prev):")),
        r"2\.4: on .*(ran before exp\([cd]\).*topological order|gradients differ.*the order)"),
    bug("2.3", "rel-max-of-signed-values", P("2_3_code", (SCALE, "    scale = torch.maximum(a, b).abs()")),
        r"2\.3: relative_error with a = \[−1, −3\]"),
    ok("2.3", "cs231n-with-epsilon", src('''
        def numerical_gradient(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            it = torch.arange(x.numel())
            for i in it.tolist():
                idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), x.shape))
                old = x[idx].item()
                x[idx] = old + h
                fxph = f(x)
                x[idx] = old - h
                fxmh = f(x)
                x[idx] = old
                grad[idx] = (fxph - fxmh) / (2 * h)
            return grad

        def relative_error(a, b):
            return float(((a - b).abs() / (a.abs() + b.abs()).clamp(min=1e-8)).max())
        ''')),
    bug("2.5", "one-hot-three-classes", P(C5, (ONEHOT, "    dZ = dZ - F.one_hot(y, 3).to(dZ.dtype)\n")), r"2\.5: .*(raised|C = 5)"),
    ok("2.5", "logsumexp-unshifted-scatter", mlp_variant('''
            A = X @ W1 + b1
            R = A.relu()
            Z = R @ W2 + b2
            lse = torch.logsumexp(Z, dim=1)
            loss = (lse - Z.gather(1, y.view(-1, 1)).squeeze(1)).mean()
            Y = torch.zeros_like(Z).scatter_(1, y.view(-1, 1), 1.0)
            dZ = (torch.exp(Z - lse[:, None]) - Y) / N
            dR = dZ @ W2.t()
            dA = dR.masked_fill(A <= 0, 0.0)
            return loss, dict(W1=X.t() @ dA, b1=dA.sum(0), W2=R.t() @ dZ, b2=dZ.sum(0))
        ''')),
    bug("2.6", "steps-minus-one", P(C6, ("range(steps)", "range(1, steps)")), r"2\.6: .*losses; one loss per step"),
    bug("2.6", "lr-decay", P(C6, ("    for _ in course.progress(range(steps), desc=\"gradient descent\"):",
                                  "    for step in range(steps):"),
                             ("p - lr * grads[name]", "p - lr / (1 + step) * grads[name]")),
        r"2\.6: .*p − 0\.25·grad, not p − lr·grad"),
    ok("2.6", "in-place-sub-loss-first", src('''
        def train_mlp(X, y, hidden, lr, steps, seed=0):
            g = torch.Generator().manual_seed(seed)
            D = X.shape[1]
            C = int(y.max().item()) + 1
            W1 = torch.randn(D, hidden, generator=g, dtype=X.dtype).mul_(math.sqrt(2 / D))
            W2 = torch.randn(hidden, C, generator=g, dtype=X.dtype).mul_((1 / hidden) ** 0.5)
            params = dict(W1=W1, b1=X.new_zeros(hidden), W2=W2, b2=X.new_zeros(C))
            losses = []
            for _ in range(steps):
                losses.append(mlp_loss_and_grads(params, X, y)[0].item())
                _, grads = mlp_loss_and_grads(params, X, y)
                for name, p in params.items():
                    p.sub_(lr * grads[name])
            return params, losses
        ''')),
]

CASES = CASES_2_1 + CASES_2_2 + CASES_2_3 + CASES_2_4 + CASES_2_5 + CASES_2_6 + CASES_MORE + CASES_ISSUE21


GRADED = {"2_1", "2_2", "2_3", "2_4", "2_5", "2_6"}
SPEC = LabSpec(LAB, (SETUP, *ANSWERS), cell_timeout=120, budget=600)
DATA_SET = None
FULL_MARKS = tuple(sorted(NB.graded))


def check_layout() -> None:
    """The plain cells this corpus names are what it thinks they are."""
    assert NB.keys[0] == SETUP and "import course" in NB.source(SETUP)
    assert "sys.setrecursionlimit" in NB.source("2_4"), "the visible test makes room for a recursive sort"
