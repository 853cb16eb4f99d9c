"""Tests for course.plotting (headless, Agg). Example figures are saved to /tmp/plots."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from course.plotting import display_error_curves, show_images  # noqa: E402
from course.training import History  # noqa: E402

PLOTS = Path("/tmp/plots")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(val_loss: list[float], *, errors: bool = True) -> History:
    h = History()
    for v in val_loss:
        kwargs = {"train_error": v / 4, "val_error": v / 3} if errors else {}
        h.log(train_loss=v * 0.8, val_loss=v, **kwargs)
    return h


H1 = [1.0, 0.6, 0.4, 0.35, 0.38, 0.45]  # best epoch 4
H2 = [1.2, 0.9, 0.7, 0.6, 0.55, 0.52, 0.53]  # best epoch 6


def _best_markers(fig) -> list:
    ax = fig.axes[0]
    return [line for line in ax.get_lines() if line.get_marker() == "*"]


def _save(fig, name: str) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / name, dpi=90)


def test_one_run_curves_and_best_marker() -> None:
    fig = display_error_curves(_history(H1), show=True)  # show=True must not block or warn on Agg
    _save(fig, "curves_one_run.png")
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_marker() != "*"]
    assert len(curves) == 2
    train, val = curves
    assert train.get_linestyle() == "--" and val.get_linestyle() == "-"
    assert list(val.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert np.allclose(val.get_ydata(), H1)
    (marker,) = _best_markers(fig)
    assert list(marker.get_xdata()) == [4] and np.allclose(marker.get_ydata(), [0.35])
    assert any("epoch 4" in t.get_text() and "0.35" in t.get_text() for t in ax.texts)
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_legend() is not None
    assert ax.get_yscale() == "linear"


def test_several_runs_each_marked_in_its_colour() -> None:
    runs = {"lr=0.01": _history(H1), "lr=0.1": _history(H2)}
    fig = display_error_curves(runs, title="learning rates")
    _save(fig, "curves_several_runs.png")
    ax = fig.axes[0]
    assert ax.get_title() == "learning rates"
    markers = _best_markers(fig)
    assert [(m.get_xdata()[0], round(float(m.get_ydata()[0]), 6)) for m in markers] == [(4, 0.35), (6, 0.52)]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-" and line.get_marker() != "*"]
    assert [to_rgba(m.get_color()) for m in markers] == [to_rgba(line.get_color()) for line in solid]
    assert to_rgba(solid[0].get_color()) != to_rgba(solid[1].get_color())
    legend_text = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lr=0.01" in legend_text and "lr=0.1" in legend_text


def test_accepts_plain_dicts_and_draws_into_given_ax() -> None:
    run = {"train_loss": [3, 2, 1], "val_loss": [3.5, 2.5, 2.6], "train_error": [], "val_error": []}
    fig, ax = plt.subplots()
    returned = display_error_curves(run, ax=ax, show=False)
    assert returned is fig
    (marker,) = _best_markers(fig)
    assert marker.get_xdata()[0] == 2 and marker.get_ydata()[0] == 2.5


def test_log_scale() -> None:
    fig = display_error_curves(_history(H1), log_scale=True, show=False)
    _save(fig, "curves_log.png")
    assert fig.axes[0].get_yscale() == "log"


def test_error_metric_shown_as_percent() -> None:
    fig = display_error_curves({"a": _history(H1), "b": _history(H2)}, metric="error", show=False)
    _save(fig, "curves_error.png")
    ax = fig.axes[0]
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    assert ax.yaxis.get_major_formatter()(0.25, 0).startswith("25")
    markers = _best_markers(fig)
    assert np.isclose(markers[0].get_ydata()[0], 0.35 / 3)  # data stay fractions; only labels are percent
    assert any("11.7%" in t.get_text() for t in ax.texts)


def test_missing_metric_names_run_and_key() -> None:
    runs = {"good": _history(H1), "no errors": _history(H2, errors=False)}
    with pytest.raises(ValueError, match=r"'no errors'.*'val_error'"):
        display_error_curves(runs, metric="error", show=False)
    assert plt.get_fignums() == []  # validation happens before any figure is created


def test_validation_only_run_is_plotted_without_train_curve() -> None:
    run = {"val_error": [0.3, 0.2, 0.25]}  # training error is often not measured
    fig = display_error_curves(run, metric="error", show=False)
    dashed = [l for l in fig.axes[0].lines if l.get_linestyle() == "--" and len(l.get_xdata()) > 0]
    assert dashed == []
    assert _best_markers(fig)[0].get_xdata()[0] == 2


def test_length_mismatch_and_bad_arguments() -> None:
    bad = {"train_loss": [1.0, 0.5], "val_loss": [1.0, 0.7, 0.6]}
    with pytest.raises(ValueError, match=r"2 epochs.*has 3"):
        display_error_curves(bad, show=False)
    with pytest.raises(ValueError, match="metric"):
        display_error_curves(_history(H1), metric="accuracy", show=False)
    with pytest.raises(TypeError):
        display_error_curves({"x": [1, 2, 3]}, show=False)


def _caption_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def test_show_images_grid_and_red_caption() -> None:
    images = torch.rand(10, 1, 8, 8)
    labels = torch.arange(10)
    preds = labels.clone()
    preds[3] = 7  # the only wrong prediction
    fig = show_images(images, labels, preds, classes=[f"c{i}" for i in range(10)], ncols=4, title="grid")
    _save(fig, "images_grey.png")
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 4)
    shown = _caption_axes(fig)
    assert len(shown) == 10
    titles = [ax.title for ax in shown]
    assert titles[3].get_text() == "c3\npred: c7"
    assert to_rgba(titles[3].get_color()) == to_rgba("red")
    assert all(to_rgba(t.get_color()) != to_rgba("red") for i, t in enumerate(titles) if i != 3)


def test_show_images_colour_hw_and_logits() -> None:
    fig = show_images(torch.rand(5, 3, 6, 6), labels=[0, 1, 2, 0, 1], predictions=torch.eye(3)[[0, 1, 2, 0, 2]],
                      classes=["cat", "dog", "frog"])
    _save(fig, "images_colour.png")
    shown = _caption_axes(fig)
    assert shown[0].images[0].get_array().shape == (6, 6, 3)
    assert to_rgba(shown[4].title.get_color()) == to_rgba("red")

    fig = show_images(np.random.rand(3, 5, 5), ncols=8)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1, 3)
    assert fig.axes[0].title.get_text() == ""


def test_show_images_rejects_bad_shapes_and_warns_on_normalised() -> None:
    with pytest.raises(ValueError, match="permute"):
        show_images(torch.rand(2, 8, 8, 3))
    with pytest.raises(ValueError, match="one entry per image"):
        show_images(torch.rand(2, 1, 8, 8), labels=[1, 2, 3])
    with pytest.warns(UserWarning, match="not \\[0, 1\\]"):
        show_images(torch.randn(2, 1, 8, 8) * 3)
