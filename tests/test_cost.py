"""Tests for course.cost: per-layer counts against published figures and hand formulas, timing, machine figures."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import course.timing as timing
from course.cost import CostReport, LayerCost, layer_costs
from course.timing import machine_balance, measure_machine, time_per_batch


def lenet5() -> nn.Sequential:
    """LeCun et al. 1998's layout on 28×28 MNIST: the first convolution pads by 2 to keep 32×32's 28×28 maps."""
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


class Block(nn.Module):
    """A residual block as students write it: functional ReLUs and a `+` in forward."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.shortcut = nn.Sequential()   # the identity, written the pytorch-cifar way

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def test_resnet18_matches_the_published_figures() -> None:
    report = layer_costs(torchvision.models.resnet18(), (1, 3, 224, 224))
    assert report.total_params == 11_689_512                       # torchvision's table: 11.7 M
    assert report.total_macs == pytest.approx(1.814e9, rel=0.01)   # He et al. 2016 Table 1: 1.8 × 10⁹ "FLOPs" (MACs)
    assert report.total_flops == 2 * report.total_macs
    kinds = report.by_kind()
    assert kinds["Conv2d"]["layers"] == 20 and kinds["BatchNorm2d"]["layers"] == 20
    assert kinds["Linear"]["macs"] == 512 * 1000 and kinds["Linear"]["params"] == 512 * 1000 + 1000
    assert kinds["add"]["layers"] == 8                              # torchvision's `out += identity`, one per block
    assert kinds["ReLU"]["layers"] == 17                            # stem + 2 per block (one nn.ReLU, called twice)
    assert all(kinds[k]["macs"] == 0 for k in ("BatchNorm2d", "ReLU", "add", "MaxPool2d", "AdaptiveAvgPool2d"))
    assert sum(r.params for r in report.layers) == report.total_params
    conv1 = report.layers[0]
    assert (conv1.name, conv1.output_shape, conv1.macs) == ("conv1", (1, 64, 112, 112), 64 * 112 * 112 * 3 * 49)
    names = [r.name for r in report.layers]
    assert names.index("layer1.0.bn2") < names.index("layer1.0 (add)") < names.index("layer1.1.conv1")


def test_alexnet_and_lenet5_counts() -> None:
    alexnet = layer_costs(torchvision.models.alexnet(), (1, 3, 224, 224))
    assert alexnet.total_params == 61_100_840                      # 61.1 M, ≈ 244 MB in fp32
    assert alexnet.total_macs == pytest.approx(0.714e9, rel=0.01)  # torchvision's table: 0.71 G multiply-adds
    assert not any(r.kind.startswith("Dropout") or r.kind == "Flatten" for r in alexnet.layers)

    lenet = layer_costs(lenet5(), (1, 1, 28, 28))
    assert lenet.total_params == 61_706                            # ≈ 61.7 k
    by_hand = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10
    assert lenet.total_macs == by_hand == 416_520
    conv1 = lenet.layers[0]
    assert (conv1.name, conv1.kind, conv1.output_shape, conv1.params) == ("0", "Conv2d", (1, 6, 28, 28), 156)
    assert (conv1.activation_bytes, conv1.input_bytes, conv1.weight_bytes) == (6 * 28 * 28 * 4, 28 * 28 * 4, 156 * 4)
    assert conv1.bytes_moved == 6 * 28 * 28 * 4 + 28 * 28 * 4 + 156 * 4
    assert conv1.intensity == pytest.approx(117_600 / conv1.bytes_moved)
    # The counts are for the whole batch; parameters are not; dtype_bytes scales the bytes only.
    batch = layer_costs(lenet5(), (5, 1, 28, 28), dtype_bytes=2)
    assert (batch.total_params, batch.total_macs) == (61_706, 5 * 416_520)
    assert batch.layers[0].activation_bytes == 5 * 6 * 28 * 28 * 2 and batch.layers[0].weight_bytes == 156 * 2


@pytest.mark.parametrize("groups, stride, padding, dilation", [(1, 1, 0, 1), (2, 2, 1, 1), (3, 3, (2, 0), (1, 2))])
def test_a_convolution_against_the_hand_formula(groups: int, stride: int, padding, dilation) -> None:
    conv = nn.Conv2d(6, 12, (3, 5), stride=stride, padding=padding, groups=groups, dilation=dilation)
    row = layer_costs(conv, (3, 6, 11, 17)).layers[0]
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    h = (11 + 2 * ph - dh * (3 - 1) - 1) // stride + 1
    w = (17 + 2 * pw - dw * (5 - 1) - 1) // stride + 1
    assert (row.name, row.kind, row.output_shape) == ("Conv2d", "Conv2d", (3, 12, h, w))
    assert row.macs == 3 * 12 * h * w * (6 // groups) * 3 * 5      # N·C_out·H_out·W_out·(C_in/groups)·k_h·k_w
    assert row.params == 12 * (6 // groups) * 15 + 12 and row.flops == 2 * row.macs
    linear = layer_costs(nn.Linear(7, 4, bias=False), (2, 3, 7)).layers[0]   # over every leading position
    assert (linear.params, linear.macs) == (28, 2 * 3 * 4 * 7)
    up = layer_costs(nn.ConvTranspose2d(4, 6, 3, stride=2), (2, 4, 5, 5)).layers[0]
    assert up.output_shape == (2, 6, 11, 11)
    assert up.macs == 2 * 4 * 5 * 5 * 6 * 9                        # each input meets C_out·k_h·k_w weights


def test_functional_relu_and_residual_add_have_rows_of_their_own() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block, self.fc = Block(4), nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.max_pool2d(self.block(x), 2)
            return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    net = Net()
    report = layer_costs(net, (2, 4, 6, 6))
    assert [(r.name, r.kind) for r in report.layers] == [
        ("block.conv1", "Conv2d"), ("block.bn1", "BatchNorm2d"), ("block (relu)", "ReLU"),
        ("block.conv2", "Conv2d"), ("block.bn2", "BatchNorm2d"), ("block (add)", "add"), ("block (relu)", "ReLU"),
        ("model (max_pool2d)", "MaxPool2d"), ("model (adaptive_avg_pool2d)", "AdaptiveAvgPool2d"), ("fc", "Linear")]
    add = report.layers[5]
    assert (add.output_shape, add.params, add.macs) == ((2, 4, 6, 6), 0, 0)
    assert add.input_bytes == 2 * add.activation_bytes             # both operands are read
    assert report.layers[7].output_shape == (2, 4, 3, 3) and report.layers[8].output_shape == (2, 4, 1, 1)
    assert net.training                                            # the mode is restored...
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())   # ...and the hooks removed

    class InPlace(nn.Module):                                      # `+=` / torch.add / x.relu() forms
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.conv(x)
            out += x
            return torch.add(out, x).relu()

    assert [(r.name, r.kind) for r in layer_costs(InPlace(), (1, 2, 3, 3)).layers] == [
        ("conv", "Conv2d"), ("model (add)", "add"), ("model (add)", "add"), ("model (relu)", "ReLU")]


def test_shared_weights_count_once_in_the_total() -> None:
    shared = nn.Linear(5, 5)
    report = layer_costs(nn.Sequential(shared, nn.ReLU(), shared), (1, 5))
    assert report.total_params == 30 and [r.params for r in report.layers] == [30, 0, 30]
    assert report.total_macs == 2 * 25


def test_the_table_says_macs_and_flops_apart() -> None:
    report = layer_costs(lenet5(), (1, 1, 28, 28))
    table = report.table()
    header = table.splitlines()[1]
    assert "MACs" in header and "FLOPs (=2×MACs)" in header and "FLOPs = 2 × MACs" in table
    total = table.splitlines()[-1]
    assert total.startswith("total") and "61,706" in total and "417 k" in total and "833 k" in total
    assert str(report) == table and len(table.splitlines()) == 1 + 2 + len(report.layers) + 2
    top = layer_costs(torchvision.models.resnet18(), (1, 3, 64, 64)).table(top=5)
    assert len(top.splitlines()) == 1 + 2 + 5 + 2 and "the 5 layers with the most MACs" in top
    rows = report.rows()
    assert len(rows) == len(report.layers) and rows[0]["macs"] == 117_600 and rows[0]["flops"] == 235_200
    assert "<table>" in report._repr_html_() and "FLOPs (=2×MACs)" in report._repr_html_()
    assert "61,706 params" in repr(report)


def test_a_wrong_input_shape_is_explained() -> None:
    model = lenet5()
    with pytest.raises(ValueError, match=r"Sequential failed on an input of shape \(1, 3, 28, 28\) in layer '0' "
                                         r"\(Conv2d\): RuntimeError: .*to have 1 channels, but got 3"):
        layer_costs(model, (1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"in layer '7' \(Linear\).*400x120"):
        layer_costs(model, (1, 1, 32, 32))
    assert model.training and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="includes the batch"):
        layer_costs(model, (28,))
    with pytest.raises(ValueError, match="includes the batch"):
        layer_costs(model, "1x1x28x28")
    with pytest.raises(TypeError, match="nn.Module"):
        layer_costs(lambda x: x, (1, 4))


def test_a_report_is_plain_data() -> None:
    row = LayerCost("fc", "Linear", (2, 3), 15, 24, 24, 32, 60)
    assert (row.bytes_moved, row.flops, row.intensity) == (116, 48, pytest.approx(24 / 116))
    report = CostReport([row, LayerCost("fc (relu)", "ReLU", (2, 3), 0, 0, 24, 24, 0)], (2, 4), 4, 15)
    assert (report.total_macs, report.total_flops, report.total_activation_bytes) == (24, 48, 48)
    assert report.by_kind()["ReLU"] == {"layers": 1, "params": 0, "macs": 0, "flops": 0, "activation_bytes": 24,
                                        "bytes_moved": 48}


def test_time_per_batch_and_the_machine() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    model[0].weight.grad = torch.ones_like(model[0].weight)        # a gradient the caller had: kept
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = time_per_batch(model, (16, 1, 28, 28), warmup=1, repeats=3)
    assert t.device == "cpu" and t.repeats == 3 and 0 < t.forward_s < 5 and 0 < t.forward_backward_s < 5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # BN statistics untouched
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight)) and model[4].weight.grad is None
    assert model.training
    assert time_per_batch(model.eval(), (2, 1, 28, 28), backward=False, warmup=0, repeats=1).forward_backward_s is None
    assert not model.training
    with pytest.raises(ValueError, match="includes the batch"):
        time_per_batch(model, (0, 1, 28, 28))

    m = measure_machine(seconds=0.05)
    assert set(m) == {"macs_per_s", "bytes_per_s"} and 1e8 < m["macs_per_s"] < 1e14 and 1e8 < m["bytes_per_s"] < 1e13
    assert machine_balance(1e11, 1e10) == 10
    for bad in [(0, 1), (1, -1), (float("inf"), 1)]:
        with pytest.raises(ValueError):
            machine_balance(*bad)


def test_cuda_timing_synchronises_around_every_timed_run(monkeypatch) -> None:
    """No GPU here: the CUDA path runs on the CPU with torch.cuda patched (untested on real hardware)."""
    with pytest.raises(RuntimeError, match="is_available"):      # the real machine: a clear refusal
        time_per_batch(lenet5(), (2, 1, 28, 28), device="cuda")
    events: list = []
    real_perf_counter = timing.time.perf_counter
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(("sync", device)))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: events.append("clock") or real_perf_counter())
    moved: list = []
    monkeypatch.setattr(timing, "to_device", lambda obj, device: moved.append((type(obj).__name__, device)) or obj)
    model = lenet5()
    t = time_per_batch(model, (2, 1, 28, 28), device="cuda", warmup=1, repeats=2)
    assert t.device == "cuda" and t.forward_s > 0 and t.forward_backward_s > 0
    assert moved == [("Sequential", torch.device("cuda")), ("Tensor", torch.device("cuda"))]
    # each of (1 + 2) forward runs and (1 + 2) forward + backward runs: sync, clock ... sync, clock
    assert events == [("sync", torch.device("cuda")), "clock"] * 2 * 6
    events.clear()
    time_per_batch(model, (2, 1, 28, 28), device="cpu", backward=False, warmup=0, repeats=1)
    assert events == ["clock", "clock"]                            # the CPU needs no synchronisation
