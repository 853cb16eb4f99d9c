"""The four lectures: each runs in fast mode, shows what its brief asks for, and renders into an offline deck.

They run once per session (``rendered_lectures`` in conftest.py), in fast mode as CI does; ``course slides``
runs them in full mode for a lecture (measured in the README: ≤ 2 minutes each on the 2-core CPU).
"""
from __future__ import annotations

import re

import pytest

from course.check import STRAY_REPR
from course.slides.offline import network_references

pytestmark = pytest.mark.slow
LECTURES = ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture3_cnns", "lecture4_resnets_optimisers"]


def _outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            yield i, cell, out


def _text(nb) -> str:
    """Everything a person sees: markdown, visible code, and text outputs."""
    parts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for _, _, out in _outputs(nb):
        parts.append(out.get("text", "") + out.get("data", {}).get("text/plain", "") +
                     out.get("data", {}).get("text/html", "")[:20_000])
    return "\n".join(parts)


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_lecture_runs_clean_in_fast_mode(rendered_lectures, lecture: str) -> None:
    nb = rendered_lectures[lecture].executed
    for i, cell, out in _outputs(nb):
        assert out.get("output_type") != "error", f"{lecture} cell {i}: {out.get('ename')}: {out.get('evalue')}"
        assert out.get("name") != "stderr", f"{lecture} cell {i} writes to stderr (a warning?): {out.get('text', '')[:300]!r}"
        plain = out.get("data", {}).get("text/plain", "") if out.get("output_type") == "execute_result" else ""
        assert not STRAY_REPR.match(plain), f"{lecture} cell {i} shows a stray repr: {plain[:80]!r}"
        lines = out.get("text", "").count("\n")
        assert lines <= 30, f"{lecture} cell {i} prints {lines} lines: a plot or a short table reads better on a slide"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{lecture}: every code cell ran"


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_lecture_prefers_plots_and_uses_the_device(rendered_lectures, lecture: str) -> None:
    r = rendered_lectures[lecture]
    images = sum("image/png" in out.get("data", {}) for _, _, out in _outputs(r.executed))
    assert images >= max(6, r.slides // 3), f"{lecture}: {images} plots for {r.slides} slides"
    source = "\n".join(c.source for c in r.executed.cells if c.cell_type == "code")
    assert "course.get_device" in source and re.search(r"\.to\(DEVICE\)|device=DEVICE", source), \
        f"{lecture}: models and tensors go to course.get_device()'s device (the GPU when there is one)"
    assert "budget(" in source, f"{lecture}: sizes come from course.budget(full, fast)"


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_rendered_lecture_is_an_offline_deck(rendered_lectures, lecture: str) -> None:
    r = rendered_lectures[lecture]
    html = r.html.read_text(encoding="utf-8")
    assert network_references(html) == []
    assert r.slides >= 12 and html.count("<section") >= r.slides
    assert html.count('<aside class="notes">') >= 5, f"{lecture}: speaker notes reach the deck"
    assert r.html.stat().st_size < 12_000_000, f"{lecture}: {r.html.stat().st_size / 1e6:.1f} MB is heavy for a deck"


CONTENT = {  # what each brief names, as a person would see it on the slides
    "lecture1_ml_basics": [r"f\(x,\s*y\)", r"quantis", r"\bbits?\b", r"RGB|red.*green.*blue", r"frog", r"cat",
                           r"car\b", r"softmax", r"cross.entropy", r"learning rate", r"decay", r"minibatch|mini-batch",
                           r"validation", r"test set"],
    "lecture2_dnn_basics": [r"2104", r"460", r"1416", r"232", r"1534", r"315", r"852", r"178", r"closed.form|normal equation",
                            r"\bL1\b", r"\bL2\b", r"ring", r"three modes|3 modes", r"odd|parity|XOR", r"[Dd]ropout",
                            r"[Mm]omentum", r"AlexNet"],
    "lecture3_cnns": [r"[−-]5\b", r"Sobel", r"[Bb]lur|Gaussian", r"LeNet", r"feature map", r"AlexNet", r"\b6[01](\.\d)?\s?M",
                      r"2[34]\d(\.\d)?\s?MB", r"128", r"[Ss]igmoid", r"ReLU", r"augment", r"GPU", r"CPU"],
    "lecture4_resnets_optimisers": [r"degradation", r"skip|residual", r"gradient", r"bottleneck|Bottleneck", r"1\s?×\s?1|1x1",
                                    r"AdaGrad|Adagrad", r"RMSProp|RMSprop", r"Adam", r"[Mm]omentum", r"SGD"],
}


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_lecture_covers_its_brief(rendered_lectures, lecture: str) -> None:
    text = _text(rendered_lectures[lecture].executed)
    missing = [p for p in CONTENT[lecture] if not re.search(p, text)]
    assert not missing, f"{lecture}: nothing on the slides matches {missing}"


def test_the_optimiser_lecture_animates_offline(rendered_lectures) -> None:
    nb = rendered_lectures["lecture4_resnets_optimisers"].executed
    players = [out["data"]["text/html"] for _, _, out in _outputs(nb) if "text/html" in out.get("data", {})
               and "data:image/jpeg;base64," in out["data"]["text/html"]]
    assert players, "an HTML5 animation (course.animation_html) is on a slide"
    assert players[0].count("data:image/jpeg;base64,") >= 5, "every frame embedded (fast mode draws fewer)"
    assert network_references(players[0]) == [] and 'class="fa' not in players[0]


def test_the_gpu_branch_of_the_cnn_lecture_draws_the_speedup(tmp_path) -> None:
    """No GPU here: lecture 3 is run with the CPU posing as its GPU, so that the branch a GPU takes (GPU bars,
    the speed-up in the title, the GPU's MACs/s) runs at least once. On real hardware it is untested."""
    from pathlib import Path

    from course.notebooks import execute_notebook, load_notebook
    from course.slides.decks import resolve_decks

    [deck] = resolve_decks(Path(__file__).resolve().parents[2], ["lecture3_cnns"])
    nb = load_notebook(deck.path)
    choice = 'GPU = DEVICE if DEVICE.type in ("cuda", "mps") else None'
    cells = [c for c in nb.cells if choice in c.source]
    assert len(cells) == 1, "lecture 3 picks its GPU in one line; this test poses the CPU as that GPU"
    cells[0].source = cells[0].source.replace(choice, 'GPU = torch.device("cpu")   # posed as the GPU by the test')
    nb, result = execute_notebook(nb, tmp_path, env={"COURSE_FAST": "1", "MPLBACKEND": "Agg"}, timeout=300)
    assert not result.errors, result.summary()
    printed = "\n".join(o.get("text", "") for _, _, o in _outputs(nb))
    assert "GPU: " in printed and "No GPU on this machine" not in printed
    assert not [o for _, _, o in _outputs(nb) if o.get("name") == "stderr"]
