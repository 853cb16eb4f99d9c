"""Showing a figure: ``plt.show()`` only where it shows something, and no second echo in Jupyter."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_FALLBACK_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _non_interactive_backends() -> set[str]:
    try:  # matplotlib >= 3.9 knows its own list
        from matplotlib.backends import BackendFilter, backend_registry

        return set(backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE))
    except ImportError:
        return _FALLBACK_NON_INTERACTIVE


def _maybe_show(fig: "Figure") -> bool:
    """``plt.show()`` on inline/GUI backends; nothing on Agg & co, where it would only warn.

    Returns whether the figure was shown.
    """
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if "inline" in backend or backend not in _non_interactive_backends():
        plt.show()
        return True
    return False


def _quiet_echo(fig: "Figure") -> None:
    """Let ``fig`` print nothing as the last expression of the running Jupyter cell.

    The figure was just shown; IPython would display the returned figure a second
    time (inline backend) or print its repr. For the rest of this cell the figure
    tells IPython it has displayed itself (the ``_ipython_display_`` protocol); from
    the next cell on, ``fig`` displays normally again.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or not hasattr(shell, "events"):
        return
    fig._ipython_display_ = _shown_already  # type: ignore[attr-defined]

    def restore(*_args: Any, **_kwargs: Any) -> None:
        fig.__dict__.pop("_ipython_display_", None)
        try:
            shell.events.unregister("post_run_cell", restore)
        except ValueError:
            pass

    shell.events.register("post_run_cell", restore)


def _shown_already() -> None:
    """``_ipython_display_`` of a figure shown in this cell: display nothing more."""


def show_figure(fig: "Figure") -> None:
    if _maybe_show(fig):
        _quiet_echo(fig)
