"""Hidden tests of Lab 4, as judges: the student's code runs in the sandbox on inputs chosen here, and the
verdict is computed here, against the formulas written out below, torch's own Adam, or what the solution
reached on the same fixture (recorded by ``course build`` in autograder/references/lab4_positional_encoding.json).

Each judge uses inputs of its own (small grids, a synthetic picture, fixed models), so a bug in one task does
not cost the points of another; where a task's code calls an earlier task's (selection and the sweep train
with ``make_mlp``/``train_mlp``), the bounds that depend on those are skipped when their tests failed.
"""
from __future__ import annotations

import copy
import itertools
import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from course.grader.judge import Context, Fail, close, judge
from course.grader.kernel import RemoteError
from course.grader.toolkit import number, remote_copy, unchanged

TWO_PI = 2 * math.pi



def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    return 10 * math.log10(1 / F.mse_loss(pred.double(), target.double()).item())


def _grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.arange(height * width).reshape(height, width)
    return index[0::2, 0::2].reshape(-1), index[1::2, 1::2].reshape(-1)


# --------------------------------------------------------------------------- 4.1 coordinates

def _coordinate_variant(h: int, w: int, values: str, swap: bool, column_major: bool) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    x, y = {
        "right": (j / w, i / h),
        "unscaled": (j, i),
        "minus-one-one": (2 * j / w - 1, 2 * i / h - 1),
        "linspace-minus-one-one": (2 * j / max(w - 1, 1) - 1, 2 * i / max(h - 1, 1) - 1),
        "linspace": (j / max(w - 1, 1), i / max(h - 1, 1)),
        "centres": ((j + 0.5) / w, (i + 0.5) / h),
        "divisors-swapped": (j / h, i / w),
    }[values]
    grid = torch.stack([y, x] if swap else [x, y], dim=-1)              # (H, W, 2)
    if column_major:
        grid = grid.transpose(0, 1)                                     # (W, H, 2): index j·H + i
    return grid.reshape(-1, 2)


_VALUES_WHY = {
    "unscaled": "the coordinates are pixel indices (j, i) — divide by W and H to land in [0, 1)",
    "minus-one-one": "the coordinates are in [-1, 1) — the task asks for [0, 1): x = j / W, y = i / H",
    "linspace-minus-one-one": "the coordinates run over [-1, 1] — the task asks for [0, 1): x = j / W, y = i / H",
    "linspace": ("the coordinates reach 1 (j / (W − 1), as torch.linspace(0, 1, W) gives) — [0, 1) excludes 1: "
                 "x = j / W, y = i / H"),
    "centres": "the coordinates are pixel centres ((j + ½) / W) — the task places pixel (i, j) at (j / W, i / H)",
    "divisors-swapped": "x is divided by H and y by W — x = j / W (the width), y = i / H (the height)",
}


@judge("4_1")
def coordinates(ctx: Context) -> None:
    k = ctx.kernel
    for h, w in ((3, 5), (6, 4), (4, 4), (1, 7), (5, 1)):
        out = k.fetch(k.ns.pixel_coordinates(h, w))
        if not torch.is_tensor(out):
            raise Fail(f"4.1: pixel_coordinates({h}, {w}) returned a {type(out).__name__}, not a tensor")
        if tuple(out.shape) != (h * w, 2):
            hint = ""
            if tuple(out.shape) in ((h, w, 2), (w, h, 2)):
                hint = " — one row per pixel: reshape to (H·W, 2)"
            elif tuple(out.shape) == (2, h * w):
                hint = " — one row per pixel, not one row per coordinate: stack on the last dimension"
            raise Fail(f"4.1: pixel_coordinates({h}, {w}) has shape {tuple(out.shape)}, expected ({h * w}, 2){hint}")
        if not out.is_floating_point():
            raise Fail(f"4.1: pixel_coordinates({h}, {w}) is {out.dtype}; float32 coordinates expected "
                       "(divide by W and H as floats)")
        expected = _coordinate_variant(h, w, "right", False, False)
        if close(out, expected, rtol=0, atol=1e-6):
            if out.dtype != torch.float32:
                raise Fail(f"4.1: the coordinates are right but {out.dtype}; the MLP's weights are float32, so "
                           "return float32 (torch.arange(...) / W is float32; a NumPy grid is float64)")
            continue
        for values, swap, column_major in itertools.product(["right", *_VALUES_WHY], (False, True),
                                                            (False, True)):
            if (values, swap, column_major) == ("right", False, False) or (h == w and values == "divisors-swapped"):
                continue
            if close(out, _coordinate_variant(h, w, values, swap, column_major), rtol=0, atol=1e-6):
                why = []
                if swap:
                    why.append("x and y are swapped: column 0 must be x = j / W (the column, left to right), "
                               "column 1 y = i / H (the row, top to bottom)")
                if column_major:
                    why.append("the pixels are in column-major order: row i·W + j must be the pixel in row i and "
                               "column j, as in image.reshape(H·W, 3) (meshgrid's indexing and your reshape must "
                               "agree)")
                if values != "right":
                    why.append(_VALUES_WHY[values])
                raise Fail(f"4.1: pixel_coordinates({h}, {w}): " + "; ".join(why))
        if out.min() < 0:
            raise Fail(f"4.1: pixel_coordinates({h}, {w}) has negative coordinates (down to {out.min():.3g}); "
                       "[0, 1) expected: x = j / W, y = i / H")
        if out.max() >= 1:
            raise Fail(f"4.1: pixel_coordinates({h}, {w}) reaches {out.max():.3g}; every coordinate must be below 1: "
                       "x = j / W, y = i / H")
        row = int((out.double() - expected).abs().sum(dim=1).argmax())
        raise Fail(f"4.1: pixel_coordinates({h}, {w}) row {row} (row {row // w}, column {row % w}) is "
                   f"{[round(v, 4) for v in out[row].tolist()]}; (x, y) = (j / W, i / H) = "
                   f"{[round(v, 4) for v in expected[row].tolist()]} expected")


# --------------------------------------------------------------------------- 4.2 the MLP

def _layers(params: list[tuple[str, torch.Tensor]], in_features: int):
    """The possible [(W (out, in), b)] chains, first layer first, from named parameters, or None when they are not
    four linear layers. Weights pair with biases in registration order; the layer taking ``in_features`` comes
    first and the one giving 3 colours last; the two 256 → 256 layers may be in either order."""
    weights = [p for _, p in params if p.ndim == 2]
    biases = [p for _, p in params if p.ndim == 1]
    if len(weights) != 4 or len(biases) != 4:
        return None
    if not any(w.shape[1] == in_features for w in weights) and any(w.shape[0] == in_features for w in weights):
        weights = [w.T for w in weights]     # the student's own parameters, stored (in, out)
    pairs = list(zip(weights, biases))
    first = [q for q in pairs if q[0].shape[1] == in_features]
    last = [q for q in pairs if q[0].shape[0] == 3]
    if len(first) != 1 or len(last) != 1 or first[0] is last[0]:
        return [pairs]
    middle = [q for q in pairs if q is not first[0] and q is not last[0]]
    return [[first[0], *m, last[0]] for m in itertools.permutations(middle)]


def _mlp_forward(layers, x: torch.Tensor, hidden=F.relu, out=torch.sigmoid, skip: int | None = None,
                 relu_last: bool = False) -> torch.Tensor:
    h = x
    for i, (w, b) in enumerate(layers[:-1]):
        h = h @ w.T + b
        h = h if i == skip else hidden(h)
    w, b = layers[-1]
    z = h @ w.T + b
    return out(F.relu(z) if relu_last else z)


@judge("4_2")
def mlp(ctx: Context) -> None:
    k = ctx.kernel
    builtins = k.module("builtins")
    k.module("torch").manual_seed(42)
    model = k.ns.make_mlp(6)
    named = k.fetch(builtins.list(model.named_parameters()))
    if not named:
        raise Fail("4.2: make_mlp(6) has no parameters — build nn.Linear layers (nn.Sequential is simplest)")
    named = [(str(n), p) for n, p in named]
    n = sum(p.numel() for _, p in named)
    expected_n = (6 * 256 + 256) + 2 * (256 * 256 + 256) + (256 * 3 + 3)
    layers = _layers(named, 6)
    shapes = [tuple(p.shape) for _, p in named]
    if n != expected_n or layers is None:
        linear = sum(1 for _, p in named if p.ndim == 2)
        hint = ("four linear layers: 6 → 256 → 256 → 256 → 3" if linear != 4
                else "6 → 256 → 256 → 256 → 3, each with a bias")
        raise Fail(f"4.2: make_mlp(6) has {n:,} parameters in {linear} weight matrices (shapes {shapes}); "
                   f"{expected_n:,} expected — {hint}")
    dims = [(w.shape[1], w.shape[0]) for w, _ in layers[0]]
    if dims != [(6, 256), (256, 256), (256, 256), (256, 3)]:
        raise Fail(f"4.2: make_mlp(6)'s layers map {' → '.join(str(d[0]) for d in dims)} → {dims[-1][1]}; "
                   "6 → 256 → 256 → 256 → 3 expected")
    first = layers[0][0][0]
    if bool((first == first[0]).all()):
        raise Fail("4.2: every hidden unit of the first layer starts with the same weights, so they stay identical "
                   "while training — keep PyTorch's random initialisation")
    # PyTorch's default initialisation draws from the global random state: another call gives other weights, and
    # the same global seed the same weights (the notebook seeds before each make_mlp to compare encodings fairly).
    first_weights = [p for _, p in named]
    again = k.fetch(builtins.list(k.ns.make_mlp(6).parameters()))
    if len(again) == len(first_weights) and all(torch.equal(a, b) for a, b in zip(again, first_weights)):
        raise Fail("4.2: make_mlp gives the same weights on every call — it must not seed the random state "
                   "(torch.manual_seed) or draw from a fixed generator: PyTorch's default initialisation draws from "
                   "the global random state, which the caller seeds (torch.manual_seed(seed) before make_mlp)")
    k.module("torch").manual_seed(42)
    again = k.fetch(builtins.list(k.ns.make_mlp(6).parameters()))
    if len(again) != len(first_weights) or not all(torch.equal(a, b) for a, b in zip(again, first_weights)):
        raise Fail("4.2: after the same torch.manual_seed(42), make_mlp gives other initial weights — draw them "
                   "from the global random state (PyTorch's default initialisation), so that the caller's "
                   "torch.manual_seed(seed) decides them")
    # Fresh weights in the student's own layout (biases non-zero, a last layer large enough for the sigmoid to
    # matter), so that no initialisation hides a bug.
    g = torch.Generator().manual_seed(420)
    new = {}
    for name, p in named:
        fan_in = 6 if 6 in p.shape else 256
        new[name] = torch.randn(p.shape, generator=g) * ((2.0 / fan_in) ** 0.5 if p.ndim == 2 else 0.3)
    model.load_state_dict(k.value(new), strict=False)
    named_new = [(name, new[name]) for name, _ in named]
    layers = _layers(named_new, 6)
    x = torch.randn(9, 6, generator=g) * 2
    out = k.fetch(model(x))
    if not torch.is_tensor(out) or tuple(out.shape) != (9, 3):
        raise Fail(f"4.2: make_mlp(6) maps 9 inputs to "
                   f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}; (9, 3) colours expected")
    again = k.fetch(model(x))
    if not close(out, again, rtol=1e-5, atol=1e-6):
        raise Fail("4.2: make_mlp's outputs change from one call to the next on the same inputs — no dropout or "
                   "noise: the task's MLP is linear layers, ReLUs and a sigmoid")
    for chain in layers:
        if close(out, _mlp_forward(chain, x), rtol=1e-4, atol=1e-5):
            return
    layers = layers[0]
    ref = _mlp_forward(layers, x)
    mistakes = {
        "has no sigmoid at the end — colours must land in (0, 1): finish with nn.Sigmoid()":
            _mlp_forward(layers, x, out=lambda z: z),
        "applies a ReLU before the final sigmoid — no ReLU after the last linear layer":
            _mlp_forward(layers, x, relu_last=True),
        "clamps the output to [0, 1] instead of a sigmoid — end with nn.Sigmoid()":
            _mlp_forward(layers, x, out=lambda z: z.clamp(0, 1)),
        "ends with a softmax — the three colours are independent: end with a sigmoid":
            _mlp_forward(layers, x, out=lambda z: z.softmax(dim=1)),
        "ends with tanh — colours are in [0, 1]: end with a sigmoid": _mlp_forward(layers, x, out=torch.tanh),
        "uses tanh between the layers — the task asks for ReLU": _mlp_forward(layers, x, hidden=torch.tanh),
        "uses sigmoid between the layers — the task asks for ReLU": _mlp_forward(layers, x, hidden=torch.sigmoid),
    }
    for i in range(3):
        mistakes[f"has no ReLU after linear layer {i + 1} — put a ReLU after each of the first three"] = (
            _mlp_forward(layers, x, skip=i))
    for what, candidate in mistakes.items():
        if close(out, candidate, rtol=1e-4, atol=1e-5):
            raise Fail(f"4.2: your MLP {what}")
    worst = (out - ref).abs().max().item()
    raise Fail(f"4.2: make_mlp's outputs differ from sigmoid(W4·relu(W3·relu(W2·relu(W1·x+b1)+b2)+b3)+b4) by up to "
               f"{worst:.3g} — four linear layers, ReLU after the first three, sigmoid after the last")


# --------------------------------------------------------------------------- 4.2 the training loop

def _small_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.Sigmoid()).double()



def _adam_run(net: nn.Module, x, y, steps: int, lr: float, bug: str | None = None):
    """(parameters after each step, losses) of a correct full-batch Adam run, or of one with a known bug."""
    model = copy.deepcopy(net)
    make = {"sgd": lambda: torch.optim.SGD(model.parameters(), lr=lr),
            "adamw": lambda: torch.optim.AdamW(model.parameters(), lr=lr)}.get(
        bug, lambda: torch.optim.Adam(model.parameters(), lr=1e-3 if bug == "lr-1e-3" else lr))
    opt = make()
    snapshots, losses = [], []
    for _ in range(steps):
        if bug == "new-optimiser":
            opt = make()
        if bug != "no-zero-grad":
            opt.zero_grad()
        pred = model(x)
        loss = {"l1": lambda: F.l1_loss(pred, y), "sum": lambda: F.mse_loss(pred, y, reduction="sum")}.get(
            bug, lambda: F.mse_loss(pred, y))()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        snapshots.append([p.detach().clone() for p in model.parameters()])
    return snapshots, losses


def _same_params(a, b, atol: float = 1e-7) -> bool:
    return len(a) == len(b) and all(close(p, q, rtol=1e-6, atol=atol) for p, q in zip(a, b))


_RECORDER = '''
def _lab4_judge_recorder():
    """A callback for the judge of 4.2: records (step, the parameters at that moment) of every call."""
    calls = []

    def record(step, model):
        if not hasattr(model, "parameters"):      # called as callback(model, step)?
            calls.append(["not (step, model)", []])
            return
        calls.append([step if isinstance(step, (int, float)) else repr(step),
                      [p.detach().clone() for p in model.parameters()]])

    record.calls = calls
    return record
'''


@judge("4_2_train")
def training_loop(ctx: Context) -> None:
    k = ctx.kernel
    builtins = k.module("builtins")
    net = _small_net(7)
    g = torch.Generator().manual_seed(421)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.rand(40, 3, generator=g, dtype=torch.float64)
    steps, lr = 6, 0.05
    snapshots, losses = _adam_run(net, x, y, steps, lr)
    if k.run_cell(_RECORDER, timeout=30) is not None:
        raise Fail("4.2: the judge could not set up its callback (tell your instructor)")
    recorder = k.ns._lab4_judge_recorder()
    student = remote_copy(ctx, net)
    xr, yr = k.value(x), k.value(y)
    returned_r = k.ns.train_mlp(student, xr, yr, steps=steps, lr=lr, callback=recorder)
    returned = k.fetch(returned_r)
    got = list(k.fetch(builtins.list(student.parameters())))
    if not _same_params(got, snapshots[-1]):
        why = (f"your weights after {steps} steps differ from those of {steps} full-batch Adam steps "
               f"(torch.optim.Adam(model.parameters(), lr=lr)) on F.mse_loss(model(inputs), targets)")
        if _same_params(got, [p.detach() for p in net.parameters()]):
            why = ("the weights did not change — for each step: opt.zero_grad(), loss.backward(), opt.step(), with "
                   "the optimiser built on model.parameters()")
        else:
            if _same_params(got, snapshots[-2]):
                why = f"{steps - 1} steps were taken for steps={steps} — loop exactly `steps` times"
            if _same_params(got, _adam_run(net, x, y, steps + 1, lr)[0][-1]):
                why = f"{steps + 1} steps were taken for steps={steps} — loop exactly `steps` times"
            for bug, msg in [
                ("sgd", "the optimiser is SGD — the task asks for torch.optim.Adam"),
                ("adamw", "the optimiser is AdamW, which decays the weights — use torch.optim.Adam"),
                ("lr-1e-3", "the learning rate is 1e-3 whatever `lr` says — pass lr=lr to Adam"),
                ("no-zero-grad", "gradients accumulate across steps — call opt.zero_grad() before each backward()"),
                ("new-optimiser", "a new Adam is built at every step, which resets its moment estimates — build "
                                  "the optimiser once, before the loop"),
                ("l1", "the loss is the mean absolute error — use the mean squared error, F.mse_loss"),
                ("sum", "the loss sums over the pixels — use the mean (F.mse_loss's default)"),
            ]:
                if _same_params(got, _adam_run(net, x, y, steps, lr, bug)[0][-1]):
                    why = msg
        raise Fail(f"4.2: {why}")
    if not isinstance(returned, list) or len(returned) != steps:
        raise Fail(f"4.2: train_mlp(steps={steps}) should return a list of {steps} losses (one per step), got "
                   f"{type(returned).__name__}{f' of length {len(returned)}' if hasattr(returned, '__len__') else ''}")
    values = [number("4.2", v, "each loss", "a Python float") for v in returned]
    holding = k.fetch(builtins.list(builtins.map(builtins.getattr, returned_r, k.value(["requires_grad"] * steps),
                                                 k.value([False] * steps))))
    if any(h is True for h in holding):
        raise Fail("4.2: train_mlp returns the loss tensors themselves, each holding its step's autograd graph (and "
                   "the activations it saved) — return Python floats: losses.append(loss.item())")
    if not all(math.isclose(v, r, rel_tol=1e-6, abs_tol=1e-9) for v, r in zip(values, losses)):
        hint = ""
        after = [F.mse_loss(_apply(net, s, x), y).item() for s in snapshots]
        n = len(x) * 3
        if all(math.isclose(v, r * n, rel_tol=1e-6) for v, r in zip(values, losses)):
            hint = " — those are sums over the pixels: use the mean (F.mse_loss's default)"
        elif all(math.isclose(v, a, rel_tol=1e-6) for v, a in zip(values, after)):
            hint = " — those are the losses after each update: record each step's loss, computed before opt.step()"
        elif all(math.isclose(v, values[-1], rel_tol=1e-9) for v in values) and len(set(losses)) > 1:
            hint = " — every entry is the same: append each step's loss.item() inside the loop"
        raise Fail(f"4.2: train_mlp returned the losses {[round(v, 6) for v in values]}; the MSE of each step is "
                   f"{[round(v, 6) for v in losses]}{hint}")
    calls = k.fetch(recorder.calls)
    if any(c[0] == "not (step, model)" for c in calls):
        raise Fail("4.2: the callback was not called as callback(step, model): the step number first, then the model")
    steps_seen = [c[0] for c in calls]
    if steps_seen != list(range(1, steps + 1)):
        hint = (" — count steps from 1" if steps_seen == list(range(steps)) else
                " — call it once per step" if len(steps_seen) != steps else "")
        raise Fail(f"4.2: the callback was called with steps {steps_seen}; callback(step, model) after every update, "
                   f"with step = 1, ..., {steps}, expected{hint}")
    for (step, params), expected in zip(calls, snapshots):
        if not _same_params(params, expected):
            raise Fail(f"4.2: at callback({step}, model) the model does not hold the weights after {step} updates — "
                       "call the callback after opt.step()")
    # The callback is optional.
    try:
        k.fetch(k.ns.train_mlp(remote_copy(ctx, net), xr, yr, steps=2, lr=lr))
    except RemoteError as exc:
        raise Fail(f"4.2: train_mlp without a callback raised {exc} — callback defaults to None: call it only when "
                   "one is given") from None


def _apply(net: nn.Module, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    model = copy.deepcopy(net)
    with torch.no_grad():
        for p, v in zip(model.parameters(), params):
            p.copy_(v)
        return model(x)


# --------------------------------------------------------------------------- 4.2 PSNR

@judge("4_2_psnr")
def psnr(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(422)
    target = torch.rand(5, 4, 3, generator=g)
    pred = (target + 0.05 * torch.randn(5, 4, 3, generator=g)).clamp(0, 1)
    mse = F.mse_loss(pred.double(), target.double()).item()
    expected = 10 * math.log10(1 / mse)
    pred_r, target_r = k.value(pred), k.value(target)
    got = number("4.2", k.fetch(k.ns.psnr(pred_r, target_r)), "psnr(pred, target)", "a Python float")
    for name, sent, remote in (("pred", pred, pred_r), ("target", target, target_r)):
        unchanged(ctx, remote, sent, "psnr", name, "it only measures: compute (pred - target) into a new tensor "
                  "(`err = pred.detach(); err -= target` writes into pred's memory)")
    if not math.isclose(got, expected, abs_tol=1e-3):
        channel_mean = sum(10 * math.log10(1 / F.mse_loss(pred[..., c].double(), target[..., c].double()).item())
                           for c in range(3)) / 3
        mae = (pred.double() - target.double()).abs().mean().item()
        known = [
            (expected + 20 * math.log10(255), "a peak of 255 — the colours are in [0, 1], so the peak is 1: "
                                              "10·log10(1 / MSE)"),
            (expected / 2, "computed from the RMSE without squaring it — 10·log10(1 / MSE), or 20·log10(1 / RMSE)"),
            (2 * expected, "20·log10(1 / MSE) — with the MSE (a power) it is 10·log10; 20·log10 goes with the RMSE"),
            (expected * math.log(10), "a natural logarithm — log10, or ln(·) / ln(10)"),
            (-expected, "upside down — 10·log10(1 / MSE) = −10·log10(MSE): larger is better"),
            (10 * math.log10(1 / (mse * pred.numel())), "from the summed squared error — use the mean"),
            (channel_mean, "the mean of three per-channel PSNRs — take one MSE over every value"),
            (10 * math.log10(1 / mae), "from the mean absolute error — PSNR uses the mean squared error"),
        ]
        for value, why in known:
            if why and math.isclose(got, value, abs_tol=1e-3):
                raise Fail(f"4.2: psnr gives {got:.3f} dB where 10·log10(1 / MSE) = {expected:.3f} dB: {why}")
        raise Fail(f"4.2: psnr gives {got:.3f} dB; 10·log10(1 / MSE) = {expected:.3f} dB for an MSE of {mse:.3g}")
    # Another shape, a closer fit, and the arguments the other way round.
    t2 = torch.rand(50, 3, generator=g)
    p2 = t2 + 0.002 * torch.randn(50, 3, generator=g)
    expected = 10 * math.log10(1 / F.mse_loss(p2.double(), t2.double()).item())
    got = number("4.2", k.fetch(k.ns.psnr(k.value(t2), k.value(p2))), "psnr(pred, target)", "a Python float")
    if not math.isclose(got, expected, abs_tol=1e-2):
        raise Fail(f"4.2: psnr of two (50, 3) tensors gives {got:.3f} dB; 10·log10(1 / MSE) = {expected:.3f} dB")


# --------------------------------------------------------------------------- 4.3 the positional encoding

def _encoding_variant(p: torch.Tensor, L: int, *, freqs=None, order: str = "documented") -> torch.Tensor:
    """The documented encoding (float64), or one of the mistakes, for the judge's diagnosis."""
    p = p.double()
    n, d = p.shape
    f = (2.0 ** torch.arange(L, dtype=torch.float64)) * math.pi if freqs is None else freqs
    angles = p[:, None, :] * f[None, :, None]                      # (N, L, d)
    sin, cos = angles.sin(), angles.cos()
    if order == "documented":
        return torch.cat([sin.reshape(n, -1), cos.reshape(n, -1)], dim=1)
    if order == "cos-first":
        return torch.cat([cos.reshape(n, -1), sin.reshape(n, -1)], dim=1)
    if order == "xy-swapped":
        return torch.cat([sin.flip(2).reshape(n, -1), cos.flip(2).reshape(n, -1)], dim=1)
    if order == "coordinate-major":          # [sin x (all k), sin y (all k), cos x, cos y]
        return torch.cat([sin.transpose(1, 2).reshape(n, -1), cos.transpose(1, 2).reshape(n, -1)], dim=1)
    if order == "per-coordinate-blocks":     # [x: sin (all k), cos (all k); y: ...]
        return torch.cat([torch.cat([sin[:, :, c], cos[:, :, c]], dim=1) for c in range(d)], dim=1)
    if order == "per-frequency":             # [sin k0 (x, y), cos k0 (x, y), sin k1, ...]
        return torch.stack([sin, cos], dim=2).reshape(n, -1)
    if order == "sin-cos-pairs":             # [sin(k0, x), cos(k0, x), sin(k0, y), ...]
        return torch.stack([sin, cos], dim=3).reshape(n, -1)
    raise ValueError(order)


_ORDER_WHY = {
    "cos-first": "the cosines come before the sines — all the sines first, then all the cosines",
    "xy-swapped": "x and y are swapped inside each frequency — the coordinates in order: p[:, 0] (x), then p[:, 1] (y)",
    "coordinate-major": ("the columns go coordinate by coordinate (all of x's frequencies, then y's) — inside each "
                         "half, frequency by frequency, and the coordinates inside each frequency: column k·d + c"),
    "per-coordinate-blocks": ("each coordinate has its own block of sines and cosines — the documented order is all "
                              "the sines (of every frequency and coordinate), then all the cosines"),
    "per-frequency": ("sines and cosines alternate frequency by frequency — the documented order is all the sines, "
                      "then all the cosines"),
    "sin-cos-pairs": "each sine is followed by its cosine — the documented order is all the sines, then all the cosines",
}


@judge("4_3")
def positional_encoding(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(43)
    cases = [(torch.rand(6, 2, generator=g) * 1.4 - 0.2, 5), (torch.rand(4, 2, generator=g), 3),
             (torch.rand(5, 1, generator=g), 4), (torch.rand(3, 3, generator=g), 2), (torch.rand(4, 2, generator=g), 1),
             # float64 points (the visible test promises other dtypes), with more octaves.
             (torch.rand(5, 2, generator=g, dtype=torch.float64) * 1.2 - 0.1, 7)]
    for p, L in cases:
        n, d = p.shape
        sent = k.value(p)
        out = k.fetch(k.ns.positional_encoding(sent, L))
        if not torch.is_tensor(out):
            raise Fail(f"4.3: positional_encoding returned a {type(out).__name__}, not a tensor")
        expected = _encoding_variant(p, L)
        if tuple(out.shape) != tuple(expected.shape):
            hint = ""
            if tuple(out.shape) == (n, 2 * L * d + d):
                hint = " — p itself is included: the encoding is only the sines and cosines"
            elif tuple(out.shape) == (n, 2 * (L + 1) * d):
                hint = f" — that is L + 1 = {L + 1} frequencies: k = 0, ..., L − 1"
            elif tuple(out.shape) == (n, 2 * L * 2) and d != 2:
                hint = f" — p has {d} coordinate(s) here: encode every column of p, not just two"
            elif tuple(out.shape) in ((n, 2 * L, d), (n, d, 2 * L), (n, L, 2 * d)):
                hint = " — flatten it to one row of features per point"
            raise Fail(f"4.3: positional_encoding(p of shape {tuple(p.shape)}, L={L}) has shape {tuple(out.shape)}; "
                       f"(N, 2·L·d) = {tuple(expected.shape)} expected{hint}")
        if close(out, expected, rtol=0, atol=2e-4):
            if out.dtype != p.dtype:
                use = (" (the MLP's weights are float32: float64 features would not go through it)"
                       if p.dtype == torch.float32 else "")
                raise Fail(f"4.3: positional_encoding returns {str(out.dtype).replace('torch.', '')} features for "
                           f"{str(p.dtype).replace('torch.', '')} points — keep p's dtype{use}: compute with torch on "
                           "p itself, or build any buffer with p's dtype (p.new_zeros, dtype=p.dtype)")
            unchanged(ctx, sent, p, "positional_encoding", "points p",
                      "it only encodes them: compute the angles into a new tensor (`p = math.pi * p`, not `p *= math.pi`)")
            continue
        kk = torch.arange(L, dtype=torch.float64)
        frequencies = {
            "the frequencies are 2^k, without π — 2^k·π: sin(2^k π p)": 2.0 ** kk,
            "every frequency is twice too high (2^k·2π, or k starting at 1) — 2^k·π for k = 0, ..., L − 1": (
                2.0 ** kk * TWO_PI),
            "every frequency is half what it should be (2^k·π/2) — 2^k·π": 2.0 ** kk * math.pi / 2,
            "the frequencies grow as k·π, not 2^k·π — powers of two: 2.0 ** k": kk * math.pi,
            "the frequencies grow as (k + 1)·π, not 2^k·π — powers of two: 2.0 ** k": (kk + 1) * math.pi,
            "the frequencies grow as k·2π, not 2^k·π — powers of two, times π": kk * TWO_PI,
        }
        for why, f in frequencies.items():
            for order in ("documented", *_ORDER_WHY):
                if close(out, _encoding_variant(p, L, freqs=f, order=order), rtol=0, atol=2e-4):
                    extra = "" if order == "documented" else f"; also, {_ORDER_WHY[order]}"
                    raise Fail(f"4.3: positional_encoding(p, L={L}): {why}{extra}")
        for order, why in _ORDER_WHY.items():
            if close(out, _encoding_variant(p, L, order=order), rtol=0, atol=2e-4):
                raise Fail(f"4.3: positional_encoding(p of shape {tuple(p.shape)}, L={L}) has the right sines and "
                           f"cosines in the wrong order: {why}")
        # The right columns in some other order?
        matched = all(any(close(out[:, i], expected[:, j], rtol=0, atol=2e-4) for j in range(expected.shape[1]))
                      for i in range(out.shape[1]))
        if matched:
            raise Fail(f"4.3: positional_encoding(p of shape {tuple(p.shape)}, L={L}) has the right sines and cosines "
                       "in an order other than the documented one: all the sines, then all the cosines; inside each "
                       "half frequency by frequency (2^0 π, 2^1 π, ...), the coordinates in order inside each "
                       "frequency: column k·d + c is sin(2^k π p_c)")
        col = int((out.double() - expected).abs().amax(dim=0).argmax())
        raise Fail(f"4.3: positional_encoding(p of shape {tuple(p.shape)}, L={L}): column {col} differs from the "
                   f"documented γ(p) by up to {(out.double() - expected).abs().max():.3g} — column k·d + c is "
                   "sin(2^k π p_c), column L·d + k·d + c is cos(2^k π p_c)")


# --------------------------------------------------------------------------- 4.4 Gaussian Fourier features

def _fourier(p: torch.Tensor, B: torch.Tensor, scale: float = TWO_PI, order: str = "documented") -> torch.Tensor:
    angles = scale * p.double() @ B.double().T
    sin, cos = angles.sin(), angles.cos()
    if order == "cos-first":
        return torch.cat([cos, sin], dim=1)
    if order == "pairs":
        return torch.stack([sin, cos], dim=2).reshape(len(p), -1)
    return torch.cat([sin, cos], dim=1)


def _fetch_B(ctx: Context, enc, n_features: int, in_dim: int, what: str) -> torch.Tensor:
    k = ctx.kernel
    try:
        B = k.fetch(enc.B)
    except RemoteError:
        raise Fail(f"4.4: {what} has no attribute B — store the frequencies as self.B "
                   "(self.register_buffer(\"B\", ...))") from None
    if not torch.is_tensor(B):
        raise Fail(f"4.4: {what}.B is a {type(B).__name__}, not a tensor")
    if tuple(B.shape) == (in_dim, n_features) and in_dim != n_features:
        B = B.T
    if tuple(B.shape) != (n_features, in_dim):
        raise Fail(f"4.4: {what}.B has shape {tuple(B.shape)}; (n_features, in_dim) = ({n_features}, {in_dim}) expected")
    return B


@judge("4_4")
def gaussian_features(ctx: Context) -> None:
    k = ctx.kernel
    torch_r = k.module("torch")
    G = k.ns.GaussianFourierFeatures
    sigma, n_features = 5.0, 2048     # σ = 5 keeps σ², √σ, σ/√3 and 2πσ far apart
    torch_r.manual_seed(0)
    enc = G(sigma, n_features=n_features, in_dim=2, seed=7)
    what = f"GaussianFourierFeatures({sigma:g}, n_features={n_features}, in_dim=2, seed=7)"
    B = _fetch_B(ctx, enc, n_features, 2, what).double()
    mean, std = B.mean().item(), B.std().item()
    centred = abs(mean) < 6 * std / math.sqrt(B.numel())     # six standard errors
    if not (centred and 0.9 * sigma < std < 1.1 * sigma):
        known = [(sigma ** 2, "σ² — B ~ N(0, σ²) has standard deviation σ: sigma * torch.randn(...)"),
                 (math.sqrt(sigma), "√σ — B ~ N(0, σ²) has standard deviation σ: sigma * torch.randn(...)"),
                 (1.0, "1: σ is not used — B = sigma * torch.randn(...)"),
                 (TWO_PI * sigma, "2π·σ: the 2π belongs in forward, sin(2π p Bᵀ), and B itself ~ N(0, σ²)"),
                 (sigma / math.sqrt(3), "σ/√3, as a uniform distribution on [−σ, σ] has — draw B from a Gaussian: "
                                        "torch.randn")]
        if not centred:
            raise Fail(f"4.4: {what}.B has mean {mean:.3g}; B ~ N(0, σ²) has mean 0 (torch.rand is uniform on "
                       "[0, 1): use torch.randn)")
        for value, why in known:
            if 0.93 * value < std < 1.07 * value:
                raise Fail(f"4.4: {what}.B has standard deviation {std:.3g}: {why}")
        raise Fail(f"4.4: {what}.B has standard deviation {std:.3g}; σ = {sigma:g} expected (B ~ N(0, σ²))")
    inside = (B.abs() < sigma).double().mean().item()
    if not 0.64 < inside < 0.72:
        raise Fail(f"4.4: {inside:.0%} of B's entries lie within one σ of 0, where a Gaussian has 68% — draw B with "
                   "torch.randn")
    # The seed decides B, the global random state does not, and B is drawn once.
    torch_r.manual_seed(12345)
    same = _fetch_B(ctx, G(sigma, n_features=n_features, in_dim=2, seed=7), n_features, 2, what)
    if not torch.equal(same.double(), B):
        raise Fail("4.4: two GaussianFourierFeatures with seed=7 have different B — draw it from "
                   "torch.Generator().manual_seed(seed), so that the seed, not the global random state, decides it")
    other = _fetch_B(ctx, G(sigma, n_features=n_features, in_dim=2, seed=8), n_features, 2, what)
    if torch.equal(other.double(), B):
        raise Fail("4.4: seed=7 and seed=8 give the same B — the seed must decide B")
    g = torch.Generator().manual_seed(44)
    p = torch.rand(9, 2, generator=g) * 1.2 - 0.1
    sent = k.value(p)
    first = k.fetch(enc(sent))
    unchanged(ctx, sent, p, "forward", "points p",
              "it only encodes them: compute the angles into a new tensor (`angles = 2 * math.pi * p @ self.B.T`)")
    second = k.fetch(enc(k.value(p)))
    if not torch.is_tensor(first) or tuple(first.shape) != (9, 2 * n_features):
        raise Fail(f"4.4: {what} maps 9 points to "
                   f"{tuple(first.shape) if torch.is_tensor(first) else type(first).__name__}; (9, 2·n_features) = "
                   f"(9, {2 * n_features}) expected")
    if first.dtype != p.dtype:
        raise Fail(f"4.4: {what} returns {str(first.dtype).replace('torch.', '')} features for float32 points — keep "
                   "the points' dtype (the MLP's weights are float32)")
    if not close(first, second, rtol=0, atol=1e-6):
        raise Fail("4.4: calling the module twice on the same points gives different features — B is drawn again "
                   "at every call: draw it once, in __init__, and reuse it in forward")
    after = _fetch_B(ctx, enc, n_features, 2, what)
    if not torch.equal(after.double(), B):
        raise Fail("4.4: B changes when the module runs — draw it once, in __init__")
    if k.fetch(enc(k.value(p)).requires_grad):
        raise Fail("4.4: the features require gradients: B is a trainable nn.Parameter, which an optimiser would "
                   "change — B is fixed: self.register_buffer(\"B\", ...)")
    expected = _fourier(p, B)
    if not close(first, expected, rtol=0, atol=2e-4):
        variants = {
            "the features are sin(p Bᵀ), without 2π — sin(2π p Bᵀ)": _fourier(p, B, 1.0),
            "the features are sin(π p Bᵀ), half the frequency — sin(2π p Bᵀ)": _fourier(p, B, math.pi),
            "the features are sin(4π p Bᵀ), twice the frequency — sin(2π p Bᵀ)": _fourier(p, B, 2 * TWO_PI),
            "σ is applied twice (once in B, once in forward) — B already holds σ: sin(2π p Bᵀ)":
                _fourier(p, B, TWO_PI * sigma),
            "the cosines come before the sines — all the sines, then all the cosines": _fourier(p, B, order="cos-first"),
            "each sine is followed by its cosine — all the sines, then all the cosines": _fourier(p, B, order="pairs"),
        }
        for why, candidate in variants.items():
            if close(first, candidate, rtol=0, atol=2e-4):
                raise Fail(f"4.4: {why}")
        raise Fail(f"4.4: the features differ from [sin(2π p Bᵀ), cos(2π p Bᵀ)] (with your B) by up to "
                   f"{(first.double() - expected).abs().max():.3g}")
    # B follows the module to another dtype (as it must follow it to a GPU), and in_dim is honoured.
    try:
        as64 = k.fetch(enc.double()(k.value(p.double())))
    except RemoteError as exc:
        raise Fail(f"4.4: after .double() the module fails on float64 points ({exc}) — B must follow the module "
                   "(.to(device) on a GPU): register it with self.register_buffer(\"B\", ...), not as a plain "
                   "attribute") from None
    if not torch.is_tensor(as64) or as64.dtype != torch.float64:
        raise Fail("4.4: after .double() the features are not float64 — B must follow the module (.to(device) on a "
                   "GPU): register it with self.register_buffer(\"B\", ...)")
    p3 = torch.rand(5, 3, generator=g)
    enc3 = G(1.5, n_features=16, in_dim=3, seed=1)
    B3 = _fetch_B(ctx, enc3, 16, 3, "GaussianFourierFeatures(1.5, n_features=16, in_dim=3, seed=1)")
    out3 = k.fetch(enc3(k.value(p3)))
    if not torch.is_tensor(out3) or not close(out3, _fourier(p3, B3), rtol=0, atol=2e-4):
        raise Fail("4.4: with in_dim=3 and n_features=16 the features are not [sin(2π p Bᵀ), cos(2π p Bᵀ)] of shape "
                   "(N, 32) — use in_dim and n_features, not 2 and 256")
    default = k.fetch(G(2.0).B)
    if not torch.is_tensor(default) or tuple(default.shape) not in ((256, 2), (2, 256)):
        raise Fail(f"4.4: GaussianFourierFeatures(2.0).B has shape "
                   f"{tuple(default.shape) if torch.is_tensor(default) else '?'}; the defaults are n_features=256, "
                   "in_dim=2")


# --------------------------------------------------------------------------- 4.5 the split

@judge("4_5_split")
def split(ctx: Context) -> None:
    k = ctx.kernel
    # (No 1×1 or 2×3 picture: a one-pixel grid comes back as a one-element view, which the wire cannot carry.)
    for h, w in ((6, 8), (5, 7), (4, 4), (3, 6), (7, 3)):
        got = k.fetch(k.ns.grid_split(h, w))
        if not isinstance(got, list) or len(got) != 2:
            raise Fail(f"4.5: grid_split({h}, {w}) should return (train_idx, held_out_idx), got {type(got).__name__}")
        tr, ho = got
        train, held = _grid(h, w)
        for name, t in (("train_idx", tr), ("held_out_idx", ho)):
            if not torch.is_tensor(t):
                raise Fail(f"4.5: grid_split's {name} is a {type(t).__name__}, not a tensor of indices")
            if t.dtype == torch.bool:
                raise Fail(f"4.5: grid_split's {name} is a boolean mask; return pixel indices (int64), e.g. "
                           "index[0::2, 0::2].reshape(-1) of index = torch.arange(H * W).reshape(H, W)")
            if t.is_floating_point():
                raise Fail(f"4.5: grid_split's {name} holds floats; integer pixel indices (int64) expected")
            if t.dtype != torch.int64:
                raise Fail(f"4.5: grid_split's {name} is {str(t.dtype).replace('torch.', '')}; the text asks for int64 "
                           "indices (torch.long), as torch.arange and nonzero give")
            if t.ndim != 1:
                raise Fail(f"4.5: grid_split's {name} has shape {tuple(t.shape)}; a 1-D tensor of pixel indices "
                           "expected (flatten it with .reshape(-1))")
        tr, ho = tr.reshape(-1).long(), ho.reshape(-1).long()
        if torch.equal(tr, train) and torch.equal(ho, held):
            continue
        index = torch.arange(h * w).reshape(h, w)
        i, j = index // w, index % w
        known = [
            ((held, train), "the two grids are swapped: you would train on the held-out grid (odd rows and odd "
                            "columns); the training grid is the even rows and even columns"),
            ((train, index.reshape(-1)[~torch.isin(index.reshape(-1), train)]),
             "the held-out grid is every pixel outside the training grid; it is only the odd rows and odd columns"),
            ((index[(i + j) % 2 == 0], index[(i + j) % 2 == 1]),
             "that is a checkerboard (i + j even / odd); the training grid is even row AND even column, the "
             "held-out grid odd row AND odd column"),
            ((index[0::2].reshape(-1), index[1::2].reshape(-1)),
             "that splits whole rows; the training grid is even row AND even column, the held-out grid odd row AND "
             "odd column"),
            ((index[:, 0::2].reshape(-1), index[:, 1::2].reshape(-1)),
             "that splits whole columns; the training grid is even row AND even column, the held-out grid odd row "
             "AND odd column"),
            ((index.T[0::2, 0::2].reshape(-1), index.T[1::2, 1::2].reshape(-1)),
             "the indices are in column-major order; row-major, ascending: pixel (i, j) is i·W + j"),
        ]
        for (a, b), why in known:
            if torch.equal(tr, a.reshape(-1)) and torch.equal(ho, b.reshape(-1)):
                raise Fail(f"4.5: grid_split({h}, {w}): {why}")
        if torch.equal(tr.sort().values, train) and torch.equal(ho.sort().values, held):
            raise Fail(f"4.5: grid_split({h}, {w}) has the right pixels in another order — ascending row-major "
                       "indices, so that the held-out pixels reshape into a picture")
        raise Fail(f"4.5: grid_split({h}, {w}) returned train_idx {tr.tolist()} and held_out_idx {ho.tolist()}; "
                   f"expected {train.tolist()} (even row, even column) and {held.tolist()} (odd row, odd column)")


# --------------------------------------------------------------------------- 4.5 selection on validation

_SELECT_SHAPE = (28, 36)
_SELECT = dict(steps=100, lr=1e-3, val_fraction=0.25, seed=3)


def _fixture_image() -> tuple[torch.Tensor, torch.Tensor]:
    """(coordinates, colours) of a smooth synthetic 28×36 picture (a few sinusoids) with a little pixel noise."""
    h, w = _SELECT_SHAPE
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([j / w, i / h], dim=-1).reshape(-1, 2).float()
    x, y = coords[:, :1], coords[:, 1:]
    phase = torch.tensor([[0.0, 2.0, 4.0]])
    noise = 0.04 * torch.randn(h * w, 3, generator=torch.Generator().manual_seed(9))
    rgb = (0.5 + 0.2 * torch.sin(TWO_PI * (2 * x + y) + phase) + 0.15 * torch.cos(TWO_PI * (3 * y - x) + 2 * phase)
           + 0.08 * torch.sin(TWO_PI * 5 * x * y + phase) + noise).clamp(0, 1)
    return coords, rgb


def _select_fixture():
    """The synthetic picture, its training grid, and three candidate encodings of every pixel.

    On pixels held back from training, Gaussian features with σ=2 win by 5 dB or more (over seeds and validation
    fractions); on the training pixels themselves σ=40 wins by 15 dB (it memorises the noise); raw coordinates
    underfit. The colours outside the training grid are NaN: a selection that touches them returns NaN.
    """
    coords, rgb = _fixture_image()
    train_idx, _ = _grid(*_SELECT_SHAPE)
    masked = torch.full_like(rgb, float("nan"))
    masked[train_idx] = rgb[train_idx]
    g = torch.Generator().manual_seed(404)

    def gaussian(sigma: float) -> torch.Tensor:
        angles = TWO_PI * coords @ (torch.randn(256, 2, generator=g) * sigma).T
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    features = {"Gaussian σ=40": gaussian(40.0), "Gaussian σ=2": gaussian(2.0), "raw (x, y)": coords}
    return features, masked, train_idx


# --------------------------------------------------------------------------- 4.5 and 4.6: what train_mlp was given

_SPY = '''
def _lab4_judge_spy():
    """For the judges of 4.5 and 4.6: the notebook's train_mlp, wrapped to record each call; (calls, restore)."""
    namespace = globals()
    original = namespace["train_mlp"]
    calls = []

    def train_mlp(model, inputs, targets, *args, **kwargs):
        calls.append([model, inputs, targets, kwargs.get("steps"), kwargs.get("lr")])
        return original(model, inputs, targets, *args, **kwargs)

    def restore():
        namespace["train_mlp"] = original

    namespace["train_mlp"] = train_mlp
    return calls, restore
'''


def _spied(ctx: Context, run, *, tensors: bool) -> tuple:
    """``run()`` with the notebook's ``train_mlp`` recording its calls (the student's selection and sweep are told to
    train with it): (what ``run`` returned, the calls), each a dict of the remote ``model``, the ``steps`` and ``lr``
    it was given and, with ``tensors``, its ``inputs`` and ``targets``. No calls are recorded when the student's code
    trains some other way."""
    k = ctx.kernel
    spy = None
    try:
        if k.run_cell(_SPY, timeout=30) is None:
            spy = k.ns._lab4_judge_spy()
    except RemoteError:
        spy = None
    if spy is None:
        return run(), []
    try:
        result = run()
    finally:
        try:
            k.fetch(spy[1]())
        except RemoteError:
            pass
    calls = []
    for i in range(k.fetch(k.module("builtins").len(spy[0]))):
        c = spy[0][i]
        call = {"model": c[0]}
        try:
            call["steps"], call["lr"] = k.fetch(c[3]), k.fetch(c[4])
            if tensors:
                call["inputs"], call["targets"] = k.fetch(c[1]), k.fetch(c[2])
        except RemoteError:
            continue
        calls.append(call)
    return result, calls


def _passed_on(task: str, what: str, calls: list[dict], steps: int, lr: float) -> None:
    """Every recorded train_mlp call got the steps and lr the function was given."""
    for c in calls:
        s, r = c["steps"], c["lr"]
        if not isinstance(s, numbers.Real) or not isinstance(r, numbers.Real):
            continue
        if s != steps or not math.isclose(r, lr, rel_tol=1e-9):
            wrong = " and ".join(x for x, bad in ((f"steps={s:g}", s != steps),
                                                   (f"lr={r:g}", not math.isclose(r, lr, rel_tol=1e-9))) if bad)
            raise Fail(f"{task}: {what}(..., steps={steps}, lr={lr:g}) trains with {wrong} — pass the function's own "
                       "steps and lr on to train_mlp (steps=steps, lr=lr), not the notebook's values")


def _rows(inputs, table: torch.Tensor) -> torch.Tensor | None:
    """The row of ``table`` that each row of ``inputs`` copies, or None when some row is no row of it."""
    if not torch.is_tensor(inputs) or inputs.ndim != 2 or inputs.shape[1] != table.shape[1] or not len(inputs):
        return None
    x, t = inputs.detach().double(), table.double()
    # Rows matched by a random projection (sorted, then searched), then checked entry by entry.
    r = torch.randn(t.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kt, kx = t @ r, x @ r
    order = kt.argsort()
    pos = torch.searchsorted(kt[order], kx)
    above, below = order[pos.clamp(max=len(kt) - 1)], order[(pos - 1).clamp(min=0)]
    rows = torch.where((kt[above] - kx).abs() <= (kt[below] - kx).abs(), above, below)
    return rows if bool(((x - t[rows]).abs().amax(dim=1) < 1e-5).all()) else None


def _split_of(calls: list[dict], features: torch.Tensor, train_idx: torch.Tensor):
    """(the pixels a candidate was trained on, the rest of train_idx: its validation pixels, the call), from the one
    recorded train_mlp call on ``features``; None when there is not exactly one such call inside train_idx."""
    seen = [(c, rows) for c in calls if (rows := _rows(c.get("inputs"), features)) is not None]
    if len(seen) != 1:
        return None
    c, rows = seen[0]
    fit = set(rows.tolist())
    train = set(train_idx.tolist())
    if not fit <= train:
        return None
    return rows, torch.tensor(sorted(train - fit), dtype=torch.long), c


def _tiny_picture():
    """A 16×16 picture for the hidden calls that only watch what train_mlp is given: features, colours, grids."""
    h = w = 16
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([j / w, i / h], dim=-1).reshape(-1, 2).float()
    angles = math.pi * coords
    features = torch.cat([angles.sin(), angles.cos()], dim=1)
    rgb = torch.rand(h * w, 3, generator=torch.Generator().manual_seed(45))
    return coords, features, rgb, *_grid(h, w)


_TINY = {"steps": 2, "lr": 0.004}
_TINY_FRACTION = 0.7     # far from the default 0.25 and from 1 − 0.25: ignoring it or swapping the parts shows


def _check_split(rows: torch.Tensor, val: torch.Tensor, train_idx: torch.Tensor, fraction: float,
                 slack: float) -> None:
    n = len(train_idx)
    if not len(val):
        raise Fail("4.5: every pixel of train_idx was trained on, so the validation pixels were also trained on and "
                   "the candidate that memorises best wins — hold out the validation pixels: train on train_idx "
                   "minus them")
    expected = fraction * n
    if not (1 - slack) * expected <= len(val) <= (1 + slack) * expected:
        raise Fail(f"4.5: with val_fraction={fraction:g}, {len(val)} of the {n} pixels of train_idx were held out for "
                   f"validation and {n - len(val)} trained on; about round(val_fraction · len(train_idx)) = "
                   f"{round(expected)} validation pixels expected — use the function's val_fraction, and keep that "
                   "share for validation, the rest for training")
    m, order = len(val), train_idx.tolist()
    if val.tolist() in (sorted(order[:m]), sorted(order[-m:])):
        raise Fail(f"4.5: the validation pixels are the {'first' if val.tolist() == sorted(order[:m]) else 'last'} "
                   f"{m} of train_idx, a band at the {'top' if val.tolist() == sorted(order[:m]) else 'bottom'} of the "
                   "picture: train_idx was not shuffled — shuffle it with torch.randperm(len(train_idx), "
                   "generator=torch.Generator().manual_seed(seed)) first")


def _tiny_selection(ctx: Context) -> None:
    """select_encoding on a tiny picture, three times: other steps, lr and val_fraction than the notebook's, another
    global random state, another seed. The split (read from what train_mlp was given) must follow val_fraction and
    the seed, and only them."""
    k = ctx.kernel
    _, features, rgb, train_idx, _ = _tiny_picture()
    splits = []
    for global_seed, seed in ((11, 5), (12, 5), (11, 6)):
        k.module("torch").manual_seed(global_seed)
        try:
            _, calls = _spied(ctx, lambda seed=seed: k.fetch(k.ns.select_encoding(
                k.value({"tiny": features}), k.value(rgb), k.value(train_idx), val_fraction=_TINY_FRACTION,
                seed=seed, **_TINY)), tensors=True)
        except RemoteError as exc:
            raise Fail(f"4.5: select_encoding(one candidate, steps=2, lr=0.004, val_fraction=0.7, seed={seed}) "
                       f"raised {exc}") from None
        _passed_on("4.5", "select_encoding", calls, **_TINY)
        found = _split_of(calls, features, train_idx)
        if found is None:
            return
        rows, val, _ = found
        if not splits:
            _check_split(rows, val, train_idx, _TINY_FRACTION, 0.3)
        splits.append(val.tolist())
    if splits[1] != splits[0]:
        raise Fail("4.5: select_encoding picks other validation pixels for the same seed when the global random state "
                   "changes — the split must depend on seed only: torch.randperm(len(train_idx), "
                   "generator=torch.Generator().manual_seed(seed))")
    if splits[2] == splits[0]:
        raise Fail("4.5: select_encoding picks the same validation pixels for seed=5 and seed=6 — the seed must decide "
                   "the split: torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))")


def _check_fits(splits: dict, rgb: torch.Tensor, train_idx: torch.Tensor) -> None:
    """Each candidate's one train_mlp call: the colours of the pixels whose features it got, and a split of
    train_idx into training and validation pixels as the text defines it."""
    for name, found in splits.items():
        if found is None:
            continue
        rows, val, c = found
        if not torch.is_tensor(c["targets"]) or not close(c["targets"], rgb[rows], rtol=0, atol=1e-6):
            raise Fail(f"4.5: train_mlp got the features of some pixels and other colours for {name!r} — index the "
                       "features and the colours with the same training indices")
        _check_split(rows, val, train_idx, _SELECT["val_fraction"], 0.45)


def _check_scores(ctx: Context, splits: dict, features: dict, rgb: torch.Tensor, train_idx: torch.Tensor,
                  values: dict[str, float]) -> None:
    """Each score, recomputed by its definition from the student's own trained model: the PSNR on the pixels of
    train_idx that the model was not trained on."""
    k = ctx.kernel
    for name, table in features.items():
        found = splits[name]
        if found is None:
            continue
        rows, val, c = found
        try:
            pred = k.fetch(c["model"](k.value(table[val])))
        except RemoteError:
            continue
        if not torch.is_tensor(pred) or tuple(pred.shape) != (len(val), 3):
            continue
        mine = _psnr(pred, rgb[val])
        if abs(values[name] - mine) > 0.02:
            hint = ""
            try:
                everywhere = k.fetch(c["model"](k.value(table[train_idx])))
            except RemoteError:
                everywhere = None
            if torch.is_tensor(everywhere) and tuple(everywhere.shape) == (len(train_idx), 3):
                on_all = _psnr(everywhere, rgb[train_idx])
                fit_at = torch.isin(train_idx, rows)
                on_training = _psnr(everywhere[fit_at], rgb[train_idx][fit_at])
                if abs(values[name] - on_all) < 0.02:
                    hint = (f": {on_all:.2f} dB is its PSNR on every pixel of train_idx, the pixels it was also "
                            "trained on included")
                elif abs(values[name] - on_training) < abs(values[name] - mine) / 3:
                    hint = (f", and {on_training:.2f} dB on its training pixels: your score measures the pixels it "
                            "was trained on (or its training loss)")
            raise Fail(f"4.5: the score of {name!r} is {values[name]:.2f} dB, but the model trained for it reaches "
                       f"{mine:.2f} dB on the validation pixels (the pixels of train_idx it was not trained on){hint} "
                       "— score each candidate after training, by psnr on the validation pixels")


@judge("4_5_select", timeout=120)
def select(ctx: Context) -> None:
    k = ctx.kernel
    features, rgb, train_idx = _select_fixture()
    rgb_r, train_idx_r = k.value(rgb), k.value(train_idx)
    try:
        got, calls = _spied(ctx, lambda: k.fetch(k.ns.select_encoding(k.value(features), rgb_r, train_idx_r,
                                                                      **_SELECT)), tensors=True)
    except RemoteError as exc:
        raise Fail(f"4.5: select_encoding raised {exc} on the hidden test — it gets a dict of candidates' features "
                   "for every pixel, every pixel's colours and train_idx, and may use only the pixels in train_idx; "
                   "do not use the notebook's variables") from None
    if not isinstance(got, list) or len(got) != 2 or not isinstance(got[1], dict):
        raise Fail(f"4.5: select_encoding should return (best name, {{name: validation PSNR}}), got {got!r:.200}")
    best, scores = got
    if set(scores) != set(features):
        raise Fail(f"4.5: select_encoding scored {sorted(map(str, scores))}; one validation PSNR per candidate "
                   f"{sorted(features)} expected")
    values = {name: number("4.5", v, f"the score of {name!r}", "a Python float") for name, v in scores.items()}
    if any(math.isnan(v) for v in values.values()):
        raise Fail("4.5: the validation PSNRs are NaN: in this test the colours of every pixel outside train_idx "
                   "are NaN, so the selection trained or measured on pixels outside the training grid — hold out "
                   "validation pixels from train_idx only, and leave the held-out grid alone")
    if best not in values:
        raise Fail(f"4.5: select_encoding returned {best!r}, which is not one of the candidates {sorted(features)}")
    if all(abs(v) < 1 for v in values.values()):
        raise Fail(f"4.5: the scores {values} look like MSEs; return each candidate's validation PSNR in dB")
    argmax = max(values, key=values.get)
    argmin = min(values, key=values.get)
    if best != argmax:
        hint = " — that is the lowest: the best PSNR is the highest" if best == argmin else ""
        raise Fail(f"4.5: select_encoding returned {best!r}, but {argmax!r} has the highest validation PSNR "
                   f"({values[argmax]:.1f} dB){hint}")
    unchanged(ctx, train_idx_r, train_idx, "select_encoding", "train_idx", "it only reads its arguments")
    unchanged(ctx, rgb_r, rgb, "select_encoding", "colours rgb", "it only reads its arguments")
    # What train_mlp was given: the steps and lr, and which pixels it was trained on (the rest of train_idx being
    # the validation pixels); then the same on a tiny picture with other arguments, random states and seeds.
    _passed_on("4.5", "select_encoding", calls, _SELECT["steps"], _SELECT["lr"])
    splits = {name: _split_of(calls, table, train_idx) for name, table in features.items()}
    _check_fits(splits, rgb, train_idx)
    if calls:
        _tiny_selection(ctx)
    # What the solution scores on this fixture, recorded by `course build` (None before the first build).
    ref_scores = {name: ctx.reference(f"4.5/select/{name}", v) for name, v in values.items()}
    upstream = ctx.failed("4_2", "4_2_train", "4_2_psnr")
    if not upstream:
        if best == "Gaussian σ=40":
            raise Fail("4.5: select_encoding chose 'Gaussian σ=40', the candidate that memorises its training pixels "
                       "best and predicts the others worst — the validation pixels must be held out of training: "
                       "train on train_idx minus the validation pixels, and score on the validation pixels only")
        if best != "Gaussian σ=2":
            raise Fail(f"4.5: select_encoding chose {best!r}; on validation pixels held out of train_idx, "
                       f"'Gaussian σ=2' is clearly best here (your scores: "
                       f"{', '.join(f'{n} {v:.1f} dB' for n, v in values.items())})")
    if not ctx.failed("4_2_psnr"):     # the student's own models, measured here
        _check_scores(ctx, splits, features, rgb, train_idx, values)
    if upstream:
        ctx.notes.append(f"4.5: the selection's outcome is not held against 4.5, since {', '.join(upstream)} failed")
        return
    # Validation pixels that were trained on, too, inflate the memorising candidates' scores.
    for name, v in values.items():
        r = ref_scores[name]
        if r is None:
            continue
        if v > r + 4:
            raise Fail(f"4.5: {name!r} scores {v:.1f} dB on your validation pixels, where held-back pixels give "
                       f"about {r:.1f} dB — were the validation pixels also trained on? Train on train_idx minus "
                       "the validation pixels")
        if v < r - 6:
            raise Fail(f"4.5: {name!r} scores {v:.1f} dB on your validation pixels, where a make_mlp trained for "
                       f"steps={_SELECT['steps']} at lr={_SELECT['lr']} gives about {r:.1f} dB — train each "
                       "candidate with train_mlp(..., steps=steps, lr=lr)")


# --------------------------------------------------------------------------- 4.5 results (the notebook's runs)

def _upstream(ctx: Context) -> list[str]:
    return ctx.failed("4_1", "4_2", "4_2_train", "4_2_psnr", "4_3", "4_4")


@judge("4_5_memorise", timeout=120)
def memorisation(ctx: Context) -> None:
    k = ctx.kernel
    runs = k.ns.memorised
    names = k.fetch(k.module("builtins").list(runs.keys()))
    wanted = ["raw (x, y)", "PE L=6", "Gaussian σ=10"]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise Fail(f"4.5: memorised has no run {missing[0]!r} (it holds {names}) — run the memorisation cells")
    image = k.fetch(k.ns.image).double()
    target = image.reshape(-1, 3)
    measured = {}
    for name in wanted:
        run = runs[name]
        pred = k.fetch(run["model"](run["features"]))
        if not torch.is_tensor(pred) or tuple(pred.shape) != tuple(target.shape):
            raise Fail(f"4.5: memorised[{name!r}]'s model gives "
                       f"{tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__} for every pixel; "
                       f"{tuple(target.shape)} colours expected")
        measured[name] = _psnr(pred, target)
        recorded = number("4.5", k.fetch(run["psnr"]), f"memorised[{name!r}]['psnr']", "a Python float")
        if not ctx.failed("4_2_psnr") and abs(recorded - measured[name]) > 0.05:
            raise Fail(f"4.5: memorised[{name!r}] records {recorded:.2f} dB, but its model reaches "
                       f"{measured[name]:.2f} dB on the picture")
    ctx.notes.append("4.5: memorisation PSNR " + ", ".join(f"{n} {v:.1f} dB" for n, v in measured.items()))
    upstream = _upstream(ctx)
    if upstream:
        ctx.notes.append(f"4.5: the memorisation margins are not held against 4.5, since {', '.join(upstream)} failed")
        return
    # Fast mode (24 px, 100 steps): the reference is 12-25 dB ahead; full mode (64 px, 300 steps) 16-34 dB.
    margin = 4.0 if ctx.fast else 10.0
    for name in wanted[1:]:
        if measured[name] < measured["raw (x, y)"] + margin:
            raise Fail(f"4.5: {name} reaches {measured[name]:.1f} dB on the training pixels, raw coordinates "
                       f"{measured['raw (x, y)']:.1f} dB; at least {margin:g} dB more expected")


@judge("4_5_generalise", timeout=120)
def generalisation(ctx: Context) -> None:
    k = ctx.kernel
    runs = k.ns.generalised
    val = k.fetch(k.ns.val_psnr)
    best = k.fetch(k.ns.best)
    if not isinstance(val, dict) or not val:
        raise Fail("4.5: val_psnr (select_encoding's scores) is missing or empty — run the selection cell")
    val = {str(n): float(v) for n, v in val.items()}
    if best != max(val, key=val.get):
        raise Fail(f"4.5: the notebook's best is {best!r}, but {max(val, key=val.get)!r} has the highest "
                   "validation PSNR — choose on validation, never on the held-out grid")
    best_pe = max((n for n in val if n.startswith("PE")), key=val.get, default=None)
    best_gaussian = max((n for n in val if n.startswith("Gaussian")), key=val.get, default=None)
    names = [str(n) for n in k.fetch(k.module("builtins").list(runs.keys()))]
    wanted = ["raw (x, y)", best_pe, best_gaussian]
    encoded = [n for n in names if not n.startswith("raw")]
    if "raw (x, y)" not in names or sorted(encoded) != sorted(map(str, wanted[1:])):
        raise Fail(f"4.5: the finalists are {names}; raw coordinates and the encodings chosen on validation, "
                   f"{best_pe!r} and {best_gaussian!r}, expected — the held-out grid must not choose them")
    image = k.fetch(k.ns.image).double()
    h, w, _ = image.shape
    target = image.reshape(-1, 3)
    train_idx, held_idx = _grid(h, w)
    measured = {}
    for name in wanted:
        run = runs[name]
        pred = k.fetch(run["model"](run["features"]))
        if not torch.is_tensor(pred) or tuple(pred.shape) != tuple(target.shape):
            raise Fail(f"4.5: generalised[{name!r}]'s model gives "
                       f"{tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__} for every pixel; "
                       f"{tuple(target.shape)} colours expected")
        train_p, held_p = _psnr(pred[train_idx], target[train_idx]), _psnr(pred[held_idx], target[held_idx])
        measured[name] = (train_p, held_p)
        recorded = number("4.5", k.fetch(run["held-out"]), f"generalised[{name!r}]['held-out']", "a Python float")
        if not ctx.failed("4_2_psnr", "4_5_split") and abs(recorded - held_p) > 0.05:
            raise Fail(f"4.5: generalised[{name!r}] records a held-out PSNR of {recorded:.2f} dB, but its model "
                       f"reaches {held_p:.2f} dB on the odd rows and odd columns")
        # Shown the held-out pixels: better on them than on its own training grid, or, for a model that fits its
        # training grid (25 dB or more), within 1 dB of it. A model stopped early (its steps chosen on validation)
        # fits neither grid closely and lands just below its training PSNR: no evidence either way.
        shown = held_p > train_p or (train_p >= 25 and held_p > train_p - 1)
        if name != "raw (x, y)" and not _upstream(ctx) and shown:
            raise Fail(f"4.5: {name} reaches {held_p:.1f} dB on the held-out grid and {train_p:.1f} dB on the "
                       "training grid: it fits pixels it should never have seen — train on train_idx only")
    ctx.notes.append("4.5: held-out PSNR " + ", ".join(f"{n} {v[1]:.1f} dB" for n, v in measured.items()))
    upstream = _upstream(ctx) + ctx.failed("4_5_split", "4_5_select")
    if upstream:
        ctx.notes.append(f"4.5: the held-out gain is not held against 4.5, since {', '.join(upstream)} failed")
        return
    # Raw coordinates trained like the encodings (Adam, lr=1e-3). Fast mode (24 px, 100 steps): the reference
    # gains about 2 dB; full mode (64 px, 1,000 steps) about 5 dB.
    needed = 0.0 if ctx.fast else 3.0
    gain = measured[best][1] - measured["raw (x, y)"][1]
    if gain < needed:
        raise Fail(f"4.5: {best} gains {gain:+.1f} dB over raw coordinates on the held-out grid; at least "
                   f"{needed:+.1f} dB expected")


# --------------------------------------------------------------------------- 4.6 the sweep

_SWEEP = dict(steps=80, lr=1e-3, seed=1)
_SIGMAS = [4.0, 0.5, 48.0]


def _sweep_fixture():
    coords, rgb = _fixture_image()
    return (coords, rgb, *_grid(*_SELECT_SHAPE))


@judge("4_6", timeout=120)
def sweep(ctx: Context) -> None:
    k = ctx.kernel
    coords, rgb, train_idx, held_idx = _sweep_fixture()
    cr = k.value(coords)
    try:
        res = k.ns.sweep_sigma(k.value(_SIGMAS), cr, k.value(rgb), k.value(train_idx), k.value(held_idx), **_SWEEP)
        keys = k.fetch(k.module("builtins").list(res.keys()))
    except RemoteError as exc:
        raise Fail(f"4.6: sweep_sigma raised {exc} on the hidden test") from None
    if sorted(float(s) for s in keys) != sorted(_SIGMAS):
        raise Fail(f"4.6: sweep_sigma({_SIGMAS}, ...) returned the keys {keys}; one entry per σ expected")
    returned, measured = {}, {}
    upstream = ctx.failed("4_2", "4_2_train", "4_2_psnr", "4_4")
    for sigma in _SIGMAS:
        entry = res[sigma]
        try:
            n = k.fetch(k.module("builtins").len(entry))
            head = [k.fetch(entry[0]), k.fetch(entry[1])]
        except RemoteError:
            n = None
        if n != 3:
            raise Fail(f"4.6: sweep_sigma's entry for σ={sigma:g} should be (training PSNR, held-out PSNR, model)")
        train_r = number("4.6", head[0], f"the training PSNR of σ={sigma:g}", "a Python float")
        held_r = number("4.6", head[1], f"the held-out PSNR of σ={sigma:g}", "a Python float")
        returned[sigma] = (train_r, held_r)
        try:
            pred = k.fetch(entry[2](cr))
        except RemoteError as exc:
            raise Fail(f"4.6: the model returned for σ={sigma:g} fails on coordinates ({exc}) — return the encoder and "
                       "the MLP together, nn.Sequential(encoder, mlp), which maps coordinates to colours") from None
        if not torch.is_tensor(pred) or tuple(pred.shape) != tuple(rgb.shape):
            raise Fail(f"4.6: the model returned for σ={sigma:g} maps {len(coords)} coordinates to "
                       f"{tuple(pred.shape) if torch.is_tensor(pred) else type(pred).__name__}; "
                       f"{tuple(rgb.shape)} colours expected")
        measured[sigma] = (_psnr(pred[train_idx], rgb[train_idx]), _psnr(pred[held_idx], rgb[held_idx]))
    unchanged(ctx, cr, coords, "sweep_sigma", "coords", "it only reads its arguments")
    # The steps and lr it was given reach train_mlp: a tiny picture, with values other than the notebook's.
    coords_t, _, rgb_t, train_t, held_t = _tiny_picture()
    try:
        _, calls = _spied(ctx, lambda: k.fetch(k.module("builtins").len(k.ns.sweep_sigma(
            k.value([3.0]), k.value(coords_t), k.value(rgb_t), k.value(train_t), k.value(held_t), seed=2, **_TINY))),
            tensors=False)
    except RemoteError as exc:
        raise Fail(f"4.6: sweep_sigma([3.0], ..., steps=2, lr=0.004, seed=2) raised {exc}") from None
    _passed_on("4.6", "sweep_sigma", calls, **_TINY)
    if upstream:
        ctx.notes.append(f"4.6: the sweep's values are not held against 4.6, since {', '.join(upstream)} failed")
        return
    for sigma in _SIGMAS:
        (train_r, held_r), (train_m, held_m) = returned[sigma], measured[sigma]
        if not (abs(train_r - train_m) < 0.05 and abs(held_r - held_m) < 0.05):
            if abs(train_r - held_m) < 0.05 and abs(held_r - train_m) < 0.05:
                raise Fail(f"4.6: σ={sigma:g}: the two PSNRs are swapped — (training PSNR, held-out PSNR, model)")
            raise Fail(f"4.6: σ={sigma:g}: you return PSNRs of {train_r:.2f} dB (training) and {held_r:.2f} dB "
                       f"(held-out), but the returned model reaches {train_m:.2f} and {held_m:.2f} dB on "
                       "coords[train_idx] and coords[held_out_idx]")
    big = measured[_SIGMAS[-1]]
    if big[1] > big[0] - 5:
        raise Fail(f"4.6: at σ={_SIGMAS[-1]:g} the model reaches {big[1]:.1f} dB on the held-out pixels and "
                   f"{big[0]:.1f} dB on the training pixels: it must be trained on coords[train_idx] only")
    # What the solution reaches on this fixture, recorded by `course build` (None before the first build).
    ref = {s: (ctx.reference(f"4.6/sigma={s:g}/train", measured[s][0]),
               ctx.reference(f"4.6/sigma={s:g}/held-out", measured[s][1])) for s in _SIGMAS}
    spread = max(v[1] for v in measured.values()) - min(v[1] for v in measured.values())
    if spread < 2:
        raise Fail(f"4.6: the held-out PSNRs hardly change with σ ({', '.join(f'σ={s:g}: {measured[s][1]:.1f} dB' for s in _SIGMAS)}) "
                   "— build GaussianFourierFeatures(σ, seed=seed) with each σ of the sweep")
    for sigma in _SIGMAS:
        ref_train, ref_held = ref[sigma]
        if ref_train is None or ref_held is None:
            continue
        train_m, held_m = measured[sigma]
        if abs(held_m - ref_held) > 3 or (sigma != _SIGMAS[-1] and abs(train_m - ref_train) > 6):
            raise Fail(f"4.6: σ={sigma:g}: your model reaches {train_m:.1f} dB on the training pixels and {held_m:.1f} dB "
                       f"held out; GaussianFourierFeatures(σ, seed=seed) and a make_mlp trained with "
                       f"train_mlp(steps={_SWEEP['steps']}, lr={_SWEEP['lr']:g}) reach about {ref_train:.1f} and "
                       f"{ref_held:.1f} dB")
