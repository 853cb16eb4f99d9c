"""Self-check helpers shared by the grading tests and by students.

Every failure raises ``CheckError`` (an ``AssertionError``, so pytest and
nbgrader report it as a failed test) with a message saying what is wrong,
where, and when it can tell, the likely cause: a transposed result, a softmax
over the wrong ``dim``, a missing ``return``, a sum where a mean was expected...
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from .check_causes import (fmt_index, fmt_shape, matches, num, sentence, shape_causes,
                           value_causes)

__all__ = ["CheckError", "assert_close", "check_shape", "check_probabilities", "check_finite", "passed"]


class CheckError(AssertionError):
    """A self-check failed; the message explains what, where and the likely cause."""


# ---------------------------------------------------------------------------
# Converting inputs
# ---------------------------------------------------------------------------

def _category(dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.integer):
        return "integer"
    if np.issubdtype(dtype, np.complexfloating):
        return "complex"
    return "floating"


def _to_numpy(x: Any, name: str, role: str) -> tuple[np.ndarray, bool]:
    """Return ``x`` as a NumPy array and whether it carried a real dtype (tensor/ndarray).

    Plain Python numbers are "untyped": graders write ``1`` for ``1.0``, so their
    int/float kind is not held against the student.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()  # NumPy has no bfloat16; float32 holds both exactly
        return x.numpy(), True
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x), True
    if isinstance(x, numbers.Number):
        return np.asarray(x), False
    if role == "expected" and isinstance(x, (list, tuple)):
        return np.asarray(x), False
    if role == "expected":
        raise TypeError(f"expected value for {name} must be a tensor, array or number, got {type(x).__name__}")
    got = type(x).__name__
    if isinstance(x, tuple):
        cause = f"it is a tuple of {len(x)} values: did you return several things (e.g. `out, hidden`)?"
    elif isinstance(x, list):
        cause = "convert it with torch.tensor(...) or torch.stack(...), or build the result with tensor operations"
    elif isinstance(x, torch.nn.Module):
        cause = "you returned the layer/model itself; call it on the input: `layer(x)`"
    else:
        cause = "return a torch.Tensor (or a number)"
    raise CheckError(f"{name}: expected a tensor or a number, got {got} — {cause}.")


def _none_message(name: str) -> str:
    return f"{name}: returned None — did you forget `return`?"


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def _shape_error(name: str, shape: tuple[int, ...], pattern: tuple[int | None, ...]) -> CheckError:
    wild = " (* = any size)" if None in pattern else ""
    msg = f"{name}: shape {fmt_shape(shape)}, expected {fmt_shape(pattern)}{wild}."
    causes = shape_causes(shape, pattern)
    if causes:
        msg += "\nLikely cause: " + sentence(causes[0])
    return CheckError(msg)


def check_shape(t: Any, shape: tuple[int | None, ...], name: str = "output") -> None:
    """Raise ``CheckError`` unless ``t`` has ``shape``; ``None`` entries match any size."""
    if t is None:
        raise CheckError(_none_message(name))
    arr, _ = _to_numpy(t, name, "actual")
    pattern = tuple(shape)
    if not matches(arr.shape, pattern):
        raise _shape_error(name, tuple(arr.shape), pattern)


# ---------------------------------------------------------------------------
# Finiteness and probabilities
# ---------------------------------------------------------------------------

def _nonfinite_message(name: str, arr: np.ndarray, mask: np.ndarray) -> str:
    n_nan = int(np.isnan(arr[mask]).sum())
    n_inf = int(mask.sum()) - n_nan
    first = tuple(int(i) for i in np.argwhere(mask)[0]) if arr.ndim else ()
    value = arr[first] if arr.ndim else arr[()]
    return (f"{name} contains {n_nan} NaN and {n_inf} inf value(s) out of {arr.size}; "
            f"first at index {fmt_index(first)} ({value}).\n"
            "Likely cause: log of 0 or of a negative number, division by zero, or exp overflow "
            "(subtract the max before exp, or use torch.log_softmax / logsumexp); "
            "if it came from training, try a smaller learning rate.")


def check_finite(t: Any, name: str = "output") -> None:
    """Raise ``CheckError`` if ``t`` contains NaN or ±inf, saying how many and where."""
    if t is None:
        raise CheckError(_none_message(name))
    arr, _ = _to_numpy(t, name, "actual")
    if _category(arr.dtype) in ("bool", "integer"):
        return
    mask = ~np.isfinite(arr)
    if mask.any():
        raise CheckError(_nonfinite_message(name, arr, mask))


def _row_expr(name: str, index: tuple[int, ...], dim: int, ndim: int) -> str:
    """``name[3, :]``: the slice along ``dim`` at ``index`` (an index into the summed tensor)."""
    parts = [str(i) for i in index]
    parts.insert(dim, ":")
    return f"{name}[{', '.join(parts)}]" if ndim > 1 else f"{name}[:]"


def check_probabilities(p: Any, dim: int = -1, name: str = "output", *, atol: float = 1e-4) -> None:
    """Raise ``CheckError`` unless ``p`` is non-negative and sums to 1 (within ``atol``) along ``dim``."""
    if p is None:
        raise CheckError(_none_message(name))
    arr, _ = _to_numpy(p, name, "actual")
    if arr.ndim == 0:
        raise CheckError(f"{name}: a single number is not a probability distribution; expected at least 1 dim.")
    if not -arr.ndim <= dim < arr.ndim:
        raise ValueError(f"dim={dim} is out of range for {name} with shape {fmt_shape(arr.shape)}")
    dim %= arr.ndim
    check_finite(arr, name)
    arr = arr.astype(np.float64)
    if (arr < 0).any():
        where = tuple(int(i) for i in np.unravel_index(np.argmin(arr), arr.shape))
        raise CheckError(
            f"{name}: {int((arr < 0).sum())} negative entries (smallest {arr[where]:.4g} at index {fmt_index(where)}); "
            "probabilities can't be negative.\nLikely cause: these are logits or log-probabilities; apply softmax.")
    sums = arr.sum(axis=dim)
    bad = np.abs(sums - 1) > atol
    if not bad.any():
        return
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape))
    msg = (f"{name}: must sum to 1 along dim {dim}, but {int(bad.sum())} of {sums.size} slice(s) don't; "
           f"{_row_expr(name, worst, dim, arr.ndim)} sums to {num(sums[worst])}.")
    others = [d for d in range(arr.ndim) if d != dim and arr.shape[d] > 1 and np.allclose(arr.sum(axis=d), 1, atol=atol)]
    if others:
        msg += f"\nLikely cause: it sums to 1 along dim {others[0]} instead: normalised over the wrong dim; use dim={dim}."
    elif np.allclose(sums, sums.flat[0], rtol=1e-4):
        msg += f"\nLikely cause: every slice sums to {num(sums.flat[0])}: off by a constant factor, or not normalised?"
    raise CheckError(msg)


# ---------------------------------------------------------------------------
# assert_close
# ---------------------------------------------------------------------------

def assert_close(
    actual: Any,
    expected: Any,
    *,
    name: str = "output",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str | None = None,
) -> None:
    """Raise ``CheckError`` unless ``actual`` matches ``expected`` within tolerances.

    Accepts tensors, NumPy arrays and Python numbers; float32 vs float64 is fine
    (both are compared in float64), integer vs floating is not. Elements match
    when ``|actual - expected| <= atol + rtol * |expected|``. The message gives
    the first problem found (None, type, shape, NaN/inf, dtype, values) and the
    likely causes it can recognise; ``hint`` is appended at the end.
    """
    try:
        _assert_close(actual, expected, name=name, rtol=rtol, atol=atol)
    except CheckError as exc:
        if hint:
            raise CheckError(f"{exc}\nHint: {hint}") from None
        raise


def _assert_close(actual: Any, expected: Any, *, name: str, rtol: float, atol: float) -> None:
    if expected is None:
        raise TypeError(f"expected value for {name} is None")
    if actual is None:
        raise CheckError(_none_message(name))
    a_raw, a_typed = _to_numpy(actual, name, "actual")
    e_raw, e_typed = _to_numpy(expected, name, "expected")

    if a_raw.shape != e_raw.shape:
        raise _shape_error(name, tuple(a_raw.shape), tuple(e_raw.shape))

    a_cat, e_cat = _category(a_raw.dtype), _category(e_raw.dtype)
    if a_cat in ("floating", "complex"):
        # NaN/inf where expected has the same non-finite value is a match, not a bug.
        e_same = e_raw.astype(a_raw.dtype) if e_cat in ("floating", "complex") else np.zeros_like(a_raw)
        mask = ~np.isfinite(a_raw) & ~((a_raw == e_same) | (np.isnan(a_raw) & np.isnan(e_same)))
        if mask.any():
            raise CheckError(_nonfinite_message(name, a_raw, mask))

    if a_typed and e_typed and a_cat != e_cat:
        if e_cat == "integer":
            cause = "expected integers (e.g. class indices from argmax): convert with .long(), or avoid `/` and float ops"
        elif e_cat == "bool":
            cause = "expected a bool mask: build it with a comparison (e.g. `pred == y`) or convert with .bool()"
        else:
            cause = "an integer result where real numbers were expected: use .float(), or true division `/` not `//`"
        raise CheckError(f"{name}: dtype {a_raw.dtype} ({a_cat}) but expected {e_raw.dtype} ({e_cat}).\n"
                         f"Likely cause: {cause}.")

    kind = np.complex128 if "complex" in (a_cat, e_cat) else np.float64
    a, e = a_raw.astype(kind), e_raw.astype(kind)
    diff = np.abs(a - e)
    both_nan = np.isnan(a) & np.isnan(e)
    with np.errstate(invalid="ignore"):
        bad = ~both_nan & ~(diff <= atol + rtol * np.abs(e))  # ~(<=) also flags NaN differences
    if not bad.any():
        return

    finite_diff = np.where(bad, np.nan_to_num(diff, nan=np.inf), 0.0)
    where = tuple(int(i) for i in np.unravel_index(np.argmax(finite_diff), diff.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(e) > 0, diff / np.abs(e), np.where(diff > 0, np.inf, 0.0))
    max_rel = float(np.nanmax(np.where(bad, rel, 0.0)))
    got, want = a[where] if a.ndim else a[()], e[where] if e.ndim else e[()]
    n_bad = int(bad.sum())
    lines = [
        f"{name}: values differ from expected in {n_bad} of {a.size} element(s) ({100 * n_bad / a.size:.1f}%).",
        f"  max abs error {float(diff[where]):.4g} at index {fmt_index(where)}: got {got:.6g}, expected {want:.6g}",
        f"  max rel error {max_rel:.4g}",
        f"  tolerance: |got - expected| <= {atol:g} + {rtol:g} * |expected|",
    ]
    if kind is np.float64:
        causes = value_causes(a, e, name, atol)
        if len(causes) == 1:
            lines.append(f"Likely cause: {sentence(causes[0])}")
        elif causes:
            lines.append("Likely causes:")
            lines += [f"  - {sentence(c)}" for c in causes]
    raise CheckError("\n".join(lines))


def passed(task: str, what: str = "the visible tests") -> None:
    """The last line of a test cell: one line that says the cell passed, and that it is not the whole grade.

    ``passed("3.2")`` prints ``✓ Task 3.2 passed the visible tests (the autograder adds hidden tests)``.
    """
    print(f"✓ Task {task} passed {what} (the autograder adds hidden tests)")
