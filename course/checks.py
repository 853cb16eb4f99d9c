"""Self-check helpers shared by the grading tests and by students.

Every failure raises ``CheckError`` (an ``AssertionError``, so pytest and
nbgrader report it as a failed test) with a message saying what is wrong,
where, and when it can tell, the likely cause: a transposed result, a softmax
over the wrong ``dim``, a missing ``return``, a sum where a mean was expected...
"""
from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

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


def _fmt_index(index: tuple[int, ...]) -> str:
    if len(index) == 0:
        return "(scalar)"
    if len(index) == 1:
        return f"[{index[0]}]"
    return "[" + ", ".join(str(i) for i in index) + "]"


def _num(value: float) -> str:
    """4 significant digits, keeping a decimal point so a sum of 2 reads "2.0"."""
    text = f"{float(value):.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _fmt_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _sentence(text: str) -> str:
    """End ``text`` with a full stop unless it already ends with punctuation."""
    return text if text.endswith((".", "?", "!")) else text + "."


def _none_message(name: str) -> str:
    return f"{name}: returned None — did you forget `return`?"


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def _matches(shape: Sequence[int], pattern: Sequence[int | None]) -> bool:
    return len(shape) == len(pattern) and all(p is None or s == p for s, p in zip(shape, pattern))


def _drop(seq: Sequence[Any], i: int) -> tuple[Any, ...]:
    return tuple(seq[:i]) + tuple(seq[i + 1:])


def _shape_causes(shape: tuple[int, ...], pattern: tuple[int | None, ...]) -> list[str]:
    """Likely explanations for ``shape`` not matching ``pattern`` (None = any size)."""
    nd, np_ = len(shape), len(pattern)
    if nd == np_ + 1:
        for i, s in enumerate(shape):
            if s == 1 and _matches(_drop(shape, i), pattern):
                return [f"it has an extra dimension of size 1 at dim {i}: remove it with .squeeze({i}), "
                        "or drop keepdim=True / the unsqueeze that added it"]
        if nd == 2 and shape[0] == shape[1] and (_matches((shape[0],), pattern) or _matches((shape[0], 1), pattern)):
            return [f"a ({shape[0]},) tensor combined with a ({shape[0]}, 1) tensor broadcasts to "
                    f"({shape[0]}, {shape[0]}): make both the same shape (e.g. .view(-1)) before subtracting or adding"]
        for i, s in enumerate(shape):
            if _matches(_drop(shape, i), pattern):
                return [f"it has an extra dim {i} of size {s}: forgot to reduce over it (sum/mean/max), "
                        "or an accidental broadcast?"]
    if nd + 1 == np_:
        for i, p in enumerate(pattern):
            if p == 1 and _matches(shape, _drop(pattern, i)):
                return [f"it is missing a dimension of size 1 at dim {i}: add it with .unsqueeze({i}) or keepdim=True"]
        for i, p in enumerate(pattern):
            if _matches(shape, _drop(pattern, i)):
                size = "" if p is None else f" (size {p})"
                return [f"dim {i}{size} is missing: reduced over the wrong dim (check `dim=`), or keepdim=False?"]
    if nd == np_ and nd <= 6:
        for perm in itertools.permutations(range(nd)):
            if perm != tuple(range(nd)) and _matches(tuple(shape[j] for j in perm), pattern):
                moved = [i for i in range(nd) if perm[i] != i]
                if nd == 2:
                    return ["it looks transposed: use .T, or check the order of the operands of a matmul"]
                if len(moved) == 2:
                    return [f"dims {moved[0]} and {moved[1]} look swapped: check .transpose/.permute "
                            f"(or the (N, C, H, W) vs (N, H, W, C) layout)"]
                return [f"it has the right sizes in a different order (permute{perm} would fix it): check .permute/.transpose"]
    if None not in pattern and int(np.prod(shape)) == int(np.prod(pattern)):
        return ["it has the right number of elements arranged differently: check the arguments of .view/.reshape"]
    return []


def _shape_error(name: str, shape: tuple[int, ...], pattern: tuple[int | None, ...]) -> CheckError:
    wild = " (* = any size)" if None in pattern else ""
    msg = f"{name}: shape {_fmt_shape(shape)}, expected {_fmt_shape(pattern)}{wild}."
    causes = _shape_causes(shape, pattern)
    if causes:
        msg += "\nLikely cause: " + _sentence(causes[0])
    return CheckError(msg)


def check_shape(t: Any, shape: tuple[int | None, ...], name: str = "output") -> None:
    """Raise ``CheckError`` unless ``t`` has ``shape``; ``None`` entries match any size."""
    if t is None:
        raise CheckError(_none_message(name))
    arr, _ = _to_numpy(t, name, "actual")
    pattern = tuple(shape)
    if not _matches(arr.shape, pattern):
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
            f"first at index {_fmt_index(first)} ({value}).\n"
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
        raise ValueError(f"dim={dim} is out of range for {name} with shape {_fmt_shape(arr.shape)}")
    dim %= arr.ndim
    check_finite(arr, name)
    arr = arr.astype(np.float64)
    if (arr < 0).any():
        where = tuple(int(i) for i in np.unravel_index(np.argmin(arr), arr.shape))
        raise CheckError(
            f"{name}: {int((arr < 0).sum())} negative entries (smallest {arr[where]:.4g} at index {_fmt_index(where)}); "
            "probabilities can't be negative.\nLikely cause: these are logits or log-probabilities; apply softmax.")
    sums = arr.sum(axis=dim)
    bad = np.abs(sums - 1) > atol
    if not bad.any():
        return
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape))
    msg = (f"{name}: must sum to 1 along dim {dim}, but {int(bad.sum())} of {sums.size} slice(s) don't; "
           f"{_row_expr(name, worst, dim, arr.ndim)} sums to {_num(sums[worst])}.")
    others = [d for d in range(arr.ndim) if d != dim and arr.shape[d] > 1 and np.allclose(arr.sum(axis=d), 1, atol=atol)]
    if others:
        msg += f"\nLikely cause: it sums to 1 along dim {others[0]} instead: normalised over the wrong dim; use dim={dim}."
    elif np.allclose(sums, sums.flat[0], rtol=1e-4):
        msg += f"\nLikely cause: every slice sums to {_num(sums.flat[0])}: off by a constant factor, or not normalised?"
    raise CheckError(msg)


# ---------------------------------------------------------------------------
# assert_close
# ---------------------------------------------------------------------------

def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-3, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


def _log_softmax(x: np.ndarray) -> np.ndarray:
    return torch.log_softmax(torch.from_numpy(x), dim=-1).numpy()


def _is_distribution(x: np.ndarray) -> bool:
    return x.ndim >= 1 and x.shape[-1] > 1 and bool((x >= 0).all()) and bool(np.allclose(x.sum(-1), 1, atol=1e-5))


def _factor_cause(a: np.ndarray, e: np.ndarray, atol: float) -> str | None:
    """Detect ``a ≈ c * e`` for a constant ``c`` (sign flips, sum-vs-mean, missing 1/2...)."""
    denom = float((e * e).sum())
    if denom == 0:
        return None
    c = float((a * e).sum()) / denom  # least-squares scale
    if abs(c - 1) < 1e-3 or not _close(a, c * e, rtol=1e-4, atol=max(atol, 1e-7) * max(1.0, abs(c))):
        return None
    if abs(c + 1) < 1e-3:
        return "the sign is flipped (you got -expected): check a subtraction's order or a missing minus"
    if c == 0:
        return "you got all zeros: is the result computed but never stored or returned?"
    # "Nice" factors (2, 1/2, 32, 1/32...) point at a sum/mean mix-up or a batch-size division.
    big = abs(c) >= 1
    ratio = abs(c) if big else 1 / abs(c)
    n = round(ratio)
    nice = n >= 2 and abs(ratio - n) / n < 1e-3
    if e.size < 2 and not nice:
        return None  # any two scalars differ by *some* factor; only report telling ones
    shown = f"{c:.2f}" if abs(c) >= 0.1 else f"{c:.3g}"
    if nice and big:
        return f"off by a factor of {shown}: a sum where a mean was expected, or a missing division by {n}?"
    if nice:
        return (f"off by a factor of {shown} (= 1/{n}): a mean where a sum was expected, "
                f"or dividing by {n} once too often?")
    return f"off by a factor of {shown} (every element is {shown} x the expected one)"


def _value_causes(a: np.ndarray, e: np.ndarray, name: str, atol: float) -> list[str]:
    causes = []
    factor = _factor_cause(a, e, atol)
    if factor:
        causes.append(factor)
    if e.size >= 2:
        offset = a - e
        if not factor and np.allclose(offset, offset.flat[0], rtol=1e-4, atol=1e-6) and abs(offset.flat[0]) > atol:
            causes.append(f"every element is off by the same constant {offset.flat[0]:.4g}: a missing or extra bias/offset term?")
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and not _close(e, np.swapaxes(e, -1, -2), 1e-6, 1e-9):
        if _close(a, np.swapaxes(e, -1, -2), 1e-4, max(atol, 1e-7)):
            causes.append("it equals the transpose of the expected result: use .T / .mT, or swap the matmul operands")
    if a.ndim >= 1 and a.shape[-1] > 1:
        # A known softmax/log_softmax relationship explains everything; row sums would only add noise.
        if _close(a, _softmax(e)):
            causes.append("you returned probabilities where logits were expected: drop the softmax "
                          "(nn.CrossEntropyLoss applies it itself)")
        elif _close(e, _softmax(a)):
            causes.append("you returned logits where probabilities were expected: apply torch.softmax(..., dim=-1)")
        elif _close(a, _log_softmax(e)):
            causes.append("you returned log-probabilities (log_softmax) where logits were expected")
        elif _close(e, _log_softmax(a)):
            causes.append("you returned logits where log-probabilities were expected: apply torch.log_softmax(..., dim=-1)")
        elif _is_distribution(e):
            causes += _row_sum_causes(a, name)
    return causes


def _row_sum_causes(a: np.ndarray, name: str) -> list[str]:
    """Why ``a`` is not a distribution along its last dim, when it should be one."""
    sums = a.sum(-1)
    if np.allclose(sums, 1, atol=1e-4):
        return []
    wrong = [d for d in range(a.ndim - 1) if a.shape[d] > 1 and np.allclose(a.sum(d), 1, atol=1e-4)]
    if wrong:
        return [f"your {name} sums to 1 along dim {wrong[0]} instead of the last dim: "
                "softmax/normalisation over the wrong dim; use dim=-1"]
    if np.allclose(sums, sums.flat[0], rtol=1e-4):
        return [f"rows of your {name} sum to {_num(sums.flat[0])}, not 1: check `dim`"]
    i = tuple(int(k) for k in np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape))
    return [f"rows of your {name} don't sum to 1 (row {_fmt_index(i)} sums to {_num(sums[i])}): "
            "check `dim` of the softmax/normalisation"]


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
        f"  max abs error {float(diff[where]):.4g} at index {_fmt_index(where)}: got {got:.6g}, expected {want:.6g}",
        f"  max rel error {max_rel:.4g}",
        f"  tolerance: |got - expected| <= {atol:g} + {rtol:g} * |expected|",
    ]
    if kind is np.float64:
        causes = _value_causes(a, e, name, atol)
        if len(causes) == 1:
            lines.append(f"Likely cause: {_sentence(causes[0])}")
        elif causes:
            lines.append("Likely causes:")
            lines += [f"  - {_sentence(c)}" for c in causes]
    raise CheckError("\n".join(lines))


def passed(task: str, what: str = "the visible tests") -> None:
    """The last line of a test cell: one line that says the cell passed, and that it is not the whole grade.

    ``passed("3.2")`` prints ``✓ Task 3.2 passed the visible tests (the autograder adds hidden tests)``.
    """
    print(f"✓ Task {task} passed {what} (the autograder adds hidden tests)")
