"""Each rendered lecture deck in Debian's chromium (Playwright), opened from a file with the network cut off.

For every deck: reveal.js starts with as many slides as the notebook has; the maths is typeset (MathJax SVG);
stepping forward moves through the slides; the first slide with a plot shows it as a decoded image inside the
viewport; and the deck made no network request at all (every http(s) request is recorded and refused). The
optimiser deck's animation plays: its frame changes after Play. Screenshots of the slides visited go to
``$COURSE_ARTIFACTS/slides`` (or ``test-artifacts/browser/slides``), with the console log.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ci_support import chromium, watch_page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("COURSE_ARTIFACTS", ROOT / "test-artifacts" / "browser")) / "slides"
LECTURES = ["lecture1_ml_basics", "lecture2_dnn_basics", "lecture3_cnns", "lecture4_resnets_optimisers"]
VIEWPORT = {"width": 1280, "height": 900}
STEPS = 4  # slides stepped through from the title, with a screenshot each

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _open(browser, path: Path):
    """The deck opened from its file, with the network cut off: (page, requests it tried, console log)."""
    page = browser.new_page(viewport=VIEWPORT)
    requests, log = watch_page(page)
    page.goto(path.as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=60_000)
    return page, requests, log


def _settle(page) -> None:
    time.sleep(0.9)   # the slide transition (0.8 s in reveal.js's default "slide" transition)


@pytest.mark.parametrize("lecture", LECTURES)
def test_a_deck_plays_offline_in_chromium(browser, rendered_lectures, lecture: str) -> None:
    r = rendered_lectures[lecture]
    out = ARTIFACTS / lecture
    out.mkdir(parents=True, exist_ok=True)
    page, requests, log = _open(browser, r.html)
    try:
        assert page.evaluate("Reveal.getTotalSlides()") == r.slides, "one reveal.js slide per slide/subslide cell"
        if page.evaluate("!!window.MathJax"):
            page.wait_for_selector("body[data-mathjax=done]", state="attached", timeout=60_000)
            assert page.evaluate("document.querySelectorAll('mjx-container svg').length") > 0, "maths typeset"
            assert page.evaluate("document.querySelectorAll('mjx-merror, [data-mjx-error]').length") == 0, \
                "a formula MathJax could not typeset"
        seen = []
        for step in range(STEPS):
            seen.append(page.evaluate("JSON.stringify(Reveal.getIndices())"))
            page.screenshot(path=str(out / f"step{step}.png"))
            page.keyboard.press("Space")      # next slide, down a vertical stack first: as a presenter clicker
            _settle(page)
        assert len(set(seen)) == STEPS, f"stepping moved through the slides: {seen}"

        # The first slide with a plot, reached the way the presenter would (reveal.js's own navigation).
        where = page.evaluate("""() => {
            const slides = Reveal.getSlides();
            for (const s of slides) { if (s.querySelector('.jp-OutputArea-output img[src^="data:image/png"]')) return Reveal.getIndices(s); }
            return null; }""")
        assert where is not None, "a slide shows a plot"
        page.evaluate(f"Reveal.slide({where['h']}, {where.get('v') or 0})")
        _settle(page)
        img = page.evaluate("""() => {
            const img = Reveal.getCurrentSlide().querySelector('.jp-OutputArea-output img[src^="data:image/png"]');
            const box = img.getBoundingClientRect();
            return {complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                    box: [box.left, box.top, box.right, box.bottom]}; }""")
        page.screenshot(path=str(out / "plot.png"))
        assert img["complete"] and img["w"] > 100 and img["h"] > 100, f"the plot decoded: {img}"
        left, top, right, bottom = img["box"]
        assert right - left > 200 and bottom - top > 100, f"the plot is shown at a readable size: {img['box']}"
        assert left >= 0 and top >= 0 and right <= VIEWPORT["width"] + 1 and top < VIEWPORT["height"], \
            f"the plot is inside the viewport: {img['box']}"

        # Every slide fits its 960 × 700 canvas: as it is, or shrunk a little (never below 75 %), never scrolled.
        page.evaluate("Reveal.configure({transition: 'none'})")
        fits = []
        for i, ix in enumerate(page.evaluate("Reveal.getSlides().map(s => Reveal.getIndices(s))")):
            page.evaluate(f"Reveal.slide({ix['h']}, {ix.get('v') or 0})")
            page.wait_for_function("!!Reveal.getCurrentSlide().dataset.courseFit", timeout=5_000)
            fits.append(page.evaluate("""() => { const s = Reveal.getCurrentSlide();
                return [Number(s.dataset.courseFit), s.classList.contains('course-scroll'),
                        ((s.querySelector('h1, h2, h3') || {}).textContent || '').slice(0, 60)]; }"""))
        crammed = [f"slide {i + 1} {title!r} (shrunk to {zoom:.0%}{', and scrolls' if scrolls else ''})"
                   for i, (zoom, scrolls, title) in enumerate(fits) if zoom < 0.75 or scrolls]
        assert not crammed, f"{lecture}: too much on {crammed}: split it into subslides"
        assert requests == [], f"the deck asked the network for {requests[:5]}"
        assert not [e for e in log if e.startswith("pageerror")], log
    finally:
        (out / "console.log").write_text("\n".join(log + [f"request: {u}" for u in requests]) + "\n")
        page.close()


def test_the_optimiser_animation_plays_in_the_deck(browser, rendered_lectures) -> None:
    r = rendered_lectures["lecture4_resnets_optimisers"]
    page, requests, log = _open(browser, r.html)
    try:
        where = page.evaluate("""() => {
            for (const s of Reveal.getSlides()) { if (s.querySelector('.animation img')) return Reveal.getIndices(s); }
            return null; }""")
        assert where is not None, "a slide holds matplotlib's HTML5 player"
        page.evaluate(f"Reveal.slide({where['h']}, {where.get('v') or 0})")
        _settle(page)
        frame = "Reveal.getCurrentSlide().querySelector('.animation img').src"
        first = page.evaluate(frame)
        # The player's Play button: the one whose onclick plays forwards.
        page.locator("section.present button[onclick*='play_animation']").first.click()
        time.sleep(1.5)
        assert page.evaluate(frame) != first, "the frame changed after Play"
        (ARTIFACTS / "lecture4_resnets_optimisers").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lecture4_resnets_optimisers" / "animation.png"))
        assert requests == [] and not [e for e in log if e.startswith("pageerror")], (requests, log)
    finally:
        page.close()
