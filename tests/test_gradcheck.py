"""Tests for course.gradcheck: centred differences, the relative error, and check_gradient's report."""
from __future__ import annotations

import math

import pytest
import torch

from course.checks import CheckError
from course.gradcheck import GradCheck, check_gradient, numerical_gradient, relative_error

F64 = torch.float64


def test_numerical_gradient_is_centred_and_leaves_inputs_alone() -> None:
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, -0.3, 0.8]], dtype=F64)
    before = x.clone()
    (g,) = numerical_gradient(lambda t: (t ** 3).sum(), x, h=1e-3)
    assert torch.equal(x, before)
    assert g.shape == x.shape and g.dtype == F64
    # Centred: the error of x³ is exactly h² per element (a one-sided one would be 3x·h, a thousand times larger).
    assert torch.allclose(g, 3 * x ** 2 + 1e-6, rtol=0, atol=1e-10)


def test_numerical_gradient_of_several_inputs_and_a_vector_output() -> None:
    a, b = torch.randn(3, 2, dtype=F64), torch.randn(2, 4, dtype=F64)
    upstream = torch.randn(3, 4, dtype=F64)
    ga, gb = numerical_gradient(lambda p, q: p @ q, a, b, grad_output=upstream)
    assert torch.allclose(ga, upstream @ b.T, atol=1e-8) and torch.allclose(gb, a.T @ upstream, atol=1e-8)


def test_numerical_gradient_asks_for_a_scalar_or_grad_output() -> None:
    with pytest.raises(ValueError, match="grad_output"):
        numerical_gradient(lambda t: t * 2, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="positive"):
        numerical_gradient(lambda t: t.sum(), torch.ones(3, dtype=F64), h=0.0)


def test_relative_error_is_symmetric_scale_free_and_zero_for_two_zeros() -> None:
    a = torch.tensor([1.0, 0.0, -2.0, 0.0, 1.0])
    b = torch.tensor([1.1, 0.0, -2.0, 0.5, -1.0])
    rel = relative_error(a, b)
    assert rel.dtype == F64
    assert torch.allclose(rel, torch.tensor([0.1 / 1.1, 0.0, 0.0, 1.0, 2.0], dtype=F64))
    assert torch.equal(relative_error(b, a), rel)
    assert torch.allclose(relative_error(1000 * a, 1000 * b), rel)
    assert float(relative_error(3.0, 3.0)) == 0.0


def test_check_gradient_passes_autograd_and_names_the_worst_element() -> None:
    torch.manual_seed(0)
    X, W = torch.randn(5, 3, dtype=F64), torch.randn(3, 4, dtype=F64)
    good = check_gradient(lambda w: torch.tanh(X @ w).sum(), W)
    assert isinstance(good, GradCheck) and good.ok and good.max_error < 1e-7
    assert str(good).startswith("✓ gradient check passed")
    wrong = (X.T @ (1 - torch.tanh(X @ W))).clone()
    exact = X.T @ (1 - torch.tanh(X @ W) ** 2)
    bad = check_gradient(lambda w: torch.tanh(X @ w).sum(), W, analytic=wrong)
    assert not bad.ok and bad.input == 0
    worst = tuple(int(i) for i in torch.unravel_index(relative_error(wrong, exact).argmax(), W.shape))
    assert bad.index == worst
    assert math.isclose(bad.analytic, float(wrong[worst])) and math.isclose(bad.numeric, float(exact[worst]), rel_tol=1e-6)
    assert f"[{worst[0]}, {worst[1]}]" in str(bad) and "FAILED" in str(bad)
    with pytest.raises(CheckError, match="FAILED"):
        bad.assert_ok()
    assert good.assert_ok() is good


def test_check_gradient_works_in_float64_on_float32_inputs() -> None:
    x = torch.linspace(0.3, 1.9, 6)          # float32, as a model's parameters usually are
    result = check_gradient(lambda t: (torch.sin(t) * t ** 2).sum(), x)
    assert result.ok, str(result)
    assert result.errors[0].dtype == F64 and not result.note


def test_check_gradient_reports_which_of_several_inputs() -> None:
    a, b = torch.randn(2, 3, dtype=F64), torch.randn(3, dtype=F64)
    right_a = torch.ones(2, 3, dtype=F64) * b   # d/da of sum(a * b) is b, broadcast
    result = check_gradient(lambda p, q: (p * q).sum(), a, b, analytic=[right_a, torch.zeros(3, dtype=F64)])
    assert not result.ok and result.input == 1


def test_check_gradient_catches_shape_mistakes_and_counts() -> None:
    W = torch.randn(3, 4, dtype=F64)
    with pytest.raises(ValueError, match=r"transposed"):
        check_gradient(lambda w: w.sum(), W, analytic=torch.ones(4, 3, dtype=F64))
    with pytest.raises(ValueError, match="one per input"):
        check_gradient(lambda w: w.sum(), W, analytic=[torch.ones(3, 4), torch.ones(3, 4)])
    with pytest.raises(ValueError, match="no inputs"):
        check_gradient(lambda: torch.tensor(1.0))


def test_check_gradient_notes_a_kink_and_float32_functions() -> None:
    at_kink = check_gradient(lambda t: torch.relu(t).sum(), torch.tensor([1e-7, 1.0], dtype=F64))
    assert not at_kink.ok and "kink" in at_kink.note
    in_float32 = check_gradient(lambda t: t.float().exp().sum(), torch.tensor([0.3, 1.0], dtype=F64))
    assert "float32" in in_float32.note and "kink" not in in_float32.note


def test_check_gradient_accepts_python_numbers_from_f() -> None:
    x = torch.tensor([0.2, -0.4], dtype=F64)
    result = check_gradient(lambda t: float((t ** 2).sum()), x, analytic=2 * x)
    assert result.ok and not result.note
