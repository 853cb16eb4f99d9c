"""Lab 4's mutation corpus (the judges: autograder/judges/lab4_positional_encoding.py): each BUG variant of an answer cell must lose
its task's points with a message naming the cause; each OK variant, a correct answer written another way, must
keep full marks. ``test_contract.py`` runs them; what is particular to this lab is here."""
from __future__ import annotations

import functools

from harness import LabSpec, Notebook, bug, ok, src, with_tests

LAB = "lab4_positional_encoding"
NB = Notebook.of(LAB)

ANSWERS = ("4_1_code", "4_2_code", "4_3_code", "4_4_code", "4_5_code", "4_6_code")
TESTS = {
    "4.1": ("4_1",),
    "4.2": ("4_2", "4_2_train", "4_2_psnr"),
    "4.3": ("4_3",),
    "4.4": ("4_4",),
    "4.5": ("4_5_split", "4_5_select"),
    "4.6": ("4_6",),
}
# The plain cells that build the notebook state the results judges read (test_cell_layout checks them).
FIT, MEMORISE_PE, MEMORISE_GAUSSIAN = "4_2_psnr+1", "4_3+2", "4_4+2"
SELECTION, FINALS = "4_5_split+1", "4_5_select+1"


P = NB.patched
mlp = functools.partial(NB.replace_def, "4_2_code", "make_mlp")   # mlp(source): the cell with make_mlp replaced
loop = functools.partial(NB.replace_def, "4_2_code", "train_mlp")   # loop(source): the cell with train_mlp replaced
psnr = functools.partial(NB.replace_def, "4_2_code", "psnr")   # psnr(source): the cell with psnr replaced


# --------------------------------------------------------------------------- 4.1 coordinates
STACK = "    return torch.stack([x, y], dim=-1).reshape(height * width, 2)"
ROWS = "    rows = torch.arange(height, dtype=torch.float32) / height    # y of each row, (H,)"
COLS = "    cols = torch.arange(width, dtype=torch.float32) / width      # x of each column, (W,)"
GRID = '    y, x = torch.meshgrid(rows, cols, indexing="ij")             # (H, W) each'
CASES_4_1 = [
    bug("4.1", "xy-swapped", P("4_1_code", (STACK, STACK.replace("[x, y]", "[y, x]"))), r"4\.1: .*x and y are swapped"),
    bug("4.1", "pixel-indices", P("4_1_code", (ROWS, "    rows = torch.arange(height, dtype=torch.float32)"),
                                  (COLS, "    cols = torch.arange(width, dtype=torch.float32)")), r"4\.1: .*pixel indices"),
    bug("4.1", "minus-one-to-one", P("4_1_code", (ROWS, "    rows = 2 * torch.arange(height, dtype=torch.float32) / height - 1"),
                                     (COLS, "    cols = 2 * torch.arange(width, dtype=torch.float32) / width - 1")),
        r"4\.1: .*\[-1, 1\)"),
    bug("4.1", "linspace-0-1", P("4_1_code", (ROWS, "    rows = torch.linspace(0, 1, height)"),
                                 (COLS, "    cols = torch.linspace(0, 1, width)")), r"4\.1: .*reach 1"),
    bug("4.1", "linspace-minus-1-1", P("4_1_code", (ROWS, "    rows = torch.linspace(-1, 1, height)"),
                                       (COLS, "    cols = torch.linspace(-1, 1, width)")), r"4\.1: .*\[-1, 1\]"),
    bug("4.1", "pixel-centres", P("4_1_code", (ROWS, "    rows = (torch.arange(height) + 0.5) / height"),
                                  (COLS, "    cols = (torch.arange(width) + 0.5) / width")), r"4\.1: .*centres"),
    bug("4.1", "xy-indexing-with-ij-reshape", P("4_1_code", (GRID, GRID.replace('"ij"', '"xy"'))), r"4\.1: .*column-major"),
    bug("4.1", "divisors-swapped", P("4_1_code", (ROWS, "    rows = torch.arange(height, dtype=torch.float32) / width"),
                                     (COLS, "    cols = torch.arange(width, dtype=torch.float32) / height")),
        r"4\.1: .*divided by H"),
    bug("4.1", "not-flattened", P("4_1_code", (STACK, "    return torch.stack([x, y], dim=-1)")), r"4\.1: .*reshape to \(H·W, 2\)"),
    bug("4.1", "one-row-per-coordinate", P("4_1_code", (STACK, "    return torch.stack([x.reshape(-1), y.reshape(-1)])")),
        r"4\.1: .*one row per pixel"),
    bug("4.1", "integer-division", P("4_1_code", (ROWS, "    rows = torch.arange(height) // height"),
                                     (COLS, "    cols = torch.arange(width) // width")), r"4\.1: .*float32 coordinates expected"),
    bug("4.1", "numpy-float64", src('''
        import numpy as np

        def pixel_coordinates(height, width):
            x, y = np.meshgrid(np.arange(width) / width, np.arange(height) / height)
            return torch.from_numpy(np.stack([x, y], axis=-1).reshape(-1, 2))
        '''), r"4\.1: .*float64"),
    bug("4.1", "yx-and-column-major", src('''
        def pixel_coordinates(height, width):
            i, j = torch.meshgrid(torch.arange(height) / height, torch.arange(width) / width, indexing="ij")
            return torch.stack([i.T, j.T], dim=-1).reshape(-1, 2)
        '''), r"4\.1: .*x and y are swapped.*column-major"),
    bug("4.1", "scaled-to-255", P("4_1_code", (ROWS, "    rows = torch.arange(height) / height * 255"),
                                  (COLS, "    cols = torch.arange(width) / width * 255")), r"4\.1: .*(reaches|below 1)"),
    bug("4.1", "untouched-stub", NB.stub("4_1_code"), r"NotImplementedError"),
    ok("4.1", "linspace-to-the-last-pixel", P("4_1_code", (ROWS, "    rows = torch.linspace(0, 1 - 1 / height, height)"),
                                              (COLS, "    cols = torch.linspace(0, 1 - 1 / width, width)"))),
    ok("4.1", "meshgrid-xy-matching", P("4_1_code", (GRID, '    x, y = torch.meshgrid(cols, rows, indexing="xy")'))),
    ok("4.1", "cat-columns", P("4_1_code", (STACK, "    return torch.cat([x.reshape(-1, 1), y.reshape(-1, 1)], dim=1)"))),
    ok("4.1", "cartesian-prod", src('''
        def pixel_coordinates(height, width):
            ij = torch.cartesian_prod(torch.arange(height), torch.arange(width)).float()   # (H·W, 2): (i, j)
            return torch.stack([ij[:, 1] / width, ij[:, 0] / height], dim=1)
        ''')),
    ok("4.1", "repeat-and-interleave", src('''
        def pixel_coordinates(height, width):
            x = (torch.arange(width) / width).repeat(height)
            y = (torch.arange(height) / height).repeat_interleave(width)
            return torch.stack((x, y), 1)
        ''')),
    ok("4.1", "divmod-of-the-index", src('''
        def pixel_coordinates(height, width):
            index = torch.arange(height * width)
            return torch.stack([(index % width).float() / width, torch.div(index, width, rounding_mode="floor").float() / height], -1)
        ''')),
    ok("4.1", "linspace-without-endpoint", P("4_1_code", (ROWS, "    rows = torch.linspace(0, 1, height + 1)[:-1]"),
                                             (COLS, "    cols = torch.linspace(0, 1, width + 1)[:-1]"))),
    ok("4.1", "numpy-then-float32", src('''
        import numpy as np

        def pixel_coordinates(height, width):
            x, y = np.meshgrid(np.arange(width) / width, np.arange(height) / height)
            return torch.tensor(np.stack([x.ravel(), y.ravel()], axis=1), dtype=torch.float32)
        ''')),
    ok("4.1", "broadcast-expand", src('''
        def pixel_coordinates(height: int, width: int) -> torch.Tensor:
            x = (torch.arange(width) / width)[None, :].expand(height, width)
            y = (torch.arange(height) / height)[:, None].expand(height, width)
            return torch.stack([x, y], dim=2).flatten(0, 1)
        ''')),
    # Issue 21: more realistic answers.
    bug("4.1", "stack-on-dim-0-then-reshape", P("4_1_code", (STACK, "    return torch.stack([x, y]).reshape(-1, 2)")),
        r"4\.1: pixel_coordinates\(3, 5\) row"),
    ok("4.1", "float64-then-float32", P("4_1_code", (ROWS, "    rows = (torch.arange(height, dtype=torch.float64) / height).float()"),
                                        (COLS, "    cols = (torch.arange(width, dtype=torch.float64) / width).float()"))),
    ok("4.1", "multiply-by-reciprocal", P("4_1_code", (ROWS, "    rows = torch.arange(height) * (1.0 / height)"),
                                          (COLS, "    cols = torch.arange(width) * (1.0 / width)"))),
]

# --------------------------------------------------------------------------- 4.2 the MLP, the loop, PSNR
SEQ = '''
def make_mlp(in_features: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, 3), nn.Sigmoid(),
    )
'''


OUT = "        nn.Linear(hidden, 3), nn.Sigmoid(),"
ZG = "        opt.zero_grad()\n"
MSE = "loss = F.mse_loss(model(inputs), targets)"
OPT = "    opt = torch.optim.Adam(model.parameters(), lr=lr)\n"
CB = "        if callback is not None:\n            callback(step, model)\n"
APPEND = "        losses.append(loss.item())\n"
PSNR_RET = "    return 10 * math.log10(1 / mse)"
CASES_4_2 = [
    # make_mlp
    bug("4.2", "no-sigmoid", P("4_2_code", (OUT, "        nn.Linear(hidden, 3),")), r"4\.2: your MLP has no sigmoid"),
    bug("4.2", "relu-before-sigmoid", P("4_2_code", (OUT, "        nn.Linear(hidden, 3), nn.ReLU(), nn.Sigmoid(),")),
        r"4\.2: .*ReLU before the final sigmoid"),
    bug("4.2", "tanh-hidden", mlp(SEQ.replace("nn.ReLU()", "nn.Tanh()")), r"4\.2: .*tanh between the layers"),
    bug("4.2", "sigmoid-hidden", mlp(SEQ.replace("nn.ReLU()", "nn.Sigmoid()")), r"4\.2: .*sigmoid between the layers"),
    bug("4.2", "missing-second-relu", mlp(SEQ.replace("nn.Linear(hidden, hidden), nn.ReLU(),\n        nn.Linear(hidden, hidden), nn.ReLU(),",
                                                      "nn.Linear(hidden, hidden),\n        nn.Linear(hidden, hidden), nn.ReLU(),")),
        r"4\.2: .*no ReLU after linear layer 2"),
    bug("4.2", "two-hidden-layers", mlp(SEQ.replace("        nn.Linear(hidden, hidden), nn.ReLU(),\n", "", 1)),
        r"4\.2: .*parameters in 3 weight matrices.*four linear layers"),
    bug("4.2", "four-hidden-layers", mlp(SEQ.replace("        nn.Linear(hidden, hidden), nn.ReLU(),\n",
                                                     "        nn.Linear(hidden, hidden), nn.ReLU(),\n" * 2, 1)),
        r"4\.2: .*parameters in 5 weight matrices"),
    bug("4.2", "width-128", P("4_2_code", ("hidden: int = 256) -> nn.Module:", "hidden: int = 128) -> nn.Module:")),
        r"4\.2: .*parameters"),
    bug("4.2", "no-biases", mlp(SEQ.replace("hidden)", "hidden, bias=False)").replace("3)", "3, bias=False)")),
        r"4\.2: .*parameters.*bias"),
    bug("4.2", "softmax-output", P("4_2_code", (OUT, "        nn.Linear(hidden, 3), nn.Softmax(dim=1),")), r"4\.2: .*softmax"),
    bug("4.2", "clamp-output", src('''
        class _Clamped(nn.Module):
            def __init__(self, in_features, hidden):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3))

            def forward(self, x):
                return self.net(x).clamp(0, 1)
        ''') + "\n\n" + mlp('''
        def make_mlp(in_features, hidden=256):
            return _Clamped(in_features, hidden)
        '''), r"4\.2: .*clamps"),
    bug("4.2", "dropout", mlp(SEQ.replace("nn.ReLU(),\n        nn.Linear(hidden, 3)", "nn.ReLU(), nn.Dropout(0.2),\n        nn.Linear(hidden, 3)")),
        r"4\.2: .*change from one call"),
    bug("4.2", "zero-init", mlp('''
        def make_mlp(in_features, hidden=256):
            net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3), nn.Sigmoid())
            for p in net.parameters():
                nn.init.zeros_(p)
            return net
        '''), r"4\.2: .*same weights"),
    bug("4.2", "hard-coded-2-inputs", mlp(SEQ.replace("nn.Linear(in_features, hidden)", "nn.Linear(2, hidden)")),
        r"4\.2: .*(parameters|6 → 256)"),
    ok("4.2", "module-layers-registered-last-first", mlp('''
        class _MLP(nn.Module):
            def __init__(self, in_features, hidden):
                super().__init__()
                self.out = nn.Linear(hidden, 3)
                self.h3 = nn.Linear(hidden, hidden)
                self.h2 = nn.Linear(hidden, hidden)
                self.h1 = nn.Linear(in_features, hidden)

            def forward(self, x):
                x = F.relu(self.h1(x))
                x = F.relu(self.h2(x))
                x = F.relu(self.h3(x))
                return torch.sigmoid(self.out(x))


        def make_mlp(in_features, hidden=256):
            return _MLP(in_features, hidden)
        ''')),
    ok("4.2", "own-parameters-in-out-layout", mlp('''
        class _Own(nn.Module):
            def __init__(self, sizes):
                super().__init__()
                self.weights = nn.ParameterList([nn.Parameter(torch.randn(a, b) / math.sqrt(a)) for a, b in zip(sizes, sizes[1:])])
                self.biases = nn.ParameterList([nn.Parameter(torch.zeros(b)) for b in sizes[1:]])

            def forward(self, x):
                for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                    x = x @ w + b
                    x = torch.relu(x) if i < len(self.weights) - 1 else 1 / (1 + torch.exp(-x))
                return x


        def make_mlp(in_features, hidden=256):
            return _Own([in_features, hidden, hidden, hidden, 3])
        ''')),
    ok("4.2", "loop-built-sequential", mlp('''
        def make_mlp(in_features, hidden=256):
            layers, width = [], in_features
            for _ in range(3):
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
            return nn.Sequential(*layers, nn.Linear(hidden, 3), nn.Sigmoid())
        ''')),
    ok("4.2", "ordered-dict-names", mlp('''
        from collections import OrderedDict

        def make_mlp(in_features, hidden=256):
            return nn.Sequential(OrderedDict([
                ("fc1", nn.Linear(in_features, hidden)), ("act1", nn.ReLU()),
                ("fc2", nn.Linear(hidden, hidden)), ("act2", nn.ReLU()),
                ("fc3", nn.Linear(hidden, hidden)), ("act3", nn.ReLU()),
                ("rgb", nn.Linear(hidden, 3)), ("squash", nn.Sigmoid())]))
        ''')),
    # train_mlp
    bug("4.2", "sgd", P("4_2_code", (OPT, OPT.replace("Adam", "SGD"))), r"4\.2: the optimiser is SGD"),
    bug("4.2", "adamw", P("4_2_code", (OPT, OPT.replace("Adam", "AdamW"))), r"4\.2: .*AdamW"),
    bug("4.2", "no-zero-grad", P("4_2_code", (ZG, "")), r"4\.2: gradients accumulate"),
    bug("4.2", "optimiser-inside-loop", P("4_2_code", (OPT, ""), (ZG, "    " + OPT + ZG)), r"4\.2: a new Adam is built"),
    bug("4.2", "lr-hard-coded", P("4_2_code", (OPT, OPT.replace("lr=lr", "lr=1e-3"))), r"4\.2: the learning rate is 1e-3"),
    bug("4.2", "l1-loss", P("4_2_code", (MSE, "loss = F.l1_loss(model(inputs), targets)")), r"4\.2: .*mean absolute error"),
    bug("4.2", "sum-reduction", P("4_2_code", (MSE, 'loss = F.mse_loss(model(inputs), targets, reduction="sum")')),
        r"4\.2: .*sums over the pixels"),
    bug("4.2", "loss-after-update", P("4_2_code", (APPEND, ""), (CB, "        with torch.no_grad():\n"
                                      "            losses.append(F.mse_loss(model(inputs), targets).item())\n" + CB)),
        r"4\.2: .*after each update"),
    bug("4.2", "steps-minus-one", P("4_2_code", ("for step in range(1, steps + 1):", "for step in range(1, steps):")),
        r"4\.2: 5 steps were taken"),
    bug("4.2", "returns-last-loss", P("4_2_code", ("    return losses\n", "    return losses[-1]\n")),
        r"4\.2: .*list of 6 losses"),
    bug("4.2", "callback-before-step", P("4_2_code", (CB, ""), (ZG, CB + ZG)), r"4\.2: .*after opt\.step\(\)"),
    bug("4.2", "callback-from-zero", P("4_2_code", ("callback(step, model)", "callback(step - 1, model)")),
        r"4\.2: .*count steps from 1"),
    bug("4.2", "callback-arguments-swapped", P("4_2_code", ("callback(step, model)", "callback(model, step)")),
        r"4\.2: .*callback\(step, model\)"),
    bug("4.2", "callback-ignored", P("4_2_code", (CB, "")), r"4\.2: the callback was called with steps \[\]"),
    bug("4.2", "callback-required", P("4_2_code", (CB, "        callback(step, model)\n")),
        r"4\.2: train_mlp without a callback raised"),
    bug("4.2", "no-backward", P("4_2_code", ("        loss.backward()\n", "")), r"4\.2: .*did not change"),
    bug("4.2", "mini-batches", loop('''
        def train_mlp(model, inputs, targets, *, steps, lr, callback=None):
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            losses = []
            for step in range(1, steps + 1):
                batch = torch.randperm(len(inputs))[:16]
                opt.zero_grad()
                loss = F.mse_loss(model(inputs[batch]), targets[batch])
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if callback is not None:
                    callback(step, model)
            return losses
        '''), r"4\.2: your weights after 6 steps differ from those of 6 full-batch Adam steps"),
    ok("4.2", "mse-loss-module", P("4_2_code", (MSE, "loss = nn.MSELoss()(model(inputs), targets)"))),
    ok("4.2", "squared-error-by-hand", P("4_2_code", (MSE, "loss = ((model(inputs) - targets) ** 2).mean()"))),
    ok("4.2", "zero-grad-after-step", P("4_2_code", (ZG, ""), ("        opt.step()\n", "        opt.step()\n" + ZG))),
    ok("4.2", "model-zero-grad", P("4_2_code", ("opt.zero_grad()", "model.zero_grad()"))),
    ok("4.2", "explicit-adam-defaults", P("4_2_code", (OPT, "    opt = torch.optim.Adam(model.parameters(), lr, betas=(0.9, 0.999), eps=1e-8)\n"))),
    ok("4.2", "float-of-loss", P("4_2_code", (APPEND, "        losses.append(float(loss))\n"))),
    ok("4.2", "detached-tensor-losses", P("4_2_code", (APPEND, "        losses.append(loss.detach())\n"))),
    ok("4.2", "range-from-zero", loop('''
        def train_mlp(model, inputs, targets, *, steps, lr, callback=None):
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
            history = []
            for i in range(steps):
                optimiser.zero_grad(set_to_none=False)
                loss = F.mse_loss(model(inputs), targets)
                history.append(loss.item())
                loss.backward()
                optimiser.step()
                if callback:
                    callback(i + 1, model)
            return history
        ''')),
    # psnr
    bug("4.2", "peak-255", P("4_2_code", (PSNR_RET, "    return 10 * math.log10(255 ** 2 / mse)")), r"4\.2: .*peak of 255"),
    bug("4.2", "rmse-not-squared", P("4_2_code", (PSNR_RET, "    return 10 * math.log10(1 / math.sqrt(mse))")),
        r"4\.2: .*RMSE without squaring"),
    bug("4.2", "20-log10-mse", P("4_2_code", (PSNR_RET, "    return 20 * math.log10(1 / mse)")), r"4\.2: .*20·log10\(1 / MSE\)"),
    bug("4.2", "natural-log", P("4_2_code", (PSNR_RET, "    return 10 * math.log(1 / mse)")), r"4\.2: .*natural logarithm"),
    bug("4.2", "sign-flipped", P("4_2_code", (PSNR_RET, "    return 10 * math.log10(mse)")), r"4\.2: .*upside down"),
    bug("4.2", "summed-error", psnr('''
        def psnr(pred, target):
            return 10 * math.log10(1 / ((pred - target) ** 2).sum().item())
        '''), r"4\.2: .*summed squared error"),
    bug("4.2", "per-channel-mean", psnr('''
        def psnr(pred, target):
            mse = ((pred - target) ** 2).reshape(-1, 3).mean(dim=0)
            return (10 * torch.log10(1 / mse)).mean().item()
        '''), r"4\.2: .*per-channel"),
    bug("4.2", "mean-absolute-error", psnr('''
        def psnr(pred, target):
            return 10 * math.log10(1 / (pred - target).abs().mean().item())
        '''), r"4\.2: .*mean absolute error"),
    ok("4.2", "log-ratio-ln", P("4_2_code", (PSNR_RET, "    return 10 * math.log(1 / mse) / math.log(10)"))),
    ok("4.2", "20-log10-rmse", P("4_2_code", (PSNR_RET, "    return 20 * math.log10(1 / math.sqrt(mse))"))),
    ok("4.2", "minus-10-log10", P("4_2_code", (PSNR_RET, "    return -10 * math.log10(mse)"))),
    ok("4.2", "torch-log10-tensor", psnr('''
        def psnr(pred, target):
            return 10 * torch.log10(1 / torch.mean((pred.detach() - target) ** 2))
        ''')),
    ok("4.2", "numpy", psnr('''
        import numpy as np

        def psnr(pred, target):
            err = (pred.detach().cpu().numpy().astype(np.float64) - target.cpu().numpy()) ** 2
            return float(10 * np.log10(1.0 / err.mean()))
        ''')),
    bug("4.2", "untouched-stub", NB.stub("4_2_code"), r"NotImplementedError"),
    # Issue 21: more realistic answers.
    bug("4.2", "seeded-inside-make-mlp", mlp('''
        def make_mlp(in_features, hidden=256):
            torch.manual_seed(0)   # reproducible
            return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 3), nn.Sigmoid())
        '''), r"4\.2: .*same weights on every call"),
    bug("4.2", "own-fixed-generator", mlp('''
        def make_mlp(in_features, hidden=256):
            g = torch.Generator().manual_seed(0)
            sizes = [in_features, hidden, hidden, hidden, 3]
            layers = []
            for a, b in zip(sizes, sizes[1:]):
                lin = nn.Linear(a, b)
                with torch.no_grad():
                    bound = 1 / math.sqrt(a)
                    lin.weight.copy_(torch.rand(b, a, generator=g) * 2 * bound - bound)
                    lin.bias.copy_(torch.rand(b, generator=g) * 2 * bound - bound)
                layers += [lin, nn.ReLU()]
            return nn.Sequential(*layers[:-1], nn.Sigmoid())
        '''), r"4\.2: .*same weights on every call"),
    bug("4.2", "weight-decay", P("4_2_code", (OPT, OPT.replace("lr=lr)", "lr=lr, weight_decay=1e-4)"))),
        r"4\.2: your weights after 6 steps differ"),
    bug("4.2", "lr-scheduler", P("4_2_code", (OPT, OPT + "    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)\n"),
                                 ("        opt.step()\n", "        opt.step()\n        sched.step()\n")),
        r"4\.2: your weights after 6 steps differ"),
    bug("4.2", "psnr-subtracts-in-place", psnr('''
        def psnr(pred, target):
            err = pred.detach()
            err -= target          # no copy
            return 10 * math.log10(1 / err.pow(2).mean().item())
        '''), r"4\.2: psnr.*in place"),
    ok("4.2", "psnr-double-precision", psnr('''
        def psnr(pred, target):
            mse = torch.mean((pred.detach().double() - target.double()) ** 2)
            return float(10 * torch.log10(1.0 / mse))
        ''')),
    ok("4.2", "make-mlp-modulelist", mlp('''
        class _Net(nn.Module):
            def __init__(self, in_features, hidden):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(in_features, hidden), nn.Linear(hidden, hidden),
                                             nn.Linear(hidden, hidden), nn.Linear(hidden, 3)])

            def forward(self, x):
                for layer in self.layers[:-1]:
                    x = torch.relu(layer(x))
                return torch.sigmoid(self.layers[-1](x))


        def make_mlp(in_features, hidden=256):
            return _Net(in_features, hidden)
        ''')),
    bug("4.2", "losses-keep-their-graphs", P("4_2_code", (APPEND, "        losses.append(loss)\n")), r"4\.2: .*autograd graph"),
]

# --------------------------------------------------------------------------- 4.3 the positional encoding
FREQS = "    freqs = 2.0 ** torch.arange(L, dtype=p.dtype, device=p.device)     # (L,): 1, 2, 4, ..."
ANGLES = "    angles = math.pi * p[:, None, :] * freqs[None, :, None]             # (N, L, d)"
FLAT = "    angles = angles.reshape(p.shape[0], -1)                             # (N, L·d): column k·d + c"
CAT = "    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)     # (N, 2·L·d)"
CASES_4_3 = [
    bug("4.3", "no-pi", P("4_3_code", (ANGLES, "    angles = p[:, None, :] * freqs[None, :, None]")), r"4\.3: .*without π"),
    bug("4.3", "two-pi", P("4_3_code", (ANGLES, "    angles = 2 * math.pi * p[:, None, :] * freqs[None, :, None]")),
        r"4\.3: .*twice too high"),
    bug("4.3", "k-from-1", P("4_3_code", (FREQS, "    freqs = 2.0 ** torch.arange(1, L + 1)")), r"4\.3: .*twice too high"),
    bug("4.3", "half-pi", P("4_3_code", (ANGLES, "    angles = math.pi / 2 * p[:, None, :] * freqs[None, :, None]")),
        r"4\.3: .*half"),
    bug("4.3", "k-not-power", P("4_3_code", (FREQS, "    freqs = torch.arange(L, dtype=p.dtype)")), r"4\.3: .*k·π, not 2\^k·π"),
    bug("4.3", "k-plus-1-not-power", P("4_3_code", (FREQS, "    freqs = torch.arange(1, L + 1, dtype=p.dtype)")),
        r"4\.3: .*\(k \+ 1\)·π"),
    bug("4.3", "cos-first", P("4_3_code", (CAT, "    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)")),
        r"4\.3: .*cosines come before the sines"),
    bug("4.3", "sin-cos-per-frequency", P("4_3_code", (FLAT, ""), (CAT, "    return torch.stack([angles.sin(), angles.cos()], dim=2).reshape(len(p), -1)")),
        r"4\.3: .*alternate frequency by frequency"),
    bug("4.3", "sin-cos-pairs", P("4_3_code", (FLAT, ""), (CAT, "    return torch.stack([angles.sin(), angles.cos()], dim=3).reshape(len(p), -1)")),
        r"4\.3: .*each sine is followed by its cosine"),
    bug("4.3", "coordinate-major", P("4_3_code", (FLAT, "    angles = angles.transpose(1, 2).reshape(p.shape[0], -1)")),
        r"4\.3: .*coordinate by coordinate"),
    bug("4.3", "per-coordinate-blocks", src('''
        def positional_encoding(p, L):
            blocks = []
            for c in range(p.shape[1]):
                angles = torch.stack([2 ** k * math.pi * p[:, c] for k in range(L)], dim=1)   # (N, L)
                blocks += [angles.sin(), angles.cos()]
            return torch.cat(blocks, dim=1)
        '''), r"4\.3: .*own block"),
    bug("4.3", "xy-swapped", P("4_3_code", (ANGLES, "    angles = math.pi * p.flip(1)[:, None, :] * freqs[None, :, None]")),
        r"4\.3: .*x and y are swapped"),
    bug("4.3", "includes-p", P("4_3_code", (CAT, "    return torch.cat([p, torch.sin(angles), torch.cos(angles)], dim=1)")),
        r"4\.3: .*p itself"),
    bug("4.3", "L-plus-1-frequencies", P("4_3_code", (FREQS, "    freqs = 2.0 ** torch.arange(L + 1, dtype=p.dtype)")),
        r"4\.3: .*L \+ 1"),
    bug("4.3", "hard-coded-two-coordinates", src('''
        def positional_encoding(p, L):
            sines = [torch.sin(2 ** k * math.pi * p[:, c]) for k in range(L) for c in (0, 1)]
            cosines = [torch.cos(2 ** k * math.pi * p[:, c]) for k in range(L) for c in (0, 1)]
            return torch.stack(sines + cosines, dim=1)
        '''), r"(IndexError|index 1 is out of bounds|4\.3: .*every column)"),
    bug("4.3", "untouched-stub", NB.stub("4_3_code"), r"NotImplementedError"),
    ok("4.3", "cat-per-frequency", src('''
        def positional_encoding(p, L):
            return torch.cat([torch.sin(2 ** k * math.pi * p) for k in range(L)]
                             + [torch.cos(2 ** k * math.pi * p) for k in range(L)], dim=1)
        ''')),
    ok("4.3", "stack-and-reshape", src('''
        def positional_encoding(p: torch.Tensor, L: int) -> torch.Tensor:
            scaled = torch.stack([(2.0 ** k) * torch.pi * p for k in range(L)], dim=1)   # (N, L, d)
            flat = scaled.reshape(len(p), -1)
            return torch.hstack((flat.sin(), flat.cos()))
        ''')),
    ok("4.3", "frequency-matrix", src('''
        def positional_encoding(p, L):
            d = p.shape[1]
            # Row k·d + c of B is 2^k e_c: the encoding is [sin(π p Bᵀ), cos(π p Bᵀ)].
            B = torch.cat([2.0 ** k * torch.eye(d) for k in range(L)], dim=0).to(p)
            angles = math.pi * p @ B.T
            return torch.cat([angles.sin(), angles.cos()], dim=-1)
        ''')),
    ok("4.3", "einsum", src('''
        def positional_encoding(p, L):
            freqs = math.pi * 2 ** torch.arange(L).to(p)
            angles = torch.einsum("nd,l->nld", p, freqs).flatten(1)
            return torch.cat((torch.sin(angles), torch.cos(angles)), -1)
        ''')),
    ok("4.3", "loops-and-columns", src('''
        def positional_encoding(p, L):
            columns = []
            for trig in (torch.sin, torch.cos):
                for k in range(L):
                    for c in range(p.shape[1]):
                        columns.append(trig((2 ** k) * math.pi * p[:, c]))
            return torch.stack(columns, dim=1)
        ''')),
    # Issue 21: dtypes and the caller's points.
    bug("4.3", "numpy-float64-frequencies", src('''
        import numpy as np

        def positional_encoding(p, L):
            freqs = np.pi * 2.0 ** np.arange(L)                         # float64
            angles = (p.numpy()[:, None, :] * freqs[None, :, None]).reshape(len(p), -1)
            return torch.from_numpy(np.concatenate([np.sin(angles), np.cos(angles)], axis=1))
        '''), r"4\.3: .*float64 features for float32 points.*dtype"),
    ok("4.3", "numpy-keeps-the-dtype", src('''
        import numpy as np

        def positional_encoding(p, L):
            x = p.detach().cpu().numpy()
            angles = np.concatenate([2.0 ** k * np.pi * x for k in range(L)], axis=1)
            return torch.from_numpy(np.concatenate([np.sin(angles), np.cos(angles)], axis=1))
        ''')),
    bug("4.3", "float32-buffer", src('''
        def positional_encoding(p, L):
            n, d = p.shape
            out = torch.zeros(n, 2 * L * d)
            for k in range(L):
                out[:, k * d:(k + 1) * d] = torch.sin(2 ** k * math.pi * p)
                out[:, L * d + k * d:L * d + (k + 1) * d] = torch.cos(2 ** k * math.pi * p)
            return out
        '''), r"4\.3: .*float32 features for float64 points"),
    bug("4.3", "scales-p-in-place", src('''
        def positional_encoding(p, L):
            p *= math.pi
            return torch.cat([torch.sin(2 ** k * p) for k in range(L)] + [torch.cos(2 ** k * p) for k in range(L)], dim=1)
        '''), r"4\.3: .*in place"),
    ok("4.3", "float32-frequencies", P("4_3_code", (FREQS, "    freqs = 2.0 ** torch.arange(L)"),
                                       (ANGLES, "    angles = p[:, None, :] * (math.pi * freqs)[None, :, None]"))),
    ok("4.3", "doubling-a-copy", src('''
        def positional_encoding(p, L):
            angle = math.pi * p
            sines, cosines = [], []
            for _ in range(L):
                sines.append(torch.sin(angle))
                cosines.append(torch.cos(angle))
                angle = angle * 2
            return torch.cat(sines + cosines, dim=1)
        ''')),
    ok("4.3", "buffer-in-p-dtype", src('''
        def positional_encoding(p, L):
            n, d = p.shape
            out = p.new_empty(n, 2 * L * d)
            for k in range(L):
                out[:, k * d:(k + 1) * d] = torch.sin(2 ** k * math.pi * p)
                out[:, (L + k) * d:(L + k + 1) * d] = torch.cos(2 ** k * math.pi * p)
            return out
        ''')),
]

# --------------------------------------------------------------------------- 4.4 Gaussian Fourier features
DRAW = '        self.register_buffer("B", sigma * torch.randn(n_features, in_dim, generator=generator))'
GEN = "        generator = torch.Generator().manual_seed(seed)"
FWD = "        angles = 2 * math.pi * p @ self.B.T                                # (N, n_features)"
FCAT = "        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)    # (N, 2·n_features)"
CASES_4_4 = [
    bug("4.4", "resampled-every-call", P("4_4_code", (FWD, ("        B = self.B.std() * torch.randn(self.B.shape)\n"
                                                       "        angles = 2 * math.pi * p @ B.T"))),
        r"4\.4: .*drawn again at every call"),
    bug("4.4", "drawn-in-forward", src('''
        class GaussianFourierFeatures(nn.Module):
            def __init__(self, sigma, n_features=256, in_dim=2, seed=0):
                super().__init__()
                self.sigma, self.n_features, self.in_dim, self.seed = sigma, n_features, in_dim, seed
                self.register_buffer("B", sigma * torch.randn(n_features, in_dim, generator=torch.Generator().manual_seed(seed)))

            def forward(self, p):
                self.B = self.sigma * torch.randn(self.n_features, self.in_dim)
                angles = 2 * math.pi * p @ self.B.T
                return torch.cat([angles.sin(), angles.cos()], dim=1)
        '''), r"4\.4: .*(drawn again at every call|B changes)"),
    bug("4.4", "global-rng", P("4_4_code", (DRAW, '        self.register_buffer("B", sigma * torch.randn(n_features, in_dim))')),
        r"4\.4: two GaussianFourierFeatures with seed=7 have different B"),
    bug("4.4", "seed-ignored", P("4_4_code", (GEN, "        generator = torch.Generator().manual_seed(0)")),
        r"4\.4: seed=7 and seed=8 give the same B"),
    bug("4.4", "variance-sigma", P("4_4_code", (DRAW, DRAW.replace("sigma *", "sigma ** 2 *"))), r"4\.4: .*σ²"),
    bug("4.4", "std-sqrt-sigma", P("4_4_code", (DRAW, DRAW.replace("sigma *", "math.sqrt(sigma) *"))), r"4\.4: .*√σ"),
    bug("4.4", "sigma-not-used", P("4_4_code", (DRAW, DRAW.replace("sigma * ", ""))), r"4\.4: .*σ is not used"),
    bug("4.4", "uniform", P("4_4_code", (DRAW, DRAW.replace("torch.randn", "torch.rand"))), r"4\.4: .*mean.*torch\.randn"),
    bug("4.4", "uniform-symmetric", P("4_4_code", (DRAW, '        self.register_buffer("B", sigma * (2 * torch.rand(n_features, in_dim, generator=generator) - 1))')),
        r"4\.4: .*uniform"),
    bug("4.4", "no-two-pi", P("4_4_code", (FWD, "        angles = p @ self.B.T")), r"4\.4: .*without 2π"),
    bug("4.4", "pi-only", P("4_4_code", (FWD, "        angles = math.pi * p @ self.B.T")), r"4\.4: .*half the frequency"),
    bug("4.4", "sigma-twice", P("4_4_code", (FWD, "        angles = 2 * math.pi * self.sigma * p @ self.B.T"),
                                (DRAW, DRAW + "\n        self.sigma = sigma")), r"4\.4: .*σ is applied twice"),
    bug("4.4", "two-pi-folded-into-B", P("4_4_code", (DRAW, DRAW.replace("sigma *", "2 * math.pi * sigma *")),
                                         (FWD, "        angles = p @ self.B.T")), r"4\.4: .*2π·σ"),
    bug("4.4", "cos-first", P("4_4_code", (FCAT, "        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)")),
        r"4\.4: .*cosines come before"),
    bug("4.4", "sin-cos-pairs", P("4_4_code", (FCAT, "        return torch.stack([angles.sin(), angles.cos()], dim=2).flatten(1)")),
        r"4\.4: .*each sine is followed"),
    bug("4.4", "trainable-parameter", P("4_4_code", (DRAW, "        self.B = nn.Parameter(sigma * torch.randn(n_features, in_dim, generator=generator))")),
        r"4\.4: .*trainable"),
    bug("4.4", "plain-attribute", P("4_4_code", (DRAW, "        self.B = sigma * torch.randn(n_features, in_dim, generator=generator)")),
        r"4\.4: .*register_buffer"),
    bug("4.4", "n-features-hard-coded", P("4_4_code", (DRAW, DRAW.replace("torch.randn(n_features,", "torch.randn(256,"))),
        r"4\.4: .*has shape \(256, 2\)"),
    bug("4.4", "in-dim-hard-coded", P("4_4_code", (DRAW, DRAW.replace("n_features, in_dim,", "n_features, 2,"))),
        r"4\.4: .*has shape \(16, 2\)"),
    bug("4.4", "untouched-stub", NB.stub("4_4_code"), r"NotImplementedError"),
    ok("4.4", "torch-normal", P("4_4_code", (DRAW, '        self.register_buffer("B", torch.normal(0.0, sigma, (n_features, in_dim), generator=generator))'))),
    ok("4.4", "frozen-parameter", P("4_4_code", (DRAW, "        self.B = nn.Parameter(sigma * torch.randn(n_features, in_dim, generator=generator), requires_grad=False)"))),
    ok("4.4", "manual-seed-in-init", P("4_4_code", (GEN, "        torch.manual_seed(seed)"),
                                       (DRAW, '        self.register_buffer("B", sigma * torch.randn(n_features, in_dim))'))),
    ok("4.4", "transposed-B-layout", src('''
        class GaussianFourierFeatures(nn.Module):
            def __init__(self, sigma: float, n_features: int = 256, in_dim: int = 2, seed: int = 0) -> None:
                super().__init__()
                g = torch.Generator()
                g.manual_seed(seed)
                self.register_buffer("B", torch.randn(in_dim, n_features, generator=g) * sigma)   # (in_dim, n)

            def forward(self, p):
                proj = 2 * torch.pi * torch.matmul(p, self.B)
                return torch.hstack([torch.sin(proj), torch.cos(proj)])
        ''')),
    ok("4.4", "f-linear-non-persistent", src('''
        class GaussianFourierFeatures(nn.Module):
            def __init__(self, sigma, n_features=256, in_dim=2, seed=0):
                super().__init__()
                B = torch.randn(n_features, in_dim, generator=torch.Generator().manual_seed(seed)).mul(sigma)
                self.register_buffer("B", B, persistent=False)

            def forward(self, p):
                z = 2 * math.pi * F.linear(p, self.B)
                return torch.cat((z.sin(), z.cos()), dim=-1)
        ''')),
    # Issue 21: the caller's points.
    bug("4.4", "scales-p-in-place", P("4_4_code", (FWD, "        p *= 2 * math.pi\n        angles = p @ self.B.T")),
        r"4\.4: .*in place"),
    ok("4.4", "matmul-then-scale", P("4_4_code", (FWD, "        angles = (p @ self.B.T) * (2 * math.pi)"))),
]

# --------------------------------------------------------------------------- 4.5 the split and the selection


def split(text: str) -> str:
    return NB.replace_def("4_5_code", "grid_split", text)


def selection(text: str) -> str:
    return NB.replace_def("4_5_code", "select_encoding", text)


SPLIT_RET = "    return index[0::2, 0::2].reshape(-1), index[1::2, 1::2].reshape(-1)"
SCORE = "            scores[name] = psnr(model(x[val_idx]), rgb[val_idx])"
TRAIN = "        train_mlp(model, x[fit_idx], rgb[fit_idx], steps=steps, lr=lr)"
ORDER = "    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))"
SHUFFLE = "    shuffled = train_idx[order]"
VAL_N = "    n_val = round(val_fraction * len(train_idx))"
VAL_SPLIT = "    val_idx, fit_idx = shuffled[:n_val], shuffled[n_val:]"
CASES_4_5 = [
    bug("4.5", "grids-swapped", P("4_5_code", (SPLIT_RET, "    return index[1::2, 1::2].reshape(-1), index[0::2, 0::2].reshape(-1)")),
        r"4\.5: .*swapped.*train on the held-out grid"),
    bug("4.5", "held-out-is-the-rest", split('''
        def grid_split(height, width):
            index = torch.arange(height * width).reshape(height, width)
            train = index[0::2, 0::2].reshape(-1)
            mask = torch.ones(height * width, dtype=torch.bool)
            mask[train] = False
            return train, mask.nonzero().squeeze(1)
        '''), r"4\.5: .*every pixel outside the training grid"),
    bug("4.5", "checkerboard", split('''
        def grid_split(height, width):
            i, j = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            even = ((i + j) % 2 == 0).reshape(-1)
            return even.nonzero().squeeze(1), (~even).nonzero().squeeze(1)
        '''), r"4\.5: .*checkerboard"),
    bug("4.5", "whole-rows", P("4_5_code", (SPLIT_RET, "    return index[0::2].reshape(-1), index[1::2].reshape(-1)")), r"4\.5: .*whole rows"),
    bug("4.5", "boolean-masks", split('''
        def grid_split(height, width):
            i, j = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            return ((i % 2 == 0) & (j % 2 == 0)).reshape(-1), ((i % 2 == 1) & (j % 2 == 1)).reshape(-1)
        '''), r"4\.5: .*boolean mask"),
    bug("4.5", "column-major", split('''
        def grid_split(height, width):
            index = torch.arange(height * width).reshape(height, width).T
            return index[0::2, 0::2].reshape(-1), index[1::2, 1::2].reshape(-1)
        '''), r"4\.5: .*column-major"),
    bug("4.5", "unsorted", split('''
        def grid_split(height, width):
            train = {i * width + j for i in range(0, height, 2) for j in range(0, width, 2)}
            held = {i * width + j for i in range(1, height, 2) for j in range(1, width, 2)}
            return torch.tensor(sorted(train, reverse=True)), torch.tensor(sorted(held, reverse=True))
        '''), r"4\.5: .*another order"),
    bug("4.5", "not-flattened", P("4_5_code", (SPLIT_RET, "    return index[0::2, 0::2], index[1::2, 1::2]")), r"4\.5: .*1-D tensor"),
    bug("4.5", "no-validation-split", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            scores = {}
            for name, x in features.items():
                torch.manual_seed(seed)
                model = make_mlp(x.shape[1])
                train_mlp(model, x[train_idx], rgb[train_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    scores[name] = psnr(model(x[train_idx]), rgb[train_idx])
            return max(scores, key=scores.get), scores
        '''), r"4\.5: .*memorises"),
    bug("4.5", "validates-on-all-training-pixels", P("4_5_code", (SCORE, "            scores[name] = psnr(model(x[train_idx]), rgb[train_idx])")),
        r"4\.5: .*(memorises|also trained on)"),
    bug("4.5", "validation-also-trained-on", P("4_5_code", (TRAIN, "        train_mlp(model, x[train_idx], rgb[train_idx], steps=steps, lr=lr)")),
        r"4\.5: .*(memorises|also trained on)"),
    bug("4.5", "selects-on-the-held-out-pixels", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            held = torch.ones(len(rgb), dtype=torch.bool)
            held[train_idx] = False
            scores = {}
            for name, x in features.items():
                torch.manual_seed(seed)
                model = make_mlp(x.shape[1])
                train_mlp(model, x[train_idx], rgb[train_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    scores[name] = psnr(model(x[held]), rgb[held])
            return max(scores, key=scores.get), scores
        '''), r"4\.5: .*NaN.*outside the training grid"),
    bug("4.5", "validation-drawn-from-every-pixel", P("4_5_code",
        ("    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))\n    shuffled = train_idx[order]",
         "    shuffled = torch.randperm(len(rgb), generator=torch.Generator().manual_seed(seed))")),
        r"4\.5: .*NaN"),
    bug("4.5", "uses-the-notebooks-pixels", P("4_5_code", (SCORE, "            scores[name] = psnr(model(x[val_idx]), pixels[val_idx])")),
        r"4\.5: .*(raised|NaN|clearly best|validation pixels)"),
    bug("4.5", "argmin", P("4_5_code", ("    return max(scores, key=scores.get), scores", "    return min(scores, key=scores.get), scores")),
        r"4\.5: .*lowest"),
    bug("4.5", "returns-mses", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            perm = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))]
            n_val = round(val_fraction * len(perm))
            val, fit = perm[:n_val], perm[n_val:]
            errors = {}
            for name, x in features.items():
                torch.manual_seed(seed)
                model = make_mlp(x.shape[1])
                train_mlp(model, x[fit], rgb[fit], steps=steps, lr=lr)
                with torch.no_grad():
                    errors[name] = F.mse_loss(model(x[val]), rgb[val]).item()
            return min(errors, key=errors.get), errors
        '''), r"4\.5: .*look like MSEs"),
    bug("4.5", "returns-only-the-name", P("4_5_code", ("    return max(scores, key=scores.get), scores", "    return max(scores, key=scores.get)")),
        r"4\.5: .*should return \(best name"),
    bug("4.5", "untouched-stub", NB.stub("4_5_code"), r"NotImplementedError"),
    ok("4.5", "split-from-masks", split('''
        def grid_split(height, width):
            i, j = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            train = ((i % 2 == 0) & (j % 2 == 0)).flatten()
            held = ((i % 2 == 1) & (j % 2 == 1)).flatten()
            return torch.nonzero(train).flatten(), torch.nonzero(held).flatten()
        ''')),
    ok("4.5", "split-list-comprehension", split('''
        def grid_split(height, width):
            train = [i * width + j for i in range(0, height, 2) for j in range(0, width, 2)]
            held = [i * width + j for i in range(1, height, 2) for j in range(1, width, 2)]
            return torch.tensor(train, dtype=torch.long), torch.tensor(held, dtype=torch.long)
        ''')),
    ok("4.5", "select-no-reseed-int-fraction", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            g = torch.Generator().manual_seed(seed)
            perm = torch.randperm(len(train_idx), generator=g)
            n_val = int(val_fraction * len(train_idx))
            val_idx, fit_idx = train_idx[perm[:n_val]], train_idx[perm[n_val:]]
            scores = {}
            for name, feats in features.items():
                net = make_mlp(feats.shape[-1])
                train_mlp(net, feats[fit_idx], rgb[fit_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    mse = ((net(feats[val_idx]) - rgb[val_idx]) ** 2).mean()
                scores[name] = float(-10 * torch.log10(mse))
            best = sorted(scores.items(), key=lambda kv: kv[1])[-1][0]
            return best, scores
        ''')),
    ok("4.5", "select-mask-split", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            generator = torch.Generator().manual_seed(seed + 1)
            is_val = torch.rand(len(train_idx), generator=generator) < val_fraction
            val_idx, fit_idx = train_idx[is_val], train_idx[~is_val]
            results = {}
            for name in features:
                torch.manual_seed(seed)
                model = make_mlp(features[name].shape[1])
                train_mlp(model, features[name][fit_idx], rgb[fit_idx], steps=steps, lr=lr)
                model.eval()
                with torch.no_grad():
                    results[name] = psnr(model(features[name][val_idx]), rgb[val_idx])
            names = list(results)
            best = names[max(range(len(names)), key=lambda i: results[names[i]])]
            return best, results
        ''')),
    # Issue 21: the arguments the text allows, the split the text defines, and what a score is.
    bug("4.5", "split-int32", split('''
        def grid_split(height, width):
            train = [i * width + j for i in range(0, height, 2) for j in range(0, width, 2)]
            held = [i * width + j for i in range(1, height, 2) for j in range(1, width, 2)]
            return torch.tensor(train, dtype=torch.int32), torch.tensor(held, dtype=torch.int32)
        '''), r"4\.5: .*int32.*int64"),
    bug("4.5", "lr-hard-coded", P("4_5_code", (TRAIN, TRAIN.replace("lr=lr", "lr=1e-3"))), r"4\.5: .*lr="),
    bug("4.5", "steps-from-the-notebook", P("4_5_code", (TRAIN, TRAIN.replace("steps=steps", "steps=SELECT_STEPS"))),
        r"4\.5: .*steps="),
    bug("4.5", "val-fraction-ignored", P("4_5_code", (VAL_N, "    n_val = round(0.25 * len(train_idx))")), r"4\.5: .*val_fraction"),
    bug("4.5", "split-inverted", P("4_5_code", (VAL_SPLIT, "    val_idx, fit_idx = shuffled[n_val:], shuffled[:n_val]")),
        r"4\.5: .*val_fraction"),
    bug("4.5", "not-shuffled", P("4_5_code", (SHUFFLE, "    shuffled = train_idx")), r"4\.5: .*not shuffled"),
    bug("4.5", "global-random-split", P("4_5_code", (ORDER, "    order = torch.randperm(len(train_idx))")),
        r"4\.5: .*global random state"),
    bug("4.5", "split-seed-ignored", P("4_5_code", (ORDER, ORDER.replace("manual_seed(seed)", "manual_seed(0)"))),
        r"4\.5: .*seed"),
    bug("4.5", "scored-before-training", P("4_5_code", (TRAIN + "\n", ""),
                                            ("            scores[name] = psnr(model(x[val_idx]), rgb[val_idx])\n",
                                             "            scores[name] = psnr(model(x[val_idx]), rgb[val_idx])\n" + TRAIN + "\n")),
        r"4\.5: .*(after training|clearly best|reach about)"),
    bug("4.5", "score-from-the-last-loss", P("4_5_code", (TRAIN, "        losses = " + TRAIN.strip()),
                                              (SCORE, "            scores[name] = 10 * math.log10(1 / losses[-1])")),
        r"4\.5: .*(memorises|training pixels)"),
    ok("4.5", "validation-at-the-end", P("4_5_code", (VAL_SPLIT, "    val_idx, fit_idx = shuffled[len(train_idx) - n_val:], shuffled[:len(train_idx) - n_val]"))),
    ok("4.5", "isin-complement", selection('''
        def select_encoding(features, rgb, train_idx, *, steps, lr, val_fraction=0.25, seed=0):
            perm = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))
            val = train_idx[perm[:round(val_fraction * len(train_idx))]]
            fit = train_idx[~torch.isin(train_idx, val)]
            out = {}
            for name, f in features.items():
                torch.manual_seed(seed)
                net = make_mlp(f.shape[1]).to(f.device)
                train_mlp(net, f[fit], rgb[fit], steps=steps, lr=lr)
                with torch.no_grad():
                    out[name] = psnr(net(f[val]), rgb[val])
            return max(out, key=out.get), out
        ''')),
]

# --------------------------------------------------------------------------- 4.6 the sweep


SWEEP_TRAIN = "        train_mlp(model, coords[train_idx], rgb[train_idx], steps=steps, lr=lr)"
RESULT = '''            results[sigma] = (psnr(model(coords[train_idx]), rgb[train_idx]),
                              psnr(model(coords[held_out_idx]), rgb[held_out_idx]), model)'''
ENC = "        encoder = GaussianFourierFeatures(sigma, seed=seed)"
CASES_4_6 = [
    bug("4.6", "psnrs-swapped", P("4_6_code", (RESULT, '''            results[sigma] = (psnr(model(coords[held_out_idx]), rgb[held_out_idx]),
                              psnr(model(coords[train_idx]), rgb[train_idx]), model)''')), r"4\.6: .*swapped"),
    bug("4.6", "sigma-ignored", P("4_6_code", (ENC, "        encoder = GaussianFourierFeatures(10.0, seed=seed)")),
        r"4\.6: .*(hardly change with σ|reach about)"),
    bug("4.6", "trained-on-the-held-out-grid", P("4_6_code", (SWEEP_TRAIN, "        train_mlp(model, coords[held_out_idx], rgb[held_out_idx], steps=steps, lr=lr)")),
        r"4\.6: .*trained on coords\[train_idx\] only"),
    bug("4.6", "trained-on-every-pixel", P("4_6_code", (SWEEP_TRAIN, "        train_mlp(model, coords, rgb, steps=steps, lr=lr)")),
        r"4\.6: .*trained on coords\[train_idx\] only"),
    bug("4.6", "held-out-psnr-on-training-pixels", P("4_6_code", (RESULT, '''            results[sigma] = (psnr(model(coords[train_idx]), rgb[train_idx]),
                              psnr(model(coords[train_idx]), rgb[train_idx]), model)''')), r"4\.6: .*returned model reaches"),
    bug("4.6", "returns-the-mlp-alone", src('''
        def sweep_sigma(sigmas, coords, rgb, train_idx, held_out_idx, *, steps, lr, seed=0):
            results = {}
            for sigma in sigmas:
                encoder = GaussianFourierFeatures(sigma, seed=seed)
                features = encoder(coords)
                torch.manual_seed(seed)
                mlp = make_mlp(features.shape[1])
                train_mlp(mlp, features[train_idx], rgb[train_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    results[sigma] = (psnr(mlp(features[train_idx]), rgb[train_idx]),
                                      psnr(mlp(features[held_out_idx]), rgb[held_out_idx]), mlp)
            return results
        '''), r"4\.6: .*nn\.Sequential\(encoder, mlp\)"),
    bug("4.6", "one-model-for-every-sigma", src('''
        def sweep_sigma(sigmas, coords, rgb, train_idx, held_out_idx, *, steps, lr, seed=0):
            torch.manual_seed(seed)
            mlp = make_mlp(512)
            results = {}
            for sigma in sigmas:
                model = nn.Sequential(GaussianFourierFeatures(sigma, seed=seed), mlp)
                train_mlp(model, coords[train_idx], rgb[train_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    results[sigma] = (psnr(model(coords[train_idx]), rgb[train_idx]),
                                      psnr(model(coords[held_out_idx]), rgb[held_out_idx]), model)
            return results
        '''), r"4\.6: .*(reach about|returned model reaches)"),
    bug("4.6", "untouched-stub", NB.stub("4_6_code"), r"NotImplementedError"),
    ok("4.6", "seed-once-before-the-loop", src('''
        def sweep_sigma(sigmas, coords, rgb, train_idx, held_out_idx, *, steps, lr, seed=0):
            torch.manual_seed(seed)
            out = {}
            for s in sigmas:
                enc = GaussianFourierFeatures(s, seed=seed)
                model = nn.Sequential(enc, make_mlp(512)).to(coords.device)
                train_mlp(model, coords[train_idx], rgb[train_idx], steps=steps, lr=lr)
                with torch.no_grad():
                    out[s] = (psnr(model(coords[train_idx]), rgb[train_idx]), psnr(model(coords[held_out_idx]), rgb[held_out_idx]), model)
            return out
        ''')),
    ok("4.6", "pre-encoded-features", src('''
        def sweep_sigma(sigmas, coords, rgb, train_idx, held_out_idx, *, steps, lr, seed=0):
            results = {}
            for sigma in sigmas:
                encoder = GaussianFourierFeatures(sigma, seed=seed)
                features = encoder(coords)
                torch.manual_seed(seed)
                mlp = make_mlp(features.shape[1])
                train_mlp(mlp, features[train_idx], rgb[train_idx], steps=steps, lr=lr)
                model = nn.Sequential(encoder, mlp)
                with torch.no_grad():
                    pred = mlp(features)
                results[sigma] = (psnr(pred[train_idx], rgb[train_idx]), psnr(pred[held_out_idx], rgb[held_out_idx]), model)
            return results
        ''')),
    ok("4.6", "default-encoder-seed", P("4_6_code", (ENC, "        encoder = GaussianFourierFeatures(sigma)"))),
    ok("4.6", "no-seeding-at-all", P("4_6_code", ("        torch.manual_seed(seed)\n", ""))),
    # Issue 21: the arguments the text allows, and what a training PSNR is.
    bug("4.6", "lr-hard-coded", P("4_6_code", (SWEEP_TRAIN, SWEEP_TRAIN.replace("lr=lr", "lr=1e-3"))), r"4\.6: .*lr="),
    bug("4.6", "steps-hard-coded", P("4_6_code", (SWEEP_TRAIN, SWEEP_TRAIN.replace("steps=steps", "steps=budget(500, 60)"))),
        r"4\.6: .*steps="),
    bug("4.6", "training-psnr-from-the-last-loss", P("4_6_code", (SWEEP_TRAIN, "        losses = " + SWEEP_TRAIN.strip()),
                                                      ("psnr(model(coords[train_idx]), rgb[train_idx]),", "10 * math.log10(1 / losses[-1]),")),
        r"4\.6: .*(before the last update|returned model reaches)"),
    ok("4.6", "one-forward-pass", P("4_6_code", (RESULT, '''            pred = model(coords)
            results[sigma] = (psnr(pred[train_idx], rgb[train_idx]), psnr(pred[held_out_idx], rgb[held_out_idx]), model)'''))),
]

CASES = CASES_4_1 + CASES_4_2 + CASES_4_3 + CASES_4_4 + CASES_4_5 + CASES_4_6


CASES = with_tests(CASES, TESTS.__getitem__)


GRADED = {"4_1", "4_2", "4_2_train", "4_2_psnr", "4_3", "4_4", "4_5_memorise", "4_5_split", "4_5_select",
          "4_5_generalise", "4_6"}
SPEC = LabSpec(LAB, tuple(key for key in NB.keys if key not in NB.graded))
DATA_SET = None
FULL_MARKS = tuple(k for k in NB.keys if k in NB.graded)


def check_layout() -> None:
    """The plain cells this corpus names are what it thinks they are."""
    assert "def fit(" in NB.source(FIT) and 'memorise("raw (x, y)"' in NB.source(FIT)
    assert 'memorise("PE L=6"' in NB.source(MEMORISE_PE)
    assert 'memorise("Gaussian σ=10"' in NB.source(MEMORISE_GAUSSIAN)
    assert "select_encoding(candidates, pixels, train_idx" in NB.source(SELECTION)
    assert "generalised[_name] = {" in NB.source(FINALS)
