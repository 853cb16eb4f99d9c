"""The judges' toolkit: what every lab's judges need, in one place (``tests/grader/test_toolkit.py``).

* numbers and tensors from the sandbox, with a clear failure when the student's code returned something else;
* calling a student's function, its exception becoming the task's verdict, also with the operations its task
  forbids made to fail (:mod:`~course.grader.forbid`, loaded in the sandbox);
* an argument the student's function must only read, checked to be unchanged after the call;
* a local network copied into the sandbox (same architecture and weights);
* the reference SGD epoch, correct or with a known bug;
* judge-side data, remote histories, and re-measuring saved weights into checkpoint tiers;
* running a judge on one torch thread (its own tensors are tiny).

Everything here runs in the grader's process. Inputs go to the sandbox; answers are computed here. Whether an
upstream task failed is :meth:`~course.grader.judge.Context.failed`.
"""
from __future__ import annotations

import copy
import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data import cifar10_splits, mnist_splits
from .judge import Context, Fail, judge
from .kernel import Kernel, Remote, RemoteError

__all__ = ["single_threaded", "unchanged", "number", "tensor", "call", "call_forbidding", "forward_modes", "remote_copy", "sgd_epoch",
           "checkpoint_tier", "judge_tiers", "mnist", "cifar10", "remote_history", "history_fields", "find_param",
           "checkpoint_error", "remote_images"]


def single_threaded(fn: Callable[[Context], None]) -> Callable[[Context], None]:
    """Run a judge with one torch thread in the grader's process: its own tensors are tiny, and on a busy machine
    torch's thread pool makes each small operation 10–70× slower than one thread does (measured). The student's
    code runs in the sandbox, which this does not touch."""
    @functools.wraps(fn)
    def run(ctx: Context) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            fn(ctx)
        finally:
            torch.set_num_threads(threads)
    return run


def _task(task: str | Context) -> str:
    return task.task if isinstance(task, Context) else task


def number(task: str | Context, value: Any, what: str, hint: str = "") -> float:
    """A fetched number (int, float, a NumPy scalar, a one-element tensor) as a float; Fail otherwise.

    ``task``: the task the failure is charged to ("3.2", or the judge's context); ``hint``: how to return one.
    """
    if isinstance(value, bool):
        raise Fail(f"{_task(task)}: {what} is a bool, not a number")
    if isinstance(value, numbers.Real):
        return float(value)
    if torch.is_tensor(value) and value.numel() == 1:
        return float(value.reshape(()))
    shape = f" of shape {tuple(value.shape)}" if torch.is_tensor(value) else ""
    raise Fail(f"{_task(task)}: {what} should be a number{f' ({hint})' if hint else ''}, got "
               f"{type(value).__name__}{shape}")


def tensor(task: str | Context, value: Any, what: str, shape: tuple[int, ...] | None = None, *,
           double: bool = False) -> torch.Tensor:
    """A fetched tensor (of ``shape``, when given; as float64 with ``double``); Fail naming what came back."""
    if not torch.is_tensor(value):
        raise Fail(f"{_task(task)}: {what} returned a {type(value).__name__}, not a tensor")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Fail(f"{_task(task)}: {what} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value.detach().double() if double else value


def unchanged(ctx: Context, remote: Remote, sent: torch.Tensor, what: str, arg: str, fix: str = "") -> None:
    """Fail unless the tensor ``sent`` to the sandbox as ``remote`` is still what was sent, after ``what`` ran: a
    function that only computes or measures must not change its arguments in place (``p *= math.pi``). ``fix``
    says what to write instead; the default is general."""
    after = ctx.kernel.fetch(remote)
    same = torch.is_tensor(after) and after.shape == sent.shape and (
        torch.allclose(after.to(sent.dtype), sent, rtol=0, atol=0, equal_nan=True) if sent.is_floating_point()
        else torch.equal(after.to(sent.dtype), sent))         # NaN (a hidden pixel) stays NaN
    if not same:
        raise Fail(f"{ctx.task}: {what} changes the {arg} passed to it, in place (`-=`, `*=`, `.sub_()`, an "
                   "assignment into a view of it...) — the caller's tensor must stay as it was: "
                   + (fix or "compute into a new tensor (`x = x - m`, not `x -= m`)"))


def _shown(a: Any) -> str:
    return f"<{tuple(a.shape)} tensor>" if torch.is_tensor(a) else repr(a)


def call(ctx: Context, what: str | None, fn: str | Remote, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function (a name in the notebook, or a remote callable) and fetch its result.

    An exception in the student's code becomes this task's verdict, naming the call: ``what`` (e.g.
    ``"scores(W, X)"``), or when None the function's name with its arguments.
    """
    k = ctx.kernel
    target = getattr(k.ns, fn) if isinstance(fn, str) else fn
    try:
        return k.fetch(target(*args, **kwargs))
    except RemoteError as exc:
        if what is None:
            what = f"{fn}({', '.join([_shown(a) for a in args] + [f'{n}={v!r}' for n, v in kwargs.items()])})"
        raise Fail(f"{ctx.task}: {what} raised {exc}") from None


def call_forbidding(ctx: Context, what: str, fn: str | Remote, *args: Any, rule: str, ops: Sequence[str] = (),
                    calls: Sequence[str] = (), autograd: bool = False, **kwargs: Any) -> Any:
    """:func:`call` with ``ops``/``calls``/``autograd`` made to fail in the sandbox while the student's code runs.

    A use of one becomes the verdict ``"<task>: <what> used <operation> — <rule>"``; every other exception is
    reported as by :func:`call`.
    """
    k = ctx.kernel
    target = getattr(k.ns, fn) if isinstance(fn, str) else fn
    guard = k.module("course.grader.forbid").forbidding
    try:
        return k.fetch(guard(target, *args, ops=list(ops), calls=list(calls), autograd=autograd, **kwargs))
    except RemoteError as exc:
        if exc.ename == "ForbiddenOperation":
            raise Fail(f"{ctx.task}: {what} used {exc.evalue} — {rule}") from None
        raise Fail(f"{ctx.task}: {what} raised {exc}") from None


def _layer_args(layer: nn.Module) -> tuple[tuple, dict]:
    """The constructor arguments that rebuild ``layer`` (its weights come with the state dict)."""
    if isinstance(layer, nn.Linear):
        return (layer.in_features, layer.out_features), {"bias": layer.bias is not None}
    if isinstance(layer, nn.Conv2d):
        return (layer.in_channels, layer.out_channels, layer.kernel_size), {
            "stride": layer.stride, "padding": layer.padding, "bias": layer.bias is not None}
    if isinstance(layer, nn.BatchNorm2d):
        return (layer.num_features,), {"eps": layer.eps, "momentum": layer.momentum}
    if isinstance(layer, nn.LayerNorm):
        return (tuple(layer.normalized_shape),), {"eps": layer.eps}
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        return (layer.kernel_size,), {"stride": layer.stride}
    if isinstance(layer, nn.Dropout):
        return (layer.p,), {}
    return (), {}


def remote_copy(ctx: Context, net: nn.Sequential) -> Remote:
    """The same architecture and weights (batch-norm statistics included) built in the sandbox, in the same dtype."""
    k = ctx.kernel
    nn_ = k.module("torch.nn")
    layers = []
    for layer in net:
        args, kwargs = _layer_args(layer)
        layers.append(getattr(nn_, type(layer).__name__)(*args, **kwargs))
    remote = nn_.Sequential(*layers)
    if next((p.dtype for p in net.parameters()), torch.float32) == torch.float64:
        remote = remote.double()
    remote.load_state_dict(k.value(net.state_dict()))
    return remote


def forward_modes(ctx: Context, net: nn.Module, run: Callable[[Remote], Any]) -> list[tuple[bool, bool]]:
    """``(training, grad enabled)`` of every forward call that ``run(model)`` makes, ``model`` being a sandbox copy
    of ``net`` left in train mode: what a function that should evaluate (eval mode, no graphs) really does."""
    probe = ctx.kernel.module("course.grader.probes").ModeRecorder(remote_copy(ctx, net))
    probe.train()
    run(probe)
    return [(bool(training), bool(grad)) for training, grad in ctx.kernel.fetch(probe.calls)]


def sgd_epoch(net: nn.Module, batches, lr: float, momentum: float, bug: str | None = None):
    """One epoch of SGD with cross-entropy on a copy of ``net``, as the labs define it, or with a known ``bug``
    ("no zero_grad", "softmax", "sum", "eval mode"): (the trained copy, the per-example mean loss, the mean of the
    batch losses, the last batch's loss)."""
    model = copy.deepcopy(net)
    model.train(bug != "eval mode")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    total, n, means = 0.0, 0, []
    for x, y in batches:
        if bug != "no zero_grad":
            opt.zero_grad()
        logits = model(x)
        if bug == "softmax":
            logits = logits.softmax(dim=1)
        loss = F.cross_entropy(logits, y, reduction="sum" if bug == "sum" else "mean")
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        n += len(y)
        means.append(loss.item())
    return model, total / n, sum(means) / len(means), means[-1]


def judge_tiers(bounds: dict[str, float], measure: Callable[..., None], *, timeout: float = 120.0) -> None:
    """Register one judge per tier: ``measure(ctx, bound)`` for each grade id and its bound."""
    for grade_id, bound in bounds.items():
        judge(grade_id, timeout=timeout)(functools.partial(measure, bound=bound))


def checkpoint_tier(ctx: Context, filename: str, builder: str, images: torch.Tensor, labels: torch.Tensor, *,
                    error_below: float | None = None, accuracy_at_least: float | None = None, **measure: Any) -> None:
    """A tier of a saved checkpoint: its test error re-measured (:func:`checkpoint_error`) against the bound."""
    error = checkpoint_error(ctx, filename, builder, images, labels, **measure)
    fast = (" (the checkpoint was trained in fast mode: run the notebook in full mode)"
            if ctx.fast_checkpoints.get(filename) else "")
    if error_below is not None and error >= error_below:
        raise Fail(f"{ctx.task}: {filename} has test error {error:.2%}; this tier needs below {error_below:.1%}{fast}")
    if accuracy_at_least is not None and 1 - error < accuracy_at_least:
        raise Fail(f"{ctx.task}: {filename} has test accuracy {1 - error:.2%}; this tier needs "
                   f"{accuracy_at_least:.1%} or more{fast}")


@functools.lru_cache(maxsize=2)
def mnist(seed: int = 0):
    """MNIST splits as the grader sees them (from the grader's own data root)."""
    return mnist_splits(seed=seed, download=False)


@functools.lru_cache(maxsize=1)
def cifar10(seed: int = 0):
    """CIFAR-10 splits as the grader sees them (decoded once into the grader's cache)."""
    return cifar10_splits(seed=seed, download=False)


def history_fields(kernel: Kernel, history: Remote) -> dict[str, Any]:
    """A remote ``course.History``'s recorded lists and best epoch as plain data (None for what it lacks)."""
    fields = {}
    for name in ("train_loss", "val_loss", "val_error", "best_epoch"):
        try:
            fields[name] = kernel.fetch(getattr(history, name))
        except RemoteError:
            fields[name] = None
    return fields


def remote_images(kernel: Kernel, images: torch.Tensor) -> Remote:
    """Send float images in [0, 1] as uint8 (a quarter of the bytes) and turn them back into floats there."""
    as_bytes = (images * 255).round().to(torch.uint8)
    return kernel.value(as_bytes).float().div(255)


def remote_history(ctx: Context, val: Sequence[float], train: Sequence[float] | None = None,
                   val_error: Sequence[float] | None = None) -> Remote:
    """A ``course.History`` in the sandbox with these epochs logged (no weights)."""
    h = ctx.kernel.module("course").History()
    for i, v in enumerate(val):
        h.log(train_loss=(train or val)[i], val_loss=v, val_error=None if val_error is None else val_error[i])
    return h


def find_param(params: Sequence[torch.Tensor], *shapes: tuple[int, ...]) -> torch.Tensor | None:
    """The parameter of the first shape (or of another, transposed to it); a bias of shape (n,) may be (1, n)."""
    for p in params:
        for i, s in enumerate(shapes):
            if tuple(p.shape) == s:
                return p if i == 0 else p.T
    if len(shapes) == 1 and len(shapes[0]) == 1:
        for p in params:
            if p.numel() == shapes[0][0] == max(p.shape):
                return p.reshape(-1)
    return None


def checkpoint_error(ctx: Context, filename: str, builder: str, images: torch.Tensor, labels: torch.Tensor,
                     *, chunk: int = 2000, reduced_precision: bool = False,
                     check: Callable[[Context, Kernel, Remote], None] | None = None) -> float:
    """Test error of the weights in ``filename``, loaded into the student's ``builder()`` and measured here.

    The model runs in a fresh sandbox that has no data folder, so it cannot look the labels up; the images
    are sent in an order of the judge's choosing, and the error is computed here from the logits. With
    ``reduced_precision`` it runs channels-last under ``course.autocast`` (bfloat16 where the CPU supports it),
    as the lab's notebook measures it: a ResNet on 10,000 CIFAR-10 images takes seconds instead of half a minute.
    ``check(ctx, kernel, model)`` may first probe the loaded model (eval mode) in the same fresh kernel and raise
    :class:`Fail`; its verdict is kept with the error, so every tier of the checkpoint says it (one kernel's start
    per checkpoint, instead of a second kernel for the probe).
    """
    key = ("checkpoint_error", filename, builder)
    if key in ctx.cache:
        value = ctx.cache[key]
        if isinstance(value, Fail):
            raise value
        return value
    try:
        value = _measure(ctx, filename, builder, images, labels, chunk, reduced_precision, check)
    except Fail as exc:
        ctx.cache[key] = exc
        raise
    ctx.cache[key] = value
    return value


def _measure(ctx: Context, filename: str, builder: str, images: torch.Tensor, labels: torch.Tensor,
             chunk: int, reduced_precision: bool = False,
             check: Callable[[Context, Kernel, Remote], None] | None = None) -> float:
    task = ctx.task
    path = ctx.submission / filename
    if not path.is_file():
        raise Fail(f"{task}: no {filename} was handed in — run the notebook in full mode (it saves {filename} with "
                   "course.save_model) and hand the file in beside the notebook")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)  # no code runs from a checkpoint here
        meta = blob["meta"]
    except Exception as exc:  # noqa: BLE001
        raise Fail(f"{task}: {filename} is not a checkpoint written by course.save_model "
                   f"({type(exc).__name__}: {str(exc)[:150]})") from None
    if ctx.fresh_kernel is None:
        raise Fail(f"{task}: cannot re-measure {filename} here")
    k = ctx.fresh_kernel(builder)
    try:
        course = k.module("course")
        try:
            model = course.load_model(getattr(k.ns, builder), filename)
        except RemoteError as exc:
            raise Fail(f"{task}: {filename} could not be loaded into {builder}(): {exc}") from None
        model.eval()
        if check is not None:
            check(ctx, k, model)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(20260101))
        wrong = 0
        for start in range(0, len(labels), chunk):
            idx = order[start:start + chunk]
            if reduced_precision:
                as_bytes = (images[idx] * 255).round().to(torch.uint8)
                logits = k.fetch(k.module("course.grader.probes").predict(model, k.value(as_bytes),
                                                                          reduced_precision=True))
            else:
                logits = k.fetch(model(remote_images(k, images[idx])))
            if not torch.is_tensor(logits) or logits.shape[0] != len(idx):
                raise Fail(f"{task}: {builder}() returned {type(logits).__name__} of shape "
                           f"{getattr(logits, 'shape', '?')} for a batch of {len(idx)} images; logits (N, 10) expected")
            wrong += int((logits.argmax(dim=1) != labels[idx]).sum())
    finally:
        k.close()
    error = wrong / len(labels)
    ctx.notes.append(f"{filename}: test error {error:.2%} ({'fast' if meta.get('fast') else 'full'} mode)")
    ctx.fast_checkpoints[filename] = bool(meta.get("fast"))
    return error

