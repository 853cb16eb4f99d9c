"""Tests for course.plotting.paths (headless, Agg): panels, markers, contour levels, and an offline animation.

Example figures are saved to /tmp/plots for a person to look at.
"""
from __future__ import annotations

import gc
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from course.plotting.paths import animate_paths, animation_html, plot_paths  # noqa: E402

PLOTS = Path("/tmp/plots")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[:, 0]) ** 2 + 100 * (p[:, 1] - p[:, 0] ** 2) ** 2


def saddle(p: torch.Tensor) -> torch.Tensor:
    return p[:, 0] ** 2 - p[:, 1] ** 2


def _gd(lr: float, steps: int, start=(-1.5, 2.0), beta: float = 0.0) -> torch.Tensor:
    """Gradient descent (with momentum β) on Rosenbrock: a real (T, 2) path, step 0 first."""
    p, v, trace = torch.tensor(start, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), []
    for _ in range(steps):
        trace.append(p.clone())
        q = p.clone().requires_grad_()
        rosenbrock(q[None]).sum().backward()
        v = beta * v + q.grad
        p = p - lr * v
    return torch.stack(trace)


def _paths() -> dict[str, object]:
    return {"SGD": _gd(1e-3, 120), "momentum": _gd(1e-3, 200, beta=0.9).numpy(),       # a tensor, an array
            "short": [torch.tensor([0.5, -0.5]), torch.tensor([0.6, -0.2])]}            # a list of (2,) points


def _visible(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


def _contour_levels(ax) -> np.ndarray:
    sets = [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]
    assert len(sets) == 1
    return np.asarray(sets[0].levels)


def _save_and_check(fig, name: str) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOTS / name, dpi=80)
    image = plt.imread(PLOTS / name)
    assert image.ndim == 3 and image[..., :3].std() > 0.05        # not a blank canvas


def test_an_overview_and_one_panel_per_path_with_markers() -> None:
    paths = _paths()
    fig = plot_paths(rosenbrock, paths, minimum=(1.0, 1.0), title="three paths", show=False)
    _save_and_check(fig, "paths.png")
    overview, *small = _visible(fig)
    assert len(small) == 3 and fig._suptitle.get_text() == "three paths"
    assert overview.get_title() == "all together"
    assert [t.get_text() for t in overview.get_legend().get_texts()] == ["SGD", "momentum", "short", "start", "end",
                                                                         "minimum"]
    for ax, (name, path) in zip(small, paths.items()):
        arr = np.asarray(torch.stack(path) if isinstance(path, list) else path, dtype=float)
        final = float(rosenbrock(torch.tensor(arr[-1:]))[0])
        assert ax.get_title() == f"{name}  (final loss {final:.3g})"
        line, start, end, star = ax.get_lines()
        assert np.allclose(line.get_xydata(), arr)
        assert np.allclose(start.get_xydata(), arr[:1]) and start.get_markerfacecolor() == "white"
        assert np.allclose(end.get_xydata(), arr[-1:]) and end.get_color() == line.get_color()
        assert np.allclose(star.get_xydata(), [[1.0, 1.0]]) and star.get_marker() == "*"
        assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 3.0)
        assert ax.get_aspect() == 1.0                                  # a gradient step looks ⟂ to its contour
    assert len({ax.get_lines()[0].get_color() for ax in small}) == 3
    # The overview: every path, each one's end, the shared start(s), and the minimum.
    colours = [ax.get_lines()[0].get_color() for ax in small]
    assert [line.get_color() for line in overview.get_lines()[:6:2]] == colours
    assert sum(line.get_marker() == "*" for line in overview.get_lines()) == 1


def test_panels_wrap_into_ncols_and_the_overview_spans_the_rows() -> None:
    paths = {f"rule {i}": _gd(1e-3 * (i + 1), 30) for i in range(7)}
    fig = plot_paths(rosenbrock, paths, ncols=3, show=False)
    _save_and_check(fig, "paths_seven.png")
    overview, *small = _visible(fig)
    assert len(small) == 7 and len(fig.axes) == 8                       # no empty panels
    spec = overview.get_subplotspec()
    assert (spec.rowspan, spec.colspan) == (range(0, 3), range(0, 3))   # 3 rows of 3 panels: a 3 × 3 overview
    assert [ax.get_subplotspec().colspan.start for ax in small] == [3, 4, 5] * 2 + [3]
    # Tick labels only on the outer edges of the small grid.
    left = [ax.yaxis.get_tick_params()["labelleft"] for ax in small]
    assert left == [True, False, False] * 2 + [True]


def test_contour_levels_are_log_spaced_for_rosenbrock_and_linear_for_a_saddle() -> None:
    fig = plot_paths(rosenbrock, {"a": _gd(1e-3, 10)}, levels=25, show=False)
    lv = _contour_levels(_visible(fig)[0])
    assert len(lv) == 25 and np.allclose(lv[1:] / lv[:-1], lv[1] / lv[0])        # geometric
    assert lv[0] < 1e-2 and lv[-1] == pytest.approx(float(rosenbrock(torch.tensor([[-2.0, -1.0]]))[0]))
    fig = plot_paths(rosenbrock, {"a": _gd(1e-3, 10)}, levels=25, log_levels=False, show=False)
    lv = _contour_levels(_visible(fig)[0])
    assert np.allclose(np.diff(lv), lv[1] - lv[0])                                # linear when asked
    walk = torch.stack([torch.tensor([1.5 * 0.8 ** k, 0.01 * 1.3 ** k]) for k in range(15)])
    fig = plot_paths(saddle, {"GD": walk}, xlim=(-2, 2), ylim=(-2, 2), show=False)
    _save_and_check(fig, "paths_saddle.png")
    lv = _contour_levels(_visible(fig)[0])
    assert lv[0] == pytest.approx(-4.0, abs=1e-3) and lv[-1] == pytest.approx(4.0, abs=1e-3)   # grid misses 0
    assert np.allclose(np.diff(lv), lv[1] - lv[0])                                # negative values: linear
    assert "final loss" in _visible(fig)[1].get_title()


def test_a_diverged_path_says_so_and_ends_at_its_last_finite_point() -> None:
    path = torch.tensor([[0.0, 0.0], [0.5, 0.5], [3e3, -1e3], [float("inf"), float("nan")]])
    fig = plot_paths(rosenbrock, {"too fast": path}, show=False)
    ax = _visible(fig)[1]
    assert ax.get_title() == "too fast  (diverged at step 3)"
    assert np.allclose(ax.get_lines()[2].get_xydata(), [[3e3, -1e3]])


def test_loss_functions_with_float32_insides_work() -> None:
    weights = torch.tensor([1.0, 3.0])                                              # float32 on purpose

    def bowl(p: torch.Tensor) -> torch.Tensor:
        return (p ** 2) @ weights

    fig = plot_paths(bowl, {"a": torch.zeros(3, 2)}, xlim=(-1, 1), ylim=(-1, 1), show=False)
    assert _contour_levels(_visible(fig)[0])[-1] == pytest.approx(4.0, rel=1e-4)


def test_bad_input_is_explained() -> None:
    with pytest.raises(ValueError, match=r"path 'bad' must be \(T, 2\) points"):
        plot_paths(rosenbrock, {"bad": torch.zeros(4, 3)}, show=False)
    with pytest.raises(ValueError, match="no paths"):
        plot_paths(rosenbrock, {}, show=False)
    with pytest.raises(ValueError, match="for a batch of points"):
        plot_paths(lambda p: (p ** 2).sum(), {"a": torch.zeros(2, 2)}, show=False)
    with pytest.raises(ValueError, match="ncols"):
        plot_paths(rosenbrock, {"a": torch.zeros(2, 2)}, ncols=0, show=False)
    with pytest.raises(ValueError, match="frames"):
        animate_paths(rosenbrock, {"a": torch.zeros(2, 2)}, frames=0)


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")   # drawn by hand, not saved
def test_the_animation_draws_the_paths_step_by_step() -> None:
    paths = {"long": _gd(1e-3, 30), "short": _gd(2e-3, 12)}
    anim = animate_paths(rosenbrock, paths, frames=6, minimum=(1.0, 1.0))
    assert isinstance(anim, FuncAnimation)
    assert not plt.fignum_exists(anim._fig.number)            # closed: no static copy shown under the animation
    ax = anim._fig.axes[0]
    star, start, long_line, long_head, short_line, short_head = ax.get_lines()     # both paths start at one point
    assert star.get_marker() == "*" and np.allclose(start.get_xydata(), [[-1.5, 2.0]])
    anim._draw_frame(0)
    assert len(long_line.get_xdata()) == 1 and ax.get_title() == "step 0 of 29"
    anim._draw_frame(3)
    shown = len(long_line.get_xdata())
    assert 12 < shown < 30 and len(short_line.get_xdata()) == 12                 # the short path has finished
    assert np.allclose(short_head.get_xydata(), paths["short"][-1:].numpy())
    anim._draw_frame(5)
    assert np.allclose(long_line.get_xydata(), paths["long"].numpy()) and ax.get_title() == "step 29 of 29"
    assert np.allclose(long_head.get_xydata(), paths["long"][-1:].numpy())
    few = animate_paths(rosenbrock, {"a": _gd(1e-3, 4)}, frames=60)
    assert len(list(few.new_frame_seq())) == 4                                    # never more frames than steps
    del anim, few
    gc.collect()                                     # their "deleted without rendering" warning, here, filtered


def test_the_animation_is_self_contained_html() -> None:
    anim = animate_paths(rosenbrock, _paths(), frames=5, minimum=(1.0, 1.0))
    html = animation_html(anim)
    assert html.count("data:image/jpeg;base64,") == 5                    # every frame embedded
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert 'class="fa' not in html and "▶" in html and "‖" in html        # the buttons still have faces
    assert len(html) < 5 * 60_000 + 50_000                               # a light notebook: ~20 KB a frame
    plain = animate_paths(rosenbrock, _paths(), frames=3).to_jshtml()
    assert plain.count("data:image/png;base64,") == 3                   # matplotlib's own: frames embedded too
    assert "https://" in plain                                            # but icons from a CDN: hence animation_html
    assert animation_html(animate_paths(rosenbrock, _paths(), frames=2), frame_format="png").count(
        "data:image/png;base64,") == 2
    with pytest.raises(ValueError, match="frame_format"):
        animation_html(anim, frame_format="gif")
