"""What each layer of a network costs: parameters, multiply-accumulates and memory traffic (time: :mod:`course.timing`).

``layer_costs(model, (1, 3, 224, 224))`` runs one forward pass with hooks and returns a :class:`CostReport`,
printable as a table and usable as plain data. The conventions, stated once and used everywhere:

* **MACs** are multiply-accumulates (a ← a + w·x). A convolution makes
  N·C_out·H_out·W_out·(C_in/groups)·k_h·k_w of them, a linear layer N·n_out·n_in; bias additions, batch norm,
  activations, pooling and additions count 0 MACs (elementwise work, bound by memory traffic).
  **FLOPs = 2 × MACs** (one multiply, one add), and every number here says which of the two it is.
* **Bytes moved** by a layer = its weights + its input + its output, ``dtype_bytes`` each (4 for float32);
  **intensity** = MACs / bytes moved, the x axis of a roofline (see :func:`course.plotting.plot_roofline`).
* Counts are for the whole batch of ``input_shape``; divide by the batch size for "per image".
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["LayerCost", "CostReport", "layer_costs", "batch_shape", "device_and_dtype"]

# Leaves that compute nothing (views, identities, dropout in eval mode): no row of their own.
_FREE = (nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd, nn.Sequential, nn.ModuleList)
# Functional ops run directly by a module's forward -> (the kind they are reported as, the name's suffix).
_OPS: dict[Callable[..., Any], tuple[str, str]] = {
    F.relu: ("ReLU", "relu"), torch.relu: ("ReLU", "relu"), torch.relu_: ("ReLU", "relu"),
    torch.Tensor.relu: ("ReLU", "relu"), torch.Tensor.relu_: ("ReLU", "relu"),
    F.max_pool2d: ("MaxPool2d", "max_pool2d"), F.max_pool2d_with_indices: ("MaxPool2d", "max_pool2d"),
    F.avg_pool2d: ("AvgPool2d", "avg_pool2d"), F.adaptive_avg_pool2d: ("AdaptiveAvgPool2d", "adaptive_avg_pool2d"),
    F.adaptive_max_pool2d: ("AdaptiveMaxPool2d", "adaptive_max_pool2d"),
    torch.mean: ("mean", "mean"), torch.Tensor.mean: ("mean", "mean"),   # x.mean((2, 3)): a global average pool
    # `x + y`, `x += y`, torch.add: the mode sees Tensor.add / Tensor.add_ for all of them
    torch.add: ("add", "add"), torch.Tensor.add: ("add", "add"), torch.Tensor.add_: ("add", "add"),
    torch.Tensor.__add__: ("add", "add"), torch.Tensor.__radd__: ("add", "add"), torch.Tensor.__iadd__: ("add", "add"),
}


@dataclass(frozen=True)
class LayerCost:
    """One layer's cost for one forward pass of the whole batch."""

    name: str                      # qualified module name ("layer1.0.conv1"), or "layer1.0 (add)" for an op
    kind: str                      # "Conv2d", "Linear", "BatchNorm2d", "ReLU", "add", ...
    output_shape: tuple[int, ...]
    params: int                    # parameters owned by this layer (0 for activations, pools, adds)
    macs: int                      # multiply-accumulates (FLOPs = 2 × this)
    activation_bytes: int          # the output: numel × dtype_bytes
    input_bytes: int               # every tensor input (both operands of an add)
    weight_bytes: int              # params × dtype_bytes

    @property
    def bytes_moved(self) -> int:
        """Weights + input + output, each read or written once: the roofline's denominator."""
        return self.weight_bytes + self.input_bytes + self.activation_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in MACs per byte moved (0 for elementwise layers)."""
        return self.macs / self.bytes_moved if self.bytes_moved else 0.0

    @property
    def flops(self) -> int:
        """Floating-point operations: 2 per MAC (a multiply and an add)."""
        return 2 * self.macs


def _human(n: float, unit: str = "") -> str:
    """3 significant digits with an SI prefix: 117600 -> '118 k', 1.8e9 -> '1.8 G' (k = 1e3, not 1024)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


@dataclass(repr=False)
class CostReport:
    """Per-layer costs of one model for one input shape, with totals (all for the whole batch)."""

    layers: list[LayerCost]
    input_shape: tuple[int, ...]
    dtype_bytes: int
    total_params: int              # the model's unique parameters (shared weights count once)
    model_name: str = "model"

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def total_flops(self) -> int:
        """2 × total_macs."""
        return 2 * self.total_macs

    @property
    def total_activation_bytes(self) -> int:
        """Every layer's output: what training keeps in memory for backward."""
        return sum(r.activation_bytes for r in self.layers)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per layer, in the order the forward pass ran them."""
        return [{"name": r.name, "kind": r.kind, "output_shape": r.output_shape, "params": r.params,
                 "macs": r.macs, "flops": r.flops, "activation_bytes": r.activation_bytes,
                 "input_bytes": r.input_bytes, "weight_bytes": r.weight_bytes, "bytes_moved": r.bytes_moved,
                 "intensity": r.intensity} for r in self.layers]

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Totals per kind, e.g. ``report.by_kind()["Conv2d"]["macs"]``; kinds in order of first appearance."""
        out: dict[str, dict[str, int]] = {}
        for r in self.layers:
            k = out.setdefault(r.kind, dict.fromkeys(("layers", "params", "macs", "flops", "activation_bytes",
                                                      "bytes_moved"), 0))
            for key, value in (("layers", 1), ("params", r.params), ("macs", r.macs), ("flops", r.flops),
                               ("activation_bytes", r.activation_bytes), ("bytes_moved", r.bytes_moved)):
                k[key] += value
        return out

    def _cells(self, top: int | None) -> tuple[str, list[str], list[list[str]], list[str]]:
        layers = self.layers
        if top is not None and top < len(layers):   # the `top` costliest, kept in network order
            keep = set(sorted(range(len(layers)), key=lambda i: -layers[i].macs)[:max(top, 0)])
            layers = [r for i, r in enumerate(layers) if i in keep]
        header = ["layer", "kind", "output", "params", "MACs", "FLOPs (=2×MACs)", "output bytes", "MACs/byte"]
        body = [[r.name, r.kind, "×".join(map(str, r.output_shape)), f"{r.params:,}", _human(r.macs),
                 _human(r.flops), _human(r.activation_bytes, "B"), f"{r.intensity:.1f}"] for r in layers]
        total = ["total", f"{len(self.layers)} layers", "", f"{self.total_params:,}", _human(self.total_macs),
                 _human(self.total_flops), _human(self.total_activation_bytes, "B"), ""]
        shown = ""
        if len(layers) < len(self.layers):
            shown = f"; the {len(layers)} layers with the most MACs, totals over all"
        intro = (f"{self.model_name} on input {'×'.join(map(str, self.input_shape))} ({self.dtype_bytes}-byte numbers)"
                 f"{shown}. MACs = multiply-accumulates, FLOPs = 2 × MACs; k/M/G = 1e3/1e6/1e9")
        return intro, header, body, total

    def table(self, *, top: int | None = None) -> str:
        """An aligned text table, one line per layer and a totals line; ``top=n`` shows the n costliest layers."""
        intro, header, body, total = self._cells(top)
        rows = [header] + body + [total]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

        def line(row: list[str]) -> str:
            return "  ".join(c.ljust(widths[i]) if i < 3 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()

        rule = "-" * len(line(header))
        return "\n".join([intro, line(header), rule, *map(line, body), rule, line(total)])

    __str__ = table

    def show(self, *, top: int | None = None) -> None:
        """Print :meth:`table`."""
        print(self.table(top=top))

    def _repr_html_(self) -> str:
        intro, header, body, total = self._cells(None)

        def tr(row: list[str], tag: str = "td") -> str:
            cells = (f"<{tag} style='text-align:{'left' if i < 3 else 'right'}'>{html.escape(c)}</{tag}>"
                     for i, c in enumerate(row))
            return "<tr>" + "".join(cells) + "</tr>"

        return (f"<p>{html.escape(intro)}</p><table><thead>{tr(header, 'th')}</thead><tbody>"
                + "".join(map(tr, body)) + f"</tbody><tfoot>{tr(total, 'th')}</tfoot></table>")

    def __repr__(self) -> str:
        return (f"CostReport({self.model_name}, input {tuple(self.input_shape)}: {len(self.layers)} layers, "
                f"{self.total_params:,} params, {self.total_macs:,} MACs = {self.total_flops:,} FLOPs)")


class _Ops(TorchFunctionMode):
    """Sees every torch call; records the ReLUs, pools and additions a non-leaf module's forward runs itself.

    While ``__torch_function__`` runs, the mode is switched off, so the calls F.relu makes internally (or a
    BatchNorm's own arithmetic, inside a leaf) are not seen twice.
    """

    def __init__(self, stack: list[tuple[str, bool, str]], record: Callable[..., None]) -> None:
        super().__init__()
        self.stack, self.record = stack, record

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = _OPS.get(func)
        if op is not None and self.stack and not self.stack[-1][1]:   # inside a non-leaf module's own forward
            result = out[0] if isinstance(out, tuple) else out        # max_pool2d(..., return_indices=True)
            if torch.is_tensor(result):
                where = self.stack[-1][0] or "model"
                self.record(f"{where} ({op[1]})", op[0], result, [a for a in args if torch.is_tensor(a)], None)
        return out


def batch_shape(input_shape: Any, who: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise ValueError(f"{who}: input_shape must be a tuple of positive sizes that includes the batch, "
                         f"e.g. (1, 3, 224, 224) or (64, 784); got {input_shape!r}")
    return shape


def device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first parameter (or buffer); the CPU and float32 if none."""
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return (tensors[0].device, tensors[0].dtype) if tensors else (torch.device("cpu"), torch.float32)


def _macs(module: nn.Module, inputs: list[torch.Tensor], out: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):   # each output: C_in/groups·k_h·k_w products
        return out.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):     # each input scattered to C_out/groups·k_h·k_w
        return inputs[0].numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def layer_costs(model: nn.Module, input_shape: tuple[int, ...], *, dtype_bytes: int = 4,
                device: torch.device | str | None = None) -> CostReport:
    """Parameters, MACs and bytes of every layer, from one forward pass of zeros of ``input_shape``.

    ``input_shape`` includes the batch: (B, C, H, W) for images, (B, D) for vectors. Leaf modules (Conv2d,
    Linear, BatchNorm2d, ReLU, pools, ...) get a row each, and so do the ReLUs, pools and residual additions
    that a block's forward writes with functions (``F.relu(out + self.shortcut(x))``), named after that block:
    ``"layer1.0 (add)"``. Identity, Flatten and Dropout cost nothing and get no row. The model runs in eval
    mode under ``torch.no_grad()`` on its own device (or ``device``), and gets its mode back afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layer_costs needs an nn.Module, got {type(model).__name__}")
    shape = batch_shape(input_shape, "layer_costs")
    if isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, int) or dtype_bytes < 1:
        raise ValueError(f"dtype_bytes must be a positive int (4 for float32, 2 for float16), got {dtype_bytes!r}")
    home, dtype = device_and_dtype(model)
    device = torch.device(device) if device is not None else home
    if device.type != home.type:
        raise ValueError(f"the model's parameters are on {home}, not {device}: move it first (model.to(...))")
    names = {m: n for n, m in model.named_modules()}
    layers: list[LayerCost] = []
    stack: list[tuple[str, bool, str]] = []  # (module name, is a leaf, class name) of the forwards running now

    def record(name: str, kind: str, out: torch.Tensor, inputs: list[torch.Tensor], module: nn.Module | None):
        params = sum(p.numel() for p in module.parameters(recurse=False)) if module is not None else 0
        macs = _macs(module, inputs, out) if module is not None else 0
        layers.append(LayerCost(name, kind, tuple(out.shape), params, int(macs), out.numel() * dtype_bytes,
                                sum(t.numel() for t in inputs) * dtype_bytes, params * dtype_bytes))

    def pre(module: nn.Module, args: tuple) -> None:
        stack.append((names[module], not any(True for _ in module.children()), type(module).__name__))

    def post(module: nn.Module, args: tuple, out: Any) -> None:
        name, leaf, kind = stack.pop()
        if leaf and torch.is_tensor(out) and not isinstance(module, _FREE):
            record(name or kind, kind, out, [a for a in args if torch.is_tensor(a)], module)

    handles = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    was_training = model.training
    model.eval()   # batch norm uses (and does not update) its running statistics; dropout is off
    try:
        with torch.no_grad(), _Ops(stack, record):
            model(torch.zeros(shape, device=device, dtype=dtype))
    except Exception as err:   # the model's own complaint, with the shape and the layer that raised it
        at = f" in layer '{stack[-1][0] or stack[-1][2]}' ({stack[-1][2]})" if stack else ""
        raise ValueError(f"{type(model).__name__} failed on an input of shape {shape}{at}: "
                         f"{type(err).__name__}: {err}") from err
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())   # parameters() yields a shared tensor once
    return CostReport(layers, shape, dtype_bytes, total, type(model).__name__)
