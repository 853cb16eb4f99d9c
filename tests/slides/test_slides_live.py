"""The lectures played live: JupyterLab with jupyterlab-rise (the instructor extra) in Debian's chromium.

Each lecture, executed in fast mode, is opened at ``/rise/<id>.ipynb`` (what RISE's "Render as slideshow"
opens): reveal.js builds its slides in the page, the maths is typeset, a plot shows, stepping forward moves, and
nothing is asked of any host but the local server (the lecture's ``metadata.rise`` picks the white theme, whose
fonts RISE bundles). Screenshots go to ``$COURSE_ARTIFACTS/slides-live``.
"""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import nbformat
import pytest
from ci_support import chromium, skip_or_fail, watch_page
from test_browser import _server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("COURSE_ARTIFACTS", ROOT / "test-artifacts" / "browser")) / "slides-live"
LECTURES = ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture3_cnns", "lecture4_resnets_optimisers"]

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def rise_server(rendered_lectures, tmp_path_factory):
    if importlib.util.find_spec("jupyterlab_rise") is None:
        skip_or_fail("jupyterlab-rise is not installed (pip install -e '.[instructor]')", "the live-slides tests")
    base = tmp_path_factory.mktemp("rise")
    work = base / "work"
    work.mkdir()
    for lecture, r in rendered_lectures.items():
        nbformat.write(r.executed, work / f"{lecture}.ipynb")   # as after running it live before the session
    yield from _server(work, work, base, {"COURSE_FAST": "1"})


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_lecture_plays_live_with_rise_offline(browser, rise_server, rendered_lectures, lecture: str) -> None:
    out = ARTIFACTS / lecture
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    remote, log = watch_page(page, local=("127.0.0.1",))
    try:
        page.goto(rise_server.page_url(f"rise/{lecture}.ipynb"), timeout=120_000)
        page.wait_for_function("document.querySelectorAll('.reveal .slides section').length > 0", timeout=120_000,
                               polling=500)
        page.wait_for_function("[...document.querySelectorAll('.reveal img')].some(i => i.complete && i.naturalWidth > 100)",
                               timeout=60_000, polling=500)
        sections = page.evaluate("document.querySelectorAll('.reveal .slides section').length")
        assert sections >= rendered_lectures[lecture].slides, f"RISE built {sections} slides"
        page.wait_for_function("document.querySelectorAll('.reveal mjx-container').length > 0", timeout=60_000)
        seen = []
        present = "document.querySelector('.reveal .slides section.present:not(.stack)')"
        for step in range(3):
            time.sleep(1.0)
            page.wait_for_function(f"!!{present}", timeout=30_000)   # a slide is shown (not mid-transition)
            seen.append(page.evaluate("document.querySelector('.reveal .slides section.present:not(.stack)')?.innerText.slice(0, 80)"))
            # What the slide shows is inside the window: no line starts off its left edge or runs off its right.
            box = page.evaluate("""() => { const s = document.querySelector('.reveal .slides section.present:not(.stack)');
                const r = [...s.querySelectorAll('.jp-RenderedMarkdown > *, .jp-RenderedImage img')]
                  .map(e => e.getBoundingClientRect()).filter(b => b.width > 0);
                return r.length ? [Math.min(...r.map(b => b.left)), Math.max(...r.map(b => b.right))] : null; }""")
            assert box is None or (box[0] >= -1 and box[1] <= 1280 + 1), f"slide {step + 1} is cut off: {box}"
            page.screenshot(path=str(out / f"live{step}.png"))
            page.keyboard.press("Space")
        assert len(set(seen)) == 3, f"stepping moved through the slides: {seen}"
        assert remote == [], f"live slides asked the network for {remote[:5]}"
    finally:
        (out / "console.log").write_text("\n".join(log + [f"request: {u}" for u in remote]) + "\n")
        page.close()
