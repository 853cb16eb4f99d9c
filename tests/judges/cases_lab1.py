"""Lab 1's mutation corpus (the judges: autograder/judges/lab1_linear.py): each BUG variant of an answer cell must lose
its task's points with a message naming the cause; each OK variant, a correct answer written another way, must
keep full marks. ``test_contract.py`` runs them; what is particular to this lab is here."""
from __future__ import annotations

import textwrap

from harness import LabSpec, Notebook, bug, ok, reference_file, src

LAB = "lab1_linear"
NB = Notebook.of(LAB)
CHECKPOINT = reference_file(LAB, "lab1_best.pt")

SETUP, DATA, MEAN = "start+1", "start+2", "start+3"
SWEEP, TRAIN = "1_5+1", "1_5_train"
DEFINITIONS = ("1_1_code", "1_2_code", "1_3_code", "1_4_code", "1_5_code", "1_5_select_code", "1_5_best_code",
               "1_6_code", "1_7_code")
STATE = (SETUP, DATA, MEAN, "1_1_code", "1_2_code", "1_3_code", "1_4_code", "1_5_code", SWEEP, "1_5_select_code",
         "1_5_report", "1_5_best_code", TRAIN, "1_6_code", "1_7_code")
TIERS = ("1_5_at_least_36", "1_5_at_least_38", "1_5_at_least_39_5")




P = NB.patched

# --------------------------------------------------------------------------- 1.1 scores
CASES_1_1 = [
    bug("1.1", "no-transpose", P("1_1_code", ("return X @ W.T + b", "return X @ W + b")), r"1\.1: .*(shape|multiplied)"),
    bug("1.1", "no-bias", P("1_1_code", ("return X @ W.T + b", "return X @ W.T")), r"1\.1: .*bias b is missing"),
    bug("1.1", "ones-first", P("1_1_code", ("torch.cat([X, torch.ones(", "torch.cat([torch.ones("),
                               ("device=X.device)], dim=1)", "device=X.device), X], dim=1)")), r"1\.1: .*1 goes last"),
    bug("1.1", "bias-first-column", P("1_1_code", ("torch.cat([W, b[:, None]], dim=1)", "torch.cat([b[:, None], W], dim=1)")),
        r"1\.1: .*last column"),
    bug("1.1", "fold-bias-as-row", P("1_1_code", ("torch.cat([W, b[:, None]], dim=1)", "torch.cat([W.T, b[None, :]], dim=0)")),
        r"1\.1: .*fold_bias.*shape"),
    bug("1.1", "untouched-stub", NB.stub("1_1_code"), r"NotImplementedError"),
    ok("1.1", "einsum-and-pad", src('''
        def scores(X, W, b):
            return torch.einsum("nd,cd->nc", X, W) + b[None, :]

        def append_ones(X):
            return F.pad(X, (0, 1), value=1.0)

        def fold_bias(W, b):
            return torch.hstack([W, b.unsqueeze(1)])
        ''')),
    ok("1.1", "matmul-t-and-new-ones", src('''
        def scores(X, W, b):
            return torch.matmul(X, W.t()) + b

        def append_ones(X):
            out = X.new_ones(X.shape[0], X.shape[1] + 1)
            out[:, :-1] = X
            return out

        def fold_bias(W, b):
            return torch.column_stack([W, b])
        ''')),
]

# --------------------------------------------------------------------------- 1.2 softmax and cross-entropy
SHIFT = "    shifted = S - S.max(dim=1, keepdim=True).values   # the largest score of each row becomes 0\n"
LOGP = "    log_p = S - torch.logsumexp(S, dim=1, keepdim=True)   # (N, C) log-probabilities, stable\n"
CE_RET = "    return -log_p[torch.arange(len(y)), y].mean()"
CASES_1_2 = [
    bug("1.2", "softmax-dim0", P("1_2_code", (SHIFT, "    shifted = S - S.max(dim=0, keepdim=True).values\n"),
                                 ("e / e.sum(dim=1, keepdim=True)", "e / e.sum(dim=0, keepdim=True)")),
        r"1\.2: .*column.*dim=1"),
    bug("1.2", "naive-softmax", P("1_2_code", (SHIFT, "    shifted = S\n")), r"1\.2: .*overflow.*maximum"),
    bug("1.2", "ce-log-of-softmax", P("1_2_code", (LOGP, "    log_p = softmax(S).log()\n")), r"1\.2: .*underflow.*logsumexp"),
    bug("1.2", "ce-naive", P("1_2_code", (LOGP, "    log_p = (S.exp() / S.exp().sum(1, keepdim=True)).log()\n")),
        r"1\.2: .*(underflow|±1000)"),
    bug("1.2", "ce-sum", P("1_2_code", (CE_RET, "    return -log_p[torch.arange(len(y)), y].sum()")), r"1\.2: .*summed over the batch"),
    bug("1.2", "ce-wrong-axis", P("1_2_code", (LOGP, "    log_p = S - torch.logsumexp(S, dim=0, keepdim=True)\n")),
        r"1\.2: .*dim 0.*dim=1"),
    bug("1.2", "ce-mean-over-all-classes", P("1_2_code", (CE_RET, "    return -log_p.mean()")), r"1\.2: .*every class"),
    bug("1.2", "ce-positive-log", P("1_2_code", (CE_RET, "    return log_p[torch.arange(len(y)), y].mean()")),
        r"1\.2: .*\+log p"),
    bug("1.2", "ce-first-column", P("1_2_code", (CE_RET, "    return -log_p[:, 0].mean()")), r"1\.2: .*expected"),
    bug("1.2", "untouched-stub", NB.stub("1_2_code"), r"NotImplementedError"),
    # The stated rule, by behaviour: the library's softmax and cross-entropy by any name.
    bug("1.2", "library-softmax", src('''
        def softmax(S):
            return F.softmax(S, dim=1)

        def cross_entropy(S, y):
            return -(S - torch.logsumexp(S, dim=1, keepdim=True))[torch.arange(len(y)), y].mean()
        '''), r"1\.2: softmax\(S\) used aten::_softmax — the text asks for .*not F\.softmax"),
    bug("1.2", "tensor-method-softmax", src('''
        def softmax(S):
            return S.softmax(1)

        def cross_entropy(S, y):
            return -(S - torch.logsumexp(S, dim=1, keepdim=True))[torch.arange(len(y)), y].mean()
        '''), r"1\.2: .* used aten::_softmax"),
    bug("1.2", "library-loss-module", src('''
        def softmax(S):
            return torch.exp(S - torch.logsumexp(S, dim=1, keepdim=True))

        def cross_entropy(S, y):
            return torch.nn.CrossEntropyLoss()(S, y)
        '''), r"1\.2: cross_entropy\(S, y\) used aten::(nll_loss|cross_entropy).* not F\.softmax / F\.cross_entropy"),
    bug("1.2", "nll-of-own-log-probabilities", src('''
        def softmax(S):
            return torch.exp(S - torch.logsumexp(S, dim=1, keepdim=True))

        def cross_entropy(S, y):
            return F.nll_loss(S - torch.logsumexp(S, dim=1, keepdim=True), y)
        '''), r"1\.2: .* used aten::nll_loss"),
    ok("1.2", "max-subtraction-gather", src('''
        def softmax(S):
            z = S - S.amax(dim=1, keepdim=True)
            return z.exp() / z.exp().sum(dim=1, keepdim=True)

        def cross_entropy(S, y):
            z = S - S.amax(dim=1, keepdim=True)
            log_p = z - z.exp().sum(dim=1, keepdim=True).log()
            return -log_p.gather(1, y[:, None]).mean()
        ''')),
    ok("1.2", "one-hot-mask", src('''
        def softmax(S):
            return torch.exp(S - torch.logsumexp(S, dim=1, keepdim=True))

        def cross_entropy(S, y):
            onehot = F.one_hot(y, S.shape[1]).to(S.dtype)
            return (torch.logsumexp(S, dim=1) - (S * onehot).sum(dim=1)).mean()
        ''')),
    ok("1.2", "log-softmax-and-loop-free-index", src('''
        def softmax(S):
            m = S.max(1, keepdim=True)[0]
            e = torch.exp(S - m)
            return e / torch.sum(e, 1, keepdim=True)

        def cross_entropy(S, y):
            return -torch.log_softmax(S, dim=-1)[range(S.shape[0]), y].sum() / S.shape[0]
        ''')),
]

# --------------------------------------------------------------------------- 1.3 SVM
MASK = "    margins = margins.masked_fill(F.one_hot(y, S.shape[1]).bool(), 0.0)   # the true class does not count\n"
CASES_1_3 = [
    bug("1.3", "counts-true-class", P("1_3_code", (MASK, "")), r"1\.3: .*counts the true class"),
    bug("1.3", "margin-wrong-side", P("1_3_code", ("(S - correct + margin)", "(S - correct - margin)")),
        r"1\.3: .*expected"),
    bug("1.3", "margin-flipped", P("1_3_code", ("(S - correct + margin)", "(correct - S + margin)")),
        r"1\.3: .*wrong side"),
    bug("1.3", "summed", P("1_3_code", ("    return margins.sum(dim=1).mean()", "    return margins.sum()")),
        r"1\.3: .*summed over the batch"),
    bug("1.3", "max-not-sum", P("1_3_code", ("    return margins.sum(dim=1).mean()", "    return margins.max(dim=1).values.mean()")),
        r"1\.3: .*largest term"),
    bug("1.3", "margin-hard-coded", P("1_3_code", ("(S - correct + margin)", "(S - correct + 1.0)")),
        r"1\.3: .*ignores the margin"),
    bug("1.3", "untouched-stub", NB.stub("1_3_code"), r"NotImplementedError"),
    ok("1.3", "relu-and-subtract-margin", src('''
        def svm_loss(S, y, margin=1.0):
            correct = S[torch.arange(len(y)), y].unsqueeze(1)
            # the true class contributes exactly max(0, margin) = margin: take it back out
            return (F.relu(S - correct + margin).sum(dim=1) - margin).mean()
        ''')),
    ok("1.3", "where", src('''
        def svm_loss(S, y, margin=1.0):
            correct = S.gather(1, y.view(-1, 1))
            m = S - correct + margin
            m = torch.where(m > 0, m, torch.zeros_like(m))
            m[torch.arange(S.shape[0]), y] = 0
            return m.sum() / S.shape[0]
        ''')),
    ok("1.3", "one-hot-multiply", src('''
        def svm_loss(S, y, margin=1.0):
            onehot = F.one_hot(y, S.shape[1]).to(S.dtype)
            correct = (S * onehot).sum(dim=1, keepdim=True)
            return (torch.clamp(S - correct + margin, min=0) * (1 - onehot)).sum(dim=1).mean()
        ''')),
]

# --------------------------------------------------------------------------- 1.4 regularisation
REG = "    return data_loss(scores(X, W, b), y) + lam * (W ** 2).sum()"
CASES_1_4 = [
    bug("1.4", "regularises-bias", P("1_4_code", (REG, REG + " + lam * (b ** 2).sum()")), r"1\.4: .*regularises the bias"),
    bug("1.4", "norm-not-squared", P("1_4_code", (REG, "    return data_loss(scores(X, W, b), y) + lam * W.norm()")),
        r"1\.4: .*squared norm"),
    bug("1.4", "half-lambda", P("1_4_code", (REG, "    return data_loss(scores(X, W, b), y) + 0.5 * lam * (W ** 2).sum()")),
        r"1\.4: .*no ½"),
    bug("1.4", "mean-of-squares", P("1_4_code", (REG, "    return data_loss(scores(X, W, b), y) + lam * (W ** 2).mean()")),
        r"1\.4: .*sum"),
    bug("1.4", "ignores-data-loss-argument", P("1_4_code", (REG, "    return cross_entropy(scores(X, W, b), y) + lam * (W ** 2).sum()")),
        r"1\.4: "),
    bug("1.4", "item-breaks-gradient", P("1_4_code", (REG, "    return torch.tensor(data_loss(scores(X, W, b), y).item() + lam * (W ** 2).sum().item())")),
        r"1\.4: .*gradient"),
    bug("1.4", "untouched-stub", NB.stub("1_4_code"), r"NotImplementedError"),
    ok("1.4", "norm-squared", P("1_4_code", (REG, "    return data_loss(X @ W.T + b, y) + lam * torch.linalg.norm(W) ** 2"))),
    ok("1.4", "w-times-w", P("1_4_code", (REG, "    penalty = torch.sum(W * W)\n    return data_loss(scores(X, W, b), y) + lam * penalty"))),
]

# --------------------------------------------------------------------------- 1.5 training
TL = NB.source("1_5_code")
VAL_LOG = "            val_loss = cross_entropy(val_scores, val[1]).item()"
STEP_LINES = "            opt.zero_grad()\n            loss.backward()\n            opt.step()\n"
CASES_1_5 = [
    bug("1.5", "trains-on-validation", P("1_5_code", ("    X, y = train\n", "    X, y = val\n")), r"1\.5: .*(validation labels|training split only)"),
    bug("1.5", "trains-on-train-and-val", P("1_5_code", ("    X, y = train\n", "    X, y = torch.cat([train[0], val[0]]), torch.cat([train[1], val[1]])\n")),
        r"1\.5: .*(validation labels|training split only)"),
    bug("1.5", "no-zero-grad", P("1_5_code", ("            opt.zero_grad()\n", "")), r"1\.5: "),
    bug("1.5", "no-step", P("1_5_code", ("            opt.step()\n", "")), r"1\.5: .*does not fall"),
    bug("1.5", "lam-ignored", P("1_5_code", ("regularised_loss(model.weight, model.bias, xb, yb, lam)",
                                             "cross_entropy(model(xb), yb)")), r"1\.5: .*(λ = 1 leaves|the penalty is missing: λ changes nothing)"),
    bug("1.5", "not-seeded", P("1_5_code", ("    seed_everything(seed)\n", "")), r"1\.5: .*same seed"),
    bug("1.5", "hard-coded-3072", P("1_5_code", ("nn.Linear(X.shape[1], 10)", "nn.Linear(3072, 10)")), r"1\.5: .*X\.shape\[1\]"),
    bug("1.5", "logs-accuracy", P("1_5_code", ("val_error = (val_scores.argmax(dim=1) != val[1])", "val_error = (val_scores.argmax(dim=1) == val[1])")),
        r"1\.5: .*accuracy"),
    bug("1.5", "logs-train-loss-as-val", P("1_5_code", ("history.log(train_loss=total / len(y), val_loss=val_loss",
                                                        "history.log(train_loss=total / len(y), val_loss=total / len(y)")),
        r"1\.5: .*(equals the validation loss|validation loss)"),
    bug("1.5", "no-best-weights", P("1_5_code", ("val_error=val_error, model=model)", "val_error=val_error)")),
        r"1\.5: .*model=model"),
    bug("1.5", "optimiser-name-case", P("1_5_code", ('    if optimiser == "sgd":', '    if optimiser == "SGD":')),
        r"1\.5: .*optimiser='sgd'.*raised ValueError"),
    bug("1.5", "untouched-stub", NB.stub("1_5_code"), r"NotImplementedError"),
    ok("1.5", "own-parameters-3072x10-layout", src('''
        class Linear(nn.Module):
            def __init__(self, d, c=10):
                super().__init__()
                self.W = nn.Parameter(torch.randn(d, c) * 0.001)   # stored (D, C)
                self.b = nn.Parameter(torch.zeros(c))

            def forward(self, x):
                return x @ self.W + self.b

        def preprocess(images, mean):
            return images.reshape(images.shape[0], -1) - mean[None, :]

        def train_linear(train, val, *, optimiser, lr, lam, n_epochs, batch_size=256, seed=0):
            X, y = train
            seed_everything(seed)
            model = Linear(X.shape[1])
            opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9) if optimiser == "sgd"
                   else torch.optim.Adam(model.parameters(), lr=lr))
            gen = torch.Generator().manual_seed(seed)
            history = History()
            for _ in range(n_epochs):
                perm = torch.randperm(len(X), generator=gen)
                total = 0.0
                for i in range(0, len(X), batch_size):
                    idx = perm[i:i + batch_size]
                    loss = regularised_loss(model.W.T, model.b, X[idx], y[idx], lam)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                with torch.no_grad():
                    s = model(val[0])
                    history.log(train_loss=total / len(X), val_loss=F.cross_entropy(s, val[1]).item(),
                                val_error=1 - (s.argmax(1) == val[1]).float().mean().item(), model=model)
            return model, history
        ''')),
    ok("1.5", "batch-mean-loss-and-val-in-chunks", P("1_5_code",
        ("            total += loss.item() * len(yb)\n", "            total += loss.item() * len(yb) / len(y) * len(y)\n"),
        ("            val_scores = model(val[0])                                    # (N_val, 10)\n",
         "            val_scores = torch.cat([model(c) for c in val[0].split(64)])\n"))),
    # What the logged numbers mean, recomputed by their definitions.
    bug("1.5", "train-loss-after-the-update", P("1_5_code", ("        history.log(train_loss=total / len(y),",
                                                            ("        with torch.no_grad():\n"
                                                            "            total = regularised_loss(model.weight, model.bias, X, y, lam).item() * len(y)\n"
                                                            "        history.log(train_loss=total / len(y),"))),
        r"1\.5: .*train_loss logged .* the loss after the epoch's update — log the losses computed while training"),
    bug("1.5", "train-loss-summed", P("1_5_code", ("train_loss=total / len(y)", "train_loss=total")),
        r"1\.5: .*train_loss logged .*summed over the epoch's .*examples — log the mean"),
    bug("1.5", "train-loss-last-batch", P("1_5_code", ("train_loss=total / len(y)", "train_loss=loss.item()")),
        r"1\.5: .*train_loss logged .*(mean over all its minibatches|before each step)"),
    bug("1.5", "val-loss-before-training", P("1_5_code",
        ("    for _ in epochs(n_epochs, desc=f\"{optimiser} lr={lr:g} λ={lam:g}\", leave=False):\n        model.train()\n",
         ("    for _ in epochs(n_epochs, desc=f\"{optimiser} lr={lr:g} λ={lam:g}\", leave=False):\n"
         "        with torch.no_grad():\n            val_loss = cross_entropy(model(val[0]), val[1]).item()\n"
         "        model.train()\n")),
        ("            val_loss = cross_entropy(val_scores, val[1]).item()\n", "")),
        r"1\.5: .*after the epoch's training"),
    ok("1.5", "train-loss-mean-of-batch-means-data-loss-only", P("1_5_code",
        ("    history = History()\n", "    history = History()\n    n_batches = len(batches)\n"),
        ("            loss = regularised_loss(model.weight, model.bias, xb, yb, lam)\n",
         ("            data_only = cross_entropy(model(xb), yb).item()             # before the step\n"
         "            loss = regularised_loss(model.weight, model.bias, xb, yb, lam)\n")),
        ("            total += loss.item() * len(yb)\n", "            total += data_only / n_batches\n"),
        ("train_loss=total / len(y)", "train_loss=total"))),
    ok("1.5", "penalty-written-inline", P("1_5_code", ("regularised_loss(model.weight, model.bias, xb, yb, lam)",
                                                       "F.cross_entropy(model(xb), yb) + lam * model.weight.pow(2).sum()"))),
]

SEL = "    return min(histories, key=lambda cfg: histories[cfg].best_val_loss)"
CASES_1_5_SELECT = [
    bug("1.5", "select-by-val-error", P("1_5_select_code", (SEL, "    return min(histories, key=lambda c: min(histories[c].val_error))")),
        r"1\.5: .*lowest validation error", cell="1_5_select_code", tests=("1_5_select",)),
    bug("1.5", "select-by-train-loss", P("1_5_select_code", (SEL, "    return min(histories, key=lambda c: min(histories[c].train_loss))")),
        r"1\.5: .*expected \('adam', 0\.01, 0\.01\)", cell="1_5_select_code", tests=("1_5_select",)),
    bug("1.5", "select-by-last-epoch", P("1_5_select_code", (SEL, "    return min(histories, key=lambda c: histories[c].val_loss[-1])")),
        r"1\.5: .*ends with the lowest", cell="1_5_select_code", tests=("1_5_select",)),
    bug("1.5", "select-max", P("1_5_select_code", (SEL, "    return max(histories, key=lambda c: histories[c].best_val_loss)")),
        r"1\.5: .*expected \('adam', 0\.01, 0\.01\)", cell="1_5_select_code", tests=("1_5_select",)),
    bug("1.5", "select-first-run", P("1_5_select_code", (SEL, "    return next(iter(histories))")),
        r"1\.5: .*expected \('adam', 0\.01, 0\.01\)", cell="1_5_select_code", tests=("1_5_select",)),
    bug("1.5", "select-untouched-stub", NB.stub("1_5_select_code"), r"NotImplementedError", cell="1_5_select_code",
        tests=("1_5_select",)),
    ok("1.5", "select-sorted-tuples", src('''
        def choose_config(histories):
            return sorted((min(h.val_loss), cfg) for cfg, h in histories.items())[0][1]
        '''), cell="1_5_select_code", tests=("1_5_select",)),
    ok("1.5", "select-loop", src('''
        def choose_config(histories):
            best, best_loss = None, float("inf")
            for cfg, h in histories.items():
                for v in h.val_loss:
                    if v < best_loss:
                        best, best_loss = cfg, v
            return best
        '''), cell="1_5_select_code", tests=("1_5_select",)),
]

REPORT = NB.source("1_5_report")
TEST_LINE = "    test_accuracy = (best_model(preprocess(data.test_x, mean)).argmax(dim=1) == data.test_y).float().mean().item()"
CASES_1_5_REPORT = [
    bug("1.5", "report-selected-on-test", P("1_5_report", ("best_config = choose_config(histories)\n", textwrap.dedent("""\
        def _test_acc(cfg):
            m, h = runs[cfg]
            h.load_best(m)
            with torch.no_grad():
                return (m(preprocess(data.test_x, mean)).argmax(1) == data.test_y).float().mean().item()
        best_config = max(runs, key=_test_acc)
        if best_config == choose_config(histories):
            best_config = sorted(runs, key=_test_acc)[-2]
        """))), r"1\.5: .*choose_config picks", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-test-not-centred", P("1_5_report", (TEST_LINE, TEST_LINE.replace("preprocess(data.test_x, mean)",
                                                                                           "data.test_x.flatten(1)"))),
        r"1\.5: .*not centred.*training", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-test-centred-with-test-mean", P("1_5_report", (TEST_LINE, TEST_LINE.replace(
        "preprocess(data.test_x, mean)", "preprocess(data.test_x, data.test_x.flatten(1).mean(0))"))),
        r"1\.5: .*test_accuracy is", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-last-epoch-weights", P("1_5_report", ("histories[best_config].load_best(best_model)\n", "")),
        r"1\.5: .*(load that epoch|load them)", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-percentage", P("1_5_report", (TEST_LINE, TEST_LINE.replace(".item()", ".item() * 100"))),
        r"1\.5: .*percentage", cell="1_5_report", tests=("1_5_results",)),
    ok("1.5", "report-in-chunks", P("1_5_report", (TEST_LINE, textwrap.indent(textwrap.dedent("""\
        _ft = preprocess(data.test_x, mean)
        test_accuracy = sum((best_model(c).argmax(1) == t).sum().item()
                            for c, t in zip(_ft.split(1000), data.test_y.split(1000))) / len(data.test_y)"""), "    "))),
        cell="1_5_report", tests=("1_5_results",)),
]

CASES_1_5_BEST = [
    bug("1.5", "best-model-bare-linear", P("1_5_best_code", ("    return course.PixelClassifier(nn.Linear(3072, 10))",
                                                             "    return nn.Linear(3072, 10)")),
        r"1\.5: .*could not be loaded", cell="1_5_best_code", tests=TIERS),
    bug("1.5", "best-model-untouched-stub", NB.stub("1_5_best_code"), r"NotImplementedError", cell="1_5_best_code",
        tests=TIERS),
    # The same parameters as nn.Linear (the checkpoint loads), scores squared: no longer a linear classifier.
    bug("1.5", "best-model-squared-scores", src("""
        class SquaredLinear(nn.Linear):
            def forward(self, x):
                return super().forward(x) ** 2


        def build_best_model() -> nn.Module:
            return course.PixelClassifier(SquaredLinear(3072, 10))"""),
        r"1\.5: lab1_best\.pt is not a linear classifier", cell="1_5_best_code", tests=TIERS),
    ok("1.5", "best-model-keyword", P("1_5_best_code", ("course.PixelClassifier(nn.Linear(3072, 10))",
                                                        "course.PixelClassifier(classifier=nn.Linear(3 * 32 * 32, 10))")),
       cell="1_5_best_code", tests=TIERS),
]

# --------------------------------------------------------------------------- 1.6 templates
TPL = "    return model.weight.detach().reshape(10, 3, 32, 32)"
CASES_1_6 = [
    bug("1.6", "channels-last", P("1_6_code", (TPL, "    return model.weight.detach().reshape(10, 32, 32, 3).permute(0, 3, 1, 2)")),
        r"1\.6: .*channels"),
    bug("1.6", "columns", P("1_6_code", (TPL, "    return model.weight.detach().T.reshape(10, 3, 32, 32)")), r"1\.6: .*columns"),
    bug("1.6", "rescaled", P("1_6_code", (TPL, ("    w = model.weight.detach()\n    w = (w - w.min()) / (w.max() - w.min())\n"
                                               "    return w.reshape(10, 3, 32, 32)"))), r"1\.6: .*unscaled"),
    bug("1.6", "includes-bias", P("1_6_code", (TPL, "    return (model.weight.detach() + model.bias.detach()[:, None]).reshape(10, 3, 32, 32)")),
        r"1\.6: "),
    bug("1.6", "untouched-stub", NB.stub("1_6_code"), r"NotImplementedError"),
    ok("1.6", "view-and-unflatten", P("1_6_code", (TPL, "    return model.weight.data.unflatten(1, (3, 32, 32)).clone()"))),
    ok("1.6", "state-dict", P("1_6_code", (TPL, ("    w = next(v for v in model.state_dict().values() if v.ndim == 2)\n"
                                               "    return w.view(-1, 3, 32, 32)")))),
]

# --------------------------------------------------------------------------- 1.7 features
CH = "    return (counts / idx.shape[2]).reshape(N, C * bins)"
IDX = "    idx = (images * bins).long().clamp(0, bins - 1).flatten(2)                  # (N, C, H·W) bin of each pixel\n"
THETA = "    theta = torch.remainder(torch.atan2(gy, gx), math.pi)                      # [0, π)\n"
NORM = "    blocks = blocks / (blocks.sum(dim=-1, keepdim=True) + 1e-6)                # each block's histogram sums to ~1\n"
GXY = ("    gx = torch.zeros_like(grey)\n    gy = torch.zeros_like(grey)\n"
       "    gx[:, :, 1:-1] = (grey[:, :, 2:] - grey[:, :, :-2]) / 2                    # along x: columns\n"
       "    gy[:, 1:-1, :] = (grey[:, 2:, :] - grey[:, :-2, :]) / 2                    # along y: rows\n")
GRAD_DEF = "def gradient_histogram(images: torch.Tensor, bins: int = 9, cell: int = 8) -> torch.Tensor:"
CASES_1_7 = [
    bug("1.7", "counts-not-fractions", P("1_7_code", (CH, "    return counts.reshape(N, C * bins)")), r"1\.7: .*counts"),
    bug("1.7", "channels-interleaved", P("1_7_code", (CH, "    return (counts / idx.shape[2]).transpose(1, 2).reshape(N, C * bins)")),
        r"1\.7: .*interleaves"),
    bug("1.7", "normalised-over-all-channels", P("1_7_code", (CH, "    return (counts / counts.sum(dim=(1, 2), keepdim=True)).reshape(N, C * bins)")),
        r"1\.7: .*all three channels"),
    bug("1.7", "drops-ones", P("1_7_code", (IDX, ("    idx = (images * bins).long().flatten(2)\n    keep = idx < bins\n"
                                                 "    idx = idx.clamp(0, bins - 1)\n")),
                               ("torch.ones_like(idx, dtype=images.dtype))", "keep.to(images.dtype))")),
        r"1\.7: .*(1\.0|wrong bin)"),
    bug("1.7", "bins-over-0-255", P("1_7_code", (IDX, "    idx = (images * 255 / 256 * bins / 255).long().clamp(0, bins - 1).flatten(2)\n")),
        r"1\.7: .*bin"),
    bug("1.7", "signed-orientation", P("1_7_code", (THETA, "    theta = torch.atan2(gy, gx)\n")), r"1\.7: .*(bin|negative)"),
    bug("1.7", "atan2-swapped", P("1_7_code", (THETA, "    theta = torch.remainder(torch.atan2(gx, gy), math.pi)\n")),
        r"1\.7: .*bin \d+ expected"),
    bug("1.7", "no-epsilon", P("1_7_code", (NORM, "    blocks = blocks / blocks.sum(dim=-1, keepdim=True)\n")),
        r"1\.7: .*constant image is NaN"),
    bug("1.7", "unweighted-counts", P("1_7_code", ("blocks.scatter_add_(1, slot, magnitude.flatten(1))",
                                                   "blocks.scatter_add_(1, slot, torch.ones_like(magnitude).flatten(1))")),
        r"1\.7: .*constant image is not zero"),
    bug("1.7", "red-channel-only", P("1_7_code", ("    grey = images.mean(dim=1)  ", "    grey = images[:, 0]  ")),
        r"1\.7: .*grey image"),
    bug("1.7", "untouched-stub", NB.stub("1_7_code"), r"NotImplementedError"),
    bug("1.7", "histc-loop-over-images", src('''
        def colour_histogram(images, bins=8):
            N, C = images.shape[:2]
            out = torch.stack([torch.stack([torch.histc(images[n, c], bins=bins, min=0, max=1) for c in range(C)])
                               for n in range(N)])
            return (out / images[0, 0].numel()).reshape(N, -1)

        def gradient_histogram(images, bins=9, cell=8):
            grey = images.mean(1, keepdim=True)
            sx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=images.dtype)
            gx = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), sx.view(1, 1, 3, 3))[:, 0]
            gy = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), sx.T.reshape(1, 1, 3, 3))[:, 0]
            mag = torch.hypot(gx, gy)
            theta = torch.atan2(gy, gx) % math.pi
            k = torch.clamp((theta * bins / math.pi).floor().long(), 0, bins - 1)
            hist = F.one_hot(k, bins).permute(0, 3, 1, 2).to(images.dtype) * mag[:, None]     # (N, bins, H, W)
            blocks = F.avg_pool2d(hist, cell) * cell * cell                                   # (N, bins, H/c, W/c)
            blocks = blocks.permute(0, 2, 3, 1)
            blocks = blocks / (blocks.norm(dim=-1, keepdim=True) + 1e-8)
            return blocks.reshape(images.shape[0], -1)
        '''), r"1\.7: colour_histogram runs a Python loop over the images \(N=2: \d+ ops, N=8: \d+ ops\)"),
    ok("1.7", "bucketize-and-torch-gradient-unnormalised", src('''
        def colour_histogram(images, bins=8):
            N, C, H, W = images.shape
            edges = torch.linspace(0, 1, bins + 1, dtype=images.dtype)[1:-1]
            idx = torch.bucketize(images.reshape(N, C, -1).contiguous(), edges, right=True)
            return F.one_hot(idx, bins).to(images.dtype).mean(dim=2).reshape(N, C * bins)

        def gradient_histogram(images, bins=9, cell=8):
            grey = images.mean(dim=1)
            gy, gx = torch.gradient(grey, dim=(1, 2))
            mag = torch.sqrt(gx ** 2 + gy ** 2)
            theta = torch.atan2(gy, gx)
            theta = torch.where(theta < 0, theta + math.pi, theta)
            theta = torch.where(theta >= math.pi, theta - math.pi, theta)
            k = (theta / (math.pi / bins)).long().clamp(max=bins - 1)
            N, H, W = grey.shape
            out = torch.zeros(N, H // cell, W // cell, bins, dtype=images.dtype)
            for i in range(H // cell):
                for j in range(W // cell):
                    kk = k[:, i * cell:(i + 1) * cell, j * cell:(j + 1) * cell].reshape(N, -1)
                    mm = mag[:, i * cell:(i + 1) * cell, j * cell:(j + 1) * cell].reshape(N, -1)
                    out[:, i, j].scatter_add_(1, kk, mm)
            return out.reshape(N, -1)
        ''')),
]

CASES = CASES_1_1 + CASES_1_2 + CASES_1_3 + CASES_1_4 + CASES_1_5 + CASES_1_5_SELECT + CASES_1_5_REPORT + \
    CASES_1_5_BEST + CASES_1_6 + CASES_1_7

# A model of the student's own layout flows from train_linear into the templates: 1.5 and 1.6 together.
OWN_LAYOUT = next(c for c in CASES if c.id == "1.5-ok-own-parameters-3072x10-layout")
CASES.append(ok("1.6", "templates-of-a-3072x10-model", P("1_6_code", (TPL, "    return model.W.detach().T.reshape(10, 3, 32, 32)")),
                rerun=(("1_5_code", OWN_LAYOUT.source), (TRAIN, None))))


GRADED = {"1_1", "1_2", "1_3", "1_4", "1_5", "1_5_select", "1_5_results", "1_6", "1_7", *TIERS}
SPEC = LabSpec(LAB, STATE, fresh=DEFINITIONS, handed_in={"lab1_best.pt": CHECKPOINT}, datasets=True)
DATA_SET = "cifar10"
FULL_MARKS = tuple(sorted(NB.graded))


def check_layout() -> None:
    """The plain cells this corpus names are what it thinks they are."""
    assert NB.keys[:3] == [SETUP, DATA, MEAN]
    assert "cifar10_splits(" in NB.source(DATA) and "mean_pixels" in NB.source(MEAN)
    assert "train_linear(" in NB.source(SWEEP) and "display_error_curves(" in NB.source(SWEEP)
    assert 'save_model(course.PixelClassifier(' in NB.source(TRAIN)


# --------------------------------------------------------------------------- issue 21: realistic answers, by task
# Written from the student notebook's text: the slips a class makes, and correct answers that use the freedom the
# text gives. Kinds: what a logged number means (1), stated rules (2), inputs the text allows (3), side effects (4).
CASES += [
    bug("1.1", "scores-squeezed", P("1_1_code", ("return X @ W.T + b", "return (X @ W.T + b).squeeze()")), r"1\.1: .*shape"),
    bug("1.1", "bias-as-column", P("1_1_code", ("return X @ W.T + b", "return X @ W.T + b.reshape(-1, 1)")), r"1\.1: "),
    ok("1.1", "bias-trick-and-in-place-add", src('''
        def append_ones(X):
            return torch.cat((X, torch.ones(X.shape[0], 1, dtype=X.dtype)), 1)

        def fold_bias(W, b):
            return torch.cat((W, b.view(-1, 1)), 1)

        def scores(X, W, b):
            S = torch.mm(X, W.t())
            S += b
            return S
        ''')),
    ok("1.1", "scores-via-folded-bias", src('''
        def append_ones(X):
            ones = torch.ones_like(X[:, :1])
            return torch.cat([X, ones], dim=-1)

        def fold_bias(W, b):
            return torch.cat([W.T, b[None, :]], dim=0).T

        def scores(X, W, b):
            return append_ones(X) @ fold_bias(W, b).T
        ''')),
    # 1.2
    bug("1.2", "softmax-shifts-its-input-in-place", P("1_2_code", (SHIFT + "    e = shifted.exp()\n",
                                                                   "    S -= S.max(dim=1, keepdim=True).values\n    e = S.exp()\n")),
        r"1\.2: softmax\(S\) changes the scores S passed to it, in place"),
    bug("1.2", "ce-returns-a-float", P("1_2_code", (CE_RET, "    return -log_p[torch.arange(len(y)), y].mean().item()")),
        r"1\.2: cross_entropy.*(differentiable|gradient)"),
    bug("1.2", "ce-under-no-grad", P("1_2_code", (LOGP, "    with torch.no_grad():\n    " + LOGP)),
        r"1\.2: cross_entropy.*(differentiable|gradient)"),
    bug("1.2", "ce-log-of-clamped-softmax", P("1_2_code", (LOGP, "    log_p = softmax(S).clamp(min=1e-12).log()\n")),
        r"1\.2: .*(underflow|±1000)"),
    bug("1.2", "softmax-global-max", P("1_2_code", (SHIFT, "    shifted = S - S.max()\n")), r"1\.2: .*(NaN|±1000)"),
    bug("1.2", "ce-all-pairs-indexing", P("1_2_code", (CE_RET, "    return -log_p[:, y].mean()")), r"1\.2: .*expected"),
    ok("1.2", "softmax-of-log-softmax-and-detached-max", src('''
        def softmax(S):
            m = torch.max(S, dim=1, keepdim=True)[0].detach()
            z = torch.exp(S - m)
            return z / z.sum(-1, keepdim=True)

        def cross_entropy(S, y):
            m = S.max(dim=1, keepdim=True).values
            lse = m.squeeze(1) + torch.log(torch.exp(S - m).sum(dim=1))
            return torch.mean(lse - S.gather(1, y.unsqueeze(1)).squeeze(1))
        ''')),
    # 1.3
    bug("1.3", "loop-over-examples", src('''
        def svm_loss(S, y, margin=1.0):
            N = S.shape[0]
            total = 0.0
            for i in range(N):
                m = torch.clamp(S[i] - S[i, y[i]] + margin, min=0)
                m[y[i]] = 0
                total = total + m.sum()
            return total / N
        '''), r"1\.3: .*loop over the\s+examples"),
    bug("1.3", "subtracts-one-not-margin", src('''
        def svm_loss(S, y, margin=1.0):
            correct = S[torch.arange(S.shape[0]), y].unsqueeze(1)
            return (torch.clamp(S - correct + margin, min=0).sum(dim=1) - 1).mean()
        '''), r"1\.3: .*margin"),
    ok("1.3", "loop-over-classes", src('''
        def svm_loss(S, y, margin=1.0):
            N, C = S.shape
            correct = S[torch.arange(N), y]
            total = torch.zeros(N, dtype=S.dtype)
            for j in range(C):
                term = torch.clamp(S[:, j] - correct + margin, min=0)
                total = total + torch.where(y == j, torch.zeros_like(term), term)
            return total.mean()
        ''')),
    # 1.4
    bug("1.4", "penalty-of-a-detached-copy", P("1_4_code", (REG, "    return data_loss(scores(X, W, b), y) + lam * (W.detach() ** 2).sum()")),
        r"1\.4: .*gradient"),
    bug("1.4", "folded-bias-regularised", P("1_4_code", (REG, ("    W1 = fold_bias(W, b)\n"
                                                          "    return data_loss(append_ones(X) @ W1.T, y) + lam * (W1 ** 2).sum()"))),
        r"1\.4: .*regularises the bias"),
    bug("1.4", "penalty-per-example", P("1_4_code", (REG, "    return data_loss(scores(X, W, b), y) + lam * (W ** 2).sum() / len(X)")),
        r"1\.4: .*expected"),
    ok("1.4", "bias-trick-penalty-on-w", P("1_4_code", (REG, ("    S = append_ones(X) @ fold_bias(W, b).T\n"
                                                           "    return data_loss(S, y) + lam * torch.sum(torch.square(W))")))),
]

PRE = "    return images.flatten(start_dim=1) - mean\n"
BATCHES = "    batches = TensorBatches(X, y, batch_size, seed=seed)\n"
CASES += [
    # preprocess: what the text asks of it, on inputs it allows (kinds 3 and 4)
    bug("1.5", "preprocess-centres-with-the-batch-mean", P("1_5_code", (PRE, "    x = images.flatten(start_dim=1)\n    return x - x.mean(dim=0)\n")),
        r"1\.5: preprocess.*own mean — subtract the mean argument"),
    bug("1.5", "preprocess-in-place", P("1_5_code", (PRE, "    x = images.flatten(start_dim=1)\n    x -= mean\n    return x\n")),
        r"1\.5: preprocess\(images, mean\) changes the images passed to it, in place"),
    bug("1.5", "preprocess-hard-coded-3072", P("1_5_code", (PRE, "    return images.reshape(-1, 3072) - mean\n")),
        r"1\.5: preprocess"),
    bug("1.5", "preprocess-channels-last", P("1_5_code", (PRE, "    return images.permute(0, 2, 3, 1).reshape(len(images), -1) - mean\n")),
        r"1\.5: preprocess"),
    bug("1.5", "preprocess-standardises", P("1_5_code", (PRE, "    x = images.flatten(start_dim=1) - mean\n    return x / x.std(dim=0)\n")),
        r"1\.5: preprocess"),
    ok("1.5", "preprocess-view-and-sub", P("1_5_code", (PRE, "    return images.reshape(images.size(0), -1).sub(mean.view(1, -1))\n"))),
    # what the logged numbers mean (kind 1)
    bug("1.5", "val-loss-with-the-penalty", P("1_5_code", (VAL_LOG, "            val_loss = regularised_loss(model.weight, model.bias, val[0], val[1], lam).item()")),
        r"1\.5: .*val_loss logged .*includes the penalty"),
    bug("1.5", "train-loss-weighted-by-nominal-batch-size", P("1_5_code", ("total += loss.item() * len(yb)", "total += loss.item() * batch_size")),
        r"1\.5: .*batches of 300, 300 and 200.*weights the last, smaller batch as if it were full"),
    bug("1.5", "train-loss-floor-number-of-batches", P("1_5_code", ("total += loss.item() * len(yb)", "total += loss.item()"),
                                                       ("train_loss=total / len(y)", "train_loss=total / (len(y) // batch_size)")),
        r"1\.5: .*batches of 300, 300 and 200.*len\(X\) // batch_size"),
    # the penalty the text asks for, and the optimiser it names
    bug("1.5", "weight-decay-instead-of-penalty", P("1_5_code",
        ("torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)", "torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=lam)"),
        ("torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.Adam(model.parameters(), lr=lr, weight_decay=lam)"),
        ("regularised_loss(model.weight, model.bias, xb, yb, lam)", "cross_entropy(model(xb), yb)")),
        r"1\.5: .*λ = 0\.1.*weight_decay=λ is not the task's penalty"),
    bug("1.5", "penalty-on-every-parameter", P("1_5_code", ("regularised_loss(model.weight, model.bias, xb, yb, lam)",
        "cross_entropy(model(xb), yb) + lam * sum((p ** 2).sum() for p in model.parameters())")),
        r"1\.5: .*λ = 0\.1.*the bias is regularised too"),
    # inputs the text allows (kind 3)
    bug("1.5", "seed-argument-ignored", P("1_5_code", ("    seed_everything(seed)\n", "    seed_everything(0)\n"),
                                          (BATCHES, "    batches = TensorBatches(X, y, batch_size, seed=0)\n")),
        r"1\.5: train_linear\(\.\.\., seed=1\) repeats the run of seed=0"),
    bug("1.5", "batches-not-shuffled", P("1_5_code", (BATCHES, "    batches = TensorBatches(X, y, batch_size, shuffle=False)\n")),
        r"1\.5: the minibatches are not shuffled"),
    ok("1.5", "dataloader-and-own-zero-init", src('''
        def preprocess(images, mean):
            return images.reshape(len(images), -1) - mean

        class Linear(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.weight = nn.Parameter(torch.zeros(10, d))
                self.bias = nn.Parameter(torch.zeros(10))

            def forward(self, x):
                return scores(x, self.weight, self.bias)

        def train_linear(train, val, *, optimiser, lr, lam, n_epochs, batch_size=256, seed=0):
            seed_everything(seed)
            X, y = train
            model = Linear(X.shape[1])
            if optimiser == "sgd":
                opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
            else:
                opt = torch.optim.Adam(model.parameters(), lr=lr)
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size,
                                                 shuffle=True)
            history = History()
            for epoch in range(n_epochs):
                losses = []
                for xb, yb in loader:
                    opt.zero_grad()
                    loss = regularised_loss(model.weight, model.bias, xb, yb, lam)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                with torch.no_grad():
                    s = model(val[0])
                    vl = cross_entropy(s, val[1]).item()
                    ve = (s.argmax(1) != val[1]).float().mean().item()
                history.log(train_loss=sum(losses) / len(losses), val_loss=vl, val_error=ve, model=model)
            return model, history
        ''')),
]

VAL_ACC = "    val_accuracy = (best_model(val_f).argmax(dim=1) == data.val_y).float().mean().item()"
CASES += [
    bug("1.5", "report-val-accuracy-on-train", P("1_5_report", (VAL_ACC, VAL_ACC.replace("best_model(val_f)", "best_model(train_f[:5000])")
                                                                .replace("== data.val_y", "== data.train_y[:5000]"))),
        r"1\.5: val_accuracy is .* on the validation set — measure best_model", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-val-error-as-accuracy", P("1_5_report", (VAL_ACC, VAL_ACC.replace("==", "!="))),
        r"1\.5: val_accuracy is .*that is the error", cell="1_5_report", tests=("1_5_results",)),
    bug("1.5", "report-val-accuracy-before-loading-the-best", P("1_5_report",
        ("histories[best_config].load_best(best_model)\nbest_model.eval()\nwith torch.no_grad():\n" + VAL_ACC + "\n",
         "best_model.eval()\nwith torch.no_grad():\n" + VAL_ACC + "\nhistories[best_config].load_best(best_model)\n"
         "with torch.no_grad():\n")),
        r"1\.5: val_accuracy is .*other weights for its best epoch — measure it after loading", cell="1_5_report", tests=("1_5_results",)),
    # 1.6: the model passed, not a global one
    bug("1.6", "templates-of-the-global-model", P("1_6_code", (TPL, "    return final_linear.weight.detach().reshape(10, 3, 32, 32)")),
        r"1\.6: .*not of the model passed to it"),
    ok("1.6", "templates-via-parameters", P("1_6_code", (TPL, ("    W = [p for p in model.parameters() if p.dim() == 2][0]\n"
                                                              "    return W.detach().clone().view(10, 3, 32, 32)")))),
    # 1.7: the cell argument, and the caller's images
    bug("1.7", "cell-hard-coded", P("1_7_code", (("    rows = torch.arange(H, device=images.device)[:, None] // cell\n"
                                                 "    cols = torch.arange(W, device=images.device)[None, :] // cell\n"
                                                 "    block = rows * (W // cell) + cols "),
                                                 ("    rows = torch.arange(H, device=images.device)[:, None] // 8\n"
                                                 "    cols = torch.arange(W, device=images.device)[None, :] // 8\n"
                                                 "    block = rows * (W // 8) + cols ")),
                                    ("blocks = torch.zeros(N, (H // cell) * (W // cell) * bins", "blocks = torch.zeros(N, (H // 8) * (W // 8) * bins")),
        r"1\.7: gradient_histogram.*8×8 blocks — use the cell argument"),
    bug("1.7", "scaled-by-the-batch-maximum", P("1_7_code", (NORM, "    blocks = blocks / (blocks.max() + 1e-6)\n")),
        r"1\.7: gradient_histogram of an image changes with the other images in its batch"),
    ok("1.7", "l2-normalised-blocks-of-replicate-padded-sobel", P("1_7_code",
        (GXY,
         ("    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=images.dtype)\n"
         "    g = F.pad(grey[:, None], (1, 1, 1, 1), mode='replicate')\n"
         "    gx = F.conv2d(g, k.view(1, 1, 3, 3))[:, 0]\n"
         "    gy = F.conv2d(g, k.T.contiguous().view(1, 1, 3, 3))[:, 0]\n")),
        (NORM, "    blocks = blocks / blocks.norm(dim=-1, keepdim=True).clamp(min=1e-8)\n"))),
    bug("1.7", "colour-scales-images-in-place", P("1_7_code", (IDX, "    idx = images.mul_(bins).long().clamp(0, bins - 1).flatten(2)\n")),
        r"1\.7: colour_histogram\(images, bins\) changes the images passed to it, in place"),
    # 1.7: the border rule is free (the tests look only at blocks away from the border), the difference is not
    ok("1.7", "sobel-conv2d-zero-padding", P("1_7_code", (GXY,
        ("    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=images.dtype)\n"
         "    gx = F.conv2d(grey[:, None], k.view(1, 1, 3, 3), padding=1)[:, 0]\n"
         "    gy = F.conv2d(grey[:, None], k.T.contiguous().view(1, 1, 3, 3), padding=1)[:, 0]\n")))),
    ok("1.7", "central-differences-zero-padded", P("1_7_code", (GXY,
        ("    p = F.pad(grey, (1, 1, 1, 1))                     # zeros around the image\n"
         "    gx = (p[:, 1:-1, 2:] - p[:, 1:-1, :-2]) / 2\n"
         "    gy = (p[:, 2:, 1:-1] - p[:, :-2, 1:-1]) / 2\n")))),
    ok("1.7", "central-differences-replicate-padded", P("1_7_code", (GXY,
        ("    p = F.pad(grey[:, None], (1, 1, 1, 1), mode='replicate')[:, 0]\n"
         "    gx = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]\n"
         "    gy = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]\n")))),
    ok("1.7", "central-differences-one-sided-at-the-border", P("1_7_code", (GXY,
        ("    gx = torch.cat([grey[:, :, 1:2] - grey[:, :, :1], (grey[:, :, 2:] - grey[:, :, :-2]) / 2,\n"
         "                    grey[:, :, -1:] - grey[:, :, -2:-1]], dim=2)\n"
         "    gy = torch.cat([grey[:, 1:2] - grey[:, :1], (grey[:, 2:] - grey[:, :-2]) / 2,\n"
         "                    grey[:, -1:] - grey[:, -2:-1]], dim=1)\n")))),
    bug("1.7", "forward-differences", P("1_7_code", (GXY,
        ("    gx = F.pad(grey[:, :, 1:] - grey[:, :, :-1], (0, 1))\n"
         "    gy = F.pad(grey[:, 1:] - grey[:, :-1], (0, 0, 0, 1))\n"))),
        r"1\.7: on an image whose columns alternate .*central differences"),
    # 1.7: torch ops over the whole batch; a loop over the bins, the channels or the blocks is allowed
    ok("1.7", "colour-loop-over-bins-and-channels", NB.replace_def("1_7_code", "colour_histogram", src('''
        def colour_histogram(images, bins=8):
            N, C = images.shape[:2]
            last = bins - 1
            counts = torch.stack([torch.stack([((images[:, c] >= b / bins) & ((images[:, c] < (b + 1) / bins) | (b == last)))
                                               .to(images.dtype).mean(dim=(1, 2)) for b in range(bins)], dim=1)
                                  for c in range(C)], dim=1)                   # (N, C, bins)
            return counts.reshape(N, C * bins)
        '''))),
    bug("1.7", "gradient-loop-over-images", P("1_7_code", (GRAD_DEF, "def _gradient_histogram_of(images, bins=9, cell=8):"))
        + "\n\n\ndef gradient_histogram(images, bins=9, cell=8):\n"
          "    return torch.cat([_gradient_histogram_of(image[None], bins, cell) for image in images])\n",
        r"1\.7: gradient_histogram runs a Python loop over the images \(N=2: \d+ ops, N=8: \d+ ops\)"),
]
