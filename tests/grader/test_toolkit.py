"""The judges' shared toolkit (``course.grader.toolkit``): what it accepts, what it refuses and how it says so."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from course.grader import toolkit
from course.grader.judge import Context, Fail
from course.grader.kernel import Kernel
from course.grader.launch import PlainLauncher
from course.grader.session import runner_env


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Context:
    work = tmp_path_factory.mktemp("toolkit")
    kernel = Kernel(PlainLauncher(), work, runner_env(work, None))
    context = Context(kernel=kernel, ref=SimpleNamespace(), lab="lab9", fast=True, submission=Path(work),
                      grade_id="9_2")
    yield context
    kernel.close()


@pytest.mark.parametrize("value", [3, 2.5, np.float32(1.5), np.int64(4), torch.tensor(7.0), torch.tensor([[2]])])
def test_number_takes_every_kind_of_number(value) -> None:
    assert toolkit.number("9.2", value, "loss") == float(np.asarray(value).reshape(()))


@pytest.mark.parametrize("value, said", [
    (True, "9.2: loss is a bool, not a number"),
    (torch.ones(3), "9.2: loss should be a number (use loss.item()), got Tensor of shape (3,)"),
    ("1.0", "9.2: loss should be a number (use loss.item()), got str"),
])
def test_number_refuses_with_what_it_got(value, said) -> None:
    with pytest.raises(Fail) as caught:
        toolkit.number("9.2", value, "loss", "use loss.item()")
    assert str(caught.value) == said


def test_tensor_checks_type_and_shape(ctx: Context) -> None:
    t = torch.ones(2, 3, dtype=torch.float32)
    assert toolkit.tensor(ctx, t, "f(x)", (2, 3)) is t
    assert toolkit.tensor(ctx, t, "f(x)", double=True).dtype == torch.float64
    with pytest.raises(Fail, match=r"^9\.2: f\(x\) has shape \(2, 3\), expected \(3, 2\)$"):
        toolkit.tensor(ctx, t, "f(x)", (3, 2))
    with pytest.raises(Fail, match=r"^9\.2: f\(x\) returned a list, not a tensor$"):
        toolkit.tensor(ctx, [1.0], "f(x)")


def test_call_fetches_and_names_a_failing_call(ctx: Context) -> None:
    ctx.kernel.run_cell("def f(x, k=1):\n    if k < 0:\n        raise ValueError('k < 0')\n    return x * k", timeout=60)
    assert torch.equal(toolkit.call(ctx, None, "f", torch.ones(2), k=3), torch.full((2,), 3.0))
    with pytest.raises(Fail, match=r"^9\.2: f\(<\(2,\) tensor>, k=-1\) raised ValueError: k < 0$"):
        toolkit.call(ctx, None, "f", torch.ones(2), k=-1)
    with pytest.raises(Fail, match=r"^9\.2: f of ones raised ValueError"):
        toolkit.call(ctx, "f of ones", ctx.kernel.ns.f, torch.ones(2), k=-1)


@pytest.mark.parametrize("net", [
    nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Dropout(0.3), nn.Linear(5, 2)),
    nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(2, 3), nn.LayerNorm(3), nn.Tanh()),
    nn.Sequential(nn.Linear(4, 3), nn.Sigmoid()).double(),
], ids=["mlp", "cnn-with-norms", "float64"])
def test_remote_copy_is_the_same_network(ctx: Context, net: nn.Sequential) -> None:
    torch.manual_seed(0)
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_()
            m.running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.rand(3, 1, 4, 3).to(next(net.parameters()).dtype)
    if isinstance(net[0], nn.Linear):
        x = x.reshape(3, 12)[:, :4]
    remote = toolkit.remote_copy(ctx, net)
    remote.eval()
    got = ctx.kernel.fetch(remote(ctx.kernel.value(x)))
    assert got.dtype == x.dtype and torch.allclose(got, net(x).detach())


def test_sgd_epoch_and_its_known_bugs_differ() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5), nn.Linear(4, 3))
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in (8, 8, 3)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(3)
    model, per_example, per_batch, last = toolkit.sgd_epoch(net, batches, 0.1, 0.9)
    assert model is not net and model.training and per_example != per_batch and last > 0
    weights = []
    for bug in (None, "no zero_grad", "softmax", "sum", "eval mode"):
        torch.manual_seed(3)
        weights.append(toolkit.sgd_epoch(net, batches, 0.1, 0.9, bug=bug)[0][0].weight.detach())
    assert all(not torch.allclose(weights[0], w) for w in weights[1:])
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items()), "the network given is untouched"


def test_checkpoint_tier_says_the_bound_and_fast_mode(ctx: Context, monkeypatch) -> None:
    monkeypatch.setattr(toolkit, "checkpoint_error", lambda *a, **k: 0.05)
    toolkit.checkpoint_tier(ctx, "w.pt", "build", torch.zeros(1), torch.zeros(1), error_below=0.06)
    toolkit.checkpoint_tier(ctx, "w.pt", "build", torch.zeros(1), torch.zeros(1), accuracy_at_least=0.95)
    with pytest.raises(Fail, match=r"^9\.2: w\.pt has test error 5\.00%; this tier needs below 4\.0%$"):
        toolkit.checkpoint_tier(ctx, "w.pt", "build", torch.zeros(1), torch.zeros(1), error_below=0.04)
    ctx.fast_checkpoints["w.pt"] = True
    with pytest.raises(Fail, match=r"test accuracy 95\.00%; this tier needs 96\.0% or more \(the checkpoint was "
                                   r"trained in fast mode"):
        toolkit.checkpoint_tier(ctx, "w.pt", "build", torch.zeros(1), torch.zeros(1), accuracy_at_least=0.96)


def test_checkpoint_error_probes_the_loaded_model_in_the_kernel_that_measures_it(tmp_path) -> None:
    import course

    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    course.save_model(net, tmp_path / "w.pt")
    images = torch.rand(50, 4)
    labels = torch.randint(0, 3, (50,))
    with torch.no_grad():   # the weights as saved (float16), as the fresh kernel loads them
        loaded = course.load_model(lambda: nn.Linear(4, 3), tmp_path / "w.pt")
        expected = (loaded(images.mul(255).round().div(255)).argmax(1) != labels).float().mean().item()
    started: list[Kernel] = []

    def fresh_kernel(builder: str) -> Kernel:
        k = Kernel(PlainLauncher(), tmp_path, runner_env(tmp_path, None))
        k.run_cell(f"import torch\nfrom torch import nn\ndef {builder}():\n    return nn.Linear(4, 3)", timeout=60)
        started.append(k)
        return k

    probed = []

    def probe(c: Context, k: Kernel, model) -> None:
        probed.append((k, k.fetch(model.training), tuple(k.fetch(model(k.value(torch.ones(2, 4)))).shape)))

    context = Context(kernel=None, ref=SimpleNamespace(), lab="lab9", fast=True, submission=tmp_path, grade_id="9_3",
                      fresh_kernel=fresh_kernel)
    assert toolkit.checkpoint_error(context, "w.pt", "build", images, labels, check=probe) == pytest.approx(expected)
    assert probed == [(started[0], False, (2, 3))] and len(started) == 1, "one kernel: probed in eval mode, then measured"

    def refuse(c: Context, k: Kernel, model) -> None:
        raise Fail("9.3: w.pt is not what this lab grades")

    context = dataclasses.replace(context, cache={})
    for _ in range(2):   # every tier of the checkpoint says why, from the one measurement
        with pytest.raises(Fail, match=r"^9\.3: w\.pt is not what this lab grades$"):
            toolkit.checkpoint_error(context, "w.pt", "build", images, labels, check=refuse)
    assert len(started) == 2


def test_context_remembers_which_tasks_failed(ctx: Context) -> None:
    fresh = Context(kernel=None, ref=SimpleNamespace(), lab="lab9", fast=True, submission=Path("."))
    fresh.record("9_1", True)
    fresh.record("9_2", False)
    assert fresh.failed("9_1", "9_2", "9_3") == ["9_2"]


def test_call_forbidding_names_the_rule_and_lets_allowed_code_through(ctx: Context) -> None:
    ctx.kernel.run_cell("import torch\nimport torch.nn.functional as F\n"
                        "def by_library(x):\n    return F.softmax(x, -1)\n"
                        "def by_hand(x):\n    e = (x - x.amax(-1, keepdim=True)).exp()\n    return e / e.sum(-1, keepdim=True)\n"
                        "def by_backward(x):\n    x = x.clone().requires_grad_()\n"
                        "    with torch.enable_grad():\n        (x * x).sum().backward()\n    return x.grad", timeout=60)
    s = torch.randn(3, 4)
    rule = "compute softmax with tensor operations"
    got = toolkit.call_forbidding(ctx, "softmax(S)", "by_hand", s, rule=rule, ops=["_softmax"])
    assert torch.allclose(got, torch.softmax(s, -1))
    with pytest.raises(Fail, match=r"^9\.2: softmax\(S\) used aten::_softmax — compute softmax with tensor operations$"):
        toolkit.call_forbidding(ctx, "softmax(S)", "by_library", s, rule=rule, ops=["_softmax"])
    with pytest.raises(Fail, match=r"^9\.2: grads\(x\) used autograd .* — by hand$"):
        toolkit.call_forbidding(ctx, "grads(x)", "by_backward", s, rule="by hand", autograd=True)
    assert torch.equal(toolkit.call(ctx, None, "by_backward", s), 2 * s)   # restored in the sandbox too


def test_forward_modes_records_what_an_evaluation_really_does(ctx: Context) -> None:
    ctx.kernel.run_cell("import torch\n"
                        "def careful(m):\n    m.eval()\n    with torch.no_grad():\n        return m(torch.ones(2, 3))\n"
                        "def careless(m):\n    return m(torch.ones(2, 3))", timeout=60)
    net = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    k = ctx.kernel
    assert toolkit.forward_modes(ctx, net, lambda m: k.fetch(k.ns.careful(m))) == [(False, False)]
    assert toolkit.forward_modes(ctx, net, lambda m: k.fetch(k.ns.careless(m))) == [(True, True)]


def test_single_threaded_runs_the_judge_on_one_thread_and_restores_the_setting() -> None:
    seen = []

    @toolkit.single_threaded
    def judge_fn(ctx) -> None:
        seen.append(torch.get_num_threads())
        raise ValueError("the judge failed")

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="the judge failed"):
            judge_fn(None)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_unchanged_catches_an_argument_changed_in_place_and_keeps_nan(ctx: Context) -> None:
    k = ctx.kernel
    k.run_cell("def scale(p):\n    p *= 3.14\n    return p\n\ndef reads(p):\n    return p * 3.14", timeout=60)
    p = torch.tensor([[0.5, float("nan")], [1.0, 2.0]])                # NaN: a hidden value, as Lab 4 sends
    sent = k.value(p)
    k.fetch(k.ns.reads(sent))
    toolkit.unchanged(ctx, sent, p, "reads", "points p")
    k.fetch(k.ns.scale(sent))
    with pytest.raises(Fail, match=r"^9\.2: scale changes the points p passed to it, in place .* — the caller's "
                                   r"tensor must stay as it was: p = math.pi \* p$"):
        toolkit.unchanged(ctx, sent, p, "scale", "points p", "p = math.pi * p")
    labels = torch.tensor([3, 1])
    sent = k.value(labels)
    toolkit.unchanged(ctx, sent, labels, "reads", "labels")
