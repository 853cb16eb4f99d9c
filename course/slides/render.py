"""``course slides``: run a lecture and render it into one self-contained reveal.js HTML file.

The deck is the executed lecture (notebooks/lectures/<id>.ipynb) exported by nbconvert's slides exporter
through the ``course_reveal`` template, which inlines reveal.js, its notes plugin, its theme and fonts, and
(where the deck has maths) MathJax from ``course/slides/vendor/``. The result is checked before it is written:
a deck that would load anything from the network (:func:`~course.slides.offline.network_references`) is an
error, not a file.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from ..notebooks import NotebookError, execute_notebook, load_notebook, scratch_copy
from .assets import data_uri, packages, vendored_text
from .decks import HIDE_INPUT, Deck, SlidesError, count_slides, slide_problems
from .offline import network_references

__all__ = ["RenderedDeck", "run_lecture", "deck_html", "render_deck", "TEMPLATES"]

TEMPLATES = Path(__file__).with_name("template")
_FONTS = {  # (weight, style) → the woff the white theme uses
    ("normal", "normal"): "source-sans-pro-regular.woff", ("normal", "italic"): "source-sans-pro-italic.woff",
    ("600", "normal"): "source-sans-pro-semibold.woff", ("600", "italic"): "source-sans-pro-semibolditalic.woff"}
_THEME_IMPORT = re.compile(r"@import url\(\./fonts/source-sans-pro/source-sans-pro\.css\);?")
_SCRIPT_BREAKS = re.compile(r"<(/?script|!--)", re.I)
_MATH = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\[|\\begin\{")


@dataclass(frozen=True)
class RenderedDeck:
    deck: Deck
    path: Path
    slides: int
    run_seconds: float | None  # None: the saved outputs were used
    fast: bool

    def summary(self) -> str:
        ran = ("from its saved outputs" if self.run_seconds is None else
               f"ran in {'fast' if self.fast else 'full'} mode in {self.run_seconds:.0f} s")
        return (f"slides: {self.deck.id}: {self.slides} slides, {ran} → {self.path} "
                f"({self.path.stat().st_size / 1e6:.1f} MB, loads nothing from the network)")


def run_lecture(deck: Deck, *, fast: bool, timeout: int = 600) -> tuple[NotebookNode, float]:
    """Execute the lecture in an empty scratch folder (nothing is written beside it): (executed notebook, seconds)."""
    if not deck.path.is_file():
        raise SlidesError(f"{deck.path} does not exist")
    nb = load_notebook(deck.path)
    # An empty scratch folder: a lecture reads nothing beside it (its data come from COURSE_DATA), and copying
    # notebooks/lectures/ would copy the rendered decks in html/ (several MB each) for every run.
    with scratch_copy() as tmp:
        t0 = time.perf_counter()
        nb, result = execute_notebook(nb, tmp, env={"COURSE_FAST": "1" if fast else "0", "MPLBACKEND": "Agg"},
                                      timeout=timeout)
        seconds = time.perf_counter() - t0
    if result.errors:
        raise SlidesError(f"{deck.id} failed to run in {'fast' if fast else 'full'} mode: {result.summary()}")
    return nb, seconds


def escape_script(js: str) -> str:
    # Inline, a script must not contain what ends or re-enters an HTML script element; \x3C is "<" in any
    # JavaScript string, template or regular expression, which is where these sequences occur.
    return _SCRIPT_BREAKS.sub(lambda m: "\\x3C" + m.group(1), js)


def _theme_css() -> str:
    faces = "\n".join(
        f"@font-face {{ font-family: 'Source Sans Pro'; font-weight: {w}; font-style: {s}; "
        f"src: url({data_uri('reveal.js', 'dist/theme/fonts/source-sans-pro/' + f, 'font/woff')}) format('woff'); }}"
        for (w, s), f in _FONTS.items())
    return faces + "\n" + _THEME_IMPORT.sub("", vendored_text("reveal.js", "dist/theme/white.css"))


_MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true},
  svg: {fontCache: 'global'},
  // Everything is in the bundle: no component, menu or speech module is fetched at run time.
  loader: {load: []},
  options: {enableMenu: false},
  startup: {ready: function () {
    MathJax.startup.defaultReady();
    MathJax.startup.promise.then(function () { document.body.setAttribute('data-mathjax', 'done'); });
  }}
};"""

_INIT = """(function () {
  var deck = %(config)s;
  Reveal.initialize({
    controls: true, progress: true, hash: true, center: false,
    transition: deck.transition, slideNumber: 'c/t', width: 960, height: 700,
    plugins: [RevealNotes]
  });
  // A slide taller than the canvas is shrunk to fit (down to 70 %), and scrolls beyond that: never cut off.
  function fit(slide) {
    if (!slide || slide.dataset.courseFit) return;
    var natural = slide.scrollHeight;
    var zoom = natural > 700 * 1.02 ? Math.max(0.7, 700 / natural) : 1;
    slide.dataset.courseFit = zoom.toFixed(3);
    if (zoom < 1) { slide.style.zoom = zoom; }
    if (natural * zoom > 700 * 1.02) { slide.classList.add('course-scroll'); slide.style.height = (700 / zoom) + 'px'; }
  }
  function scrollIfTall() { fit(Reveal.getCurrentSlide()); }
  Reveal.on('ready', scrollIfTall);
  Reveal.on('slidechanged', scrollIfTall);
})();"""


def _has_maths(nb: NotebookNode) -> bool:
    return any(c.cell_type == "markdown" and _MATH.search(c.source) for c in nb.cells)


def deck_html(nb: NotebookNode, *, title: str, transition: str = "slide") -> tuple[str, int]:
    """The self-contained deck of an executed lecture notebook: (html, number of slides)."""
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    problems = slide_problems(nb, source=False)
    if problems:
        raise SlidesError(f"{title}: slide-metadata problems:\n  - " + "\n  - ".join(problems))
    pkgs = packages()
    exporter = SlidesExporter(template_name="course_reveal", extra_template_basedirs=[str(TEMPLATES)])
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={HIDE_INPUT}, enabled=True), enabled=True)
    maths = _has_maths(nb)
    resources = {"course_slides": {
        "title": title,
        "reveal_version": pkgs["reveal.js"].version, "mathjax_version": pkgs["mathjax"].version,
        "reveal_css": vendored_text("reveal.js", "dist/reveal.css"), "theme_css": _theme_css(),
        "reveal_js": escape_script(vendored_text("reveal.js", "dist/reveal.js")),
        "notes_js": escape_script(vendored_text("reveal.js", "plugin/notes/notes.js")),
        "mathjax_js": escape_script(vendored_text("mathjax", "es5/tex-svg-full.js")) if maths else "",
        "mathjax_config": _MATHJAX_CONFIG,
        "init_js": _INIT.replace("%(config)s", json.dumps({"transition": transition})),
    }}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    remote = network_references(html)
    if remote:
        raise SlidesError(f"{title}: the deck would load {len(remote)} thing(s) from the network, e.g. "
                          f"{'; '.join(remote[:3])}; an output (HTML or an image link) names a remote address")
    return html, count_slides(nb)


def render_deck(deck: Deck, out_dir: Path, *, fast: bool = False, execute: bool = True,
                timeout: int = 600) -> RenderedDeck:
    """Run ``deck`` (or, with ``execute=False``, take its saved outputs) and write ``out_dir/<id>.html``."""
    if execute:
        nb, seconds = run_lecture(deck, fast=fast, timeout=timeout)
    else:
        try:
            nb, seconds = load_notebook(deck.path), None
        except NotebookError as exc:
            raise SlidesError(str(exc)) from exc
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            raise SlidesError(f"{deck.path} has no saved outputs: run it first, or leave out --saved")
    title = next((line.lstrip("# ").strip() for line in nb.cells[0].source.splitlines() if line.startswith("#")),
                 deck.id)
    html, slides = deck_html(nb, title=title)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{deck.id}.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return RenderedDeck(deck, path, slides, seconds, fast)
