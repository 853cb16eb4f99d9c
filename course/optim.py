"""Turn an update rule written for one tensor into a ``torch.optim`` optimiser for a whole model.

A rule is what a lecture writes on the board, for one parameter tensor θ with gradient g::

    def momentum(p, g, state, *, lr, beta=0.9):
        v = state.setdefault("v", torch.zeros_like(p))    # state starts empty, and persists between steps
        v.mul_(beta).add_(g)                                # v ← βv + g
        return p.sub_(lr * v)                               # θ ← θ − ηv   (in place, or return a new tensor)

    opt = RuleOptimizer(model.parameters(), momentum, lr=0.01, beta=0.9)

``opt`` is a real :class:`torch.optim.Optimizer`: ``zero_grad()``, parameter groups with their own
hyper-parameters, learning-rate schedulers (they change ``lr`` between steps; the rule sees the new value) and
``state_dict()`` / ``load_state_dict()`` (the rule's ``state`` dicts are saved with it) all work.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["RuleOptimizer"]

Rule = Callable[..., torch.Tensor]


def _signature(rule: Rule, name: str) -> tuple[set[str] | None, set[str]]:
    """(hyper-parameter names the rule accepts, None if any; names it requires), from ``rule(p, g, state, ...)``."""
    try:
        params = list(inspect.signature(rule).parameters.values())
    except (TypeError, ValueError):       # a builtin without a signature: trust it
        return None, set()
    positional = [q for q in params if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 3 and not any(q.kind is q.VAR_POSITIONAL for q in params):
        raise TypeError(f"rule {name} must take (param, grad, state, **hyper); it takes "
                        f"({', '.join(q.name for q in params)})")
    rest = positional[3:] + [q for q in params if q.kind is q.KEYWORD_ONLY]
    required = {q.name for q in rest if q.default is q.empty}
    if any(q.kind is q.VAR_KEYWORD for q in params):
        return None, required
    return {q.name for q in rest}, required


class RuleOptimizer(torch.optim.Optimizer):
    """``RuleOptimizer(model.parameters(), rule, lr=0.01, beta=0.9)``: θ ← rule(θ, ∂L/∂θ, state_θ, **hyper).

    ``rule(param, grad, state, **hyper)`` returns the updated parameter: ``param`` updated in place, or a new
    tensor of the same shape (copied into the parameter). ``state`` is a dict per parameter, empty on the first
    call, that the rule may fill; it lives in ``optimizer.state[param]``. The rule runs under
    ``torch.no_grad()`` on a detached view of the parameter (no autograd history); ``grad`` is the parameter's
    ``.grad`` itself, so the rule should not modify it. Parameters whose ``grad`` is None are skipped.

    ``**hyper`` are the defaults for every parameter group; a group may override them (``[{"params": ...,
    "lr": 0.1}, ...]``). The rule receives exactly the hyper-parameters given here or in the groups, at their
    current values; keys a scheduler adds to a group (``initial_lr``, ``max_lr``, …) are not passed on.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], rule: Rule,
                 **hyper: Any) -> None:
        if not callable(rule):
            raise TypeError(f"rule must be a function rule(param, grad, state, **hyper), got {type(rule).__name__}")
        # Set before super().__init__, which calls add_param_group (and so the checks) for each group.
        self.rule = rule
        self.rule_name = getattr(rule, "__name__", None) or repr(rule)
        self._accepts, self._requires = _signature(rule, self.rule_name)
        self._hyper_names: set[str] = set(hyper)
        super().__init__(params, dict(hyper))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; its hyper-parameters must be ones the rule takes, and together with the defaults cover
        the ones it requires."""
        names = (set(param_group) | set(self.defaults)) - {"params"}
        if self._accepts is not None:
            unknown = sorted(names - self._accepts)
            if unknown:
                takes = ", ".join(sorted(self._accepts)) or "none"
                raise TypeError(f"rule {self.rule_name} does not take the hyper-parameter(s) {', '.join(unknown)}; "
                                f"it takes: {takes}")
        missing = sorted(self._requires - names)
        if missing:
            raise TypeError(f"rule {self.rule_name} needs the hyper-parameter(s) {', '.join(missing)}: e.g. "
                            f"RuleOptimizer(params, {self.rule_name}, {', '.join(f'{m}=...' for m in missing)})")
        self._hyper_names |= names
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One update of every parameter that has a gradient; returns ``closure()``'s loss when given one."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k in self._hyper_names}
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, hyper)
        return loss

    def _update(self, p: torch.Tensor, hyper: dict[str, Any]) -> None:
        where = f"rule {self.rule_name}, for a parameter of shape {tuple(p.shape)}"
        param = p.detach()                                   # shares p's storage: in-place updates reach p
        try:
            new = self.rule(param, p.grad.detach(), self.state[p], **hyper)
        except Exception as exc:
            if hasattr(exc, "add_note"):                     # Python >= 3.11: say which rule and tensor failed
                exc.add_note(f"(in {where})")
            raise
        if new is None:
            raise TypeError(f"{where}, returned None: return the updated parameter (updated in place, or a new "
                            "tensor) — is a `return` missing?")
        if isinstance(new, tuple) and new and isinstance(new[0], torch.Tensor):
            raise TypeError(f"{where}, returned a tuple of {len(new)}: return only the parameter, and keep "
                            "everything else (velocities, moments, step counts) in the `state` dict")
        if not isinstance(new, torch.Tensor):
            raise TypeError(f"{where}, returned a {type(new).__name__}, not a tensor")
        if new.shape != p.shape:
            raise ValueError(f"{where}, returned a tensor of shape {tuple(new.shape)}; expected "
                             f"{tuple(p.shape)} (the parameter's own shape)")
        if new.data_ptr() == param.data_ptr() and new.stride() == param.stride():
            return                                           # updated in place (or returned as it was)
        # A new tensor; cloned first if it is another view of the parameter's own memory (e.g. a transpose).
        shares = new.untyped_storage().data_ptr() == param.untyped_storage().data_ptr()
        param.copy_(new.clone() if shares else new)

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, f"{type(self).__name__}[{self.rule_name}]", 1)
