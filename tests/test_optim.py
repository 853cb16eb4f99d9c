"""Tests for course.optim: a per-tensor update rule trains a model exactly as torch.optim does."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course.optim import RuleOptimizer


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is faster than fighting other jobs for the machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sgd_in_place(p, g, state, *, lr):
    return p.sub_(lr * g)


def sgd_new(p, g, state, lr):
    return p - lr * g


def momentum_in_place(p, g, state, *, lr, beta=0.9):
    v = state.setdefault("v", torch.zeros_like(p))
    v.mul_(beta).add_(g)
    return p.sub_(lr * v)


def momentum_new(p, g, state, *, lr, beta=0.9):
    state["v"] = beta * state.get("v", torch.zeros_like(p)) + g
    return p - lr * state["v"]


def adam(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", torch.zeros_like(p)) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", torch.zeros_like(p)) + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return p - lr * m_hat / (v_hat.sqrt() + eps)


def _model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)   # non-square layers, biases


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 20, sched=None) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    dtype = next(model.parameters()).dtype
    for _ in range(steps):
        x, y = torch.randn(16, 5, generator=g).to(dtype), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()
    return [p.detach().clone() for p in model.parameters()]


def _same(got: list[torch.Tensor], want: list[torch.Tensor], tol: float = 1e-6) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("rule", [sgd_in_place, sgd_new])
def test_plain_sgd_in_place_or_not_matches_torch_sgd(rule) -> None:
    m = _model()
    want = _train(m, torch.optim.SGD(m.parameters(), lr=0.3))
    m = _model()
    got = _train(m, RuleOptimizer(m.parameters(), rule, lr=0.3))
    _same(got, want)
    assert max((a - b).abs().max() for a, b in zip(got, [p.detach() for p in _model().parameters()])) > 0.05  # it moved


@pytest.mark.parametrize("rule", [momentum_in_place, momentum_new])
def test_momentum_state_persists_and_matches_torch(rule) -> None:
    m = _model()
    want = _train(m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.8))
    m = _model()
    got = _train(m, RuleOptimizer(m.parameters(), rule, lr=0.1, beta=0.8))
    _same(got, want)


def test_adam_with_a_step_count_matches_torch_adam_in_float64() -> None:
    m = _model(torch.float64)
    want = _train(m, torch.optim.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.99), foreach=False))
    m = _model(torch.float64)
    opt = RuleOptimizer(m.parameters(), adam, lr=0.01, beta1=0.8, beta2=0.99)
    got = _train(m, opt)
    _same(got, want, tol=1e-10)
    assert all(opt.state[p]["t"] == 20 for p in m.parameters())


def test_state_is_one_dict_per_parameter_kept_between_steps() -> None:
    p, q = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2, 2))
    seen = []

    def spy(p, g, state, *, lr, beta=0.9):
        seen.append(state)
        return momentum_new(p, g, state, lr=lr, beta=beta)

    opt = RuleOptimizer([p, q], spy, lr=0.5)
    p.grad, q.grad = torch.ones(3), torch.full((2, 2), 2.0)
    assert seen == [] and len(opt.state) == 0
    opt.step()
    assert set(seen[0]) == {"v"} and torch.equal(seen[0]["v"], torch.ones(3))
    opt.step()
    assert seen[0] is seen[2] and seen[1] is seen[3] and seen[0] is not seen[1]
    torch.testing.assert_close(opt.state[p]["v"], torch.full((3,), 1.9))            # v ← 0.9 · 1 + 1
    torch.testing.assert_close(opt.state[q]["v"], torch.full((2, 2), 3.8))
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.5 * (1 + 1.9)))


def test_parameter_groups_have_their_own_hyper_parameters() -> None:
    m = _model()
    want = _train(m, torch.optim.SGD([{"params": m[0].parameters(), "lr": 0.5, "momentum": 0.5},
                                      {"params": m[2].parameters()}], lr=0.1, momentum=0.9))
    m = _model()
    got = _train(m, RuleOptimizer([{"params": m[0].parameters(), "lr": 0.5, "beta": 0.5},
                                   {"params": m[2].parameters()}], momentum_new, lr=0.1, beta=0.9))
    _same(got, want)


def test_a_scheduler_changes_lr_and_its_own_keys_are_not_passed_on() -> None:
    m = _model()
    opt = torch.optim.SGD(m.parameters(), lr=0.4)
    want = _train(m, opt, sched=torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.3))
    m = _model()
    opt = RuleOptimizer(m.parameters(), sgd_in_place, lr=0.4)      # takes lr only: initial_lr would break it
    got = _train(m, opt, sched=torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.3))
    _same(got, want)
    assert "initial_lr" in opt.param_groups[0]
    received = []

    def anything(p, g, state, **hyper):
        received.append(hyper)
        return p

    m = _model()
    opt = RuleOptimizer(m.parameters(), anything, lr=0.1, beta=0.5)
    _train(m, opt, steps=3, sched=torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10,
                                                                      cycle_momentum=False))
    assert all(set(h) == {"lr", "beta"} for h in received) and len(received) == 3 * 4
    assert len({h["lr"] for h in received}) == 3                     # the scheduler's current value each step


def test_state_dict_round_trip_continues_the_same_run() -> None:
    m = _model()
    want = _train(m, RuleOptimizer(m.parameters(), adam, lr=0.01), steps=10)
    m = _model()
    opt = RuleOptimizer(m.parameters(), adam, lr=0.01)
    _train(m, opt, steps=5)
    saved_model, saved_opt = m.state_dict(), opt.state_dict()
    m2 = _model()
    m2.load_state_dict(saved_model)
    opt2 = RuleOptimizer(m2.parameters(), adam, lr=0.01)
    opt2.load_state_dict(saved_opt)
    assert all(opt2.state[p]["t"] == 5 for p in m2.parameters())
    g = torch.Generator().manual_seed(1)                              # replay the first 5 batches, then train on
    for _ in range(5):
        torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
    for _ in range(5):
        x, y = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt2.zero_grad()
        nn.functional.cross_entropy(m2(x), y).backward()
        opt2.step()
    _same([p.detach() for p in m2.parameters()], want)


def test_parameters_without_gradient_are_skipped() -> None:
    m = _model()
    for p in m[0].parameters():
        p.requires_grad_(False)
    before = [p.detach().clone() for p in m.parameters()]
    calls = []
    opt = RuleOptimizer(m.parameters(), lambda p, g, s, lr: calls.append(p.shape) or p.sub_(lr * g), lr=0.1)
    after = _train(m, opt, steps=2)
    assert calls == [torch.Size([3, 8]), torch.Size([3])] * 2
    assert torch.equal(after[0], before[0]) and torch.equal(after[1], before[1])
    assert not torch.equal(after[2], before[2])
    assert set(opt.state) == set(m[2].parameters())


def test_rules_run_without_autograd_on_detached_tensors_and_closures_work() -> None:
    seen = {}

    def look(p, g, state, *, lr):
        seen.update(grad_enabled=torch.is_grad_enabled(), requires_grad=p.requires_grad, history=p.grad_fn)
        return p - lr * g

    w = nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = RuleOptimizer([w], look, lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()                         # ∂/∂w = 2w
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.detach()) == 13.0
    assert seen == {"grad_enabled": False, "requires_grad": False, "history": None}
    torch.testing.assert_close(w.detach(), torch.tensor([1.5, -1.0]))           # w − 0.25 · 2w
    assert w.requires_grad and w.grad_fn is None


def test_odd_but_correct_return_values_are_copied_right() -> None:
    w = nn.Parameter(torch.arange(4.0).reshape(2, 2))
    w.grad = torch.zeros(2, 2)
    RuleOptimizer([w], lambda p, g, s, lr: p.t(), lr=0.0).step()                # a view of p's own memory
    torch.testing.assert_close(w.detach(), torch.tensor([[0.0, 2.0], [1.0, 3.0]]))
    RuleOptimizer([w], lambda p, g, s, lr: (p + 1).double(), lr=0.0).step()    # another dtype: cast back
    assert w.dtype == torch.float32 and torch.equal(w.detach(), torch.tensor([[1.0, 3.0], [2.0, 4.0]]))
    assert "RuleOptimizer[sgd_new]" in repr(RuleOptimizer([w], sgd_new, lr=0.1))


def test_mistakes_get_clear_errors() -> None:
    p = nn.Parameter(torch.ones(3, 2))
    p.grad = torch.ones(3, 2)
    with pytest.raises(TypeError, match=r"rule momentum_new does not take the hyper-parameter\(s\) momentum; "
                                         r"it takes: beta, lr"):
        RuleOptimizer([p], momentum_new, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"does not take the hyper-parameter\(s\) betas"):
        RuleOptimizer([{"params": [p], "betas": (0.9, 0.99)}], adam, lr=0.1)
    with pytest.raises(TypeError, match=r"rule adam needs the hyper-parameter\(s\) lr: e\.g\. "
                                         r"RuleOptimizer\(params, adam, lr=\.\.\.\)"):
        RuleOptimizer([p], adam, beta1=0.9)
    RuleOptimizer([{"params": [p], "lr": 0.1}], adam)                           # lr given by the group: fine
    with pytest.raises(TypeError, match=r"must take \(param, grad, state, \*\*hyper\); it takes \(p, g\)"):
        RuleOptimizer([p], lambda p, g: p, lr=0.1)
    with pytest.raises(TypeError, match="rule must be a function"):
        RuleOptimizer([p], "sgd", lr=0.1)

    def forgot_return(p, g, state, lr):
        p.sub_(lr * g)

    with pytest.raises(TypeError, match=r"rule forgot_return, for a parameter of shape \(3, 2\), returned None.*"
                                        r"`return` missing"):
        RuleOptimizer([p], forgot_return, lr=0.1).step()
    with pytest.raises(TypeError, match=r"returned a tuple of 2: return only the parameter.*`state`"):
        RuleOptimizer([p], lambda p, g, s, lr: (p - lr * g, s), lr=0.1).step()
    with pytest.raises(TypeError, match=r"returned a float, not a tensor"):
        RuleOptimizer([p], lambda p, g, s, lr: 1.0, lr=0.1).step()
    with pytest.raises(ValueError, match=r"shape \(3, 2\), returned a tensor of shape \(2, 3\); expected \(3, 2\)"):
        RuleOptimizer([p], lambda p, g, s, lr: (p - lr * g).t(), lr=0.1).step()
    with pytest.raises(ValueError, match=r"returned a tensor of shape \(\); expected \(3, 2\)"):
        RuleOptimizer([p], lambda p, g, s, lr: (p - lr * g).sum(), lr=0.1).step()

    def broken(p, g, state, lr):
        return p - lr * g @ g

    with pytest.raises(RuntimeError) as info:
        RuleOptimizer([p], broken, lr=0.1).step()
    if hasattr(info.value, "__notes__"):
        assert info.value.__notes__ == ["(in rule broken, for a parameter of shape (3, 2))"]
    torch.testing.assert_close(p.detach(), torch.full((3, 2), 0.9))   # only forgot_return's in-place step changed p
