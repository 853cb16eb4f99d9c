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


# ---------------------------------------------------------------- polish: ticks, legend, labels, one epoch


def _visible_xticks(ax) -> list[float]:
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    return [float(t) for t in ax.get_xticks() if lo <= t <= hi]


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 7, 25, 100, 1000])
def test_epoch_ticks_are_whole_epochs_from_one(n_epochs: int) -> None:
    fig = display_error_curves(_history(list(np.linspace(1.0, 0.5, n_epochs))), show=False)
    ticks = _visible_xticks(fig.axes[0])
    assert ticks, "no epoch ticks at all"
    assert all(t == int(t) and t >= 1 for t in ticks), ticks  # no epoch 0, no epoch 2.5
    if n_epochs <= 7:
        assert ticks == list(range(1, n_epochs + 1))


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_legend_lists_only_curves_that_are_drawn() -> None:
    no_train_error = History()
    for v in H1:
        no_train_error.log(train_loss=v, val_loss=v, val_error=v / 3)  # as the labs log it
    fig = display_error_curves(no_train_error, metric="error", show=False)
    assert not [l for l in fig.axes[0].lines if l.get_linestyle() == "--"]
    assert _legend_texts(fig) == ["validation", "best validation"]
    # ...while the loss plot of the same run does draw, and list, the train curve.
    assert _legend_texts(display_error_curves(no_train_error, show=False)) == ["train", "validation", "best validation"]
    runs = {"a": {"val_error": [0.3, 0.2]}, "b": {"val_error": [0.4, 0.3]}}
    assert _legend_texts(display_error_curves(runs, metric="error", show=False)) == [
        "a", "b", "validation", "best validation"]
    nothing_best = display_error_curves({"val_loss": [float("nan")] * 3}, show=False)
    assert _legend_texts(nothing_best) == ["validation"]  # no star drawn, so none listed


def _assert_labels_clean(fig) -> None:
    """The best-epoch labels' rendered boxes overlap neither each other nor a star, inside the axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in fig.axes[0].texts]
    stars = [m.get_window_extent(renderer).shrunk(0.6, 0.6) for m in _best_markers(fig)]  # extents have slack
    frame = fig.axes[0].get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, (
            f"label {i} sticks out of the axes: {box} vs {frame}")
        for j in range(i):
            assert not box.overlaps(boxes[j]), f"labels {j} and {i} overlap: {boxes[j]} / {box}"
        assert not any(box.overlaps(star) for star in stars), f"label {i} covers a star"


CLOSE = {"lr=0.01": [1, .6, .45, .40, .42], "lr=0.1": [1, .6, .44, .41, .43], "lr=1": [1, .62, .46, .405, .45]}
EQUAL = {"a": [1, .6, .4], "b": [1, .6, .4], "c": [1, .6, .4]}  # best epoch at the right edge, too


@pytest.mark.parametrize("case, metric, log_scale", [("close", "error", True), ("close", "loss", False),
                                                     ("equal", "loss", False), ("equal", "error", True)])
def test_best_labels_of_several_runs_do_not_overlap(case: str, metric: str, log_scale: bool) -> None:
    runs = {"close": CLOSE, "equal": EQUAL}[case]
    fig = display_error_curves({k: _history(v) for k, v in runs.items()}, metric=metric, log_scale=log_scale,
                               show=False)
    _save(fig, f"curves_labels_{case}_{metric}{'_log' if log_scale else ''}.png")
    assert len(fig.axes[0].texts) == 3
    _assert_labels_clean(fig)
    # Placed at draw time, so they stay clean when the figure is resized or saved at another dpi.
    fig.set_size_inches(4.5, 3)
    _assert_labels_clean(fig)
    fig.set_dpi(150)
    _assert_labels_clean(fig)


def test_many_runs_with_one_best_point_still_get_separate_labels() -> None:
    runs = {f"run {k}": _history([1.0, 0.6, 0.45 + 0.002 * k, 0.5]) for k in range(6)}
    fig = display_error_curves(runs, show=False)
    _save(fig, "curves_labels_six.png")
    _assert_labels_clean(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"epoch 3: {0.45 + 0.002 * k:.4g}" for k in range(6)]
    heights = [t.get_window_extent().y0 for t in fig.axes[0].texts]
    assert heights == sorted(heights)  # stacked in the order of the values they label


def test_one_epoch_run_is_visible_with_sensible_axis() -> None:
    run = History()
    run.log(train_loss=0.4, val_loss=0.45, val_error=0.167)  # e.g. a fast-mode run of 1 epoch
    fig = display_error_curves(run, show=False)
    _save(fig, "curves_one_epoch.png")
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_marker() != "*"]
    assert len(curves) == 2
    for line in curves:  # a line through one point has zero length: it needs a marker
        assert len(line.get_xdata()) == 1 and line.get_marker() not in (None, "", "None", " ")
        assert line.get_markersize() >= 4
    assert ax.get_xlim() == (0.5, 1.5)
    assert _visible_xticks(ax) == [1.0]
    assert list(_best_markers(fig)[0].get_xdata()) == [1]
    # The error plot of the same run (no train error) and a log scale: still a tick at 1 only.
    fig = display_error_curves(run, metric="error", log_scale=True, show=False)
    assert _visible_xticks(fig.axes[0]) == [1.0]
    assert _legend_texts(fig) == ["validation", "best validation"]


def _tick_labels(ax, which: str = "both") -> list[str]:
    """The non-empty y tick labels inside the view, after a draw."""
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_ylim())
    ticks = []
    if which in ("major", "both"):
        ticks += ax.yaxis.get_majorticklabels()
    if which in ("minor", "both"):
        ticks += ax.yaxis.get_minorticklabels()
    return [t.get_text() for t in ticks if t.get_text() and lo <= t.get_position()[1] <= hi]


def test_log_scale_tick_labels_are_plain_numbers() -> None:
    fig = display_error_curves(_history(H1), log_scale=True, show=False)
    labels = _tick_labels(fig.axes[0])
    assert labels and not [t for t in labels if "10^" in t or "times" in t or "$" in t], labels
    assert {"0.5", "1"} <= set(labels)
    fig = display_error_curves({"a": _history(H1), "b": _history(H2)}, metric="error", log_scale=True, show=False)
    labels = _tick_labels(fig.axes[0])
    assert labels and all(t.endswith("%") and ".0%" not in t for t in labels), labels
    assert "10%" in labels


def test_percent_axis_has_no_trailing_zeros() -> None:
    fig = display_error_curves({"val_error": [0.33, 0.2, 0.13, 0.12]}, metric="error", show=False)
    labels = _tick_labels(fig.axes[0], "major")
    assert labels and not [t for t in labels if t.endswith(".0%")], labels


# ---------------------------------------------------------------- Jupyter: no second figure


@pytest.fixture
def ipython(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An in-process IPython shell in which course.plotting 'shows' figures as the inline backend does."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import course.plotting.display as display

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setattr(display, "_maybe_show", lambda fig: True)  # as if plt.show() displayed it
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.user_ns.update(display_error_curves=display_error_curves, show_images=show_images,
                         h=_history(H1), torch=torch)
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("call", ["display_error_curves(h)", "show_images(torch.rand(3, 1, 8, 8))"])
def test_last_expression_prints_no_second_figure(ipython, capsys: pytest.CaptureFixture[str], call: str) -> None:
    capsys.readouterr()
    result = ipython.run_cell(call)  # the call as the last line of a cell
    assert result.success and result.result is not None  # the figure is still returned...
    out = capsys.readouterr().out
    assert "<Figure" not in out  # ...but the cell echoes nothing (inline would show the figure twice)
    fig = result.result
    # From the next cell on, the figure displays normally when asked for.
    ipython.run_cell("fig = _")
    data, _ = ipython.display_formatter.format(fig)
    assert "text/plain" in data
    ipython.run_cell("fig")
    assert "<Figure" in capsys.readouterr().out


def test_figure_not_shown_is_echoed_as_usual(ipython, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import course.plotting.display as display

    monkeypatch.setattr(display, "_maybe_show", lambda fig: False)  # e.g. Agg: nothing was displayed
    capsys.readouterr()
    ipython.run_cell("display_error_curves(h)")
    assert "<Figure" in capsys.readouterr().out


# ---------------------------------------------------------------- show_images layout


def test_show_images_rows_have_no_blank_bands() -> None:
    fig = show_images(torch.rand(10, 3, 32, 32), torch.arange(10), torch.arange(10),
                      classes=[f"c{i}" for i in range(10)], ncols=5, title="grid")
    _save(fig, "images_rows.png")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shown = _caption_axes(fig)
    first_image = shown[0].get_window_extent(renderer)  # square images fill their axes
    second_caption = shown[5].title.get_window_extent(renderer)
    band = (first_image.y0 - second_caption.y1) / fig.dpi  # inches of nothing between the rows
    assert 0 < band < 0.3, band


def test_show_filters_rgb_templates_and_single_channel_filters() -> None:
    from course.plotting import scale_filters, show_filters

    torch.manual_seed(0)
    w = torch.randn(10, 3072)
    fig = show_filters(w.reshape(10, 3, 32, 32), [f"c{i}" for i in range(10)], title="templates")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and shown[0].images[0].get_array().shape == (32, 32, 3)
    assert [ax.get_title() for ax in shown][:2] == ["c0", "c1"]
    _save(fig, "filters_templates")
    each = scale_filters(w.reshape(10, 3, 32, 32))
    assert each.min() == 0 and each.max() == 1 and np.allclose(each.reshape(10, -1).max(1), 1)
    shared = scale_filters(torch.tensor([[[[-2.0, 0.0, 1.0]]]]), "shared")
    assert np.allclose(shared, [[[[0.0, 0.5, 0.75]]]])      # zero stays mid-grey; one range for all
    fig = show_filters(torch.randn(6, 1, 5, 5), scale="shared", ncols=3)
    assert len([ax for ax in fig.axes if ax.images]) == 6
    with pytest.raises(ValueError, match="titles"):
        show_filters(torch.randn(3, 1, 5, 5), ["a"])
    with pytest.raises(ValueError, match="NaN"):
        show_filters(torch.full((2, 1, 3, 3), float("nan")))
    with pytest.raises(ValueError, match="scale"):
        scale_filters(torch.zeros(1, 1, 2, 2), "log")
