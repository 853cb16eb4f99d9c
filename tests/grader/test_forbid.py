"""Rules checked by behaviour (``course.grader.forbid``): every route to a forbidden operation fails, what the task
allows still runs, and everything is restored afterwards."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.grader.forbid import ForbiddenOperation, forbidden, forbidding

CONV = ("convolution", "conv1d", "conv2d", "conv3d", "conv_depthwise", "conv_transpose", "slow_conv")
x, w = torch.randn(1, 2, 6, 6), torch.randn(3, 2, 3, 3)


def _unfold_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    cols = F.unfold(x, w.shape[-2:])                       # (N, C·k·k, L)
    return (w.flatten(1) @ cols).reshape(x.shape[0], w.shape[0], 4, 4)


@pytest.mark.parametrize("route", [
    lambda: F.conv2d(x, w),
    lambda: torch.conv2d(x, w),
    lambda: torch.nn.functional.conv2d(x, w, padding=1),
    lambda: getattr(F, "conv" + "2d")(x, w),
    lambda: nn.Conv2d(2, 3, 3)(x),
    lambda: torch.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    lambda: torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    lambda: F.conv_transpose2d(x, w.transpose(0, 1)),
], ids=["F", "torch", "padding", "getattr", "module", "torch.convolution", "aten", "transpose"])
def test_every_route_to_a_forbidden_operator_fails(route) -> None:
    with pytest.raises(ForbiddenOperation, match="conv"):
        forbidding(route, ops=CONV)


def test_what_the_task_allows_runs_and_gives_the_same_numbers() -> None:
    got = forbidding(_unfold_conv, x, w, ops=CONV)
    assert torch.allclose(got, F.conv2d(x, w), atol=1e-5)
    pooled = forbidding(lambda t: t.unfold(2, 2, 2).unfold(3, 2, 2).amax((-1, -2)), x, ops=("max_pool", "avg_pool"))
    assert torch.equal(pooled, F.max_pool2d(x, 2))
    with pytest.raises(ForbiddenOperation, match="max_pool"):
        forbidding(F.max_pool2d, x, 2, ops=("max_pool",))
    softmax_only = ("^_?softmax", "^nll_loss", "cross_entropy")     # log_softmax stays allowed
    for route in (lambda s: s.softmax(-1), lambda s: F.softmax(s, -1), lambda s: nn.Softmax(-1)(s),
                  lambda s: F.cross_entropy(s.flatten(1), torch.tensor([0])),
                  lambda s: F.nll_loss(s.flatten(1), torch.tensor([0]))):
        with pytest.raises(ForbiddenOperation, match="softmax|nll_loss"):
            forbidding(route, x, ops=softmax_only)
    assert forbidding(lambda s: s.logsumexp(-1), x, ops=softmax_only).shape == (1, 2, 6)
    assert torch.allclose(forbidding(lambda s: s.log_softmax(-1).exp(), x, ops=softmax_only), x.softmax(-1))


def _backward() -> torch.Tensor:
    t = torch.ones(3, requires_grad=True)
    with torch.enable_grad():
        (t * t).sum().backward()
    return t.grad


@pytest.mark.parametrize("route", [
    _backward,
    lambda: torch.autograd.grad((torch.ones(2, requires_grad=True) ** 2).sum(), torch.ones(1, requires_grad=True),
                                allow_unused=True),
    lambda: torch.func.grad(lambda t: (t ** 2).sum())(torch.ones(3)),
    lambda: torch.autograd.functional.jacobian(lambda t: t ** 2, torch.ones(3)),
], ids=["backward-in-enable_grad", "autograd.grad", "func.grad", "functional.jacobian"])
def test_autograd_fails_by_every_route_and_comes_back(route) -> None:
    with pytest.raises(ForbiddenOperation, match="autograd"):
        forbidding(route, autograd=True)
    assert torch.equal(_backward(), torch.full((3,), 2.0))      # the engine is back


def test_forbidden_calls_are_restored_even_after_an_error() -> None:
    original = F.softmax
    with pytest.raises(ForbiddenOperation, match="torch.nn.functional.softmax"):
        with forbidden(calls=["torch.nn.functional.softmax"]):
            F.softmax(x, -1)
    assert F.softmax is original
    with pytest.raises(ZeroDivisionError), forbidden(ops=CONV, calls=["torch.nn.functional.softmax"], autograd=True):
        1 / 0
    assert F.softmax is original and torch.allclose(F.conv2d(x, w), _unfold_conv(x, w), atol=1e-5)
