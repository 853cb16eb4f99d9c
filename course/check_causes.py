"""The likely causes :mod:`course.checks` names when a check fails (a transposed result, a softmax over the wrong
``dim``, a sum where a mean was expected...), and the way it prints shapes, indices and numbers."""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["fmt_index", "num", "fmt_shape", "sentence", "matches", "drop", "shape_causes", "close", "softmax",
           "log_softmax", "is_distribution", "factor_cause", "value_causes", "row_sum_causes"]


def fmt_index(index: tuple[int, ...]) -> str:
    if len(index) == 0:
        return "(scalar)"
    if len(index) == 1:
        return f"[{index[0]}]"
    return "[" + ", ".join(str(i) for i in index) + "]"


def num(value: float) -> str:
    """4 significant digits, keeping a decimal point so a sum of 2 reads "2.0"."""
    text = f"{float(value):.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


def fmt_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def sentence(text: str) -> str:
    """End ``text`` with a full stop unless it already ends with punctuation."""
    return text if text.endswith((".", "?", "!")) else text + "."


def matches(shape: Sequence[int], pattern: Sequence[int | None]) -> bool:
    return len(shape) == len(pattern) and all(p is None or s == p for s, p in zip(shape, pattern))


def drop(seq: Sequence[Any], i: int) -> tuple[Any, ...]:
    return tuple(seq[:i]) + tuple(seq[i + 1:])


def shape_causes(shape: tuple[int, ...], pattern: tuple[int | None, ...]) -> list[str]:
    """Likely explanations for ``shape`` not matching ``pattern`` (None = any size)."""
    nd, np_ = len(shape), len(pattern)
    if nd == np_ + 1:
        for i, s in enumerate(shape):
            if s == 1 and matches(drop(shape, i), pattern):
                return [f"it has an extra dimension of size 1 at dim {i}: remove it with .squeeze({i}), "
                        "or drop keepdim=True / the unsqueeze that added it"]
        if nd == 2 and shape[0] == shape[1] and (matches((shape[0],), pattern) or matches((shape[0], 1), pattern)):
            return [f"a ({shape[0]},) tensor combined with a ({shape[0]}, 1) tensor broadcasts to "
                    f"({shape[0]}, {shape[0]}): make both the same shape (e.g. .view(-1)) before subtracting or adding"]
        for i, s in enumerate(shape):
            if matches(drop(shape, i), pattern):
                return [f"it has an extra dim {i} of size {s}: forgot to reduce over it (sum/mean/max), "
                        "or an accidental broadcast?"]
    if nd + 1 == np_:
        for i, p in enumerate(pattern):
            if p == 1 and matches(shape, drop(pattern, i)):
                return [f"it is missing a dimension of size 1 at dim {i}: add it with .unsqueeze({i}) or keepdim=True"]
        for i, p in enumerate(pattern):
            if matches(shape, drop(pattern, i)):
                size = "" if p is None else f" (size {p})"
                return [f"dim {i}{size} is missing: reduced over the wrong dim (check `dim=`), or keepdim=False?"]
    if nd == np_ and nd <= 6:
        for perm in itertools.permutations(range(nd)):
            if perm != tuple(range(nd)) and matches(tuple(shape[j] for j in perm), pattern):
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


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-3, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


def log_softmax(x: np.ndarray) -> np.ndarray:
    return torch.log_softmax(torch.from_numpy(x), dim=-1).numpy()


def is_distribution(x: np.ndarray) -> bool:
    return x.ndim >= 1 and x.shape[-1] > 1 and bool((x >= 0).all()) and bool(np.allclose(x.sum(-1), 1, atol=1e-5))


def factor_cause(a: np.ndarray, e: np.ndarray, atol: float) -> str | None:
    """Detect ``a ≈ c * e`` for a constant ``c`` (sign flips, sum-vs-mean, missing 1/2...)."""
    denom = float((e * e).sum())
    if denom == 0:
        return None
    c = float((a * e).sum()) / denom  # least-squares scale
    if abs(c - 1) < 1e-3 or not close(a, c * e, rtol=1e-4, atol=max(atol, 1e-7) * max(1.0, abs(c))):
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


def value_causes(a: np.ndarray, e: np.ndarray, name: str, atol: float) -> list[str]:
    causes = []
    factor = factor_cause(a, e, atol)
    if factor:
        causes.append(factor)
    if e.size >= 2:
        offset = a - e
        if not factor and np.allclose(offset, offset.flat[0], rtol=1e-4, atol=1e-6) and abs(offset.flat[0]) > atol:
            causes.append(f"every element is off by the same constant {offset.flat[0]:.4g}: a missing or extra bias/offset term?")
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and not close(e, np.swapaxes(e, -1, -2), 1e-6, 1e-9):
        if close(a, np.swapaxes(e, -1, -2), 1e-4, max(atol, 1e-7)):
            causes.append("it equals the transpose of the expected result: use .T / .mT, or swap the matmul operands")
    if a.ndim >= 1 and a.shape[-1] > 1:
        # A known softmax/log_softmax relationship explains everything; row sums would only add noise.
        if close(a, softmax(e)):
            causes.append("you returned probabilities where logits were expected: drop the softmax "
                          "(nn.CrossEntropyLoss applies it itself)")
        elif close(e, softmax(a)):
            causes.append("you returned logits where probabilities were expected: apply torch.softmax(..., dim=-1)")
        elif close(a, log_softmax(e)):
            causes.append("you returned log-probabilities (log_softmax) where logits were expected")
        elif close(e, log_softmax(a)):
            causes.append("you returned logits where log-probabilities were expected: apply torch.log_softmax(..., dim=-1)")
        elif is_distribution(e):
            causes += row_sum_causes(a, name)
    return causes


def row_sum_causes(a: np.ndarray, name: str) -> list[str]:
    """Why ``a`` is not a distribution along its last dim, when it should be one."""
    sums = a.sum(-1)
    if np.allclose(sums, 1, atol=1e-4):
        return []
    wrong = [d for d in range(a.ndim - 1) if a.shape[d] > 1 and np.allclose(a.sum(d), 1, atol=1e-4)]
    if wrong:
        return [f"your {name} sums to 1 along dim {wrong[0]} instead of the last dim: "
                "softmax/normalisation over the wrong dim; use dim=-1"]
    if np.allclose(sums, sums.flat[0], rtol=1e-4):
        return [f"rows of your {name} sum to {num(sums.flat[0])}, not 1: check `dim`"]
    i = tuple(int(k) for k in np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape))
    return [f"rows of your {name} don't sum to 1 (row {fmt_index(i)} sums to {num(sums[i])}): "
            "check `dim` of the softmax/normalisation"]
