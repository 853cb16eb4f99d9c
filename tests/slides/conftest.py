"""The course's lectures, each run once in fast mode and rendered, shared by the lecture and browser tests."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Rendered:
    id: str
    executed: object      # the executed notebook (nbformat node)
    html: Path
    slides: int
    seconds: float        # running it in fast mode, kernel start included


@pytest.fixture(scope="session")
def rendered_lectures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every lecture in notebooks/lectures/, run in fast mode (as `course slides all --fast` does) and
    written as a deck; what `course slides` prints is checked in test_slides_cli.py."""
    from course.slides.decks import resolve_decks
    from course.slides.render import deck_html, run_lecture

    out = tmp_path_factory.mktemp("decks")
    done = {}
    for deck in resolve_decks(ROOT, ["all"]):
        t0 = time.perf_counter()
        nb, _ = run_lecture(deck, fast=True, timeout=300)
        seconds = time.perf_counter() - t0
        html, slides = deck_html(nb, title=deck.id)
        path = out / f"{deck.id}.html"
        path.write_text(html, encoding="utf-8")
        done[deck.id] = Rendered(deck.id, nb, path, slides, seconds)
    return done
