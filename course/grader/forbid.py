"""Stated rules checked by behaviour, inside the sandbox: the student's function runs with the operations a task
forbids made to fail.

``forbidding(fn, *args, ops=(...), calls=(...), autograd=False, **kwargs)`` calls ``fn`` with

* ``ops``: regular expressions searched in ATen operator names (``"conv"``, ``"max_pool"``, ``"^_?softmax"``) —
  every path to them fails, whatever name it is called by (``F.conv2d``, ``nn.Conv2d``, ``torch.conv2d``, ``torch.ops.aten``...),
  because a ``TorchDispatchMode`` sees each operator torch runs;
* ``calls``: dotted names of Python callables (``"torch.nn.functional.softmax"``) replaced for the duration by a
  function that fails;
* ``autograd``: the autograd engine itself refuses to run, so ``loss.backward()``, ``torch.autograd.grad``,
  ``torch.func.grad`` and ``torch.autograd.functional`` all fail, even inside ``torch.enable_grad()``,

and raises :class:`ForbiddenOperation` naming what was used. Only a deliberate undoing gets past. Judges call it
through the toolkit's ``call_forbidding``, which turns the error into the task's verdict with the rule in words.
"""
from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch.autograd.variable import Variable
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["ForbiddenOperation", "forbidding", "forbidden"]


class ForbiddenOperation(RuntimeError):
    """The student's code used what its task forbids."""


class _Refuse(TorchDispatchMode):
    def __init__(self, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = [re.compile(op) for op in ops]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket.__name__) if hasattr(func, "overloadpacket") else str(func)
        if any(op.search(name) for op in self.ops):
            raise ForbiddenOperation(f"aten::{name}")
        return func(*args, **(kwargs or {}))


class _RefusingEngine:
    """Stands in for autograd's engine: every path to a backward pass goes through ``run_backward``."""

    def run_backward(self, *_a: Any, **_k: Any) -> Any:
        raise ForbiddenOperation("autograd (backward / torch.autograd.grad)")

    def queue_callback(self, *_a: Any, **_k: Any) -> Any:
        raise ForbiddenOperation("autograd (backward / torch.autograd.grad)")


def _resolve(dotted: str) -> tuple[Any, str]:
    """(the object holding the attribute, its name) for ``"torch.nn.functional.conv2d"`` or ``"torch.Tensor.backward"``."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:-1]:
            owner = getattr(owner, part)
        return owner, parts[-1]
    raise ValueError(f"cannot find {dotted}")


@contextlib.contextmanager
def forbidden(ops: Sequence[str] = (), calls: Sequence[str] = (), autograd: bool = False) -> Iterator[None]:
    """Within the block, the given operators, callables (and autograd) fail with :class:`ForbiddenOperation`."""
    saved = []
    for dotted in calls:
        owner, name = _resolve(dotted)
        original = getattr(owner, name)

        def refuse(*_a: Any, _dotted: str = dotted, **_k: Any) -> Any:
            raise ForbiddenOperation(_dotted)
        setattr(owner, name, refuse)
        saved.append((owner, name, original))
    if autograd:
        saved.append((Variable, "_execution_engine", Variable._execution_engine))
        Variable._execution_engine = _RefusingEngine()
    try:
        if ops:
            with _Refuse(ops):
                yield
        else:
            yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def forbidding(fn: Callable[..., Any], *args: Any, ops: Sequence[str] = (), calls: Sequence[str] = (),
               autograd: bool = False, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with ``ops``, ``calls`` and (when asked) autograd forbidden (see the module)."""
    with forbidden(ops, calls, autograd):
        return fn(*args, **kwargs)
