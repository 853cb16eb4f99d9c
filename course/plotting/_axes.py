"""Axis formatters and locators: plain log-axis labels, percent without trailing zeros, whole epochs."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator, PercentFormatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class _LogMinorLabels(Formatter):
    """Minor-tick labels of a log axis as plain numbers ("0.2", "20%"), never "2x10^-1".

    How many are labelled depends on the span shown: most leading digits on a short
    axis (which might otherwise show no label at all), fewer as it grows, none beyond
    about two decades (the decade labels suffice; labelling every minor tick crowds it).
    """

    def __init__(self, fmt: Callable[[float], str]) -> None:
        super().__init__()
        self.fmt = fmt

    def __call__(self, value: float, pos: int | None = None) -> str:
        if not value > 0:
            return ""
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        digit = round(mantissa)
        if abs(mantissa - digit) > 1e-6:
            return ""
        lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (0.0, 0.0)
        decades = math.log10(hi / lo) if 0 < lo < hi else 1.0
        wanted = ((2, 3, 4, 5, 6, 8) if decades <= 0.6 else (2, 3, 5) if decades <= 1.2
                  else (2, 5) if decades <= 2.2 else ())
        return self.fmt(value) if digit in wanted else ""


class _Percent(PercentFormatter):
    """Fractions as percent, without trailing zeros ("10%", "12.5%", not "10.0%")."""

    def __init__(self) -> None:
        super().__init__(xmax=1)

    def format_pct(self, x: float, display_range: float) -> str:
        text = super().format_pct(x, display_range)
        number, sign = text[:-len(self.symbol)], self.symbol
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        return number + sign


class _EpochLocator(MaxNLocator):
    """Ticks on whole epochs from 1 on: never a tick at epoch 0 or 2.5."""

    def __init__(self) -> None:
        super().__init__(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        ticks = np.asarray(super().tick_values(vmin, vmax), dtype=float)
        ticks = ticks[np.isclose(ticks, np.round(ticks)) & (ticks >= 1 - 1e-9)]
        if len(ticks) == 0:  # MaxNLocator falls back to fractions on very short ranges
            lo, hi = sorted((vmin, vmax))
            ticks = np.arange(max(1.0, math.ceil(lo)), math.floor(hi) + 1.0)
        return np.round(ticks)


def _clean_log_axis(ax: "Axes", fmt: Callable[[float], str]) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v) if v > 0 else ""))
    ax.yaxis.set_minor_formatter(_LogMinorLabels(fmt))
