"""Plots the labs need again and again: learning curves and image grids.

Both functions work inline in Jupyter and headless (the Agg backend, in CI and
grading): they only open a pyplot figure when no ``ax`` is given, only call
``plt.show()`` on a backend that can show something, and always return the
figure. A figure they have just shown does not display a second time when the
call is the last line of a Jupyter cell (no ``;`` needed); from the next cell on
it displays normally, e.g. ``fig`` on its own line shows it again.
"""
from __future__ import annotations

from .curves import display_error_curves
from .filters import scale_filters, show_filters
from .gradients import plot_gradient_norms
from .graph import show_graph
from .images import show_images
from .paths import animate_paths, animation_html, plot_paths
from .reconstructions import plot_lines, plot_psnr_curves, psnr_table, show_reconstructions
from .roofline import plot_roofline

__all__ = ["display_error_curves", "scale_filters", "show_filters", "show_graph", "show_images",
           "show_reconstructions", "plot_psnr_curves", "plot_lines", "psnr_table", "plot_gradient_norms",
           "plot_paths", "animate_paths", "animation_html", "plot_roofline"]
