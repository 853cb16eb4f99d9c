"""Tests for course.plotting.reconstructions (headless, Agg). Example figures are saved to /tmp/plots."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course.plotting.reconstructions import (spread, plot_lines, plot_psnr_curves, psnr_table,  # noqa: E402
                                             show_reconstructions)

PLOTS = Path("/tmp/plots")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(fig, name: str) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / name, dpi=80)


def _visible(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


def test_reconstructions_side_by_side_with_psnr() -> None:
    target = torch.rand(8, 8, 3)
    fig = show_reconstructions({"target": target, "blurry": target * 0.5, "grey": target[..., 0],
                                "channels first": target.permute(2, 0, 1)}, psnr={"blurry": 12.345}, title="t")
    _save(fig, "reconstructions.png")
    axes = _visible(fig)
    assert [ax.get_title() for ax in axes] == ["target", "blurry", "grey", "channels first"]
    assert axes[1].get_xlabel() == "PSNR 12.3 dB" and axes[0].get_xlabel() == ""
    image = axes[0].get_images()[0]
    assert image.get_array().shape == (8, 8, 3) and image.get_interpolation() == "nearest"
    assert axes[2].get_images()[0].get_array().shape == (8, 8)
    assert fig._suptitle.get_text() == "t"


def test_reconstructions_clip_and_wrap() -> None:
    fig = show_reconstructions({f"run {i}": torch.full((4, 5, 3), 2.0 - i) for i in range(7)}, ncols=3)
    assert len(fig.axes) == 9 and len(_visible(fig)) == 7
    arr = _visible(fig)[0].get_images()[0].get_array()
    assert float(arr.max()) == 1.0 and arr.shape == (4, 5, 3)


def test_reconstructions_reject_what_is_not_an_image() -> None:
    with pytest.raises(ValueError, match=r"reshape it to \(H, W, 3\)"):
        show_reconstructions({"flat": torch.rand(16, 3)})
    with pytest.raises(ValueError, match="no images"):
        show_reconstructions({})
    with pytest.raises(ValueError, match="not among the images"):
        show_reconstructions({"a": torch.rand(4, 4, 3)}, psnr={"b": 20.0})


def test_psnr_curves_colour_per_run_style_per_pixel_set() -> None:
    runs = {"raw": {"train": [10, 12, 13], "held-out": ([10, 20, 30], [9.0, 11.0, 12.5])},
            "PE": {"train": [12, 20, 30], "held-out": ([10, 20, 30], [11.0, 15.0, 16.0])}}
    fig = plot_psnr_curves(runs, title="curves")
    _save(fig, "psnr_curves.png")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines()]
    assert len(lines) == 4
    assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[1].get_xdata()) == [10, 20, 30]
    assert "16.0" in [t.get_text() for t in ax.texts]
    assert ax.get_ylabel() == "PSNR (dB)" and ax.get_title() == "curves"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["raw", "PE", "train", "held-out"]


def test_end_labels_of_close_curves_do_not_overlap() -> None:
    fig = plot_psnr_curves({"a": [10, 22.0], "b": [10, 22.1], "c": [10, 22.2], "d": [10, 40.0]})
    ys = sorted(t.get_position()[1] for t in fig.axes[0].texts)
    lo, hi = fig.axes[0].get_ylim()
    assert all(b - a >= 0.03 * (hi - lo) for a, b in zip(ys, ys[1:]))
    assert spread([5.0, 1.0, 20.0], gap=1.0) == [5.0, 1.0, 20.0]   # far apart: unchanged
    placed = spread([2.0, 2.0, 2.0], gap=1.0)
    assert sorted(placed) == pytest.approx([1.0, 2.0, 3.0])


def test_psnr_curves_of_plain_runs_and_bad_input() -> None:
    fig = plot_psnr_curves({"a": [1.0, 2.0], "b": np.array([3.0, 4.0])}, log_steps=True)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="no runs"):
        plot_psnr_curves({})
    with pytest.raises(ValueError, match="2 steps but 3 values"):
        plot_psnr_curves({"a": ([1, 2], [1.0, 2.0, 3.0])})
    with pytest.raises(ValueError, match="empty"):
        plot_psnr_curves({"a": []})


def test_lines_with_the_best_point_starred() -> None:
    sigmas = [0.5, 1, 2, 4, 8]
    fig = plot_lines(sigmas, {"train": [20, 25, 30, 40, 50], "held-out": [18, 20, 22, 19, 15]}, xlabel="σ",
                     ylabel="PSNR (dB)", log_x=True, best="max", title="sweep")
    _save(fig, "sweep.png")
    ax = fig.axes[0]
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in stars] == [(8.0, 50.0), (2.0, 22.0)]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "σ"
    assert list(ax.get_xticks()) == sigmas and [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1", "2", "4", "8"]
    fig = plot_lines(sigmas, {"train": [20, 25, 30, 40, 50], "held-out": [18, 20, 22, 19, 15]}, xlabel="σ",
                     ylabel="PSNR (dB)", best={"held-out": "max"})
    stars = [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in stars] == [(2.0, 22.0)]
    fig = plot_lines([0, 1, 2], {"loss": [3, 1, 2]}, xlabel="x", ylabel="y", best="min")
    star = [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"][0]
    assert star.get_xdata()[0] == 1.0
    fig = plot_lines(np.linspace(-1, 1, 50), {"k": np.cos(np.linspace(-1, 1, 50))}, xlabel="x", ylabel="y")
    assert not [line for line in fig.axes[0].get_lines() if line.get_marker() == "*"]


def test_lines_bad_input() -> None:
    with pytest.raises(ValueError, match="3 values for 2 x values"):
        plot_lines([1, 2], {"a": [1, 2, 3]}, xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="best must be"):
        plot_lines([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y", best="top")
    with pytest.raises(ValueError, match="not among the series"):
        plot_lines([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y", best={"b": "max"})
    with pytest.raises(ValueError, match="no series"):
        plot_lines([1, 2], {}, xlabel="x", ylabel="y")


def test_psnr_table() -> None:
    table = psnr_table({"raw (x, y)": {"training pixels": 18.24, "held-out": 17.0},
                        "Gaussian σ=2": {"validation": 19.0, "training pixels": 40.0, "held-out": 22.46}},
                       columns=["validation", "training pixels", "held-out"])
    lines = table.splitlines()
    assert lines[0].split("  ")[0].strip() == "" and "validation (dB)" in lines[0]
    assert lines[0].index("validation") < lines[0].index("training pixels") < lines[0].index("held-out")
    assert lines[2].split() == ["raw", "(x,", "y)", "–", "18.2", "17.0"]
    assert lines[3].split()[-3:] == ["19.0", "40.0", "22.5"]
    assert len({len(line) for line in lines[1:2]}) == 1 and set(lines[1]) <= {"-", " "}
    right = [line.rstrip() for line in lines[2:]]
    assert len({len(line) for line in right}) == 1, "numbers are right-aligned in their columns"
    assert psnr_table({"a": {"x": 1.234}}, fmt="{:.2f}", unit="").splitlines()[2].split() == ["a", "1.23"]
    with pytest.raises(ValueError, match="no rows"):
        psnr_table({})
