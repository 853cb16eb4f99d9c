"""Lab 3's mutation corpus (the judges: autograder/judges/lab3_mlp_mnist.py): each BUG variant of an answer cell must lose
its task's points with a message naming the cause; each OK variant, a correct answer written another way, must
keep full marks. ``test_contract.py`` runs them; what is particular to this lab is here."""
from __future__ import annotations

import textwrap

from harness import LabSpec, Notebook, bug, ok, reference_file, src, with_tests

LAB = "lab3_mlp_mnist"
NB = Notebook.of(LAB)
CHECKPOINT = reference_file(LAB, "lab3_best.pt")

# The plain cells, by position (test_cell_layout checks they are what we think).
SETUP, DATA = "start+1", "start+2"
SWEEP, CURVES = "3_4_code+1", "3_4_code+2"
REPORT, LOOK = "3_5_code+1", "3_6_train+1"
ANSWERS = ("3_1_code", "3_2_code", "3_3_code", "3_4_code", "3_5_code", "3_6_code")
TIERS = ("3_6_below_2_2", "3_6_below_2_0", "3_6_below_1_8")




P = NB.patched
RELU_LINE = "        return self.out(F.relu(self.hidden(x)))  # (B, 10)"
FLATTEN_LINE = "        x = x.flatten(start_dim=1)              # (B, 784)"
CE = "loss = F.cross_entropy(model(x), y)"

# --------------------------------------------------------------------------- 3.1 the MLP
CASES_3_1 = [
    bug("3.1", "no-relu", P("3_1_code", (RELU_LINE, "        return self.out(self.hidden(x))")), r"3\.1: .*linear.*ReLU"),
    bug("3.1", "sigmoid", P("3_1_code", ("F.relu(", "torch.sigmoid(")), r"3\.1: .*sigmoid.*ReLU"),
    bug("3.1", "tanh", P("3_1_code", ("F.relu(", "torch.tanh(")), r"3\.1: .*tanh.*ReLU"),
    bug("3.1", "relu-on-output-too", P("3_1_code", (RELU_LINE, RELU_LINE.replace("return ", "return F.relu(").replace(
        "  # (B, 10)", ")"))), r"3\.1: .*ReLU to the output"),
    bug("3.1", "softmax-at-end", P("3_1_code", (RELU_LINE, RELU_LINE.replace("return ", "return F.softmax(").replace(
        "  # (B, 10)", ", dim=1)"))), r"3\.1: .*probabilities.*logits"),
    # Log-probabilities differ from logits by a per-row constant: cross-entropy and argmax cannot tell.
    ok("3.1", "log-softmax-at-end", P("3_1_code", (RELU_LINE, RELU_LINE.replace("return ", "return F.log_softmax(")
        .replace("  # (B, 10)", ", dim=1)")))),
    bug("3.1", "hidden-128", P("3_1_code", ("hidden: int = 64", "hidden: int = 128")), r"3\.1: .*parameters.*layer sizes"),
    bug("3.1", "extra-hidden-layer", P("3_1_code",
        ("        self.out = nn.Linear(hidden, n_classes)",
         "        self.mid = nn.Linear(hidden, hidden)\n        self.out = nn.Linear(hidden, n_classes)"),
        (RELU_LINE, "        return self.out(F.relu(self.mid(F.relu(self.hidden(x)))))")), r"3\.1: .*parameters"),
    bug("3.1", "no-bias", P("3_1_code", ("nn.Linear(in_features, hidden)", "nn.Linear(in_features, hidden, bias=False)"),
                            ("nn.Linear(hidden, n_classes)", "nn.Linear(hidden, n_classes, bias=False)")),
        r"3\.1: .*parameters.*biases"),
    bug("3.1", "no-output-bias", P("3_1_code", ("nn.Linear(hidden, n_classes)", "nn.Linear(hidden, n_classes, bias=False)")),
        r"3\.1: .*parameters.*biases"),
    bug("3.1", "view-mixes-examples", P("3_1_code", (FLATTEN_LINE, "        x = x.view(784, -1).t()")),
        r"3\.1: .*one example.*other examples"),
    bug("3.1", "flatten-whole-batch", P("3_1_code", (FLATTEN_LINE, "        x = x.flatten()")), r"cannot be multiplied"),
    bug("3.1", "untouched-stub", NB.stub("3_1_code"), r"NotImplementedError"),
    ok("3.1", "sequential", src('''
        class MLP(nn.Module):
            def __init__(self, hidden: int = 64, in_features: int = 784, n_classes: int = 10) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                         nn.Linear(hidden, n_classes))

            def forward(self, x):
                return self.net(x)
        ''')),
    ok("3.1", "own-parameters-einsum-784x64", src('''
        class MLP(nn.Module):
            def __init__(self, hidden: int = 64, in_features: int = 784, n_classes: int = 10) -> None:
                super().__init__()
                self.W1 = nn.Parameter(torch.randn(in_features, hidden) / math.sqrt(in_features))
                self.b1 = nn.Parameter(torch.zeros(hidden))
                self.W2 = nn.Parameter(torch.randn(hidden, n_classes) / math.sqrt(hidden))
                self.b2 = nn.Parameter(torch.zeros(n_classes))

            def forward(self, x):
                h = torch.einsum("bi,ih->bh", x.reshape(len(x), -1), self.W1) + self.b1
                return h.clamp(min=0) @ self.W2 + self.b2
        ''')),
    ok("3.1", "own-parameters-row-biases", src('''
        class MLP(nn.Module):
            def __init__(self, hidden: int = 64, in_features: int = 784, n_classes: int = 10) -> None:
                super().__init__()
                self.W1 = nn.Parameter(torch.randn(hidden, in_features) / math.sqrt(in_features))
                self.b1 = nn.Parameter(torch.zeros(1, hidden))
                self.W2 = nn.Parameter(torch.randn(n_classes, hidden) / math.sqrt(hidden))
                self.b2 = nn.Parameter(torch.zeros(1, n_classes))

            def forward(self, x):
                return torch.relu(x.flatten(1) @ self.W1.T + self.b1) @ self.W2.T + self.b2
        ''')),
    ok("3.1", "nn-relu-module", P("3_1_code", ("        self.out = nn.Linear(hidden, n_classes)",
                                               "        self.out = nn.Linear(hidden, n_classes)\n        self.act = nn.ReLU()"),
                                  ("F.relu(", "self.act("))),
    ok("3.1", "clamp-min-0", P("3_1_code", (RELU_LINE, "        return self.out(self.hidden(x).clamp(min=0))"))),
    ok("3.1", "view-size0", P("3_1_code", (FLATTEN_LINE, "        x = x.view(x.size(0), -1)"))),
    ok("3.1", "reshape-minus1-784", P("3_1_code", (FLATTEN_LINE, "        x = x.reshape(-1, 784)"))),
]

# --------------------------------------------------------------------------- 3.2 one training epoch
ZG = "        opt.zero_grad()\n"
CASES_3_2 = [
    bug("3.2", "no-zero-grad", P("3_2_code", (ZG, "")), r"3\.2: .*accumulate.*zero_grad"),
    bug("3.2", "zero-grad-after-backward", P("3_2_code", (ZG, ""), ("        opt.step()\n", ZG + "        opt.step()\n")),
        r"3\.2: .*(did not change|does not fall).*zero_grad\(\)"),
    bug("3.2", "softmax-before-ce", P("3_2_code", (CE, "loss = F.cross_entropy(F.softmax(model(x), dim=1), y)")),
        r"3\.2: .*(softmax before cross-entropy|no softmax)"),
    bug("3.2", "sum-reduction", P("3_2_code", (CE, 'loss = F.cross_entropy(model(x), y, reduction="sum")'),
                                  ("total += loss.item() * len(y)", "total += loss.item()")),
        r"3\.2: .*(summed|mean cross-entropy|diverge)"),
    bug("3.2", "returns-last-batch-loss", P("3_2_code", ("    return total / count", "    return loss.item()")),
        r"3\.2: .*last batch"),
    bug("3.2", "returns-sum-of-losses", P("3_2_code", ("    return total / count", "    return total")),
        r"3\.2: .*(mean|ln\(10\))"),
    bug("3.2", "no-model-train", P("3_2_code", ("    model.train()\n", "")), r"3\.2: .*eval mode.*model\.train\(\)"),
    bug("3.2", "own-optimizer-fixed-lr", P("3_2_code", ("    model.train()\n",
                                                        "    model.train()\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n")),
        r"3\.2: .*optimi[sz]er.*(argument|passed)"),
    bug("3.2", "no-opt-step", P("3_2_code", ("        opt.step()\n", "")), r"3\.2: .*(did not change|does not fall).*step"),
    bug("3.2", "mse-loss", P("3_2_code", (CE, "loss = F.mse_loss(model(x), F.one_hot(y, 10).float())")),
        r"3\.2: .*(cross-entropy|ln\(10\))"),
    bug("3.2", "untouched-stub", NB.stub("3_2_code"), r"NotImplementedError"),
    ok("3.2", "log-softmax-gather-nll", P("3_2_code", (CE, "loss = -model(x).log_softmax(dim=1).gather(1, y[:, None]).mean()"))),
    ok("3.2", "nll-loss-of-log-softmax", P("3_2_code", (CE, "loss = F.nll_loss(F.log_softmax(model(x), dim=1), y)"))),
    ok("3.2", "cross-entropy-module", P("3_2_code", (CE, "loss = nn.CrossEntropyLoss()(model(x), y)"))),
    ok("3.2", "model-zero-grad", P("3_2_code", ("opt.zero_grad()", "model.zero_grad()"))),
    ok("3.2", "zero-grad-keep-tensors", P("3_2_code", ("opt.zero_grad()", "opt.zero_grad(set_to_none=False)"))),
    ok("3.2", "zero-grad-after-step", P("3_2_code", (ZG, ""), ("        opt.step()\n", "        opt.step()\n" + ZG))),
    ok("3.2", "mean-of-batch-means", src('''
        def train_epoch(model, batches, opt, device):
            model.train()
            losses = []
            for x, y in batches:
                opt.zero_grad()
                loss = F.cross_entropy(model(x.to(device)), y.to(device))
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return sum(losses) / len(losses)
        ''')),
    ok("3.2", "returns-0d-tensor", src('''
        def train_epoch(model, batches, opt, device):
            model.train()
            total, count = torch.zeros(()), 0
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                total += loss.detach().cpu() * len(y)
                count += len(y)
            return total / count
        ''')),
]

# --------------------------------------------------------------------------- 3.3 evaluation
SUM_LINE = '            total_loss += F.cross_entropy(logits, y, reduction="sum").item()'
WRONG_LINE = "            wrong += (logits.argmax(dim=1) != y).sum().item()"
RET = "    return total_loss / count, wrong / count"
CASES_3_3 = [
    bug("3.3", "softmax-before-cross-entropy", P("3_3_code", (SUM_LINE, SUM_LINE.replace(
        "F.cross_entropy(logits,", "F.cross_entropy(logits.softmax(dim=1),"))), r"3\.3: .*softmax before cross-entropy"),
    bug("3.3", "accuracy", P("3_3_code", (RET, "    return total_loss / count, 1 - wrong / count")), r"3\.3: .*accuracy"),
    bug("3.3", "percentage", P("3_3_code", (RET, "    return total_loss / count, 100 * wrong / count")),
        r"3\.3: .*(percentage|fraction)"),
    bug("3.3", "no-model-eval", P("3_3_code", ("    model.eval()\n", "")), r"3\.3: .*train mode.*model\.eval\(\)"),
    bug("3.3", "no-no-grad", P("3_3_code", ("    with torch.no_grad():", "    if True:")), r"3\.3: .*graph.*no_grad"),
    bug("3.3", "loss-of-last-batch", P("3_3_code", (SUM_LINE, "            last = F.cross_entropy(logits, y).item()"),
                                       (RET, "    return last, wrong / count")), r"3\.3: .*last batch"),
    bug("3.3", "argmax-dim-0", P("3_3_code", ("logits.argmax(dim=1)", "logits.argmax(dim=0)")), r"size of tensor"),
    ok("3.3", "error-mean-of-batch-rates", src('''
        def evaluate(model, batches, device):
            model.eval()
            losses, errors = [], []
            with torch.no_grad():
                for x, y in batches:
                    logits = model(x.to(device))
                    losses.append(F.cross_entropy(logits, y.to(device)).item())
                    errors.append((logits.argmax(dim=1) != y.to(device)).float().mean().item())
            return sum(losses) / len(losses), sum(errors) / len(errors)
        ''')),
    bug("3.3", "trains-while-evaluating", P("3_3_code",
        ("    with torch.no_grad():", "    opt = torch.optim.SGD(model.parameters(), lr=0.05)\n    if True:"),
        (WRONG_LINE, WRONG_LINE + "\n            opt.zero_grad()\n            F.cross_entropy(logits, y).backward()\n"
                                  "            opt.step()")), r"3\.3: evaluate changed the model's weights"),
    bug("3.3", "untouched-stub", NB.stub("3_3_code"), r"NotImplementedError"),
    ok("3.3", "inference-mode", P("3_3_code", ("torch.no_grad()", "torch.inference_mode()"))),
    ok("3.3", "mean-loss-times-batch-size", P("3_3_code", (SUM_LINE,
        "            total_loss += F.cross_entropy(logits, y).item() * len(y)"))),
    ok("3.3", "one-minus-accuracy", P("3_3_code", (WRONG_LINE, "            wrong += (logits.argmax(dim=1) == y).sum().item()"),
                                      (RET, "    return total_loss / count, 1 - wrong / count"))),
    ok("3.3", "decorator-cat-tensors", src('''
        @torch.no_grad()
        def evaluate(model, batches, device):
            model.eval()
            logits, ys = [], []
            for x, y in batches:
                logits.append(model(x.to(device)))
                ys.append(y.to(device))
            logits, ys = torch.cat(logits), torch.cat(ys)
            return F.cross_entropy(logits, ys), (logits.argmax(1) != ys).float().mean()
        ''')),
    ok("3.3", "mean-of-batch-mean-losses", src('''
        def evaluate(model, batches, device):
            model.eval()
            losses, wrong, count = [], 0, 0
            with torch.no_grad():
                for x, y in batches:
                    x, y = x.to(device), y.to(device)
                    logits = model(x)
                    losses.append(F.cross_entropy(logits, y).item())
                    wrong += (logits.argmax(dim=1) != y).sum().item()
                    count += len(y)
            return sum(losses) / len(losses), wrong / count
        ''')),
]

# --------------------------------------------------------------------------- 3.4 the sweep
FRESH = "        seed_everything(seed)\n        model = MLP().to(device)\n"
TRAIN_B = "TensorBatches(*data.train, batch_size"
VAL_B = "TensorBatches(*data.val, 2048"
LOG = "history.log(train_loss=train_loss, val_loss=val_loss, val_error=val_error, model=model)"
STEP = ("            train_loss = train_epoch(model, train_batches, opt, device)\n"
        "            val_loss, val_error = evaluate(model, val_batches, device)\n")
CASES_3_4 = [
    bug("3.4", "trains-on-val", P("3_4_code", (TRAIN_B, "TensorBatches(*data.val, batch_size")), r"3\.4: .*train on data\.train"),
    bug("3.4", "trains-on-train-plus-val", P("3_4_code", (TRAIN_B,
        "TensorBatches(torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y]), batch_size")),
        r"3\.4: .*train on data\.train"),
    bug("3.4", "val-loss-on-train-split", P("3_4_code", (VAL_B, "TensorBatches(*data.train, 2048")),
        r"3\.4: .*log the loss on data\.val"),
    bug("3.4", "val-on-test-split", P("3_4_code", (VAL_B, "TensorBatches(*data.test, 2048")), r"3\.4: .*test split"),
    bug("3.4", "same-model-for-all-lrs", P("3_4_code", (FRESH, ""), ("    for lr in lrs:\n", textwrap.indent(textwrap.dedent(FRESH), "    ") + "    for lr in lrs:\n")),
        r"3\.4: .*fresh"),
    bug("3.4", "no-model-to-log", P("3_4_code", (", model=model)", ")")), r"3\.4: .*model=model"),
    bug("3.4", "logs-val-loss-as-train-loss", P("3_4_code", (LOG, LOG.replace("train_loss=train_loss", "train_loss=val_loss"))),
        r"3\.4: .*train(ing)? loss"),
    bug("3.4", "val-error-not-logged", P("3_4_code", (LOG, LOG.replace(" val_error=val_error,", ""))), r"3\.4: .*val_error"),
    bug("3.4", "lr-not-passed-to-sgd", P("3_4_code", ("lr=lr)", "lr=0.1)")), r"3\.4: .*lr.*SGD"),
    bug("3.4", "validates-before-training", P("3_4_code", (STEP, "".join(reversed(STEP.splitlines(True)))),),
        r"3\.4: .*after the epoch"),
    bug("3.4", "untouched-stub", NB.stub("3_4_code"), r"NotImplementedError"),
    ok("3.4", "reversed-lr-order", P("3_4_code", ("    for lr in lrs:", "    for lr in sorted(lrs, reverse=True):"))),
    ok("3.4", "seed-per-lr-index", P("3_4_code", ("    for lr in lrs:\n        seed_everything(seed)",
                                                   "    for i, lr in enumerate(lrs):\n        seed_everything(seed + 17 * i)"))),
    ok("3.4", "seeded-once", P("3_4_code", ("        seed_everything(seed)\n", ""),
                                ("    histories = {}\n", "    histories = {}\n    seed_everything(seed)\n"))),
    ok("3.4", "val-batch-300", P("3_4_code", (VAL_B, "TensorBatches(*data.val, 300"))),
    ok("3.4", "val-in-one-batch", P("3_4_code", (VAL_B, "TensorBatches(*data.val, len(data.val_y)"))),
    ok("3.4", "plain-range-shared-train-batches", src('''
        def run_sweep(lrs, n_epochs, data, device, *, batch_size=256, seed=0):
            train = TensorBatches(data.train_x, data.train_y, batch_size, seed=seed, device=device)
            val = [(data.val_x[i:i + 1000].to(device), data.val_y[i:i + 1000].to(device))
                   for i in range(0, len(data.val_y), 1000)]
            out = {}
            for lr in lrs:
                torch.manual_seed(seed)
                net = MLP().to(device)
                sgd = torch.optim.SGD(net.parameters(), lr=lr)
                h = History()
                for epoch in range(n_epochs):
                    tl = train_epoch(net, train, sgd, device)
                    vl, ve = evaluate(net, val, device)
                    h.log(train_loss=tl, val_loss=vl, val_error=ve, model=net)
                out[lr] = h
            return out
        ''')),
]

# --------------------------------------------------------------------------- 3.5 selection
CASES_3_5 = [
    bug("3.5", "min-val-error", P("3_5_code", ("histories[pair[0]].val_loss[pair[1] - 1]", "histories[pair[0]].val_error[pair[1] - 1]")),
        r"3\.5: .*validation \*error\*"),
    bug("3.5", "min-train-loss", P("3_5_code", ("histories[pair[0]].val_loss[pair[1] - 1]", "histories[pair[0]].train_loss[pair[1] - 1]")),
        r"3\.5: .*\*training\* loss"),
    bug("3.5", "last-epoch-of-best-run", src('''
        def select_best(histories):
            lr = min(histories, key=lambda lr: min(histories[lr].val_loss))
            return lr, len(histories[lr].val_loss)
        '''), r"3\.5: .*last epoch"),
    bug("3.5", "compares-last-epochs-only", src('''
        def select_best(histories):
            lr = min(histories, key=lambda lr: histories[lr].val_loss[-1])
            return lr, len(histories[lr].val_loss)
        '''), r"3\.5: .*last epoch"),
    bug("3.5", "epoch-from-0", src('''
        def select_best(histories):
            return min(((lr, i) for lr, h in histories.items() for i in range(len(h.val_loss))),
                       key=lambda pair: histories[pair[0]].val_loss[pair[1]])
        '''), r"3\.5: .*from 1"),
    bug("3.5", "max-not-min", P("3_5_code", ("return min(", "return max(")), r"3\.5: .*highest"),
    bug("3.5", "lr-by-test-error", src('''
        def select_best(histories):
            def test_error(lr):
                m = histories[lr].load_best(MLP()).to(DEVICE).eval()
                with torch.no_grad():
                    return (m(data.test_x).argmax(1) != data.test_y).float().mean().item()
            lr = min(histories, key=test_error)
            return lr, histories[lr].best_epoch
        '''), r"3\.5: .*(test|validation loss)"),
    bug("3.5", "untouched-stub", NB.stub("3_5_code"), r"NotImplementedError"),
    ok("3.5", "numpy-argmin-flat", src('''
        import numpy as np

        def select_best(histories):
            lrs = list(histories)
            table = np.array([histories[lr].val_loss for lr in lrs])   # (n_lrs, n_epochs)
            i, j = np.unravel_index(np.argmin(table), table.shape)
            return lrs[i], j + 1
        ''')),
    ok("3.5", "history-best-epoch", src('''
        def select_best(histories):
            lr = min(histories, key=lambda lr: histories[lr].best_val_loss)
            return lr, histories[lr].best_epoch
        ''')),
    ok("3.5", "loops-returns-list", src('''
        def select_best(histories):
            best = None
            for lr, h in histories.items():
                for epoch, v in enumerate(h.val_loss, start=1):
                    if best is None or v < best[0]:
                        best = (v, lr, epoch)
            return [best[1], best[2]]
        ''')),
]

# --------------------------------------------------------------------------- 3.6 the saved model
CASES_3_6 = [
    bug("3.6", "architecture-not-the-saved-one", src('''
        def build_best_model():
            return MLP()
        '''), r"do not fit the model"),
    bug("3.6", "untouched-stub", NB.stub("3_6_code"), r"NotImplementedError"),
]

CASES = CASES_3_1 + CASES_3_2 + CASES_3_3 + CASES_3_4 + CASES_3_5 + CASES_3_6


# --------------------------------------------------------------------------- more cases: fixtures that hid bugs

CASES += [
    bug("3.1", "zero-initialised-weights", P("3_1_code", ("        self.out = nn.Linear(hidden, n_classes)\n",
        "        self.out = nn.Linear(hidden, n_classes)\n        for p in self.parameters():\n"
        "            nn.init.zeros_(p)\n")), r"3\.1: .*same weights.*randomly"),
    ok("3.1", "kaiming-init-zero-bias", P("3_1_code", ("        self.out = nn.Linear(hidden, n_classes)\n",
        "        self.out = nn.Linear(hidden, n_classes)\n        nn.init.kaiming_normal_(self.hidden.weight)\n"
        "        nn.init.zeros_(self.hidden.bias)\n"))),
    bug("3.4", "logs-accuracy-as-val-error", P("3_4_code", (LOG, LOG.replace("val_error=val_error", "val_error=1 - val_error"))),
        r"3\.4: .*val_error"),
    bug("3.4", "logs-train-loss-as-val", P("3_4_code", (LOG, LOG.replace("val_loss=val_loss", "val_loss=train_loss"))),
        r"3\.4: .*(log the loss on data\.val|equals the validation loss)"),
    bug("3.4", "optimiser-built-once", P("3_4_code", ("        opt = torch.optim.SGD(model.parameters(), lr=lr)\n", ""),
        ("    for lr in lrs:\n", "    opt = None\n    for lr in lrs:\n"),
        ("        history = History()\n", "        history = History()\n        opt = opt or torch.optim.SGD(model.parameters(), lr=lr)\n")),
        r"3\.4: .*does not fall.*SGD\(model\.parameters\(\), lr=lr\)"),
    ok("3.4", "evaluates-val-in-batches-of-256", P("3_4_code", (VAL_B, "TensorBatches(*data.val, 256"))),
    ok("3.4", "moves-model-each-epoch", P("3_4_code", (STEP, "            model.to(device)\n" + STEP))),
    bug("3.5", "only-the-last-run", src('''
        def select_best(histories):
            lr = list(histories)[-1]
            h = histories[lr]
            return lr, min(range(1, len(h.val_loss) + 1), key=lambda e: h.val_loss[e - 1])
        '''), r"3\.5: .*expected \(1\.0, 2\)"),
    bug("3.5", "only-the-first-run", src('''
        def select_best(histories):
            lr = next(iter(histories))
            return lr, histories[lr].best_epoch
        '''), r"3\.5: .*expected \(1\.0, 2\)"),
    ok("3.5", "sorted-by-tuple", src('''
        def select_best(histories):
            v, lr, epoch = min((v, lr, e) for lr, h in histories.items() for e, v in enumerate(h.val_loss, 1))
            return lr, epoch
        ''')),
    ok("3.5", "returns-numpy-scalars", src('''
        import numpy as np

        def select_best(histories):
            lrs = np.array(list(histories))
            table = np.array([histories[lr].val_loss for lr in lrs])
            i, j = np.unravel_index(table.argmin(), table.shape)
            return lrs[i], np.int64(j + 1)
        ''')),
]


CASES = with_tests(CASES, lambda task: TIERS if task == "3.6" else (task.replace(".", "_"),))


GRADED = {"3_1", "3_2", "3_3", "3_4", "3_5", "3_5_results", *TIERS}
SPEC = LabSpec(LAB, (SETUP, DATA, *ANSWERS[:-1], SWEEP, REPORT, "3_6_code"), fresh=ANSWERS,
               handed_in={"lab3_best.pt": CHECKPOINT}, datasets=True)
DATA_SET = "mnist"
FULL_MARKS = tuple(sorted(NB.graded))


def check_layout() -> None:
    """The plain cells this corpus names are what it thinks they are."""
    assert NB.keys[:2] == [SETUP, DATA]
    assert "mnist_splits(" in NB.source(DATA)
    assert "run_sweep(" in NB.source(SWEEP) and "display_error_curves(" in NB.source(CURVES)
    assert "select_best(histories)" in NB.source(REPORT)
    assert 'load_model(build_best_model, "lab3_best.pt")' in NB.source(LOOK)
