"""Hidden tests of Lab 1, as judges: the student's code runs in the sandbox on inputs chosen here, and the
verdict is computed here, against torch and the reference solution (``ctx.ref``, read from solutions/).

Each judge uses inputs of its own (non-square shapes, float64, scores that make every term matter), so a bug in
one task does not cost the points of another.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from course.grader.judge import Context, Fail, close, judge
from course.grader.kernel import Kernel, Remote, RemoteError
from course.grader.toolkit import (
    call,
    call_forbidding,
    checkpoint_tier,
    cifar10,
    find_param,
    history_fields,
    judge_tiers,
    number,
    remote_history,
    remote_images,
    tensor,
    unchanged,
)

# --------------------------------------------------------------------------- 1.1 scores and the bias trick

@judge("1_1")
def scores(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(11)
    for n, d, c in ((5, 7, 3), (1, 4, 6)):           # non-square everywhere: a transpose cannot hide
        X, W, b = (torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(c, d, generator=g, dtype=torch.float64),
                   torch.randn(c, generator=g, dtype=torch.float64))
        ref = X @ W.T + b
        out = tensor(ctx, call(ctx, f"scores(X {tuple(X.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)})", k.ns.scores, k.value(X), k.value(W), k.value(b)), "scores(X, W, b)", (n, c), double=True)
        if not close(out, ref, rtol=1e-6, atol=1e-6):
            why = ""
            if close(out, X @ W.T, rtol=1e-6, atol=1e-6):
                why = " — the bias b is missing"
            elif close(out, X @ W.T - b, rtol=1e-6, atol=1e-6):
                why = " — b is subtracted; add it"
            raise Fail(f"1.1: scores(X, W, b) differ from X Wᵀ + b by up to {(out - ref).abs().max():.3g}{why}")
        ones = tensor(ctx, call(ctx, "append_ones(X)", k.ns.append_ones, k.value(X)), "append_ones(X)", (n, d + 1), double=True)
        if not close(ones[:, :d], X, atol=1e-12) or not bool((ones[:, d] == 1).all()):
            why = " — the 1 goes last, after the D features" if bool((ones[:, 0] == 1).all()) else ""
            raise Fail(f"1.1: append_ones(X) should be [X, 1] with the constant 1 as the last column{why}")
        folded = tensor(ctx, call(ctx, "fold_bias(W, b)", k.ns.fold_bias, k.value(W), k.value(b)), "fold_bias(W, b)", (c, d + 1), double=True)
        if not close(folded[:, :d], W, atol=1e-12) or not close(folded[:, d], b, atol=1e-12):
            why = " — b goes in the last column, after W" if close(folded[:, 0], b, atol=1e-12) else ""
            raise Fail(f"1.1: fold_bias(W, b) should be [W, b] with b as the last column{why}")


# --------------------------------------------------------------------------- 1.2 softmax and cross-entropy

def _naive_softmax(S: torch.Tensor, dim: int = 1) -> torch.Tensor:
    e = S.exp()
    return e / e.sum(dim=dim, keepdim=True)


# The text asks for tensor operations, not F.softmax / F.cross_entropy: every library route to them (F.softmax,
# torch.softmax, Tensor.softmax, nn.Softmax; F.cross_entropy, F.nll_loss, nn.CrossEntropyLoss) fails while the
# student's functions run. log_softmax and logsumexp are tensor operations the text allows.
_from_scratch = functools.partial(
    call_forbidding, ops=["^_?softmax", "^nll_loss", "cross_entropy"],
    rule="the text asks for softmax and cross-entropy from tensor operations (exp, logsumexp, indexing), "
         "not F.softmax / F.cross_entropy")


@judge("1_2")
def softmax_cross_entropy(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(12)
    S = torch.randn(6, 4, generator=g, dtype=torch.float64) * 3      # N=6 ≠ C=4: a wrong dim shows
    y = torch.tensor([0, 3, 1, 3, 2, 0])
    Sr = k.value(S)
    P = tensor(ctx, _from_scratch(ctx, "softmax(S)", k.ns.softmax, Sr), "softmax(S)", (6, 4), double=True)
    unchanged(ctx, Sr, S, "softmax(S)", "scores S")
    ref = F.softmax(S, dim=1)
    if not close(P, ref, rtol=0, atol=1e-9):
        if close(P, F.softmax(S, dim=0), rtol=0, atol=1e-9):
            raise Fail(f"1.2: softmax normalises each column (the rows sum to {P.sum(1).tolist()[:3]}…, expected 1) "
                       "— normalise over the classes, dim=1")
        raise Fail(f"1.2: softmax(S) differs from exp(S) / Σ_k exp(S) row by row by up to {(P - ref).abs().max():.3g}")
    big = torch.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]],
                       dtype=torch.float64)
    Pb = tensor(ctx, _from_scratch(ctx, "softmax of scores ±1000", k.ns.softmax, k.value(big)), "softmax(S)", (3, 3), double=True)
    if not bool(torch.isfinite(Pb).all()) or not close(Pb, F.softmax(big, dim=1), rtol=0, atol=1e-9):
        raise Fail("1.2: softmax of scores like ±1000 gives NaN/inf or wrong values — exp(1000) overflows; subtract "
                   "each row's maximum score before exp (softmax does not change)")
    Pf = tensor(ctx, _from_scratch(ctx, "softmax of float32 scores", k.ns.softmax, k.value(S.float())), "softmax(S)", (6, 4), double=True)
    if not close(Pf, ref, rtol=0, atol=1e-5):
        raise Fail("1.2: softmax of float32 scores is wrong — it must work for any floating dtype")

    Sr, yr = k.value(S), k.value(y)
    loss = number(ctx, _from_scratch(ctx, "cross_entropy(S, y)", k.ns.cross_entropy, Sr, yr), "cross_entropy(S, y)", "one number")
    unchanged(ctx, Sr, S, "cross_entropy(S, y)", "scores S")
    unchanged(ctx, yr, y, "cross_entropy(S, y)", "labels y")
    expected = F.cross_entropy(S, y).item()
    if not math.isclose(loss, expected, rel_tol=0, abs_tol=1e-6):
        per = -F.log_softmax(S, dim=1)[torch.arange(6), y]
        known = {
            "is summed over the batch — take the mean over examples": per.sum().item(),
            "normalises over the examples (dim 0) — the softmax runs over the classes, dim=1":
                -F.log_softmax(S, dim=0)[torch.arange(6), y].mean().item(),
            "averages −log p over every class of every example — take −log p of the true class only, then the mean":
                -F.log_softmax(S, dim=1).mean().item(),
            "is the mean of the true class's probability, not of −log p": -(F.softmax(S, dim=1)[torch.arange(6), y]).mean().item(),
            "is +log p — the cross-entropy is −log p": -expected,
        }
        why = next((w for w, v in known.items() if math.isclose(loss, v, rel_tol=1e-6, abs_tol=1e-9)), None)
        raise Fail(f"1.2: cross_entropy(S, y) is {loss:.6f}, expected {expected:.6f} (F.cross_entropy)"
                   + (f" — it {why}" if why else ""))
    yb = torch.tensor([1, 0, 2])
    lb = _from_scratch(ctx, "cross_entropy of scores ±1000", k.ns.cross_entropy, k.value(big), k.value(yb))
    lb = number(ctx, lb, "cross_entropy(S, y)", "one number")
    want = F.cross_entropy(big, yb).item()
    if not math.isfinite(lb) or not math.isclose(lb, want, rel_tol=1e-9, abs_tol=1e-6):
        raise Fail(f"1.2: cross_entropy of scores like ±1000 is {lb}, expected {want:.4f} — log(softmax) underflows "
                   "to log(0); compute log p = s_y − logsumexp(s) (torch.logsumexp, or subtract the row max first)")
    lf = number(ctx, _from_scratch(ctx, "cross_entropy of float32 scores", k.ns.cross_entropy, k.value(S.float()), k.value(y)), "cross_entropy(S, y)", "one number")
    if not math.isclose(lf, expected, rel_tol=1e-5, abs_tol=1e-5):
        raise Fail("1.2: cross_entropy of float32 scores is wrong — it must work for any floating dtype")
    # The loss trains the classifier (1.4, 1.5): its gradient with respect to the scores is (softmax − onehot) / N.
    Sg = k.value(S).requires_grad_(True)
    try:
        out = k.module("course.grader.forbid").forbidding(k.ns.cross_entropy, Sg, k.value(y), ops=["^_?softmax", "^nll_loss", "cross_entropy"])
        grad = k.fetch(k.module("torch.autograd").grad(out, Sg))[0]
    except RemoteError as exc:
        raise Fail(f"1.2: cross_entropy(S, y) is not differentiable with respect to S ({str(exc)[:150]}) — return a "
                   "tensor computed from S with torch operations (no .item() or float(), no torch.no_grad(), no "
                   "detach): the training of Task 1.5 backpropagates through it") from None
    want = (F.softmax(S, dim=1) - F.one_hot(y, 4).double()) / len(y)
    if not close(grad, want, rtol=0, atol=1e-9):
        raise Fail(f"1.2: the gradient of cross_entropy(S, y) with respect to S differs from (softmax(S) − onehot(y)) / N "
                   f"by up to {(grad.double() - want).abs().max():.3g} — part of the loss is detached from S")


# --------------------------------------------------------------------------- 1.3 the SVM loss

def _hinge(S, y, margin, *, count_true=False, wrong_side=False):
    correct = S[torch.arange(len(y)), y][:, None]
    m = (correct - S + margin) if wrong_side else (S - correct + margin)
    m = m.clamp(min=0)
    if not count_true:
        m = m.masked_fill(F.one_hot(y, S.shape[1]).bool(), 0.0)
    return m.sum(1).mean().item()


# Counts the ATen operators a call dispatches (in the sandbox, defined there once): vectorised code runs as many
# operators for 8 examples as for 32; a Python loop over the examples runs at least one more per example.
_COUNT_OPS = """
def _judge_count_ops(fn, *args):
    from torch.utils._python_dispatch import TorchDispatchMode

    class _JudgeCount(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    counter = _JudgeCount()
    with counter:
        fn(*args)
    return counter.n
"""


def _op_counts(ctx: Context, fn: str, make_args, sizes: tuple[int, ...]) -> list[int] | None:
    """The operators fn(*make_args(n)) dispatches, for each n in sizes; None when they cannot be counted."""
    k = ctx.kernel
    if "_judge_count_ops" not in k.ns and k.run_cell(_COUNT_OPS, timeout=30) is not None:
        return None
    try:
        return [int(k.fetch(k.ns._judge_count_ops(getattr(k.ns, fn), *[k.value(a) for a in make_args(n)])))
                for n in sizes]
    except RemoteError:
        return None     # the values were checked already; a function that cannot be counted is not held against it


def _ops_per_example(ctx: Context, fn: str, make_args) -> float:
    """(operators for 32 examples − operators for 8) / 24: about 0 for vectorised code, ≥ 1 for a loop over examples."""
    counts = _op_counts(ctx, fn, make_args, (8, 32))
    return 0.0 if counts is None else (counts[1] - counts[0]) / 24


@judge("1_3")
def svm(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(13)
    S = torch.randn(7, 4, generator=g, dtype=torch.float64) * 1.5     # margins active and inactive
    y = torch.tensor([0, 1, 2, 3, 3, 1, 0])
    for margin in (1.0, 0.5, 2.0):
        args = [k.value(S), k.value(y)] + ([] if margin == 1.0 else [k.value(margin)])
        got = number(ctx, call(ctx, f"svm_loss(S, y{'' if margin == 1.0 else f', {margin}'})", k.ns.svm_loss, *args), "svm_loss(S, y)", "one number")
        want = _hinge(S, y, margin)
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
            continue
        known = {
            "counts the true class too: its term always adds the margin — leave j = y_i out of the sum":
                _hinge(S, y, margin, count_true=True),
            "puts the margin on the wrong side — the term is max(0, s_j − s_y + margin)":
                _hinge(S, y, margin, wrong_side=True),
            "is summed over the batch — take the mean over examples": _hinge(S, y, margin) * len(y),
            "takes the largest term per example — sum the terms over j ≠ y_i": ((S - S[torch.arange(7), y][:, None] + margin)
                .clamp(min=0).masked_fill(F.one_hot(y, 4).bool(), 0.0).max(1).values.mean().item()),
            "ignores the margin argument — use margin, not a constant 1": _hinge(S, y, 1.0),
        }
        why = next((w for w, v in known.items() if math.isclose(got, v, rel_tol=1e-6, abs_tol=1e-9)), None)
        raise Fail(f"1.3: svm_loss with margin {margin} is {got:.6f}, expected {want:.6f}"
                   + (f" — your loss {why}" if why else ""))
    # The stated rule, by behaviour: no Python loop over the examples (a loop over the classes is allowed).
    g = torch.Generator().manual_seed(31)
    per = _ops_per_example(ctx, "svm_loss", lambda n: (torch.randn(n, 4, generator=g, dtype=torch.float64),
                                                      torch.arange(n) % 4))
    if per >= 0.9:
        raise Fail(f"1.3: svm_loss runs {per:.0f} more torch operations per extra example — a Python loop over the "
                   "examples; the text asks for vectorised code: compute all the margins at once, (N, C)")


# --------------------------------------------------------------------------- 1.4 L2 regularisation

@judge("1_4")
def regularised(ctx: Context) -> None:
    k = ctx.kernel
    if ctx.failed("1_1"):
        # regularised_loss computes its scores with scores() from 1.1, which already cost its points.
        k.run_cell("def scores(X, W, b):\n    return X @ W.T + b\n", timeout=30)
    g = torch.Generator().manual_seed(14)
    W = torch.randn(3, 5, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64) * 2      # a large bias: regularising it shows
    X, y = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 1, 0, 0, 2, 1])
    ce = k.module("torch.nn.functional").cross_entropy       # the data loss: torch's, so a bug of 1.2 is not charged here
    data = F.cross_entropy(X @ W.T + b, y).item()
    for lam in (0.0, 0.3, 2.0):
        got = number(ctx, call(ctx, f"regularised_loss(W, b, X, y, {lam}, data_loss=F.cross_entropy)", k.ns.regularised_loss, k.value(W), k.value(b), k.value(X), k.value(y), k.value(lam), data_loss=ce), "regularised_loss(...)", "one number")
        want = data + lam * (W ** 2).sum().item()
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-7):
            continue
        if lam == 0.0:
            raise Fail(f"1.4: with λ = 0 the loss is {got:.6f}, but data_loss(X Wᵀ + b, y) is {data:.6f} — call the "
                       "data_loss argument on the scores")
        known = {
            "also regularises the bias — the penalty is λ Σ W² only": want + lam * (b ** 2).sum().item(),
            "uses λ‖W‖ — the penalty is the squared norm, λ Σ W²": data + lam * W.norm().item(),
            "uses ½λ‖W‖² — the task's penalty is λ Σ W², with no ½": data + 0.5 * lam * (W ** 2).sum().item(),
            "ignores λ": data,
            "uses the mean of W² — the penalty is the sum, λ Σ W²": data + lam * (W ** 2).mean().item(),
        }
        why = next((w for w, v in known.items() if math.isclose(got, v, rel_tol=1e-6, abs_tol=1e-7)), None)
        raise Fail(f"1.4: regularised_loss with λ = {lam} is {got:.6f}, expected {want:.6f} "
                   f"(data loss {data:.6f} + λ Σ W²)" + (f" — your loss {why}" if why else ""))
    # Any data loss: the hinge loss of torch (multi_margin_loss) in place of cross-entropy.
    hinge = k.module("torch.nn.functional").multi_margin_loss
    got = number(ctx, call(ctx, "regularised_loss(W, b, X, y, 0.3, data_loss=F.multi_margin_loss)", k.ns.regularised_loss, k.value(W), k.value(b), k.value(X), k.value(y), k.value(0.3), data_loss=hinge), "regularised_loss(...)", "one number")
    want = F.multi_margin_loss(X @ W.T + b, y).item() + 0.3 * (W ** 2).sum().item()
    if not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-7):
        raise Fail(f"1.4: with data_loss=F.multi_margin_loss the loss is {got:.6f}, expected {want:.6f} — compute the "
                   "data loss with the data_loss argument, whichever loss it is")
    # The loss must stay differentiable with respect to W and b (a .item() or a detach breaks training).
    Wr, br = k.value(W).requires_grad_(True), k.value(b).requires_grad_(True)
    try:
        loss = k.ns.regularised_loss(Wr, br, k.value(X), k.value(y), k.value(0.3), data_loss=ce)
        grads = k.fetch(k.module("torch.autograd").grad(loss, k.value([Wr, br]), allow_unused=True))
    except RemoteError as exc:
        raise Fail(f"1.4: the gradient of regularised_loss cannot be computed ({exc}) — return a tensor built from W "
                   "and b with torch operations (no .item(), no detach)") from None
    Wt, bt = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    gW, gb = torch.autograd.grad(F.cross_entropy(X @ Wt.T + bt, y) + 0.3 * (Wt ** 2).sum(), [Wt, bt])
    if grads[0] is None or grads[1] is None or not close(grads[0], gW, atol=1e-9) or not close(grads[1], gb, atol=1e-9):
        raise Fail("1.4: the gradient of your loss with respect to W or b is wrong, though its value is right")


# --------------------------------------------------------------------------- 1.5 training

def _problem(seed: int, n: int, d: int = 12):
    """A linearly learnable 10-class problem: (X, y)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X @ torch.randn(d, 10, generator=g)).argmax(dim=1)
    return X, y


def _weight(state: dict) -> torch.Tensor | None:
    params = [t for t in state.values() if torch.is_tensor(t) and t.is_floating_point() and t.ndim == 2]
    return params[0] if len(params) == 1 else None



def _preprocess(ctx: Context) -> None:
    """preprocess(images, mean) = flatten − the mean *passed* (not the batch's own), for any C, H, W, leaving the
    images as they were."""
    k = ctx.kernel
    g = torch.Generator().manual_seed(151)
    images = torch.rand(6, 3, 5, 7, generator=g)                 # C·H·W = 105, H ≠ W: no 3072, no square
    mean = torch.rand(105, generator=g) * 0.5 + 0.25             # a training mean: not these images' own mean
    ri, rm = k.value(images), k.value(mean)
    out = tensor(ctx, call(ctx, "preprocess(images (6, 3, 5, 7), mean (105,))", k.ns.preprocess, ri, rm),
                 "preprocess(images, mean)", (6, 105), double=True)
    unchanged(ctx, ri, images, "preprocess(images, mean)", "images")
    unchanged(ctx, rm, mean, "preprocess(images, mean)", "mean")
    flat = images.flatten(1).double()
    want = flat - mean.double()
    if close(out, want, rtol=0, atol=1e-6):
        return
    known = {
        "centres with the images' own mean — subtract the mean argument (the *training* mean), whatever images are "
        "passed (validation and test images are centred with the training mean too)": flat - flat.mean(0),
        "flattens the pixels in (H, W, C) order — flatten each image as it is stored, (C, H, W): "
        "images.flatten(start_dim=1)": images.permute(0, 2, 3, 1).flatten(1).double() - mean.double(),
        "also divides by a standard deviation — the text asks to subtract the mean only": want / want.std(0),
        "adds the mean — subtract it": flat + mean.double(),
    }
    why = next((w for w, v in known.items() if close(out, v, rtol=0, atol=1e-5)), None)
    raise Fail("1.5: preprocess(images, mean) on images (6, 3, 5, 7) is not flatten(images) − mean"
               + (f": it {why}" if why else f" (differs by up to {(out - want).abs().max():.3g})"))


@judge("1_5", timeout=120)
def train_linear(ctx: Context) -> None:
    k = ctx.kernel
    _preprocess(ctx)
    X, y = _problem(150, 1000)
    Xtr, ytr, Xv, yv_true = X[:800], y[:800], X[800:], y[800:]
    yv = (yv_true + 1) % 10          # validation labels that contradict training: training on them shows
    train, val = k.value([Xtr, ytr]), k.value([Xv, yv])

    def run(data=None, **kw):
        kw = {"optimiser": "adam", "lr": 0.05, "lam": 1e-4, "n_epochs": 4, "batch_size": 100, "seed": 0} | kw
        desc = ", ".join(f"{a}={b!r}" for a, b in kw.items())
        try:
            pair = k.ns.train_linear(train if data is None else data, val, **{a: k.value(b) for a, b in kw.items()})
            model, h = pair[0], pair[1]
            return model, h, history_fields(k, h)
        except RemoteError as exc:
            hint = (" — build the model from the features' width D = X.shape[1] (not a fixed 3072)"
                    if "shape" in str(exc) or "mat1" in str(exc) else "")
            raise Fail(f"1.5: train_linear(train, val, {desc}) on 12 features raised {exc}{hint}") from None

    model, h, f = run()
    for name in ("train_loss", "val_loss", "val_error"):
        if not isinstance(f[name], list) or len(f[name]) != 4:
            raise Fail(f"1.5: {len(f[name] or [])} values of {name} logged for n_epochs=4 — log train_loss, val_loss "
                       "and val_error once per epoch")
    if not all(math.isfinite(v) for v in f["train_loss"] + f["val_loss"]):
        raise Fail(f"1.5: the logged losses are not finite: {f['train_loss']} / {f['val_loss']}")
    if f["train_loss"] == f["val_loss"]:
        raise Fail("1.5: the logged training loss equals the validation loss — log the epoch's mean training loss as "
                   "train_loss and the loss on val as val_loss")
    if f["train_loss"][-1] > f["train_loss"][0] * 0.8:
        raise Fail(f"1.5: with Adam (lr 0.05) the training loss does not fall over 4 epochs "
                   f"({', '.join(f'{v:.3f}' for v in f['train_loss'])}) — zero the gradients, backward, step, for "
                   "every minibatch")
    best = f["best_epoch"]
    try:
        h.load_best(model)
        model.eval()
        logits = k.fetch(model(k.value(Xv)))
    except RemoteError as exc:
        raise Fail(f"1.5: the run's best weights could not be loaded back into its model ({exc}) — pass model=model "
                   "to history.log") from None
    if not torch.is_tensor(logits) or tuple(logits.shape) != (200, 10):
        raise Fail("1.5: the returned model should map (N, D) features to (N, 10) scores")
    measured = F.cross_entropy(logits.double(), yv).item()
    if not math.isclose(measured, f["val_loss"][best - 1], rel_tol=0.02):
        penalised = [v for v in f["val_loss"] if v > measured]
        hint = (" — log the cross-entropy alone (no λ‖W‖² penalty) on val" if penalised and
                any(math.isclose(measured, v, rel_tol=0.02) is False for v in penalised) else "")
        raise Fail(f"1.5: the kept weights give validation loss {measured:.4f}, but {f['val_loss'][best - 1]:.4f} was "
                   f"logged for epoch {best} — log the cross-entropy on the validation set, measured after the epoch's "
                   f"training{hint}")
    err = (logits.argmax(1) != yv).double().mean().item()
    if abs(err - f["val_error"][best - 1]) > 0.011:
        hint = " — that is the accuracy; log the error (fraction wrong)" if abs(1 - err - f["val_error"][best - 1]) < 0.011 else ""
        raise Fail(f"1.5: the kept weights misclassify {err:.3f} of the validation set, but {f['val_error'][best - 1]:.3f} "
                   f"was logged as val_error{hint}")
    fit_train = (logits.argmax(1) == yv_true).double().mean().item()
    fit_val = (logits.argmax(1) == yv).double().mean().item()
    # Trained on the training split alone, the model is confidently wrong on the contradicting validation labels:
    # the reference's validation loss climbs to about 5 in 4 epochs; trained on train + val it stays below 3.
    if fit_val >= fit_train or max(f["val_loss"]) < 3.8:
        raise Fail(f"1.5: the model fits the validation labels better than a model trained on the training split "
                   f"alone (validation loss at most {max(f['val_loss']):.2f}; above 3.8 expected here) — train on the "
                   "training split only")
    # Reproducible: the same seed gives the same run.
    _, _, again = run()
    if not all(close(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(again["train_loss"], f["train_loss"])):
        raise Fail("1.5: two calls with the same seed give different training losses — seed_everything(seed) before "
                   "building the model and the batches")
    # ... and another seed gives another run (another initialisation, or another order of the batches).
    _, _, other = run(seed=1)
    if all(close(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(other["train_loss"], f["train_loss"])):
        raise Fail("1.5: train_linear(..., seed=1) repeats the run of seed=0 exactly — seed with the seed argument, "
                   "seed_everything(seed), not a constant")
    # Full-batch runs are the same whatever the order of the minibatches: follow them step by step from the
    # model's own initial weights (a run with lr = 0 shows them), with torch's optimisers — and, with λ > 0, with the
    # penalty λ‖W‖² of regularised_loss (gradient 2λW, the bias left alone).
    starts = {}
    for opt_name, lr, lam in (("sgd", 0.2, 0.0), ("adam", 0.05, 0.0), ("sgd", 0.2, 0.1), ("adam", 0.05, 0.1)):
        if opt_name not in starts:
            starts[opt_name] = k.fetch(run(optimiser=opt_name, lr=0.0, lam=0.0, n_epochs=1, batch_size=800)[0].state_dict())
        start = starts[opt_name]
        end_model, _, logged = run(optimiser=opt_name, lr=lr, lam=lam, n_epochs=5, batch_size=800)
        end = k.fetch(end_model.state_dict())
        W0, W5 = _weight(start), _weight(end)
        b0 = next((t for t in start.values() if torch.is_tensor(t) and t.numel() == 10 and t.ndim <= 2
                   and t.is_floating_point() and t is not W0), None)
        if W0 is None or W5 is None or b0 is None:
            raise Fail("1.5: the model should be linear: one weight matrix W and a bias b of 10 numbers")
        transposed = tuple(W0.shape) == (12, 10)
        bugs = (None, "no zero_grad", "no momentum") if lam == 0 else (None, "weight decay", "bias regularised",
                                                                       "no penalty")
        before, val_after = [], []

        def follow(bug, W0=W0, b0=b0, transposed=transposed, opt_name=opt_name, lr=lr, lam=lam,
                   before=before, val_after=val_after):
            Wt = (W0.T if transposed else W0).double().clone().requires_grad_(True)
            bt = b0.reshape(10).double().clone().requires_grad_(True)
            decay = lam if bug == "weight decay" else 0.0
            opt = (torch.optim.SGD([Wt, bt], lr=lr, momentum=0 if bug == "no momentum" else 0.9, weight_decay=decay)
                   if opt_name == "sgd" else torch.optim.Adam([Wt, bt], lr=lr, weight_decay=decay))
            for _ in range(5):
                if bug != "no zero_grad":
                    opt.zero_grad()
                loss = F.cross_entropy(Xtr.double() @ Wt.T + bt, ytr)
                if bug is None:
                    loss = loss + lam * (Wt ** 2).sum()
                elif bug == "bias regularised":
                    loss = loss + lam * (Wt ** 2).sum() + lam * (bt ** 2).sum()
                loss.backward()
                opt.step()
                if bug is None:
                    before.append(loss.item())
                    with torch.no_grad():
                        val_after.append(F.cross_entropy(Xv.double() @ Wt.T + bt, yv).item())
            return Wt.detach().T if transposed else Wt.detach()

        want = follow(None)
        if not close(W5, want, rtol=1e-3, atol=1e-5):
            why = {"no zero_grad": "gradients accumulate from step to step — call opt.zero_grad() before each "
                                   "backward()",
                   "no momentum": "plain SGD — the task asks for torch.optim.SGD(lr=lr, momentum=0.9)",
                   "weight decay": "the optimiser's weight_decay=λ is not the task's penalty: it adds λW to the "
                                   "gradient (the penalty ½λ‖W‖²) and decays the bias too; minimise regularised_loss "
                                   "(cross-entropy + λ‖W‖², gradient 2λW, bias not regularised)",
                   "bias regularised": "the bias is regularised too — the penalty is λ‖W‖² on the weights only",
                   "no penalty": "the penalty is missing: λ changes nothing — minimise regularised_loss with the lam "
                                 "argument, not the data loss alone"}
            hint = next((w for bug, w in why.items() if bug in bugs and close(W5, follow(bug), rtol=1e-3, atol=1e-5)),
                        None)
            what = f"λ = {lam}" if lam else "λ = 0"
            raise Fail(f"1.5: after 5 full-batch steps of optimiser='{opt_name}' (lr {lr}, {what}) your weights differ "
                       f"from those of torch.optim.{'SGD' if opt_name == 'sgd' else 'Adam'} "
                       + ("on cross-entropy + λ‖W‖² " if lam else "")
                       + f"by up to {(W5.double() - want).abs().max():.3g}"
                       + (f" — {hint}" if hint else (" — minimise regularised_loss: cross-entropy + λ‖W‖², the bias not "
                          "regularised" if lam else " — one step per minibatch on the mean loss, with the optimiser "
                          "and learning rate asked for")))
        if lam == 0 and not ctx.failed("1_2", "1_4"):      # the logged losses are the student's own cross_entropy's
            _logged_losses_by_definition(opt_name, lr, logged, before, val_after)
    # Minibatches of shuffled examples: one epoch of 8 batches of 100 in the stored order is a trajectory of its own.
    W0 = _weight(starts["sgd"])
    b0 = next((t for t in starts["sgd"].values() if torch.is_tensor(t) and t.numel() == 10 and t.ndim <= 2
               and t.is_floating_point() and t is not W0), None)
    transposed = tuple(W0.shape) == (12, 10)
    Wt = (W0.T if transposed else W0).double().clone().requires_grad_(True)
    bt = b0.reshape(10).double().clone().requires_grad_(True)
    opt = torch.optim.SGD([Wt, bt], lr=0.2, momentum=0.9)
    for i in range(0, 800, 100):
        opt.zero_grad()
        F.cross_entropy(Xtr[i:i + 100].double() @ Wt.T + bt, ytr[i:i + 100]).backward()
        opt.step()
    in_order = Wt.detach().T if transposed else Wt.detach()
    got = _weight(k.fetch(run(optimiser="sgd", lr=0.2, lam=0.0, n_epochs=1, batch_size=100)[0].state_dict()))
    if close(got, in_order, rtol=1e-4, atol=1e-6):
        raise Fail("1.5: the minibatches are not shuffled: one epoch (batch_size=100) follows the examples in their "
                   "stored order — draw a new random order every epoch (TensorBatches shuffles, seeded)")
    # The logged training loss is the epoch's mean, whatever the batches: at lr = 0 the weights stay the initial
    # ones, so every epoch's training loss is the loss of those weights on the whole training split (plus λ‖W‖²,
    # which the text lets you include or not). Four equal batches make the mean over examples and the mean of the
    # batches' means the same number, and tell both from one batch's loss and from the sum.
    if not ctx.failed("1_2", "1_4"):
        model0, _, still = run(optimiser="sgd", lr=0.0, lam=0.5, n_epochs=2, batch_size=200)
        W0 = _weight(k.fetch(model0.state_dict()))
        data = F.cross_entropy(k.fetch(model0(k.value(Xtr))).double(), ytr).item()
        penalty = 0.5 * W0.double().pow(2).sum().item() if W0 is not None else 0.0
        for v in still["train_loss"]:
            if math.isclose(v, data, rel_tol=1e-4) or math.isclose(v, data + penalty, rel_tol=1e-4):
                continue
            summed = any(math.isclose(v, 800 * data + n * penalty, rel_tol=1e-3) for n in (0, 4, 800))
            why = ("the loss summed over the epoch's examples — log the mean" if summed else
                   "the epoch's mean training loss is the mean over all its minibatches (one batch's loss is not it)")
            raise Fail(f"1.5: with lr = 0 (the weights never move) and 4 batches of 200, train_loss logged {v:.5f}; "
                       f"the training loss of those weights is {data:.5f} ({data + penalty:.5f} with the penalty) — "
                       f"{why}")
        # The validation loss is the cross-entropy alone, without the penalty (λ = 0.5 makes it plain).
        val_logits = k.fetch(model0(k.value(Xv))).double()
        vdata = F.cross_entropy(val_logits, yv).item()
        for v in still["val_loss"]:
            if not math.isclose(v, vdata, rel_tol=1e-4, abs_tol=1e-6):
                why = (" — that includes the penalty λ‖W‖²: log the validation cross-entropy alone"
                       if math.isclose(v, vdata + penalty, rel_tol=1e-4) else "")
                raise Fail(f"1.5: with lr = 0 (the weights never move) and λ = 0.5, val_loss logged {v:.5f}; the "
                           f"validation cross-entropy of those weights is {vdata:.5f}{why}")
        # Uneven batches (800 = 300 + 300 + 200) of examples that all have the same loss ℓ: whether the epoch's mean
        # is taken over the examples or over the batches, it is ℓ.
        same = k.value([Xtr[:1].expand(800, -1).clone(), ytr[:1].expand(800).clone()])
        model1, _, uneven = run(same, optimiser="sgd", lr=0.0, lam=0.0, n_epochs=1, batch_size=300)
        ell = F.cross_entropy(k.fetch(model1(k.value(Xtr[:1]))).double(), ytr[:1]).item()
        v = uneven["train_loss"][0]
        if not math.isclose(v, ell, rel_tol=1e-4, abs_tol=1e-6):
            known = {"weights the last, smaller batch as if it were full — weight each batch's loss by its own size "
                     "(len(yb)), not batch_size": ell * 900 / 800,
                     "divides by len(X) // batch_size = 2 batches, but the last, partial batch is a third one":
                         ell * 3 / 2,
                     "counts only the full batches' examples": ell * 600 / 800}
            why = next((w for w, x in known.items() if math.isclose(v, x, rel_tol=1e-4)), "log the mean over the epoch")
            raise Fail(f"1.5: with lr = 0 and batches of 300, 300 and 200 training examples that all have the same "
                       f"loss {ell:.5f}, train_loss logged {v:.5f} — {why}")
    # SGD must learn too.
    _, _, sgd = run(optimiser="sgd", lr=0.05)
    if sgd["train_loss"][-1] > sgd["train_loss"][0] * 0.9:
        raise Fail(f"1.5: optimiser='sgd' (lr 0.05) does not learn: training loss "
                   f"{', '.join(f'{v:.3f}' for v in sgd['train_loss'])}")
    # λ must reach the weights: a large λ shrinks W.
    small = _weight(k.fetch(run(lam=0.0, n_epochs=2)[0].state_dict()))
    large = _weight(k.fetch(run(lam=1.0, n_epochs=2)[0].state_dict()))
    if small is None or large is None:
        raise Fail("1.5: the model should be linear: one weight matrix (and a bias)")
    if not large.norm() < 0.5 * small.norm():
        raise Fail(f"1.5: λ = 1 leaves ‖W‖ at {large.norm():.3f} (λ = 0: {small.norm():.3f}) — minimise "
                   "regularised_loss, with the lam argument, not the data loss alone")
    # Training reads the data it is given and leaves it as it was.
    unchanged(ctx, train[0], Xtr, "train_linear", "training features")
    unchanged(ctx, val[0], Xv, "train_linear", "validation features")


def _logged_losses_by_definition(opt_name: str, lr: float, logged: dict, before: list[float],
                                 val_after: list[float]) -> None:
    """One full batch per epoch: the epoch's training loss is the loss before its step, the validation loss the
    loss after it; the reference run gives both, from the same initial weights."""
    train = logged["train_loss"]
    if not all(math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-5) for a, b in zip(train, before)):
        after = before[1:] + [None]
        if all(math.isclose(a, 800 * b, rel_tol=1e-3) for a, b in zip(train, before)):
            why = "the loss summed over the epoch's 800 examples — log the mean"
        elif all(b is None or math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-5) for a, b in zip(train, after)):
            why = ("the loss after the epoch's update — log the losses computed while training (before opt.step()), "
                   "not the loss measured again afterwards")
        else:
            why = "the epoch's mean training loss is the mean of the losses of its minibatches"
        raise Fail(f"1.5: with one full batch per epoch (optimiser='{opt_name}', lr {lr}, λ = 0), train_loss logged "
                   f"{', '.join(f'{v:.4f}' for v in train)}; the losses before each step are "
                   f"{', '.join(f'{v:.4f}' for v in before)} — {why}")
    val = logged["val_loss"]
    if not all(math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-5) for a, b in zip(val, val_after)):
        raise Fail(f"1.5: with one full batch per epoch (optimiser='{opt_name}', lr {lr}), val_loss logged "
                   f"{', '.join(f'{v:.4f}' for v in val)}; the validation cross-entropy after each epoch's step is "
                   f"{', '.join(f'{v:.4f}' for v in val_after)} — measure it after the epoch's training")


# --------------------------------------------------------------------------- 1.5 selection

@judge("1_5_select")
def choose_config(ctx: Context) -> None:
    k = ctx.kernel
    runs = {("sgd", 0.01, 1e-4): ([0.95, 0.8, 0.7, 0.65], [0.9, 0.5, 0.1, 0.05], [0.5, 0.45, 0.4, 0.30]),
            ("adam", 0.001, 1e-4): ([0.5, 0.31, 0.35, 0.4], None, [0.4, 0.39, 0.41, 0.42]),
            ("adam", 0.01, 0.01): ([0.6, 0.3, 0.45, 0.85], None, [0.42, 0.40, 0.35, 0.44])}
    # The lowest validation loss: ('adam', 0.01, 0.01) at epoch 2. The sgd run has the lowest validation error and
    # training loss; ('adam', 0.001) ends lowest.
    known = {("sgd", 0.01, 1e-4): "that run has the lowest validation error and training loss, not the lowest "
                                  "validation loss",
             ("adam", 0.001, 1e-4): "that run ends with the lowest validation loss, but another run reaches a lower "
                                    "one earlier: compare each run's best epoch (History.best_val_loss)"}
    remote = {cfg: remote_history(ctx, *r) for cfg, r in runs.items()}
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        cfgs = [list(runs)[i] for i in order]
        try:
            got = k.fetch(k.ns.choose_config(k.value({c: remote[c] for c in cfgs})))
        except RemoteError as exc:
            raise Fail(f"1.5: choose_config raised {exc} — on histories that hold only the logged numbers (no weights); "
                       "choose from the validation losses alone: no models, no test data") from None
        try:
            got = (str(got[0]), float(got[1]), float(got[2]))
        except (TypeError, ValueError, IndexError):
            raise Fail(f"1.5: choose_config should return one of the configurations (a key of histories), got "
                       f"{got!r}") from None
        if got != ("adam", 0.01, 0.01):
            why = known.get(got, "")
            raise Fail(f"1.5: choose_config returned {got}, expected ('adam', 0.01, 0.01), whose run reaches the lowest "
                       "validation loss (0.3)" + (f" — {why}" if why else ""))


# --------------------------------------------------------------------------- 1.5 results

@judge("1_5_results", timeout=180)
def results(ctx: Context) -> None:
    k = ctx.kernel
    torch_ = k.module("torch")
    chosen = k.fetch(k.ns.choose_config(k.ns.histories))
    best = k.fetch(k.ns.best_config)
    if [str(chosen[0]), float(chosen[1]), float(chosen[2])] != [str(best[0]), float(best[1]), float(best[2])]:
        raise Fail(f"1.5: the report uses {tuple(best)}, but choose_config picks {tuple(chosen)} — report the "
                   "configuration chosen on validation; the test set is looked at once, never used to choose")
    d = cifar10()
    mean = d.train_x.flatten(1).mean(0)
    model = k.ns.best_model
    model.eval()
    val_feats = torch_.sub(remote_images(k, d.val_x).flatten(1), k.value(mean))
    try:
        val_logits = k.fetch(model(val_feats))
    except RemoteError as exc:
        raise Fail(f"1.5: best_model cannot score centred validation features ({exc})") from None
    logged = k.fetch(k.ns.histories[k.ns.best_config].best_val_loss)
    measured = F.cross_entropy(val_logits, d.val_y).item()
    if not math.isclose(measured, logged, rel_tol=0.01):
        raise Fail(f"1.5: best_model has validation loss {measured:.4f}, but the chosen run's best epoch logged "
                   f"{logged:.4f} — load that epoch's weights (History.load_best), not the last epoch's")
    test_imgs = remote_images(k, d.test_x).flatten(1)
    test_logits = k.fetch(model(torch_.sub(test_imgs, k.value(mean))))
    accuracy = (test_logits.argmax(1) == d.test_y).double().mean().item()
    reported = k.fetch(k.ns.test_accuracy)
    try:
        reported = float(reported)
    except (TypeError, ValueError):
        raise Fail(f"1.5: test_accuracy should be a number, got {type(reported).__name__}") from None
    if not math.isclose(reported, accuracy, abs_tol=3e-4):     # the same model on the same images: 3 images of slack
        raw = (k.fetch(model(test_imgs)).argmax(1) == d.test_y).double().mean().item()
        if math.isclose(reported, raw, abs_tol=3e-4):
            why = (" — your test images were not centred: subtract the mean *training* image from the test images too, "
                   "as for training")
        elif math.isclose(reported, 100 * accuracy, rel_tol=1e-2):
            why = " — a percentage; report a fraction in [0, 1]"
        elif math.isclose(reported, 1 - accuracy, abs_tol=2e-3):
            why = " — that is the error; report the accuracy"
        else:
            why = " — measure best_model on the test images, preprocessed with the training mean"
        raise Fail(f"1.5: test_accuracy is {reported:.4f}, but best_model scores {accuracy:.4f} on the test set{why}")
    _accuracy_reported(ctx, "val_accuracy", (val_logits.argmax(1) == d.val_y).double().mean().item(), "validation")
    _reports_the_best_epoch(ctx, val_feats, d.val_y)
    ref = ctx.reference("1.5/test_accuracy", accuracy)
    upstream = ctx.failed("1_2", "1_4", "1_5", "1_5_select")
    if upstream:
        ctx.notes.append(f"1.5: test accuracy {accuracy:.2%} not held against the results, since {', '.join(upstream)} failed")
        return
    bound = 0.25 if ref is None else ref - 0.06      # fast mode: 2 epochs on 5,000 images; seeds move it ±2 points
    if accuracy < bound:
        raise Fail(f"1.5: best_model's test accuracy is {accuracy:.2%}, below {bound:.1%} (fast mode)")


def _accuracy_reported(ctx: Context, name: str, accuracy: float, split: str, when: str = "", hint: str = "") -> None:
    """The notebook's ``name`` is best_model's accuracy on the centred ``split`` images, a fraction."""
    reported = ctx.kernel.fetch(getattr(ctx.kernel.ns, name)) if name in ctx.kernel.ns else None
    try:
        reported = float(reported)
    except (TypeError, ValueError):
        raise Fail(f"1.5: {name} should be a number, got {type(reported).__name__}") from None
    if math.isclose(reported, accuracy, abs_tol=3e-4):
        return
    if math.isclose(reported, 100 * accuracy, rel_tol=1e-2):
        why = " — a percentage; report a fraction in [0, 1]"
    elif math.isclose(reported, 1 - accuracy, abs_tol=2e-3):
        why = " — that is the error; report the accuracy"
    else:
        why = hint or f" — measure best_model (its best epoch's weights) on the {split} images, centred with the training mean"
    raise Fail(f"1.5: {name} is {reported:.4f}, but best_model scores {accuracy:.4f} on the {split} set{when}{why}")


def _floats_2d(state: dict) -> list[torch.Tensor]:
    return [t for t in state.values() if torch.is_tensor(t) and t.is_floating_point() and t.ndim == 2]


def _reports_the_best_epoch(ctx: Context, val_feats, val_y: torch.Tensor) -> None:
    """Run the report cell again after marking the chosen run's kept weights (and the validation error logged for
    that epoch, which the report may read instead of measuring): best_model must carry them, and val_accuracy be
    theirs.

    In fast mode the best epoch is often the last, so a report that forgets History.load_best (or measures before
    it) would not show. The mark is small random weights: no ties between the classes' scores."""
    source = ctx.cells.get("1_5_report")
    if not source:
        return
    k = ctx.kernel
    mark = ("_judge_h = histories[best_config]\n"
            "_judge_kept = (_judge_h.best_state, list(_judge_h.val_error))\n"
            "_judge_g = torch.Generator().manual_seed(2101)\n"
            "_judge_h.best_state = {n: (torch.randn(t.shape, generator=_judge_g).to(t.dtype) * 0.01\n"
            "                           if t.is_floating_point() else t) for n, t in _judge_kept[0].items()}\n")
    if k.run_cell(mark, timeout=30) is not None:
        return
    try:
        probe = k.module("copy").deepcopy(k.ns.best_model)
        probe.load_state_dict(k.ns._judge_h.best_state)
        probe.eval()
        marked_logits = k.fetch(probe(val_feats))
        accuracy = (marked_logits.argmax(1) == val_y).double().mean().item()
        best = k.fetch(k.ns._judge_h.best_epoch)
        if len(k.fetch(k.ns._judge_kept[1])) >= best:
            k.run_cell(f"_judge_h.val_error[{best - 1}] = {1 - accuracy!r}\n", timeout=30)
    except RemoteError:
        accuracy = None
    try:
        error = k.run_cell(source, timeout=120)
        if error is not None:
            raise Fail(f"1.5: the report cell fails when run again: {error[0]}: {error[1][:200]}")
        state = k.fetch(k.ns.best_model.state_dict())
        marked = _floats_2d(k.fetch(k.ns._judge_h.best_state))
        weights = _floats_2d(state)
        if not weights or len(weights) != len(marked) or not all(
                w.shape == m.shape and torch.equal(w, m) for w, m in zip(weights, marked)):
            raise Fail("1.5: best_model does not carry the weights the chosen run kept for its best epoch — load them "
                       "with histories[best_config].load_best(model), not the last epoch's weights")
        if accuracy is not None:
            _accuracy_reported(ctx, "val_accuracy", accuracy, "validation",
                               " when the chosen run kept other weights for its best epoch",
                               " — measure it after loading the best epoch's weights (load_best), not before")
    finally:
        # Put the kept weights and the logged errors back, and the report's variables with them.
        k.run_cell("_judge_h.best_state = _judge_kept[0]\n_judge_h.val_error[:] = _judge_kept[1]\n", timeout=30)
        k.run_cell(source, timeout=120)


# --------------------------------------------------------------------------- 1.5 tiers, from the saved weights

def _linear(ctx: Context, k: Kernel, model: Remote) -> None:
    """The saved model must be a linear classifier: scores(a·x1 + (1−a)·x2) = a·scores(x1) + (1−a)·scores(x2).
    Probed on the loaded checkpoint, in the kernel that then measures its test error."""
    g = torch.Generator().manual_seed(15)
    x1, x2 = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
    try:
        s1, s2, s3 = (k.fetch(model(k.value(x))) for x in (x1, x2, 0.3 * x1 + 0.7 * x2))
    except RemoteError:
        return    # the measurement reports why the model does not take images
    if not close(s3, 0.3 * s1 + 0.7 * s2, rtol=1e-3, atol=1e-3):
        raise Fail("1.5: lab1_best.pt is not a linear classifier (its scores are not affine in the pixels) — this lab "
                   "grades a linear model: course.PixelClassifier around a linear layer 3072 → 10")


def _tier(ctx: Context, bound: float) -> None:
    d = cifar10()
    checkpoint_tier(ctx, "lab1_best.pt", "build_best_model", d.test_x, d.test_y, accuracy_at_least=bound,
                    check=_linear)


judge_tiers({"1_5_at_least_36": 0.36, "1_5_at_least_38": 0.38, "1_5_at_least_39_5": 0.395}, _tier)


# --------------------------------------------------------------------------- 1.6 templates

@judge("1_6")
def templates(ctx: Context) -> None:
    k = ctx.kernel
    name = next((n for n in ("final_linear", "best_model") if n in k.ns), None)
    if name is None:
        raise Fail("1.6: the notebook has no trained model (final_linear) to take templates from — run Task 1.5's cells")
    # A copy of the notebook's model, given weights of its own: the templates must come from the model passed in
    # (not from a global such as final_linear), and the notebook's models stay as they were.
    original = k.fetch(getattr(k.ns, name).state_dict())
    try:
        model = k.module("copy").deepcopy(getattr(k.ns, name))
    except RemoteError:
        model = getattr(k.ns, name)
    state = k.fetch(model.state_dict())
    g = torch.Generator().manual_seed(16)
    # Fresh values in the student's own layout, so that a template of W's columns or of the wrong axis shows.
    new = {n: (torch.randn(t.shape, generator=g) if torch.is_tensor(t) and t.is_floating_point() else t)
           for n, t in state.items()}
    W = find_param([t for t in new.values() if torch.is_tensor(t)], (10, 3072), (3072, 10))
    if W is None:
        raise Fail(f"1.6: {name} has no 10 × 3072 weight among {[tuple(t.shape) for t in new.values()]}")
    model.load_state_dict(k.value(new))
    got = tensor(ctx, call(ctx, "class_templates(model)", k.ns.class_templates, model), "class_templates(model)", (10, 3, 32, 32), double=True)
    want = W.double().reshape(10, 3, 32, 32)
    if close(got, want, rtol=1e-5, atol=1e-6):
        return
    if close(got, W.double().reshape(10, 32, 32, 3).permute(0, 3, 1, 2), rtol=1e-5, atol=1e-6):
        raise Fail("1.6: the templates mix up the channels — a flattened image is 1024 red, then 1024 green, then "
                   "1024 blue values: reshape each row of W to (3, 32, 32) directly")
    if close(got, W.double().T.reshape(3072, 10).T.reshape(10, 3, 32, 32), rtol=1e-5, atol=1e-6) or \
            close(got, W.double().T.reshape(10, 3, 32, 32), rtol=1e-5, atol=1e-6):
        raise Fail("1.6: the templates are built from W's columns mixed across classes — template c is row c of W "
                   "(10, 3072), reshaped")
    W_orig = find_param([t for t in original.values() if torch.is_tensor(t)], (10, 3072), (3072, 10))
    if W_orig is not None and close(got, W_orig.double().reshape(10, 3, 32, 32), rtol=1e-5, atol=1e-6):
        raise Fail(f"1.6: class_templates(model) returns the templates of {name}, not of the model passed to it — "
                   "take W from the model argument")
    raise Fail("1.6: class_templates(model) is not the rows of W reshaped to (10, 3, 32, 32), unscaled")


# --------------------------------------------------------------------------- 1.7 features

def _colour_ref(images: torch.Tensor, bins: int) -> torch.Tensor:
    N, C = images.shape[:2]
    idx = (images.double() * bins).floor().long().clamp(0, bins - 1).flatten(2)
    counts = torch.zeros(N, C, bins, dtype=torch.float64).scatter_add_(2, idx, torch.ones_like(idx, dtype=torch.float64))
    return (counts / idx.shape[2]).reshape(N, C * bins)


def _ramp(h: int, w: int, gx: float, gy: float) -> torch.Tensor:
    rows = torch.arange(h, dtype=torch.float32)[:, None]
    cols = torch.arange(w, dtype=torch.float32)[None, :]
    img = 0.5 + (gx * (cols - w / 2) + gy * (rows - h / 2)) / (2 * max(h, w))
    return img.expand(1, 3, h, w).clone()    # (1, 3, H, W) in (0, 1)


@judge("1_7")
def features(ctx: Context) -> None:
    k = ctx.kernel
    g = torch.Generator().manual_seed(17)
    # Random pixels, plus exact bin edges (k/8 is exact in binary) and 0 and 1.
    imgs = torch.rand(3, 3, 6, 10, generator=g)
    imgs[0, 0, 0, :9] = torch.arange(9) / 8
    imgs[1, 2, 5, :] = 1.0
    for bins in (8, 4, 5):
        remote = k.value(imgs)
        got = tensor(ctx, call(ctx, f"colour_histogram(images (3, 3, 6, 10), bins={bins})", k.ns.colour_histogram, remote, bins=k.value(bins)), "colour_histogram", (3, 3 * bins), double=True)
        unchanged(ctx, remote, imgs, "colour_histogram(images, bins)", "images")
        want = _colour_ref(imgs, bins)
        if close(got, want, rtol=0, atol=1e-6):
            continue
        if close(got, want * 60, rtol=0, atol=1e-4):
            why = "holds counts — divide by the number of pixels, so each channel's bins sum to 1"
        elif close(got, want.reshape(3, 3, bins).transpose(1, 2).reshape(3, -1), rtol=0, atol=1e-6):
            why = "interleaves the channels — put the R bins first, then G, then B"
        elif close(got, want / 3, rtol=0, atol=1e-6):
            why = "is normalised over all three channels — each channel's bins sum to 1"
        elif close(got.reshape(3, 3, bins).sum(-1), torch.ones(3, 3, dtype=torch.float64), atol=1e-6) is False and \
                close(got.reshape(3, 3, bins).sum(-1)[1, 2], (59 / 60), atol=1e-6):
            why = "drops pixels of value exactly 1.0 — they belong in the last bin"
        else:
            sums = got.reshape(3, 3, bins).sum(-1)
            why = (f"differs from the fraction of pixels per bin (per-channel sums {sums[0].tolist()})"
                   if not close(sums, torch.ones(3, 3, dtype=torch.float64), atol=1e-6) else
                   "puts some pixels in the wrong bin — bin k holds values in [k/bins, (k+1)/bins), 1.0 in the last")
        raise Fail(f"1.7: colour_histogram with bins={bins} {why}")

    def grad_hist(images, bins, cell, what):
        """The histograms of the blocks away from the border, (N, blocks·bins): the text leaves the border rule free
        (zero padding, replicated edges, one-sided differences), so no check looks at a block touching the border."""
        n, _, h, w = images.shape
        remote = k.value(images)
        out = call(ctx, f"gradient_histogram({what}, bins={bins}, cell={cell})", k.ns.gradient_histogram, remote, bins=k.value(bins), cell=k.value(cell))
        if cell != 8 and torch.is_tensor(out) and out.shape[-1] == (h // 8) * (w // 8) * bins:
            raise Fail(f"1.7: gradient_histogram({what}, cell={cell}) has {out.shape[-1]} numbers per image, those of "
                       f"8×8 blocks — use the cell argument: {h // cell}×{w // cell} blocks of {cell}×{cell} pixels")
        out = tensor(ctx, out, "gradient_histogram", (n, (h // cell) * (w // cell) * bins), double=True)
        unchanged(ctx, remote, images, "gradient_histogram(images, bins, cell)", "images")
        if not bool(torch.isfinite(out).all()):
            raise Fail(f"1.7: gradient_histogram of {what} is NaN/inf — a block without gradients has a zero "
                       "histogram; guard the normalisation (add a small epsilon)")
        if bool((out < -1e-9).any()):
            raise Fail("1.7: gradient_histogram has negative entries — histograms of magnitudes are non-negative")
        return out.reshape(n, h // cell, w // cell, bins)[:, 1:-1, 1:-1].reshape(n, -1)

    # Every image is 24×32: with cell 8 (3×4 blocks) or 4 (6×8), some blocks lie away from the border.
    H, W = 24, 32
    flat = torch.full((2, 3, H, W), 0.5)     # exact in binary: the grey image is exactly flat
    out = grad_hist(flat, 9, 8, "a constant image")
    if out.abs().max() > 1e-6:
        raise Fail("1.7: gradient_histogram of a constant image is not zero away from the border — histogram gradient "
                   "*orientations*, weighted by gradient magnitude (a flat image has none)")
    # Ramps: gradient along x (θ = 0), along y downwards (θ = π/2), diagonals (π/4 and 3π/4).
    for (gx, gy), bins, want, what in (((1.0, 0.0), 9, 0, "along x (θ = 0)"), ((0.0, 1.0), 9, 4, "along y (θ = π/2)"),
                                       ((-1.0, 0.0), 9, 0, "along −x (θ = π ≡ 0, unsigned)"),
                                       ((1.0, 0.5), 8, 1, "right and a little down (θ ≈ 27°)"),
                                       ((1.0, -0.5), 8, 6, "right and a little up (θ ≈ 153°)"),
                                       ((0.0, 1.0), 5, 2, "along y (θ = π/2), in 4×4 cells")):
        h = grad_hist(_ramp(H, W, gx, gy), bins, 4 if "4×4" in what else 8, f"a ramp {what}")
        per_bin = h.reshape(-1, bins).sum(0)
        if int(per_bin.argmax()) != want:
            raise Fail(f"1.7: for an image whose intensity rises {what}, most weight falls in bin "
                       f"{int(per_bin.argmax())} of {bins}; bin {want} expected — θ = atan2(g_y, g_x) mod π, with g_x "
                       "the change from column to column and g_y from row to row (downwards)")
    # Columns alternating dark, light, dark… over a gentle ramp downwards: central differences and Sobel filters see
    # no change along x (column j+1 and column j−1 are alike), only the ramp (θ = π/2); forward differences see ±0.4.
    stripes = (0.3 + 0.4 * (torch.arange(W) % 2) + 0.01 * torch.arange(H)[:, None]).float().expand(1, 3, H, W).clone()
    per_bin = grad_hist(stripes, 9, 8, "columns alternating dark and light").reshape(-1, 9).sum(0)
    if int(per_bin.argmax()) != 4:
        raise Fail(f"1.7: on an image whose columns alternate dark, light, dark… over a gentle ramp downwards, most "
                   f"weight falls in bin {int(per_bin.argmax())} of 9; bin 4 (θ = π/2) expected — central differences "
                   "(x[j+1] − x[j−1]) / 2 and Sobel filters see no change along x there; forward or backward "
                   "differences (x[j+1] − x[j]) are not what the text asks")
    ramp = _ramp(H, W, 1.0, 0.5)
    base = grad_hist(ramp, 9, 8, "a ramp")
    shifted = grad_hist(ramp - 0.2, 9, 8, "the same ramp, darker")
    if not close(base, shifted, rtol=1e-4, atol=1e-5):
        raise Fail("1.7: gradient_histogram changes when the same constant is subtracted from every pixel — it should "
                   "depend on intensity *differences* (gradients) only")
    # A steeper second image: anything scaled over the whole batch shows in the first image's histograms.
    both = grad_hist(torch.cat([ramp, _ramp(H, W, 0.0, 2.0)]), 9, 8, f"two ramps in one batch (2, 3, {H}, {W})")
    if not close(both[:1], base, rtol=1e-4, atol=1e-5):
        raise Fail("1.7: gradient_histogram of an image changes with the other images in its batch — compute (and "
                   "normalise, if you do) each image's histograms on their own")
    colours = ramp.clone()
    tilt = _ramp(H, W, 0.0, 1.0)[:, 0] - 0.5      # a vertical ramp added to red and taken from green: grey unchanged
    colours[:, 0] += tilt
    colours[:, 1] -= tilt
    if not close(grad_hist(colours, 9, 8, "a ramp with its colours shifted"), base, rtol=1e-4, atol=1e-5):
        raise Fail("1.7: gradient_histogram should work on the grey image (the mean of the three channels)")

    # The stated rule, by behaviour: torch ops over the whole batch, no Python loop over the images (a loop over
    # the bins, the channels or the blocks runs as many operators for 8 images as for 2, and is allowed).
    g = torch.Generator().manual_seed(71)
    for fn, make_args in (("colour_histogram", lambda n: (torch.rand(n, 3, 8, 8, generator=g), 4)),
                          ("gradient_histogram", lambda n: (torch.rand(n, 3, 16, 16, generator=g), 9, 8))):
        counts = _op_counts(ctx, fn, make_args, (2, 8))
        if counts is not None and (counts[1] - counts[0]) / 6 >= 0.9:
            raise Fail(f"1.7: {fn} runs a Python loop over the images (N=2: {counts[0]} ops, N=8: {counts[1]} ops) — "
                       "the text asks for torch ops over the whole batch")
