"""The visible tests students trust before hand-in: each passes correct answers written several ways and fails the
bug it names. A visible test runs in the student's own kernel, so here it runs in-process, after the notebook's
set-up cell and the answer cells it needs (the solution's, or a variant)."""
from __future__ import annotations

import textwrap

import matplotlib
import pytest
from harness import Notebook

matplotlib.use("Agg")


def run_visible(lab: str, test: str, answers: tuple[str, ...], variant: dict[str, str] | None = None) -> None:
    """Run ``test`` (a visible test cell) after the set-up cell and the ``answers`` cells (``variant`` replacing some)."""
    nb = Notebook.of(lab)
    ns: dict = {"__name__": "__visible__"}
    exec(nb.source("start+1"), ns)
    for key in answers:
        exec(textwrap.dedent((variant or {}).get(key, nb.source(key))), ns)
    exec(nb.source(test), ns)


# --------------------------------------------------------------------------- Lab 4, 4.3
PE = "4_3_code"
PE_OK = {
    "solution": None,
    "flatten-of-outer-product": '''
        def positional_encoding(p, L):
            w = math.pi * 2.0 ** torch.arange(L, dtype=p.dtype)
            a = (w[None, :, None] * p[:, None, :]).flatten(1)
            return torch.cat([a.sin(), a.cos()], 1)
        ''',
    "loop-over-frequencies": '''
        def positional_encoding(p, L):
            sines = [torch.sin(2 ** k * math.pi * p) for k in range(L)]
            cosines = [torch.cos(2 ** k * math.pi * p) for k in range(L)]
            return torch.cat(sines + cosines, dim=1)
        ''',
}
PE_BUG = {
    "coordinate-major": '''
        def positional_encoding(p, L):
            a = (math.pi * p[:, :, None] * 2.0 ** torch.arange(L)).reshape(p.shape[0], -1)   # column c·L + k
            return torch.cat([a.sin(), a.cos()], 1)
        ''',
    "linear-frequencies": '''
        def positional_encoding(p, L):
            a = (math.pi * torch.arange(1, L + 1)[None, :, None] * p[:, None, :]).flatten(1)   # 1, 2, 3, ...
            return torch.cat([a.sin(), a.cos()], 1)
        ''',
    "sin-cos-interleaved": '''
        def positional_encoding(p, L):
            return torch.cat([f(2 ** k * math.pi * p) for k in range(L) for f in (torch.sin, torch.cos)], 1)
        ''',
}


@pytest.mark.parametrize("name", PE_OK)
def test_4_3_visible_passes_correct_encodings(name) -> None:
    run_visible("lab4_positional_encoding", "4_3", (PE,), {PE: PE_OK[name]} if PE_OK[name] else None)


@pytest.mark.parametrize("name", PE_BUG)
def test_4_3_visible_fails_wrong_order_and_frequencies(name) -> None:
    with pytest.raises(AssertionError, match=r"4\.3"):
        run_visible("lab4_positional_encoding", "4_3", (PE,), {PE: PE_BUG[name]})


# --------------------------------------------------------------------------- Lab 1, 1.4 and the selection
LAB1 = "lab1_linear"
REG = ("1_1_code", "1_2_code", "1_3_code", "1_4_code")
REG_OK = {
    "solution": None,
    "w-times-w": '''
        def regularised_loss(W, b, X, y, lam, data_loss=cross_entropy):
            return data_loss(X @ W.T + b, y) + lam * torch.sum(W * W)
        ''',
}
REG_BUG = {
    "ignores-data-loss": '''
        def regularised_loss(W, b, X, y, lam, data_loss=cross_entropy):
            return cross_entropy(scores(X, W, b), y) + lam * (W ** 2).sum()
        ''',
    "detached-penalty": '''
        def regularised_loss(W, b, X, y, lam, data_loss=cross_entropy):
            return data_loss(scores(X, W, b), y) + lam * (W.detach() ** 2).sum()
        ''',
    "bias-regularised": '''
        def regularised_loss(W, b, X, y, lam, data_loss=cross_entropy):
            return data_loss(scores(X, W, b), y) + lam * ((W ** 2).sum() + (b ** 2).sum())
        ''',
}


@pytest.mark.parametrize("name", REG_OK)
def test_1_4_visible_passes_correct_penalties(name) -> None:
    run_visible(LAB1, "1_4", REG, {"1_4_code": REG_OK[name]} if REG_OK[name] else None)


@pytest.mark.parametrize("name", REG_BUG)
def test_1_4_visible_checks_the_gradient_by_its_definition(name) -> None:
    with pytest.raises(AssertionError, match=r"1\.4"):
        run_visible(LAB1, "1_4", REG, {"1_4_code": REG_BUG[name]})


SELECT = "1_5_select_code"
SELECT_OK = {
    "solution": None,
    "min-of-each-val-loss": '''
        def choose_config(histories):
            return min(histories.items(), key=lambda item: min(item[1].val_loss))[0]
        ''',
    "best-epoch-index": '''
        def choose_config(histories):
            best = None
            for cfg, h in histories.items():
                v = h.val_loss[h.best_epoch - 1]
                if best is None or v < best[0]:
                    best = (v, cfg)
            return best[1]
        ''',
}
SELECT_BUG = {
    "last-val-loss": "def choose_config(histories):\n    return min(histories, key=lambda c: histories[c].val_loss[-1])",
    "train-loss": "def choose_config(histories):\n    return min(histories, key=lambda c: min(histories[c].train_loss))",
    "val-error": "def choose_config(histories):\n    return min(histories, key=lambda c: min(histories[c].val_error))",
    "mean-val-loss": "def choose_config(histories):\n    return min(histories, key=lambda c: sum(histories[c].val_loss))",
    "highest": "def choose_config(histories):\n    return max(histories, key=lambda c: histories[c].best_val_loss)",
}


@pytest.mark.parametrize("name", SELECT_OK)
def test_selection_visible_passes_correct_choices(name) -> None:
    run_visible(LAB1, "1_5_select", (SELECT,), {SELECT: SELECT_OK[name]} if SELECT_OK[name] else None)


@pytest.mark.parametrize("name", SELECT_BUG)
def test_selection_visible_fails_every_wrong_column(name) -> None:
    with pytest.raises(AssertionError, match=r"1\.5: choose_config returned"):
        run_visible(LAB1, "1_5_select", (SELECT,), {SELECT: SELECT_BUG[name]})


# --------------------------------------------------------------------------- Lab 5, 5.5
NORMS = "5_5_code"
PLAIN = '''
class PlainBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x):
        return self.body(x)
'''
NORMS_OK = {
    "solution": None,
    "zero-grad-backward-leaves-grad-set": PLAIN + '''
def gradient_norms(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.norm().item() for p in model.parameters() if p.dim() >= 2]
''',
    "grads-set-to-none-first": PLAIN + '''
def gradient_norms(model, x, y):
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    norms = [torch.linalg.vector_norm(p.grad).item() for p in model.parameters() if p.ndim > 1]
    model.zero_grad(set_to_none=True)
    return norms
''',
}
NORMS_BUG = {
    "leftover-gradients-counted": PLAIN + '''
def gradient_norms(model, x, y):
    F.cross_entropy(model(x), y).backward()
    return [p.grad.norm().item() for p in model.parameters() if p.dim() >= 2]
''',
    "takes-a-step": PLAIN + '''
def gradient_norms(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    return [p.grad.norm().item() for p in model.parameters() if p.dim() >= 2]
''',
    "biases-too": PLAIN + '''
def gradient_norms(model, x, y):
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    return [g.norm().item() for g in grads]
''',
}


@pytest.mark.parametrize("name", NORMS_OK)
def test_5_5_visible_passes_correct_gradient_norms(name) -> None:
    run_visible("lab5_cnn_resnet", "5_5", (NORMS,), {NORMS: NORMS_OK[name]} if NORMS_OK[name] else None)


@pytest.mark.parametrize("name", NORMS_BUG)
def test_5_5_visible_fails_what_the_text_forbids(name) -> None:
    with pytest.raises(AssertionError, match=r"5\.5"):
        run_visible("lab5_cnn_resnet", "5_5", (NORMS,), {NORMS: NORMS_BUG[name]})
