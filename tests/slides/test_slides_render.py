"""course.slides.render: an executed lecture becomes one self-contained reveal.js page (no kernel needed here)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from toy_decks import lecture, make_root

from course.slides import assets
from course.slides.decks import SlidesError, build_lecture, resolve_decks
from course.slides.offline import network_references
from course.slides.render import deck_html, render_deck


@pytest.fixture(scope="module")
def page() -> str:
    html, slides = deck_html(lecture(executed=True, extra_html="<b>an HTML output</b>"), title="Lecture 1 — Toy")
    assert slides == 4
    return html


def test_the_deck_loads_nothing_from_the_network(page: str) -> None:
    assert network_references(page) == []
    assert "unpkg.com" not in page and "cdnjs" not in page and "require.js" not in page.lower()


def test_reveal_its_notes_plugin_theme_and_fonts_are_inlined(page: str) -> None:
    reveal = assets.vendored_text("reveal.js", "dist/reveal.js")
    assert reveal[-2000:-1000] in page                        # the vendored core itself, not a link to it
    assert "RevealNotes" in page and "Reveal.initialize" in page
    assert page.count("data:font/woff;base64,") == 4          # the theme's four faces of Source Sans Pro
    assert "fonts/source-sans-pro/source-sans-pro.css" not in page


def test_slides_fragments_notes_and_hidden_code(page: str) -> None:
    sections = re.findall(r"<section\b", page)
    assert len(sections) == 3 + 1 + 3, "three slides, each a section holding its vertical stack, and one subslide"
    assert '<div class="fragment"' in page
    assert re.search(r'<aside class="notes">.*Say: the curve is a parabola\..*</aside>', page, re.S)
    assert "SECRET_PLOT_CODE" not in page, "a hide-input cell shows its output only"
    assert "VISIBLE_CODE" in page and "an HTML output" in page
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64,", page)) == 1   # the plot, embedded
    assert "COURSE_INSTALL" not in page, "the setup cell is a skip cell: not in the deck"
    assert "<title>Lecture 1 — Toy</title>" in page


def test_mathjax_is_inlined_only_where_there_is_maths(page: str) -> None:
    assert "MathJax" in page and "loader: {load: []}" in page and len(page) > 2_000_000
    plain, _ = deck_html(lecture(maths=False, executed=True), title="plain")
    assert "window.MathJax" not in plain and len(plain) < 1_500_000 and network_references(plain) == []


def test_an_output_that_names_a_remote_address_is_an_error() -> None:
    nb = lecture(executed=True, extra_html='<img src="https://example.org/cat.png">')
    with pytest.raises(SlidesError, match=r"would load 1 thing\(s\) from the network.*https://example.org/cat.png"):
        deck_html(nb, title="remote")


def test_render_from_saved_outputs_writes_one_file(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    [deck] = resolve_decks(root, ["all"])
    build_lecture(root, deck)
    with pytest.raises(SlidesError, match="has no saved outputs"):
        render_deck(deck, tmp_path / "out", execute=False)
    nbformat.write(lecture(executed=True), deck.path)         # as if the instructor had run it live
    done = render_deck(deck, tmp_path / "out", execute=False)
    assert done.path == tmp_path / "out" / "lecture1_alpha.html" and done.slides == 4
    assert "from its saved outputs" in done.summary() and "loads nothing from the network" in done.summary()
    assert list((tmp_path / "out").iterdir()) == [done.path]


def test_render_of_a_missing_lecture_says_which(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    [deck] = resolve_decks(root, ["all"])
    deck.path.unlink()
    with pytest.raises(SlidesError, match="lecture1_alpha.ipynb does not exist"):
        render_deck(deck, tmp_path / "out")
