"""Lab 5's mutation corpus (the judges: autograder/judges/lab5_cnn_resnet.py): each BUG variant of an answer cell must lose
its task's points with a message naming the cause; each OK variant, a correct answer written another way, must
keep full marks. ``test_contract.py`` runs them; what is particular to this lab is here."""
from __future__ import annotations

import functools

from harness import LabSpec, Notebook, bug, ok, src, with_tests

LAB = "lab5_cnn_resnet"
NB = Notebook.of(LAB)

TESTS = {
    "5.1": ("5_1",),
    "5.2": ("5_2",),
    "5.3": ("5_3_model", "5_3_train"),
    "5.4": ("5_4", "5_4_resnet18"),
    "5.5": ("5_5",),
    "5.6": ("5_6",),
    "5.7": ("5_7_sgd", "5_7_momentum", "5_7_adagrad", "5_7_rmsprop", "5_7_adam", "5_7_adamw"),
}
P = NB.patched
conv = functools.partial(NB.replace_def, "5_1_code", "conv2d")   # conv(source): the cell with conv2d replaced
size = functools.partial(NB.replace_def, "5_1_code", "conv_output_size")   # size(source): the cell with conv_output_size replaced
pool = functools.partial(NB.replace_def, "5_2_code", "max_pool2d")   # pool(source): the cell with max_pool2d replaced


# --------------------------------------------------------------------------- 5.1 convolution
LOOPS = '''
    def conv2d(x, weight, bias=None, stride=1, padding=0):
        B, C, H, W = x.shape
        O, _, kh, kw = weight.shape
        xp = F.pad(x, (padding, padding, padding, padding))
        Ho = (H + 2 * padding - kh) // stride + 1
        Wo = (W + 2 * padding - kw) // stride + 1
        out = torch.zeros(B, O, Ho, Wo, dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                window = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]   # (B, C, kh, kw)
                out[:, :, i, j] = torch.einsum("bcuv,ocuv->bo", window, weight)
        if bias is not None:
            out += bias.view(1, -1, 1, 1)
        return out
'''
CASES_5_1 = [
    bug("5.1", "flipped-kernel", P("5_1_code", ("out = weight.reshape(O, -1) @ patches",
                                                "out = weight.flip(-2, -1).reshape(O, -1) @ patches")),
        r"5\.1: .*flipped"),
    bug("5.1", "loops-flipped-kernel", conv(LOOPS.replace('torch.einsum("bcuv,ocuv->bo", window, weight)',
                                                          'torch.einsum("bcuv,ocuv->bo", window, weight.flip(2, 3))')),
        r"5\.1: .*flipped"),
    bug("5.1", "pad-one-side", conv(LOOPS.replace("xp = F.pad(x, (padding, padding, padding, padding))",
                                                  "xp = F.pad(x, (0, padding, 0, padding))").replace(
        "Ho = (H + 2 * padding - kh) // stride + 1", "Ho = (H + padding - kh) // stride + 1").replace(
        "Wo = (W + 2 * padding - kw) // stride + 1", "Wo = (W + padding - kw) // stride + 1")),
        r"5\.1: .*one side"),
    bug("5.1", "pad-one-side-top-left", conv(LOOPS.replace("xp = F.pad(x, (padding, padding, padding, padding))",
                                                           "xp = F.pad(x, (padding, 0, padding, 0))").replace(
        "Ho = (H + 2 * padding - kh) // stride + 1", "Ho = (H + padding - kh) // stride + 1").replace(
        "Wo = (W + 2 * padding - kw) // stride + 1", "Wo = (W + padding - kw) // stride + 1")),
        r"5\.1: .*one side"),
    bug("5.1", "stride-on-the-output", conv(LOOPS.replace(
        "window = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]",
        "window = xp[:, :, i:i + kh, j:j + kw]")), r"5\.1: .*moves by 1"),
    bug("5.1", "stride-as-dilation", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            B, C, H, W = x.shape
            O, _, kh, kw = weight.shape
            xp = F.pad(x, (padding,) * 4)
            Ho = (H + 2 * padding - kh) // stride + 1
            Wo = (W + 2 * padding - kw) // stride + 1
            out = torch.zeros(B, O, Ho, Wo)
            for i in range(Ho):
                for j in range(Wo):
                    for u in range(kh):
                        for v in range(kw):
                            r, c = i * stride + u * stride, j * stride + v * stride
                            if r < xp.shape[2] and c < xp.shape[3]:
                                out[:, :, i, j] += xp[:, :, r, c] @ weight[:, :, u, v].T
            return out if bias is None else out + bias[None, :, None, None]
        '''), r"5\.1: .*(dilation|differs)"),
    bug("5.1", "no-bias", P("5_1_code", ("    if bias is not None:\n        out = out + bias.reshape(1, O, 1, 1)\n", "")),
        r"5\.1: .*bias is missing"),
    bug("5.1", "calls-F-conv2d", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            # the same as PyTorch's
            return F.conv2d(x, weight, bias, stride=stride, padding=padding)
        '''), r"5\.1: conv2d on x .* used aten::.*conv.* — the task is to compute the convolution yourself"),
    bug("5.1", "calls-nn-Conv2d", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride=stride, padding=padding,
                              bias=bias is not None)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if bias is not None:
                    layer.bias.copy_(bias)
            return layer(x)
        '''), r"5\.1: .* used aten::.*conv.* — .*do not call F\.conv2d or nn\.Conv2d"),
    # The rule by behaviour: other names for the same operator fail too (a search of the source missed them).
    bug("5.1", "conv-imported-under-another-name", conv('''
        from torch.nn.functional import conv2d as correlate

        def conv2d(x, weight, bias=None, stride=1, padding=0):
            return correlate(x, weight, bias, stride, padding)
        '''), r"5\.1: .* used aten::.*conv"),
    bug("5.1", "conv-through-getattr", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            return getattr(torch.nn.functional, "conv" + "2d")(x, weight, bias, stride=stride, padding=padding)
        '''), r"5\.1: .* used aten::.*conv"),
    bug("5.1", "conv-through-aten", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            return torch.ops.aten.convolution(x, weight, bias, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)
        '''), r"5\.1: .* used aten::convolution"),
    bug("5.1", "size-ceil", size('''
        def conv_output_size(size, kernel, stride=1, padding=0):
            return math.ceil((size + 2 * padding - kernel) / stride) + 1
        '''), r"5\.1: .*round down"),
    bug("5.1", "size-one-padding", size('''
        def conv_output_size(size, kernel, stride=1, padding=0):
            return (size + padding - kernel) // stride + 1
        '''), r"5\.1: .*both sides"),
    bug("5.1", "size-no-plus-one", size('''
        def conv_output_size(size, kernel, stride=1, padding=0):
            return (size + 2 * padding - kernel) // stride
        '''), r"5\.1: .*first position"),
    bug("5.1", "size-float", size('''
        def conv_output_size(size, kernel, stride=1, padding=0):
            return (size + 2 * padding - kernel) / stride + 1
        '''), r"5\.1: .*conv_output_size"),
    bug("5.1", "weight-taps-transposed", P("5_1_code", ("out = weight.reshape(O, -1) @ patches",
                                                        "out = weight.transpose(2, 3).reshape(O, -1) @ patches")),
        r"5\.1: .*conv2d on x"),
    bug("5.1", "weight-channels-last", P("5_1_code", ("out = weight.reshape(O, -1) @ patches",
                                                      "out = weight.permute(0, 2, 3, 1).reshape(O, -1) @ patches")),
        r"5\.1: .*conv2d on x"),
    ok("5.1", "loops", conv(LOOPS)),
    ok("5.1", "einsum-strided-views", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            kh, kw = weight.shape[2:]
            xp = F.pad(x, [padding] * 4)
            windows = xp.unfold(2, kh, stride).unfold(3, kw, stride)        # (B, C, Ho, Wo, kh, kw)
            out = torch.einsum("bchwuv,ocuv->bohw", windows, weight)
            if bias is not None:
                out = out + bias[:, None, None]
            return out
        ''')),
    ok("5.1", "unfold-with-explicit-pad", conv('''
        def conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride: int = 1, padding: int = 0):
            """Cross-correlation; does not call F.conv2d."""
            B = x.shape[0]
            O, C, kh, kw = weight.shape
            xp = torch.nn.functional.pad(x, (padding, padding, padding, padding), value=0.0)
            Ho = conv_output_size(x.shape[2], kh, stride, padding)
            Wo = conv_output_size(x.shape[3], kw, stride, padding)
            cols = F.unfold(xp, kernel_size=(kh, kw), stride=stride).transpose(1, 2)   # (B, L, C*kh*kw)
            out = (cols @ weight.view(O, -1).t()).transpose(1, 2).reshape(B, O, Ho, Wo)
            return out + (0 if bias is None else bias.view(1, O, 1, 1))
        ''')),
    ok("5.1", "as-strided", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            O, C, kh, kw = weight.shape
            xp = F.pad(x, (padding, padding, padding, padding)).contiguous()
            B, _, Hp, Wp = xp.shape
            Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
            s = xp.stride()
            win = xp.as_strided((B, C, Ho, Wo, kh, kw), (s[0], s[1], s[2] * stride, s[3] * stride, s[2], s[3]))
            out = torch.tensordot(win, weight, dims=([1, 4, 5], [1, 2, 3])).permute(0, 3, 1, 2)
            if bias is not None:
                out = out + bias.reshape(1, -1, 1, 1)
            return out.contiguous()
        ''')),
    ok("5.1", "size-math-floor", size('''
        def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
            return int(math.floor((size + 2 * padding - kernel) / stride)) + 1
        ''')),
]

# --------------------------------------------------------------------------- 5.2 max pooling
CASES_5_2 = [
    bug("5.2", "average", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            stride = stride or kernel_size
            return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).mean(dim=(-2, -1))
        '''), r"5\.2: .*average pooling"),
    bug("5.2", "max-from-zero", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = stride or kernel_size
            B, C, H, W = x.shape
            Ho, Wo = (H - kernel_size) // s + 1, (W - kernel_size) // s + 1
            out = torch.zeros(B, C, Ho, Wo)
            for i in range(Ho):
                for j in range(Wo):
                    for u in range(kernel_size):
                        for v in range(kernel_size):
                            out[:, :, i, j] = torch.maximum(out[:, :, i, j], x[:, :, i * s + u, j * s + v])
            return out
        '''), r"5\.2: .*never below 0"),
    bug("5.2", "default-stride-one", P("5_2_code", ("stride = kernel_size if stride is None else stride",
                                                    "stride = 1 if stride is None else stride")), r"5\.2: .*move by 1"),
    bug("5.2", "stride-ignored", P("5_2_code", ("stride = kernel_size if stride is None else stride",
                                                "stride = kernel_size")), r"5\.2: .*use `stride`"),
    bug("5.2", "ceil-mode", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = stride or kernel_size
            H, W = x.shape[-2:]
            ph = (-(H - kernel_size) % s)
            pw = (-(W - kernel_size) % s)
            x = F.pad(x, (0, pw, 0, ph), value=float("-inf"))
            return x.unfold(2, kernel_size, s).unfold(3, kernel_size, s).amax(dim=(-2, -1))
        '''), r"5\.2: .*ceil"),
    bug("5.2", "over-channels", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = stride or kernel_size
            w = x.unfold(2, kernel_size, s).unfold(3, kernel_size, s).amax(dim=(-2, -1))
            return w.amax(dim=1, keepdim=True).expand_as(w)
        '''), r"5\.2: .*channels"),
    bug("5.2", "calls-F-max-pool", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            return F.max_pool2d(x, kernel_size, stride)
        '''), r"5\.2: max_pool2d on .* used aten::max_pool.* — the task is to pool yourself"),
    bug("5.2", "pool-through-the-module", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            return nn.MaxPool2d(kernel_size, stride)(x)
        '''), r"5\.2: .* used aten::max_pool"),
    bug("5.2", "pool-through-adaptive", pool('''
        from torch.nn.functional import adaptive_max_pool2d as amp

        def max_pool2d(x, kernel_size=2, stride=None):
            stride = kernel_size if stride is None else stride
            if stride == kernel_size and x.shape[-1] % kernel_size == 0 and x.shape[-2] % kernel_size == 0:
                return amp(x, (x.shape[-2] // kernel_size, x.shape[-1] // kernel_size))
            return torch.max_pool2d(x, kernel_size, stride)
        '''), r"5\.2: .* used aten::.*max_pool"),
    bug("5.2", "reshape-trick-only", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            B, C, H, W = x.shape
            k = kernel_size
            x = x[:, :, :H // k * k, :W // k * k]
            return x.reshape(B, C, H // k, k, W // k, k).amax(dim=(3, 5))
        '''), r"5\.2: .*(use `stride`|shape)"),
    ok("5.2", "loops", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = kernel_size if stride is None else stride
            B, C, H, W = x.shape
            Ho, Wo = (H - kernel_size) // s + 1, (W - kernel_size) // s + 1
            out = torch.empty(B, C, Ho, Wo, dtype=x.dtype)
            for i in range(Ho):
                for j in range(Wo):
                    out[:, :, i, j] = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size].flatten(2).max(dim=2).values
            return out
        ''')),
    ok("5.2", "unfold-max-max", pool('''
        def max_pool2d(x: torch.Tensor, kernel_size: int = 2, stride: int | None = None) -> torch.Tensor:
            if stride is None:
                stride = kernel_size
            cols = F.unfold(x.reshape(-1, 1, *x.shape[-2:]), kernel_size, stride=stride)     # (B·C, k·k, L)
            Ho = (x.shape[-2] - kernel_size) // stride + 1
            Wo = (x.shape[-1] - kernel_size) // stride + 1
            return cols.max(dim=1).values.reshape(*x.shape[:2], Ho, Wo)
        ''')),
    ok("5.2", "minus-inf-start", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = stride if stride is not None else kernel_size
            Ho, Wo = (x.shape[2] - kernel_size) // s + 1, (x.shape[3] - kernel_size) // s + 1
            out = torch.full((*x.shape[:2], Ho, Wo), float("-inf"))
            for u in range(kernel_size):
                for v in range(kernel_size):
                    out = torch.maximum(out, x[:, :, u:u + s * (Ho - 1) + 1:s, v:v + s * (Wo - 1) + 1:s])
            return out
        ''')),
]

# --------------------------------------------------------------------------- 5.3 LeNet-5 and the loops
LENET_PAD = "nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),        # (B, 6, 14, 14)"
LAST = "nn.Linear(84, 10),                                                # (B, 10)"
ZERO_GRAD = "        opt.zero_grad()\n"
RETURN_TRAIN = "    return total / count\n    ### END SOLUTION\n\n\ndef evaluate"
CASES_5_3 = [
    bug("5.3", "no-padding", P("5_3_code", (LENET_PAD, "nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),"),
                               ("nn.Linear(400, 120), nn.ReLU(),", "nn.Linear(256, 120), nn.ReLU(),")), r"5\.3: .*padding=2"),
    bug("5.3", "relu-on-logits", P("5_3_code", (LAST, "nn.Linear(84, 10), nn.ReLU(),")), r"5\.3: .*never negative"),
    bug("5.3", "softmax-on-logits", P("5_3_code", (LAST, "nn.Linear(84, 10), nn.Softmax(dim=1),")), r"5\.3: .*probabilities"),
    bug("5.3", "flatten-everything", NB.replace_def("5_3_code", "build_lenet5", '''
        class LeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
                self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.c1(x)), 2)
                x = F.max_pool2d(F.relu(self.c2(x)), 2)
                x = torch.flatten(x)
                return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


        def build_lenet5():
            return LeNet()
        '''), r"5\.3: .*fails on a batch"),
    bug("5.3", "no-zero-grad", P("5_3_code", (ZERO_GRAD, "")), r"5\.3: .*accumulate"),
    bug("5.3", "softmax-before-ce", P("5_3_code", ("        loss = F.cross_entropy(model(x), y)\n",
                                                   "        loss = F.cross_entropy(model(x).softmax(dim=1), y)\n")),
        r"5\.3: .*softmax"),
    bug("5.3", "summed-loss", P("5_3_code", ("        loss = F.cross_entropy(model(x), y)\n",
                                             "        loss = F.cross_entropy(model(x), y, reduction='sum')\n"),
                                ("        total += loss.item() * len(y)\n", "        total += loss.item()\n")),
        r"5\.3: .*summed"),
    bug("5.3", "train-without-train-mode", P("5_3_code", ("    model.train()\n    total, count = 0.0, 0\n",
                                                          "    total, count = 0.0, 0\n")), r"5\.3: .*eval mode"),
    bug("5.3", "returns-last-loss", P("5_3_code", (RETURN_TRAIN, "    return loss.item()\n    ### END SOLUTION\n\n\ndef evaluate")),
        r"5\.3: .*last batch"),
    bug("5.3", "new-optimiser", P("5_3_code", ("    model.train()\n    total, count = 0.0, 0\n",
                                               "    model.train()\n    opt = torch.optim.SGD(model.parameters(), lr=0.01)\n"
                                               "    total, count = 0.0, 0\n")), r"5\.3: .*(never stepped|differ)"),
    bug("5.3", "evaluate-without-eval", P("5_3_code", ("    model.eval()\n    total_loss, wrong, count = 0.0, 0, 0\n",
                                                       "    total_loss, wrong, count = 0.0, 0, 0\n")),
        r"5\.3: .*(running statistics|eval mode)"),
    bug("5.3", "evaluate-returns-accuracy", P("5_3_code", ("    return total_loss / count, wrong / count",
                                                           "    return total_loss / count, 1 - wrong / count")),
        r"5\.3: .*accuracy"),
    bug("5.3", "evaluate-mean-of-batch-means", NB.replace_def("5_3_code", "evaluate", '''
        def evaluate(model, batches, device):
            model.eval()
            losses, errors = [], []
            with torch.no_grad():
                for x, y in batches:
                    logits = model(x.to(device))
                    losses.append(F.cross_entropy(logits, y.to(device)).item())
                    errors.append((logits.argmax(1) != y.to(device)).float().mean().item())
            return sum(losses) / len(losses), sum(errors) / len(errors)
        '''), r"5\.3: .*mean of the batch means"),
    bug("5.3", "evaluate-percent", P("5_3_code", ("    return total_loss / count, wrong / count",
                                                  "    return total_loss / count, 100 * wrong / count")),
        r"5\.3: .*percentage"),
    ok("5.3", "tanh-avgpool-paper", P("5_3_code", (LENET_PAD, "nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),"),
                                      ("nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),", "nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),"),
                                      ("nn.Linear(400, 120), nn.ReLU(),", "nn.Linear(400, 120), nn.Tanh(),"),
                                      ("nn.Linear(120, 84), nn.ReLU(),", "nn.Linear(120, 84), nn.Tanh(),"))),
    ok("5.3", "module-class", NB.replace_def("5_3_code", "build_lenet5", '''
        class LeNet5(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
                self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
                self.fc1 = nn.Linear(16 * 5 * 5, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                x = x.view(x.size(0), -1)
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                return self.fc3(x)


        def build_lenet5() -> nn.Module:
            return LeNet5()
        ''')),
    bug("5.3", "train-returns-mean-of-batch-means", NB.replace_def("5_3_code", "train_epoch", '''
        def train_epoch(model, batches, opt, device):
            model.train()
            losses = []
            for x, y in batches:
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x.to(device)), y.to(device))
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            return torch.stack(losses).mean().item()
        '''), r"5\.3: train_epoch returned .* the mean of the batches' means — weight each batch's loss by its size"),
    bug("5.3", "evaluate-without-no-grad", P("5_3_code", ("    with torch.no_grad():\n        for x, y in batches:",
                                                          "    if True:\n        for x, y in batches:")),
        r"5\.3: evaluate builds autograd graphs .*torch\.no_grad\(\)"),
    ok("5.3", "evaluate-inference-mode", NB.replace_def("5_3_code", "evaluate", '''
        @torch.inference_mode()
        def evaluate(model, batches, device):
            model.eval()
            n = loss = wrong = 0
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                out = model(x)
                loss += F.cross_entropy(out, y, reduction="sum")
                wrong += (out.argmax(-1) != y).sum()
                n += y.numel()
            return (loss / n).item(), (wrong / n).item()
        ''')),
]

# --------------------------------------------------------------------------- 5.4 the residual block
RES_FWD = '''        out = F.relu(self.bn1(self.conv1(x)))                     # (B, out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)'''
SHORTCUT = '''            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))'''
CASES_5_4 = [
    bug("5.4", "relu-before-add", P("5_4_code", (RES_FWD, RES_FWD.replace("out = self.bn2(self.conv2(out))",
                                                                          "out = F.relu(self.bn2(self.conv2(out)))").replace(
        "return F.relu(out + identity)", "return out + identity"))), r"5\.4: .*ReLU comes before the addition"),
    bug("5.4", "relu-before-and-after-add", P("5_4_code", ("out = self.bn2(self.conv2(out))",
                                                           "out = F.relu(self.bn2(self.conv2(out)))")),
        r"5\.4: .*before the addition as well"),
    bug("5.4", "no-final-relu", P("5_4_code", ("return F.relu(out + identity)", "return out + identity")),
        r"5\.4: .*ReLU after the addition is missing"),
    bug("5.4", "no-projection", P("5_4_code", ("        if stride != 1 or in_channels != out_channels:\n" + SHORTCUT + "\n", "")),
        r"5\.4: .*no 1 × 1 projection"),
    bug("5.4", "projection-only-for-channels", P("5_4_code", ("if stride != 1 or in_channels != out_channels:",
                                                              "if in_channels != out_channels:")),
        r"5\.4: .*no 1 × 1 projection"),
    bug("5.4", "projection-without-bn", P("5_4_code", (SHORTCUT, "            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)")),
        r"5\.4: .*(no batch norm|BatchNorm2d)"),
    bug("5.4", "stride-on-second-conv", P("5_4_code",
                                          ("self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
                                           "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)"),
                                          ("self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                                           "self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)")),
        r"5\.4: .*second convolution"),
    bug("5.4", "projection-always", P("5_4_code", ("if stride != 1 or in_channels != out_channels:", "if True:")),
        r"5\.4: .*keeps the shape but its shortcut"),
    bug("5.4", "no-bn-after-first", P("5_4_code", ("out = F.relu(self.bn1(self.conv1(x)))", "out = F.relu(self.conv1(x))")),
        r"5\.4: .*no batch norm after the first"),
    bug("5.4", "conv-biases", P("5_4_code", ("self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
                                             "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)"),
                                ("self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                                 "self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)")), r"5\.4: .*biases"),
    bug("5.4", "manual-batch-stats-always", P("5_4_code", (RES_FWD, '''        out = F.relu(F.batch_norm(self.conv1(x), None, None, self.bn1.weight, self.bn1.bias, training=True))
        out = F.batch_norm(self.conv2(out), None, None, self.bn2.weight, self.bn2.bias, training=True)
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)''')), r"5\.4: .*batch's statistics"),
    ok("5.4", "identity-module-shortcut", P("5_4_code", ("        self.shortcut = None\n", "        self.shortcut = nn.Identity()\n"),
                                            ("identity = x if self.shortcut is None else self.shortcut(x)",
                                             "identity = self.shortcut(x)"))),
    ok("5.4", "sequential-body-shortcut-first", NB.replace_def("5_4_code", "ResBlock", '''
        class ResBlock(nn.Module):
            def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
                super().__init__()
                if stride == 1 and in_channels == out_channels:
                    self.downsample = nn.Identity()
                else:
                    self.downsample = nn.Sequential(
                        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(out_channels))
                self.body = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels))
                self.act = nn.ReLU(inplace=True)

            def forward(self, x):
                return self.act(self.body(x) + self.downsample(x))
        ''')),
    ok("5.4", "in-place-add", P("5_4_code", ("return F.relu(out + identity)", "out += identity\n        return F.relu(out)"))),
    ok("5.4", "lambda-shortcut-relu-module", NB.replace_def("5_4_code", "ResBlock", '''
        class ResBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.c1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
                self.b1 = nn.BatchNorm2d(out_channels)
                self.c2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
                self.b2 = nn.BatchNorm2d(out_channels)
                self.relu = nn.ReLU()
                self.project = stride != 1 or in_channels != out_channels
                if self.project:
                    self.pc = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                    self.pb = nn.BatchNorm2d(out_channels)

            def forward(self, x):
                skip = self.pb(self.pc(x)) if self.project else x
                y = self.relu(self.b1(self.c1(x)))
                y = self.b2(self.c2(y))
                return self.relu(y + skip)
        ''')),
]

# --------------------------------------------------------------------------- 5.5 plain block, gradient norms
PLAIN_LAST = "            nn.BatchNorm2d(out_channels), nn.ReLU(),\n        )"
GN = '''    weights = [p for p in model.parameters() if p.ndim >= 2]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, weights)
    return [g.norm().item() for g in grads]'''
CASES_5_5 = [
    bug("5.5", "plain-with-shortcut", P("5_5_code", ("        return self.body(x)",
                                                     "        out = self.body(x)\n        return F.relu(out + x) if out.shape == x.shape else out")),
        r"5\.5: .*adds its input back"),
    bug("5.5", "plain-no-last-relu", P("5_5_code", (PLAIN_LAST, "            nn.BatchNorm2d(out_channels),\n        )")),
        r"5\.5: .*ReLU after the second batch norm is missing"),
    bug("5.5", "norms-of-every-parameter", P("5_5_code", ("weights = [p for p in model.parameters() if p.ndim >= 2]",
                                                          "weights = list(model.parameters())")), r"5\.5: .*only weights count"),
    bug("5.5", "squared-norms", P("5_5_code", ("return [g.norm().item() for g in grads]",
                                               "return [(g ** 2).sum().item() for g in grads]")), r"5\.5: .*squared"),
    bug("5.5", "accumulated-grads", P("5_5_code", (GN, '''    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return [p.grad.norm().item() for p in model.parameters() if p.ndim >= 2]''')), r"5\.5: .*left over"),
    bug("5.5", "reversed", P("5_5_code", ("return [g.norm().item() for g in grads]",
                                          "return [g.norm().item() for g in grads][::-1]")), r"5\.5: .*reverse order"),
    bug("5.5", "summed-loss", P("5_5_code", ("loss = F.cross_entropy(model(x), y)",
                                             "loss = F.cross_entropy(model(x), y, reduction='sum')")), r"5\.5: .*summed"),
    bug("5.5", "weight-norms", P("5_5_code", ("return [g.norm().item() for g in grads]",
                                              "return [w.norm().item() for w in weights]")), r"5\.5: .*norms of the weights"),
    bug("5.5", "mean-abs", P("5_5_code", ("return [g.norm().item() for g in grads]",
                                          "return [g.abs().mean().item() for g in grads]")), r"5\.5: .*mean absolute"),
    ok("5.5", "zero-grad-backward", P("5_5_code", (GN, '''    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norms = [torch.linalg.norm(p.grad).item() for p in model.parameters() if p.dim() > 1]
    model.zero_grad()
    return norms'''))),
    ok("5.5", "named-parameters-tensors", P("5_5_code", (GN, '''    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return [torch.norm(p.grad) for name, p in model.named_parameters() if len(p.shape) >= 2]'''))),
    ok("5.5", "plain-explicit-layers", NB.replace_def("5_5_code", "PlainBlock", '''
        class PlainBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)

            def forward(self, x):
                return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        ''')),
]

# --------------------------------------------------------------------------- 5.6 cost of a layer
CONV_MACS = "    macs = out_height * out_width * weights"
CASES_5_6 = [
    bug("5.6", "flops-not-macs", P("5_6_code", (CONV_MACS, "    macs = 2 * out_height * out_width * weights"))
        .replace("return out_features * in_features + (out_features if bias else 0), out_features * in_features",
                 "return out_features * in_features + (out_features if bias else 0), 2 * out_features * in_features"),
        r"5\.6: .*FLOPs"),
    bug("5.6", "bias-adds-as-macs", P("5_6_code", (CONV_MACS, "    macs = out_height * out_width * (weights + (out_channels if bias else 0))")),
        r"5\.6: .*bias additions"),
    bug("5.6", "params-without-bias", P("5_6_code", ("    params = weights + (out_channels if bias else 0)", "    params = weights")),
        r"5\.6: .*miss the biases"),
    bug("5.6", "macs-per-position", P("5_6_code", (CONV_MACS, "    macs = weights")), r"5\.6: .*per output position"),
    bug("5.6", "square-kernel-assumed", P("5_6_code", ("    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size",
                                                       "    kh = kw = kernel_size if isinstance(kernel_size, int) else kernel_size[0]")),
        r"5\.6: .*only k_h"),
    bug("5.6", "linear-bias-always", P("5_6_code", ("return out_features * in_features + (out_features if bias else 0), out_features * in_features",
                                                    "return out_features * in_features + out_features, out_features * in_features")),
        r"5\.6: .*although bias=False"),
    ok("5.6", "math-prod-pair", NB.replace_def("5_6_code", "conv2d_cost", '''
        def conv2d_cost(in_channels, out_channels, kernel_size, out_height, out_width, bias=True):
            from torch.nn.modules.utils import _pair
            taps = math.prod(_pair(kernel_size))
            per_output = in_channels * taps
            return out_channels * per_output + out_channels * bool(bias), out_channels * out_height * out_width * per_output
        ''')),
    ok("5.6", "list-return", NB.replace_def("5_6_code", "linear_cost", '''
        def linear_cost(in_features, out_features, bias=True):
            params = in_features * out_features
            if bias:
                params += out_features
            return [params, in_features * out_features]
        ''')),
]

# --------------------------------------------------------------------------- 5.7 optimisers
def rule(name: str, new: str) -> str:
    return NB.replace_def("5_7_code", name, new)


MOM = '''    v = state["v"] = beta * state.get("v", torch.zeros_like(p)) + g
    return p - lr * v'''
ADAM_HAT = "    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)"
CASES_5_7 = [
    bug("5.7", "sgd-ascent", P("5_7_code", ("    return p - lr * g\n", "    return p + lr * g\n")), r"5\.7: sgd .*up the gradient",
        tests=("5_7_sgd",)),
    bug("5.7", "momentum-sign", P("5_7_code", (MOM, MOM.replace("return p - lr * v", "return p + lr * v"))),
        r"5\.7: momentum .*wrong sign", tests=("5_7_momentum",)),
    bug("5.7", "momentum-no-beta", P("5_7_code", (MOM, '''    v = state["v"] = g
    return p - lr * v''')), r"5\.7: momentum .*no β", tests=("5_7_momentum",)),
    bug("5.7", "momentum-dampened", P("5_7_code", (MOM, MOM.replace("+ g", "+ (1 - beta) * g"))),
        r"5\.7: momentum .*exponential average", tests=("5_7_momentum",)),
    bug("5.7", "momentum-global-state", rule("momentum", '''
        VELOCITY = {}


        def momentum(p, g, state, *, lr, beta=0.9):
            VELOCITY["v"] = beta * VELOCITY.get("v", torch.zeros_like(p)) + g
            return p - lr * VELOCITY["v"]
        '''), r"5\.7: momentum .*share", tests=("5_7_momentum",)),
    bug("5.7", "adagrad-no-sqrt", rule("adagrad", '''
        def adagrad(p, g, state, *, lr, eps=1e-10):
            s = state["s"] = state.get("s", torch.zeros_like(p)) + g * g
            return p - lr * g / (s + eps)
        '''),
        r"5\.7: adagrad .*square root", tests=("5_7_adagrad",)),
    bug("5.7", "rmsprop-no-sqrt", rule("rmsprop", '''
        def rmsprop(p, g, state, *, lr, alpha=0.99, eps=1e-8):
            s = state["s"] = alpha * state.get("s", torch.zeros_like(p)) + (1 - alpha) * g * g
            return p - lr * g / (s + eps)
        '''), r"5\.7: rmsprop .*square root", tests=("5_7_rmsprop",)),
    bug("5.7", "rmsprop-no-one-minus-alpha", rule("rmsprop", '''
        def rmsprop(p, g, state, *, lr, alpha=0.99, eps=1e-8):
            s = state["s"] = alpha * state.get("s", torch.zeros_like(p)) + g * g
            return p - lr * g / (s.sqrt() + eps)
        '''), r"5\.7: rmsprop .*\(1 − α\)", tests=("5_7_rmsprop",)),
    bug("5.7", "adam-no-bias-correction", P("5_7_code", (ADAM_HAT, "    m_hat, v_hat = m, v")),
        r"5\.7: adam .*bias correction", tests=("5_7_adam", "5_7_adamw")),
    bug("5.7", "adam-only-m-corrected", P("5_7_code", (ADAM_HAT, "    m_hat, v_hat = m / (1 - beta1 ** t), v")),
        r"5\.7: adam .*only m", tests=("5_7_adam",)),
    bug("5.7", "adam-t-stuck", P("5_7_code", ('    t = state["t"] = state.get("t", 0) + 1', '    t = state.get("t", 1)')),
        r"5\.7: adam .*does not advance", tests=("5_7_adam",)),
    bug("5.7", "adam-ignores-weight-decay", P("5_7_code", ("    g = g + weight_decay * p\n", "")),
        r"5\.7: adam .*weight_decay is ignored", tests=("5_7_adam",)),
    bug("5.7", "adamw-is-adam-l2", rule("adamw", '''
        def adamw(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            return adam(p, g, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
        '''), r"5\.7: adamw .*folded into the gradient", tests=("5_7_adamw",)),
    bug("5.7", "adamw-decay-after", rule("adamw", '''
        def adamw(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            p = adam(p, g, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
            return p - lr * weight_decay * p
        '''), r"5\.7: adamw .*after Adam's step", tests=("5_7_adamw",)),
    bug("5.7", "adamw-decay-without-lr", P("5_7_code", ("    p = p * (1 - lr * weight_decay)", "    p = p * (1 - weight_decay)")),
        r"5\.7: adamw .*not scaled by the learning rate", tests=("5_7_adamw",)),
    ok("5.7", "in-place-everything", src('''
        def sgd(p, g, state, *, lr):
            return p.sub_(lr * g)


        def momentum(p, g, state, *, lr, beta=0.9):
            if "v" not in state:
                state["v"] = torch.zeros_like(p)
            state["v"].mul_(beta).add_(g)
            p.add_(state["v"], alpha=-lr)
            return p


        def adagrad(p, g, state, *, lr, eps=1e-10):
            s = state.setdefault("s", torch.zeros_like(p))
            s.addcmul_(g, g)
            p.addcdiv_(g, s.sqrt().add_(eps), value=-lr)
            return p


        def rmsprop(p, g, state, *, lr, alpha=0.99, eps=1e-8):
            s = state.setdefault("s", torch.zeros_like(p))
            s.mul_(alpha).addcmul_(g, g, value=1 - alpha)
            p.addcdiv_(g, s.sqrt().add_(eps), value=-lr)
            return p


        def adam(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            if weight_decay:
                g = g.add(p, alpha=weight_decay)
            if not state:
                state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
            state["t"] += 1
            state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
            state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            m_hat = state["m"] / (1 - beta1 ** state["t"])
            v_hat = state["v"] / (1 - beta2 ** state["t"])
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
            return p


        def adamw(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            p.mul_(1 - lr * weight_decay)
            return adam(p, g, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        '''), cell="5_7_code", tests=TESTS["5.7"]),
    ok("5.7", "momentum-lecture-form", rule("momentum", '''
        def momentum(p, g, state, *, lr, beta=0.9):
            # v ← βv − ηg;  p ← p + v  (the same path for a constant η)
            state["v"] = beta * state.get("v", 0) - lr * g
            return p + state["v"]
        '''), tests=("5_7_momentum",)),
    ok("5.7", "adam-paper-step-size", rule("adam", '''
        def adam(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            g = g + weight_decay * p
            state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g ** 2
            step = lr * math.sqrt(1 - beta2 ** state["t"]) / (1 - beta1 ** state["t"])
            return p - step * state["m"] / (state["v"].sqrt() + eps * math.sqrt(1 - beta2 ** state["t"]))
        '''), tests=("5_7_adam", "5_7_adamw")),
    ok("5.7", "adamw-one-expression", rule("adamw", '''
        def adamw(p, g, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            before = p.clone()
            stepped = adam(p, g, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
            return stepped - lr * weight_decay * before
        '''), tests=("5_7_adamw",)),
]

# --------------------------------------------------------------------------- more realistic answers (issue 21)
# What a class writes from the text alone: bugs the judges once let through (marked "slipped"), and correct answers
# that use the freedom the text gives.
MORE_5_1 = [
    bug("5.1", "padding-twice", P("5_1_code", ("patches = F.unfold(x, (kh, kw), padding=padding, stride=stride)",
                                               "patches = F.unfold(F.pad(x, [padding] * 4), (kh, kw), padding=padding, stride=stride)")),
        r"5\.1: .*conv2d on x"),
    ok("5.1", "size-int-of-true-division", size('''
        def conv_output_size(size, kernel, stride=1, padding=0):
            return int((size + 2 * padding - kernel) / stride) + 1
        ''')),
    ok("5.1", "loops-with-explicit-zero-padding", conv('''
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            B, C, H, W = x.shape
            O, _, kh, kw = weight.shape
            xp = x.new_zeros(B, C, H + 2 * padding, W + 2 * padding)
            xp[:, :, padding:padding + H, padding:padding + W] = x
            Ho, Wo = conv_output_size(H, kh, stride, padding), conv_output_size(W, kw, stride, padding)
            out = x.new_zeros(B, O, Ho, Wo)
            for u in range(kh):
                for v in range(kw):
                    tap = xp[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride]
                    out += torch.einsum("bchw,oc->bohw", tap, weight[:, :, u, v])
            return out if bias is None else out + bias.view(1, O, 1, 1)
        ''')),
]
MORE_5_2 = [
    bug("5.2", "partial-windows-at-the-edge", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            s = stride or kernel_size
            B, C, H, W = x.shape
            Ho, Wo = -(-H // s), -(-W // s)
            out = torch.empty(B, C, Ho, Wo)
            for i in range(Ho):
                for j in range(Wo):
                    out[:, :, i, j] = x[:, :, i * s:i * s + kernel_size, j * s:j * s + kernel_size].amax(dim=(-2, -1))
            return out
        '''), r"5\.2: .*max_pool2d on"),
    ok("5.2", "stride-or-default-amax-views", pool('''
        def max_pool2d(x, kernel_size=2, stride=None):
            stride = stride or kernel_size
            Ho = (x.shape[2] - kernel_size) // stride + 1
            Wo = (x.shape[3] - kernel_size) // stride + 1
            taps = [x[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride]
                    for u in range(kernel_size) for v in range(kernel_size)]
            return torch.stack(taps).amax(dim=0)
        ''')),
]
TRAIN_LOOP = '''
        def train_epoch(model, batches, opt, device):
            model.train()
            total, count = 0.0, 0
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
                count += len(y)
            return total / count
        '''
MORE_5_3 = [
    # slipped: the notebook hands train_epoch a generator (one pass); counting first leaves nothing to train on
    bug("5.3", "train-iterates-batches-twice", NB.replace_def("5_3_code", "train_epoch", '''
        def train_epoch(model, batches, opt, device):
            model.train()
            n = sum(len(y) for _, y in batches)
            total = 0.0
            for x, y in batches:
                opt.zero_grad()
                loss = F.cross_entropy(model(x.to(device)), y.to(device))
                loss.backward()
                opt.step()
                total += loss.item() * len(y)
            return total / n
        '''), r"5\.3: train_epoch.*(one-pass|once)"),
    bug("5.3", "train-loss-measured-after-the-step", NB.replace_def("5_3_code", "train_epoch", '''
        def train_epoch(model, batches, opt, device):
            model.train()
            total, count = 0.0, 0
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
                with torch.no_grad():
                    total += F.cross_entropy(model(x), y, reduction="sum").item()
                count += len(y)
            return total / count
        '''), r"5\.3: train_epoch.*(measured after|extra forward)"),
    bug("5.3", "evaluate-error-mean-of-batch-errors", NB.replace_def("5_3_code", "evaluate", '''
        def evaluate(model, batches, device):
            model.eval()
            total, n, errors = 0.0, 0, []
            with torch.no_grad():
                for x, y in batches:
                    logits = model(x.to(device))
                    total += F.cross_entropy(logits, y.to(device), reduction="sum").item()
                    n += len(y)
                    errors.append((logits.argmax(1) != y.to(device)).float().mean().item())
            return total / n, sum(errors) / len(errors)
        '''), r"5\.3: evaluate.*error"),
    # slipped: a linear layer with no activation after it (the parameter count is the same)
    bug("5.3", "lenet-no-activation-between-linears", P("5_3_code", ("nn.Linear(400, 120), nn.ReLU(),", "nn.Linear(400, 120),")),
        r"5\.3: there is no activation after the linear 400 → 120"),
    bug("5.3", "lenet-no-activation-after-conv2", P("5_3_code", ("nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),",
                                                               "nn.Conv2d(6, 16, 5), nn.MaxPool2d(2),")),
        r"5\.3: there is no activation after the conv 6 → 16"),
    ok("5.3", "train-zero-grad-last-detach-sum", NB.replace_def("5_3_code", "train_epoch", '''
        def train_epoch(model, batches, opt, device):
            model.train()
            total = torch.zeros(())
            count = 0
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                total += loss.detach().cpu() * y.shape[0]
                count += y.shape[0]
            return float(total / count)
        ''')),
    ok("5.3", "evaluate-restores-the-mode", NB.replace_def("5_3_code", "evaluate", '''
        def evaluate(model, batches, device):
            was_training = model.training
            model.eval()
            loss_sum, wrong, n = 0.0, 0, 0
            try:
                with torch.no_grad():
                    for x, y in batches:
                        x, y = x.to(device), y.to(device)
                        out = model(x)
                        loss_sum += F.cross_entropy(out, y).item() * len(y)
                        wrong += (out.argmax(dim=1) != y).sum().item()
                        n += len(y)
            finally:
                model.train(was_training)
            return loss_sum / n, wrong / n
        ''')),
    ok("5.3", "lenet-pool-then-tanh-sigmoid-free", NB.replace_def("5_3_code", "build_lenet5", '''
        def build_lenet5():
            return nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
                nn.Flatten(1),
                nn.Linear(400, 120), nn.Tanh(),
                nn.Linear(120, 84), nn.Tanh(),
                nn.Linear(84, 10))
        ''')),
]
MORE_5_4 = [
    # slipped: batch norm with γ = 1, β = 0 and running statistics 0 and 1 is the same module wherever it is used
    bug("5.4", "bn1-used-twice", P("5_4_code", ("out = self.bn2(self.conv2(out))", "out = self.bn1(self.conv2(out))")),
        r"5\.4: .*same BatchNorm2d"),
    bug("5.4", "shortcut-borrows-bn2", NB.replace_def("5_4_code", "ResBlock", '''
        class ResBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels)
                self.proj = None
                if stride != 1 or in_channels != out_channels:
                    self.proj = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
                    self.bn3 = nn.BatchNorm2d(out_channels)

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                skip = x if self.proj is None else self.bn2(self.proj(x))
                return F.relu(out + skip)
        '''), r"5\.4: .*same BatchNorm2d"),
    # slipped: the sum written into the block's input (autograd needs it for backward)
    bug("5.4", "adds-into-its-input", P("5_4_code", ("return F.relu(out + identity)", "identity += out\n        return F.relu(identity)")),
        r"5\.4: .*changes its input"),
    ok("5.4", "bn-explicit-defaults-relu-inplace", NB.replace_def("5_4_code", "ResBlock", '''
        class ResBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.shortcut = nn.Sequential()
                if stride != 1 or in_channels != out_channels:
                    self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=(1, 1), stride=(stride, stride), bias=False),
                                                  nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1))
                self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1)
                self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1)

            def forward(self, x):
                out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
                out = out + self.shortcut(x)
                return F.relu(out, inplace=True)
        ''')),
]
MORE_5_5 = [
    bug("5.5", "plain-bn1-used-twice", NB.replace_def("5_5_code", "PlainBlock", '''
        class PlainBlock(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
                self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(out_channels)
                self.bn2 = nn.BatchNorm2d(out_channels)

            def forward(self, x):
                return F.relu(self.bn1(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        '''), r"5\.5: .*same BatchNorm2d"),
    # slipped: "measuring" in eval mode — batch norm then uses its running statistics, not the batch's
    bug("5.5", "gradient-norms-in-eval-mode", P("5_5_code", (GN, "    model.eval()\n" + GN)),
        r"5\.5: .*(eval|evaluation) mode"),
    ok("5.5", "gradient-norms-module-weights-restore-grads", P("5_5_code", (GN, '''    saved = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    out = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            out.append(m.weight.grad.norm(p=2).item())
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    return out'''))),
]
MORE_5_7 = [
    # slipped: with gradients of order 1, ε barely matters — the hidden tests also use tiny gradients
    bug("5.7", "adam-eps-inside-sqrt", P("5_7_code", ("    return p - lr * m_hat / (v_hat.sqrt() + eps)",
                                                      "    return p - lr * m_hat / (v_hat + eps).sqrt()")),
        r"5\.7: adam .*ε is inside the square root", tests=("5_7_adam", "5_7_adamw")),
    bug("5.7", "adagrad-no-eps", P("5_7_code", ("    return p - lr * g / (s.sqrt() + eps)\n    ### END SOLUTION\n\n\ndef rmsprop",
                                                "    return p - lr * g / s.sqrt()\n    ### END SOLUTION\n\n\ndef rmsprop")),
        r"5\.7: adagrad .*ε is missing", tests=("5_7_adagrad",)),
    bug("5.7", "rmsprop-eps-inside-sqrt", rule("rmsprop", '''
        def rmsprop(p, g, state, *, lr, alpha=0.99, eps=1e-8):
            state["s"] = alpha * state.get("s", 0) + (1 - alpha) * g ** 2
            return p - lr * g / torch.sqrt(state["s"] + eps)
        '''), r"5\.7: rmsprop .*ε is inside the square root", tests=("5_7_rmsprop",)),
    ok("5.7", "adagrad-rmsprop-torch-style", src(NB.source("5_7_code")).replace(
        "    return p - lr * g / (s.sqrt() + eps)\n    ### END SOLUTION\n\n\ndef rmsprop",
        "    return torch.addcdiv(p, g, s.sqrt().add(eps), value=-lr)\n    ### END SOLUTION\n\n\ndef rmsprop"),
       cell="5_7_code", tests=("5_7_adagrad", "5_7_rmsprop")),
]


CASES = with_tests(CASES_5_1 + CASES_5_2 + CASES_5_3 + CASES_5_4 + CASES_5_5 + CASES_5_6 + CASES_5_7
                   + MORE_5_1 + MORE_5_2 + MORE_5_3 + MORE_5_4 + MORE_5_5 + MORE_5_7,
                   TESTS.__getitem__)


GRADED = {"5_1", "5_2", "5_3_model", "5_3_train", "5_3_below_2_0", "5_3_below_1_5", "5_3_below_1_2",
          "5_4", "5_4_resnet18", "5_5", "5_6", "5_7_sgd", "5_7_momentum", "5_7_adagrad", "5_7_rmsprop",
          "5_7_adam", "5_7_adamw", "5_8_at_least_75", "5_8_at_least_80", "5_8_at_least_85"}
SPEC = LabSpec(LAB, tuple(key for key in NB.keys if key == "start+1" or key.endswith("_code")), budget=600)
DATA_SET = None
# The tiers re-measure saved weights, which the samples and `course check` cover.
FULL_MARKS = tuple(k for k in NB.keys if k in NB.graded and not k.startswith(("5_3_below", "5_8_at_least")))


def check_layout() -> None:
    """The plain cells this corpus names are what it thinks they are."""
    pass
