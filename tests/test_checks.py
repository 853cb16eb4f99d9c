"""Tests for course.checks: each diagnostic fires on its bug, and correct answers pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course.checks import CheckError, assert_close, check_finite, check_probabilities, check_shape

torch.manual_seed(0)
X = torch.randn(4, 5, dtype=torch.float64)
P = torch.softmax(X, dim=-1)


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --- correct answers pass ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "actual, expected",
    [
        (X, X.clone()),
        (X.float(), X),  # float32 vs float64 is fine
        (X.numpy(), X),  # numpy vs tensor
        (X, X.numpy().astype(np.float32)),
        (torch.tensor(2.5), 2.5),
        (3, torch.tensor(3)),
        (torch.tensor(1.0), 1),  # a Python int for a float is not held against anyone
        (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, float("nan")])),
        (X + 1e-9, X),
    ],
)
def test_correct_inputs_pass(actual, expected) -> None:
    assert_close(actual, expected)


def test_check_error_is_an_assertion_error() -> None:
    assert issubclass(CheckError, AssertionError)


# --- None, type, shape ------------------------------------------------------------------------

def test_none_means_missing_return() -> None:
    assert "returned None" in _message(assert_close, None, X, name="forward(x)")
    assert "`return`" in _message(check_shape, None, (4, 5))


def test_wrong_types() -> None:
    assert "got list" in _message(assert_close, [1.0, 2.0], torch.tensor([1.0, 2.0]))
    assert "tuple of 2" in _message(assert_close, (X, X), X)
    assert "call it" in _message(assert_close, torch.nn.Linear(2, 2), X)


def test_shape_transposed() -> None:
    msg = _message(assert_close, X.T, X)
    assert "shape (5, 4), expected (4, 5)" in msg and "transposed" in msg


def test_shape_permuted_dims() -> None:
    msg = _message(assert_close, torch.zeros(2, 8, 8, 3), torch.zeros(2, 3, 8, 8))
    assert "permute" in msg


def test_shape_extra_and_missing_size_one_dim() -> None:
    msg = _message(assert_close, X[:, :1], X[:, 0])
    assert "(4, 1)" in msg and "(4,)" in msg and "extra dimension of size 1 at dim 1" in msg
    msg = _message(assert_close, X[:, 0], X[:, :1])
    assert "missing a dimension of size 1 at dim 1" in msg and "unsqueeze(1)" in msg


def test_shape_broadcasting_accident() -> None:
    y, y_hat = torch.randn(6), torch.randn(6, 1)
    msg = _message(assert_close, (y_hat - y) ** 2, (y_hat.view(-1) - y) ** 2)
    assert "(6, 6)" in msg and "broadcast" in msg


def test_shape_reduced_wrong_dim() -> None:
    msg = _message(assert_close, X.sum(0), X.sum(1))
    assert "shape (5,), expected (4,)" in msg


# --- NaN / dtype ------------------------------------------------------------------------------

def test_nan_and_inf_located() -> None:
    bad = X.clone()
    bad[2, 3] = float("nan")
    bad[3, 0] = float("inf")
    msg = _message(assert_close, bad, X)
    assert "1 NaN and 1 inf" in msg and "[2, 3]" in msg and "log" in msg


def test_dtype_category_mismatch() -> None:
    labels = torch.tensor([0, 2, 1])
    msg = _message(assert_close, labels.float(), labels)
    assert "float32" in msg and "int64" in msg and ".long()" in msg
    msg = _message(assert_close, labels, labels.double())
    assert "integer" in msg and ".float()" in msg


# --- values and likely causes -----------------------------------------------------------------

def test_value_report_has_location_and_counts() -> None:
    actual = X.clone()
    actual[1, 2] += 0.5
    msg = _message(assert_close, actual, X, name="h")
    assert "h: values differ from expected in 1 of 20" in msg
    assert "max abs error 0.5 at index [1, 2]" in msg
    assert "max rel error" in msg
    assert "Likely" not in msg  # a single wrong element fits no pattern


def test_factor_of_two() -> None:
    assert "off by a factor of 2.00" in _message(assert_close, 2 * X, X)
    assert "sum where a mean" in _message(assert_close, torch.tensor(64.0), torch.tensor(2.0))
    msg = _message(assert_close, X / 32, X)
    assert "1/32" in msg


def test_odd_scalar_ratio_not_reported_as_factor() -> None:
    assert "factor" not in _message(assert_close, torch.tensor(1.3), 0.5)


def test_sign_flipped() -> None:
    assert "sign is flipped" in _message(assert_close, -X, X)


def test_constant_offset() -> None:
    assert "same constant 0.3" in _message(assert_close, X + 0.3, X)


def test_transpose_of_square_result() -> None:
    a = torch.randn(4, 4, dtype=torch.float64)
    assert "transpose" in _message(assert_close, a.T, a)


def test_softmax_rows_sum_to_two() -> None:
    msg = _message(assert_close, 2 * P, P, name="softmax")
    assert "rows of your softmax sum to 2.0, not 1" in msg and "`dim`" in msg


def test_softmax_over_wrong_dim() -> None:
    msg = _message(assert_close, torch.softmax(X, dim=0), P, name="softmax")
    assert "sums to 1 along dim 0" in msg and "dim=-1" in msg


def test_probabilities_vs_logits_both_ways() -> None:
    msg = _message(assert_close, P, X, name="logits")
    assert "returned probabilities where logits were expected" in msg
    msg = _message(assert_close, X, P, name="probs")
    assert "returned logits where probabilities were expected" in msg
    assert "sum to" not in msg  # the specific cause replaces the row-sum noise


def test_log_softmax_instead_of_logits() -> None:
    msg = _message(assert_close, torch.log_softmax(X, -1), X)
    assert "log-probabilities (log_softmax) where logits were expected" in msg


def test_hint_comes_last() -> None:
    msg = _message(assert_close, 2 * X, X, hint="see section 2.3")
    assert msg.endswith("Hint: see section 2.3")


def test_tolerances_are_respected() -> None:
    assert_close(X * (1 + 1e-4), X, rtol=1e-3)
    with pytest.raises(CheckError):
        assert_close(X * (1 + 1e-4), X)


# --- check_shape / check_probabilities / check_finite -----------------------------------------

def test_check_shape() -> None:
    check_shape(X, (4, 5))
    check_shape(X, (None, 5))
    msg = _message(check_shape, X, (None, 10), name="logits")
    assert "logits: shape (4, 5), expected (*, 10)" in msg
    msg = _message(check_shape, X[..., None], (None, 5))
    assert "extra dimension of size 1 at dim 2" in msg
    assert "transposed" in _message(check_shape, X.T, (4, None))


def test_check_probabilities() -> None:
    check_probabilities(P)
    check_probabilities(P.T, dim=0)
    check_probabilities(P.float().numpy())
    msg = _message(check_probabilities, torch.softmax(X, dim=0), name="probs")
    assert "probs[" in msg and "sums to" in msg and "along dim 0 instead" in msg
    bad = P.clone()
    bad[2] *= 3
    msg = _message(check_probabilities, bad)
    assert "1 of 4" in msg and "output[2, :] sums to 3.0" in msg
    msg = _message(check_probabilities, X)
    assert "negative" in msg and "softmax" in msg


def test_check_finite() -> None:
    check_finite(X)
    check_finite(torch.arange(3))
    t = torch.zeros(3, 3)
    t[1, 2] = float("-inf")
    msg = _message(check_finite, t, "activations")
    assert msg.startswith("activations contains 0 NaN and 1 inf") and "[1, 2]" in msg


def test_passed_prints_one_line_naming_the_task(capsys) -> None:
    from course import passed

    passed("3.2")
    passed("3.6", "the 2.2% tier")
    assert capsys.readouterr().out.splitlines() == [
        "✓ Task 3.2 passed the visible tests (the autograder adds hidden tests)",
        "✓ Task 3.6 passed the 2.2% tier (the autograder adds hidden tests)",
    ]
