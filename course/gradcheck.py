"""Gradient checks: an analytic gradient against centred differences, in float64, naming the worst element.

    from course.gradcheck import check_gradient
    check_gradient(lambda W: (X @ W).relu().sum(), W)          # autograd's gradient of f, checked
    check_gradient(loss_of_W, W, analytic=dW).assert_ok()       # your own gradient, checked; raises if wrong
    # ✓ gradient check passed: max relative error 3.1e-10 at input 0 [2, 1] (analytic 0.4113, numeric 0.4113)

The numeric derivative of element i is (f(x + h·e_i) − f(x − h·e_i)) / 2h. Its truncation error shrinks like h²
while rounding grows like ε·|f|/h, so float64 (ε ≈ 1e-16) with h = 1e-6 is good to about 1e-10; float32
(ε ≈ 1e-7) cannot do better than about 1e-3 with any h. Inputs are therefore checked as float64 copies.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .checks import CheckError

__all__ = ["numerical_gradient", "relative_error", "GradCheck", "check_gradient"]


def _scalar(out: torch.Tensor | float, grad_output: torch.Tensor | None) -> float:
    """⟨out, grad_output⟩ as a Python float: the scalar whose gradient is checked."""
    if not torch.is_tensor(out):
        out = torch.as_tensor(out, dtype=torch.float64)   # a Python float is a double (as_tensor would round it)
    if grad_output is None:
        if out.numel() != 1:
            raise ValueError(f"f returned shape {tuple(out.shape)}: reduce it to a scalar, or pass grad_output= "
                             "(the upstream gradient, same shape as f's output)")
        return float(out.reshape(()))
    if tuple(out.shape) != tuple(grad_output.shape):
        raise ValueError(f"grad_output has shape {tuple(grad_output.shape)} but f returned {tuple(out.shape)}")
    return float((out.to(torch.float64) * grad_output.to(torch.float64)).sum())


def _slope(f: Callable[..., torch.Tensor | float], xs: list[torch.Tensor], which: int, i: int, h: float,
           grad_output: torch.Tensor | None) -> float:
    """(F(x + h·e_i) − F(x − h·e_i)) / 2h for element i of input ``which``, with x restored afterwards."""
    flat = xs[which].view(-1)   # a view: writing flat[i] perturbs the input f sees
    old = flat[i].item()
    flat[i] = old + h
    plus = _scalar(f(*xs), grad_output)
    flat[i] = old - h
    minus = _scalar(f(*xs), grad_output)
    flat[i] = old                # restored before the next element is perturbed
    return (plus - minus) / (2 * h)


def numerical_gradient(f: Callable[..., torch.Tensor | float], *inputs: torch.Tensor, h: float = 1e-6,
                       grad_output: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Centred differences of ⟨f(*inputs), grad_output⟩ with respect to every element of every input.

    f is called on copies (the caller's tensors are never touched), two calls per element; each result has its
    input's shape and dtype. With ``grad_output=None`` f must return a single number.
    """
    if h <= 0:
        raise ValueError(f"the step h must be positive, got {h}")
    xs = [x.detach().clone().contiguous() for x in inputs]
    grads = []
    with torch.no_grad():
        for which, x in enumerate(xs):
            g = torch.zeros_like(x)
            gflat = g.view(-1)
            for i in range(x.numel()):
                gflat[i] = _slope(f, xs, which, i, h, grad_output)
            grads.append(g)
    return tuple(grads)


def relative_error(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """Elementwise |a − b| / max(|a|, |b|), in float64; 0 where both are 0.

    Symmetric, scale-free and at most 2 (opposite signs); a plain |a − b| / |b| would blow up where b is 0.
    """
    a = torch.as_tensor(a).detach().to("cpu", torch.float64)
    b = torch.as_tensor(b).detach().to("cpu", torch.float64)
    scale = torch.maximum(a.abs(), b.abs())
    return torch.where(scale > 0, (a - b).abs() / torch.where(scale > 0, scale, 1.0), 0.0)


@dataclass(frozen=True)
class GradCheck:
    """The outcome of :func:`check_gradient`: the largest relative error and where it is."""

    ok: bool
    max_error: float
    tol: float
    input: int                      # which input holds the worst element
    index: tuple[int, ...]          # its position in that input
    analytic: float
    numeric: float
    errors: tuple[torch.Tensor, ...]   # elementwise relative errors, one tensor per input
    note: str = ""

    def __str__(self) -> str:
        where = "" if not self.index else "[" + ", ".join(map(str, self.index)) + "]"
        head = "✓ gradient check passed" if self.ok else "✗ gradient check FAILED"
        text = (f"{head}: max relative error {self.max_error:.2g} (tolerance {self.tol:g}) at input {self.input} "
                f"{where or '(a scalar)'}: analytic {self.analytic:.6g}, numeric {self.numeric:.6g}")
        return text + (f"\n  note: {self.note}" if self.note else "")

    def assert_ok(self) -> "GradCheck":
        """Raise ``course.CheckError`` (an AssertionError) with the report when the check failed."""
        if not self.ok:
            raise CheckError(str(self))
        return self


def _as_list(analytic: torch.Tensor | Sequence[torch.Tensor], n: int) -> list[torch.Tensor]:
    items = [analytic] if torch.is_tensor(analytic) else list(analytic)
    if len(items) != n:
        raise ValueError(f"analytic holds {len(items)} gradients for {n} inputs: give one per input, in order")
    return [torch.as_tensor(g) for g in items]


def check_gradient(f: Callable[..., torch.Tensor], *inputs: torch.Tensor,
                   analytic: torch.Tensor | Sequence[torch.Tensor] | None = None, h: float = 1e-6,
                   tol: float = 1e-6, grad_output: torch.Tensor | None = None, seed: int = 0) -> GradCheck:
    """Compare a gradient of ``f`` at ``inputs`` with centred differences.

    ``analytic``: one gradient per input (yours); ``None`` checks torch.autograd's gradient of ``f``. Inputs are
    used as float64 copies, so ``f`` must work in float64 (``model.double()``). A non-scalar output is reduced as
    ⟨f, grad_output⟩, with a seeded random ``grad_output`` when none is given (every output element counts).
    """
    if not inputs:
        raise ValueError("no inputs: call check_gradient(f, x1, x2, ...)")
    xs = [torch.as_tensor(x).detach().to("cpu", torch.float64) for x in inputs]
    with torch.no_grad():
        raw = f(*xs)
    # A Python float is a double; torch.as_tensor would make it float32.
    out = raw.detach() if torch.is_tensor(raw) else torch.as_tensor(raw, dtype=torch.float64)
    notes = []
    if out.is_floating_point() and out.dtype != torch.float64:
        notes.append(f"f returned {out.dtype}, not float64: its rounding limits any check to about 1e-3")
    if grad_output is None and out.numel() != 1:
        g = torch.Generator().manual_seed(seed)
        grad_output = torch.randn(out.shape, generator=g, dtype=torch.float64)
    if grad_output is not None:
        grad_output = torch.as_tensor(grad_output).to("cpu", torch.float64)

    if analytic is None:
        leaves = [x.clone().requires_grad_(True) for x in xs]
        with torch.enable_grad():
            value = f(*leaves)
            value = value if grad_output is None else (value * grad_output).sum()
            got = torch.autograd.grad(value.sum(), leaves, allow_unused=True)
        theirs = [torch.zeros_like(x) if g is None else g.detach() for x, g in zip(xs, got)]
    else:
        theirs = _as_list(analytic, len(xs))
        for i, (g, x) in enumerate(zip(theirs, xs)):
            if tuple(g.shape) != tuple(x.shape):
                t = " (transposed?)" if g.ndim == 2 and tuple(g.shape) == tuple(x.shape)[::-1] else ""
                raise ValueError(f"analytic gradient {i} has shape {tuple(g.shape)}, its input {tuple(x.shape)}{t}")
        theirs = [g.detach().to("cpu", torch.float64) for g in theirs]

    numeric = numerical_gradient(f, *xs, h=h, grad_output=grad_output)
    errors = tuple(relative_error(a, n) for a, n in zip(theirs, numeric))
    worst_input, worst_flat, worst = 0, 0, -1.0
    for i, e in enumerate(errors):
        if e.numel():
            j = int(torch.nan_to_num(e, nan=float("inf")).reshape(-1).argmax())
            v = float(e.reshape(-1)[j])
            v = float("inf") if v != v else v
            if v > worst:
                worst_input, worst_flat, worst = i, j, v
    shape = xs[worst_input].shape
    index = tuple(int(k) for k in torch.unravel_index(torch.tensor(worst_flat), shape)) if len(shape) else ()
    a_val = float(theirs[worst_input].reshape(-1)[worst_flat]) if theirs[worst_input].numel() else 0.0
    n_val = float(numeric[worst_input].reshape(-1)[worst_flat]) if numeric[worst_input].numel() else 0.0
    ok = worst <= tol
    if not ok and xs[worst_input].numel() and out.dtype == torch.float64:
        # A kink (ReLU at 0, max, abs) within ±h of the point: the numeric slope then depends on h.
        with torch.no_grad():
            finer = _slope(f, [x.clone() for x in xs], worst_input, worst_flat, h / 10, grad_output)
        if float(relative_error(finer, n_val)) > 10 * max(tol, 1e-8):
            notes.append("the numeric derivative there changes with h: f may have a kink (ReLU at 0, max, abs) "
                         "within ±h of this point — move the point away from it")
    return GradCheck(ok=ok, max_error=max(worst, 0.0), tol=tol, input=worst_input, index=index, analytic=a_val,
                     numeric=n_val, errors=errors, note="; ".join(notes))
