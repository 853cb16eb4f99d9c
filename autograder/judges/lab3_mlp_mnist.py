"""Hidden tests of Lab 3, as judges: the student's code runs in the sandbox on inputs chosen here, and the
verdict is computed here against the reference solution (``ctx.ref``, read from solutions/).

Each judge uses models and data of its own, so a bug in one task does not cost the points of another.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course.grader.judge import Context, Fail, close, judge
from course.grader.kernel import RemoteError
from course.grader.toolkit import (
    checkpoint_tier,
    find_param,
    forward_modes,
    history_fields,
    judge_tiers,
    mnist,
    number,
    remote_copy,
    remote_history,
    remote_images,
    sgd_epoch,
)

CPU = "cpu"


def _net(seed: int, hidden: int = 32, dropout: float | None = None) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(784, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, 10))


def _device(ctx: Context):
    return ctx.kernel.module("torch").device(CPU)


# --------------------------------------------------------------------------- 3.1 the MLP

@judge("3_1")
def mlp(ctx: Context) -> None:
    k = ctx.kernel
    k.module("torch").manual_seed(31)
    m = k.ns.MLP()
    state = k.fetch(m.state_dict())
    if not isinstance(state, dict) or not state:
        raise Fail("3.1: your MLP has no parameters — create nn.Linear layers (or nn.Parameter) in __init__")
    params = list(state.values())
    n = sum(p.numel() for p in params if p.is_floating_point())
    if n != 784 * 64 + 64 + 64 * 10 + 10:
        raise Fail(f"3.1: your MLP has {n:,} parameters; 784·64+64 + 64·10+10 = 50,890 expected — check the layer "
                   "sizes and biases")
    w1 = find_param(params, (64, 784), (784, 64))
    if w1 is not None and w1.shape[0] > 1 and bool((w1 == w1[0]).all()):
        raise Fail("3.1: every hidden unit starts with the same weights, so they stay identical while training — "
                   "initialise the weights randomly (nn.Linear does)")
    # Fresh random values in the student's own layout (biases non-zero), so no initialisation hides a bug.
    g = torch.Generator().manual_seed(310)
    new = {name: (torch.randn(t.shape, generator=g) * 0.05 if t.is_floating_point() else t) for name, t in state.items()}
    m.load_state_dict(k.value(new))
    m.eval()
    params = [new[n] for n in new]
    w1, b1 = find_param(params, (64, 784), (784, 64)), find_param(params, (64,))
    w2, b2 = find_param(params, (10, 64), (64, 10)), find_param(params, (10,))
    missing = [name for name, p in (("a 64×784 weight", w1), ("a 64 bias", b1), ("a 10×64 weight", w2),
                                    ("a 10 bias", b2)) if p is None]
    if missing:
        raise Fail(f"3.1: your MLP has no {', '.join(missing)} among its parameters {[tuple(p.shape) for p in params]} "
                   "— check the layer sizes (784 → 64 → 10) and biases")
    x = torch.randn(7, 1, 28, 28, generator=g)   # negative inputs make ReLU matter
    out = k.fetch(m(x))
    if not torch.is_tensor(out) or tuple(out.shape) != (7, 10):
        raise Fail(f"3.1: MLP output should be logits of shape (7, 10) for 7 images; got "
                   f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}")
    h = x.flatten(1) @ w1.T + b1
    ref = F.relu(h) @ w2.T + b2
    mistakes = {
        "is linear — its outputs equal W2·(W1·x+b1)+b2; put a ReLU between the layers": h @ w2.T + b2,
        "uses sigmoid as the hidden activation — the task asks for ReLU": torch.sigmoid(h) @ w2.T + b2,
        "uses tanh as the hidden activation — the task asks for ReLU": torch.tanh(h) @ w2.T + b2,
        "applies ReLU to the output as well — logits must be able to go negative; ReLU only after the hidden "
        "layer": F.relu(ref),
        "returns probabilities (a softmax at the end) — return the logits; F.cross_entropy applies log-softmax "
        "itself": ref.softmax(dim=1),
    }
    for what, logits in mistakes.items():
        if close(out, logits, rtol=1e-4, atol=1e-5):
            raise Fail(f"3.1: your MLP {what}")
    one = k.fetch(m(x[3:4]))
    if not close(one, out[3:4], rtol=1e-4, atol=1e-5):
        raise Fail("3.1: the logits of one example alone differ from its logits in a batch — they depend on the other "
                   "examples in the batch; flatten each image on its own, keeping dim 0 (x.flatten(1))")
    # Log-probabilities are logits too (a per-row shift that cross-entropy and argmax ignore).
    if not (close(out, ref, rtol=1e-4, atol=1e-5) or close(out, ref.log_softmax(dim=1), rtol=1e-4, atol=1e-5)):
        worst = (out - ref).abs().max().item()
        raise Fail(f"3.1: your MLP's logits differ from W2·relu(W1·flatten(x)+b1)+b2 by up to {worst:.3g} — "
                   "ReLU as the activation, both biases, no softmax at the end")


# --------------------------------------------------------------------------- 3.2 one training epoch


def _sgd_params(*args, **kwargs):
    """The reference epoch (:func:`~course.grader.toolkit.sgd_epoch`) with the trained copy's parameters."""
    model, *losses = sgd_epoch(*args, **kwargs)
    return [p.detach() for p in model.parameters()], *losses


def _same(a, b) -> bool:
    return len(a) == len(b) and all(close(p, q, rtol=1e-4, atol=1e-5) for p, q in zip(a, b))


@judge("3_2")
def train_epoch(ctx: Context) -> None:
    k = ctx.kernel
    net = _net(7)
    g = torch.Generator().manual_seed(32)
    xs, ys = torch.rand(300, 1, 28, 28, generator=g), torch.randint(0, 10, (300,), generator=g)
    batches = [(xs[i:i + 128], ys[i:i + 128]) for i in range(0, 300, 128)]   # 128, 128, 44
    student = remote_copy(ctx, net)
    opt = k.module("torch.optim").SGD(student.parameters(), lr=0.2, momentum=0.9)
    ret = k.fetch(k.ns.train_epoch(student, k.value(batches), opt, _device(ctx)))
    got = list(k.fetch(k.module("builtins").list(student.parameters())))
    params, mean_ex, mean_b, last = _sgd_params(net, batches, 0.2, 0.9)
    if not _same(got, params):
        why = "your weights after one epoch differ from those of a correct SGD epoch (mean cross-entropy, one step per batch)"
        if _same(got, [p.detach() for p in net.parameters()]):
            why = ("the weights did not change — for every batch call loss.backward() then opt.step(), "
                   "with opt.zero_grad() before backward()")
        elif k.fetch(k.module("builtins").len(opt.state)) == 0:
            why = ("the optimiser passed in was never stepped (it holds no momentum) — step the `opt` argument, "
                   "don't create a new optimiser inside train_epoch")
        for bug, msg in [("no zero_grad", "gradients accumulate across batches — call opt.zero_grad() before each backward()"),
                         ("softmax", "you apply softmax before cross-entropy — F.cross_entropy expects logits"),
                         ("sum", "your loss is summed over the batch — use the mean (F.cross_entropy's default)")]:
            if _same(got, _sgd_params(net, batches, 0.2, 0.9, bug)[0]):
                why = msg
        raise Fail(f"3.2: {why}")
    value = number("3.2", ret, "train_epoch's return value", "use loss.item()")
    if not (math.isclose(value, mean_ex, rel_tol=1e-4) or math.isclose(value, mean_b, rel_tol=1e-4)):
        hint = " — that is the last batch's loss, not the epoch's mean" if math.isclose(value, last, rel_tol=1e-4) else ""
        raise Fail(f"3.2: train_epoch returned {value:.5f}; the epoch's mean training loss is {mean_ex:.5f}{hint}")
    # evaluate() leaves models in eval mode; training must switch dropout back on.
    probe = k.module("course.grader.probes").ModeRecorder(remote_copy(ctx, _net(8, 16, dropout=0.5)))
    probe.eval()
    k.ns.train_epoch(probe, k.value(batches[:2]), k.module("torch.optim").SGD(probe.parameters(), lr=0.1),
                     _device(ctx))
    modes = k.fetch(probe.calls)
    if not modes or not all(training for training, _ in modes):
        raise Fail("3.2: the model ran in eval mode while training — call model.train() at the start of train_epoch")


# --------------------------------------------------------------------------- 3.3 evaluation

@judge("3_3")
def evaluate(ctx: Context) -> None:
    k = ctx.kernel
    net = _net(11)
    g = torch.Generator().manual_seed(33)
    xs = torch.rand(500, 1, 28, 28, generator=g)
    with torch.no_grad():
        logits = net(xs)
    # About 3 in 4 labels agree with the model, so error, accuracy and 10% are all far apart.
    ys = torch.where(torch.arange(500) % 4 == 0, torch.randint(0, 10, (500,), generator=g), logits.argmax(dim=1))
    batches = [(xs[i:i + 200], ys[i:i + 200]) for i in range(0, 500, 200)]   # 200, 200, 100
    ref_loss = F.cross_entropy(logits, ys).item()
    ref_loss_b = sum(F.cross_entropy(net(x), y).item() for x, y in batches) / len(batches)
    wrong = logits.argmax(dim=1) != ys
    ref_err = wrong.float().mean().item()
    ref_err_b = sum(wrong[i:i + 200].float().mean().item() for i in range(0, 500, 200)) / 3
    last_loss = F.cross_entropy(logits[400:], ys[400:]).item()
    student = remote_copy(ctx, net)
    out = k.fetch(k.ns.evaluate(student, k.value(batches), _device(ctx)))
    if not _same(list(k.fetch(student.state_dict()).values()), list(net.state_dict().values())):
        raise Fail("3.3: evaluate changed the model's weights — it must measure, not train (no backward(), no step)")
    if not isinstance(out, list) or len(out) != 2:
        raise Fail(f"3.3: evaluate should return (loss, error), got {type(out).__name__}")
    loss, err = number("3.3", out[0], "the loss", "use loss.item()"), number("3.3", out[1], "the error", "use loss.item()")
    if math.isclose(err, 1 - ref_err, abs_tol=1e-6):
        raise Fail(f"3.3: you returned the accuracy {err:.4f}; the error is 1 − accuracy = {ref_err:.4f}")
    if math.isclose(err, 100 * ref_err, rel_tol=1e-4):
        raise Fail(f"3.3: error {err:.2f} looks like a percentage; return a fraction ({ref_err:.4f})")
    if not (math.isclose(err, ref_err, abs_tol=1e-6) or math.isclose(err, ref_err_b, abs_tol=1e-6)):
        raise Fail(f"3.3: error {err:.5f}, expected {ref_err:.5f} (the fraction of examples whose argmax logit is wrong)")
    if not (math.isclose(loss, ref_loss, rel_tol=1e-4) or math.isclose(loss, ref_loss_b, rel_tol=1e-4)):
        hint = ""
        if math.isclose(loss, last_loss, rel_tol=1e-4):
            hint = " — that is the last batch's loss; accumulate over all batches"
        elif math.isclose(loss, F.cross_entropy(logits.softmax(dim=1), ys).item(), rel_tol=1e-4):
            hint = " — you apply softmax before cross-entropy; F.cross_entropy takes logits"
        raise Fail(f"3.3: mean loss {loss:.5f}, expected {ref_loss:.5f} (mean cross-entropy per example){hint}")
    # Dropout must be off and no graph built.
    seen = forward_modes(ctx, _net(12, dropout=0.5),
                         lambda m: k.fetch(k.ns.evaluate(m, k.value(batches), _device(ctx))))
    if not seen or any(training for training, _ in seen):
        raise Fail("3.3: evaluate ran the model in train mode (dropout active) — call model.eval()")
    if any(grad for _, grad in seen):
        raise Fail("3.3: evaluate builds autograd graphs — wrap the loop in torch.no_grad()")


# --------------------------------------------------------------------------- 3.4 the sweep

def _sweep_data(ctx: Context):
    """3,000 training images; as validation, 1,000 of those training images relabelled one class up (training
    on them shows), and NaN test images (touching the test split shows)."""
    d = mnist().subset(n_train=3000, n_val=1000, n_test=500)
    k = ctx.kernel
    val_y = (d.train_y[:1000] + 1) % 10
    remote = k.module("course").Splits(
        train_x=remote_images(k, d.train_x), train_y=k.value(d.train_y),
        val_x=remote_images(k, d.train_x[:1000]), val_y=k.value(val_y),
        test_x=k.value(torch.full((500, 1, 28, 28), float("nan"))), test_y=k.value(d.test_y),
        classes=k.value(list(d.classes)))
    return remote, val_y



@judge("3_4", timeout=240)
def run_sweep(ctx: Context) -> None:
    k = ctx.kernel
    builtins = k.module("builtins")
    remote, val_y = _sweep_data(ctx)
    hs = k.ns.run_sweep(k.value([0.5, 0.05]), 3, remote, _device(ctx))
    got_keys = k.fetch(builtins.sorted(builtins.list(hs.keys())))
    if got_keys != [0.05, 0.5]:
        raise Fail(f"3.4: run_sweep([0.5, 0.05], ...) returned keys {got_keys}")
    first = {}
    for lr in (0.5, 0.05):
        h = hs[lr]
        f = history_fields(k, h)
        if not isinstance(f["val_loss"], list) or len(f["val_loss"]) != 3 or len(f["train_loss"] or []) != 3:
            raise Fail(f"3.4: lr={lr}: expected 3 epochs of train and validation loss logged with n_epochs=3, got "
                       f"{len(f['train_loss'] or [])} and {len(f['val_loss'] or [])}")
        if len(f["val_error"] or []) != 3:
            raise Fail(f"3.4: lr={lr}: {len(f['val_error'] or [])} validation errors logged for 3 epochs — pass "
                       "val_error=... to history.log")
        if f["train_loss"] == f["val_loss"]:
            raise Fail(f"3.4: lr={lr}: the logged training loss equals the validation loss — log train_epoch's "
                       "return value as train_loss")
        if not all(math.isfinite(v) for v in f["train_loss"]):
            raise Fail(f"3.4: lr={lr}: the training loss became NaN/inf — training diverged")
        if not all(math.isfinite(v) for v in f["val_loss"] + f["val_error"]):
            raise Fail(f"3.4: lr={lr}: NaN validation loss — your sweep evaluated on the test split; validate on "
                       "data.val only")
        if f["train_loss"][-1] > f["train_loss"][0] - 0.08:
            # Correct code at lr=0.05 falls by 0.23-0.29 over these 3 epochs (3 seeds); a model never stepped stays flat.
            raise Fail(f"3.4: lr={lr}: the training loss does not fall over 3 epochs "
                       f"({', '.join(f'{v:.3f}' for v in f['train_loss'])}) — the optimiser must step this run's fresh "
                       "model: make torch.optim.SGD(model.parameters(), lr=lr) for each learning rate")
        if k.fetch(h.best_state) is None:
            raise Fail(f"3.4: lr={lr}: no weights kept — pass model=model to history.log")
        best = f["best_epoch"]
        model = h.load_best(k.ns.MLP())
        model.eval()
        logits = k.fetch(model(remote.val_x))
        # Measured with the student's own evaluate(), so that a bug of 3.3 is not charged to 3.4 again.
        batches = k.module("course").TensorBatches(remote.val_x, remote.val_y, 250, shuffle=False)
        measured = k.fetch(k.ns.evaluate(model, batches, _device(ctx)))
        vl, ve = number("3.4", measured[0], "evaluate's loss", "use loss.item()"), number("3.4", measured[1], "evaluate's error", "use loss.item()")
        # The kept weights are the best epoch's: their validation loss is the logged value closest to it.
        nearest = min(range(3), key=lambda e: abs(f["val_loss"][e] - vl)) + 1
        if nearest != best or not math.isclose(vl, f["val_loss"][best - 1], rel_tol=0.02):
            raise Fail(f"3.4: lr={lr}: the kept weights give validation loss {vl:.4f}, but {f['val_loss'][best - 1]:.4f} "
                       f"was logged for epoch {best} — log the loss on data.val, measured after the epoch's training")
        if abs(ve - f["val_error"][best - 1]) > 0.01:
            raise Fail(f"3.4: lr={lr}: evaluate() gives the kept weights a validation error of {ve:.4f}, but "
                       f"{f['val_error'][best - 1]:.4f} was logged as val_error for epoch {best} — log the error "
                       "evaluate() measures on data.val")
        orig = (val_y - 1) % 10
        fit_train = (logits.argmax(1) == orig).float().mean().item()
        fit_val = (logits.argmax(1) == val_y).float().mean().item()
        if lr == 0.5 and fit_train <= fit_val + 0.2:
            raise Fail(f"3.4: the model fits the validation labels ({fit_val:.0%}) better than the training task "
                       f"({fit_train:.0%}) — train on data.train only")
        first[lr] = f
    solo = history_fields(k, k.ns.run_sweep(k.value([0.05]), 1, remote, _device(ctx))[0.05])["train_loss"][0]
    if first[0.05]["train_loss"][0] < solo - 0.5:
        raise Fail(f"3.4: lr=0.05 run after lr=0.5 has first-epoch training loss {first[0.05]['train_loss'][0]:.3f}, "
                   f"but {solo:.3f} when run alone — it kept training lr=0.5's model; build a fresh MLP (and optimiser) "
                   "for every learning rate")
    if first[0.5]["train_loss"][0] > first[0.05]["train_loss"][0] - 0.2:
        raise Fail(f"3.4: lr=0.5 and lr=0.05 gave first-epoch training losses {first[0.5]['train_loss'][0]:.3f} and "
                   f"{first[0.05]['train_loss'][0]:.3f} — is lr passed to SGD?")
    # Trained on data.train alone, lr=0.5 is confidently wrong on the relabelled images (3.9-4.2 after one epoch,
    # over 3 seeds); any use of the validation labels keeps it near ln(10) or below.
    if min(first[0.5]["val_loss"]) <= 3.0:
        raise Fail(f"3.4: lr=0.5: validation loss fell to {min(first[0.5]['val_loss']):.2f} on labels that contradict "
                   "the training data — the model saw the validation split while training; train on data.train only")


# --------------------------------------------------------------------------- 3.5 selection and report

_EXPLAIN = {
    "val_error": "that is the lowest validation *error*; select on validation loss",
    "train": "that is the lowest *training* loss; select on validation loss",
    "zero": "epochs count from 1",
    "last": "that is the last epoch; return the epoch with the lowest validation loss",
    "max": "that is the *highest* validation loss; use min, not max",
    "run": "that is the best epoch of another run; compare every epoch of every run",
    "ends-best": "that is the last epoch of the run that ends best; compare every epoch of every run",
}


@judge("3_5")
def select_best(ctx: Context) -> None:
    k = ctx.kernel
    runs = {0.01: ([0.95, 0.8, 0.7, 0.65], [0.9, 0.5, 0.1, 0.05], [0.2, 0.18, 0.16, 0.15]),
            0.1: ([0.5, 0.31, 0.35, 0.4], None, [0.1, 0.09, 0.05, 0.08]),
            1.0: ([0.6, 0.3, 0.45, 0.85], None, [0.12, 0.11, 0.1, 0.3])}
    remote = {lr: remote_history(ctx, *r) for lr, r in runs.items()}
    known = {(0.1, 3): "val_error", (0.01, 4): "train", (1.0, 1): "zero", (0.1, 1): "zero", (1.0, 4): "last",
             (0.1, 4): "ends-best", (0.01, 1): "max", (0.1, 2): "run"}
    # The same runs in three orders: the best run first, in the middle and last.
    for order in ([1.0, 0.01, 0.1], [0.01, 1.0, 0.1], [0.01, 0.1, 1.0]):
        try:
            got = k.fetch(k.ns.select_best(k.value({lr: remote[lr] for lr in order})))
        except RemoteError as exc:
            raise Fail(f"3.5: select_best raised {exc} — on histories that hold only the logged numbers (no weights); "
                       "select from histories[lr].val_loss alone: no models, no test data") from None
        try:
            pair = (float(got[0]), int(got[1]))
        except (TypeError, ValueError, IndexError):
            raise Fail(f"3.5: select_best should return (lr, epoch), got {got!r}") from None
        if pair != (1.0, 2):
            why = _EXPLAIN.get(known.get(pair, ""), "")
            raise Fail(f"3.5: select_best returned {pair}, expected (1.0, 2) — the lowest validation loss over every "
                       f"epoch of every run" + (f"; {why}" if why else ""))
    got = k.fetch(k.ns.select_best(k.value({0.3: remote_history(ctx, [0.2, 0.4, 0.5])})))
    if (float(got[0]), int(got[1])) != (0.3, 1):
        raise Fail(f"3.5: best at the first epoch: expected (0.3, 1), got {tuple(got)}")


@judge("3_5_results", timeout=180)
def report(ctx: Context) -> None:
    k = ctx.kernel
    best_lr, best_epoch = k.fetch(k.ns.best_lr), k.fetch(k.ns.best_epoch)
    chosen = k.fetch(k.ns.select_best(k.ns.histories))
    if (float(chosen[0]), int(chosen[1])) != (float(best_lr), int(best_epoch)):
        raise Fail(f"3.5: the report uses lr={best_lr}, epoch {best_epoch}, but select_best picks {tuple(chosen)} — "
                   "report the model selected on validation loss; the test set is looked at once, never used to choose")
    model = k.ns.best_model
    model.eval()
    sweep = k.ns.sweep_data
    val_logits = k.fetch(model(sweep.val_x))
    val_y = k.fetch(sweep.val_y)
    logged = k.fetch(k.ns.histories[best_lr].val_loss)[int(best_epoch) - 1]
    measured = F.cross_entropy(val_logits, val_y).item()
    if not math.isclose(measured, logged, rel_tol=0.02):
        raise Fail(f"3.5: best_model has validation loss {measured:.4f}, but epoch {best_epoch} logged {logged:.4f} — "
                   "load the selected epoch's weights (History.load_best), not the last epoch's")
    test = mnist().test
    logits = k.fetch(model(remote_images(k, test[0])))
    error = (logits.argmax(1) != test[1]).float().mean().item()
    ref = ctx.reference("3.5/test_error", error)
    upstream = ctx.failed("3_2", "3_3", "3_4")
    if upstream:
        # The test error measures the sweep, which runs the code of those tasks: they already cost their points.
        ctx.notes.append(f"3.5: test error {error:.2%} not held against 3.5, since {', '.join(upstream)} failed")
        return
    # Fast mode (8 epochs on 20k images): seeds alone move the reference's 4.7% between 4.5% and 6.1%.
    bound = max(0.028, 1.5 * (0.1 if ref is None else ref) + 0.02)
    if error >= bound:
        raise Fail(f"3.5: best_model's test error is {error:.2%}, not below {bound:.1%} (fast mode)")


# --------------------------------------------------------------------------- 3.6 tiers, from the saved weights

def _tier(ctx: Context, bound: float) -> None:
    images, labels = mnist().test
    checkpoint_tier(ctx, "lab3_best.pt", "build_best_model", images, labels, error_below=bound)


judge_tiers({"3_6_below_2_2": 0.022, "3_6_below_2_0": 0.02, "3_6_below_1_8": 0.018}, _tier)


