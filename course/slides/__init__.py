"""Lecture decks: live slides in JupyterLab (jupyterlab-rise) and self-contained HTML (``course slides``).

One module per step: :mod:`.decks` (where lectures live, their slide metadata, keeping them clean),
:mod:`.render` (running a lecture and exporting it), :mod:`.assets` (the vendored reveal.js and MathJax),
:mod:`.offline` (what in a page would be fetched from the network). Instructor tools: this needs nbconvert.
"""
from __future__ import annotations

from pathlib import Path

from ..checkout import find_root
from .decks import (HIDE_INPUT, SLIDE_TYPES, Deck, SlidesError, build_lecture, count_slides, lecture_drift,
                    lecture_ids, resolve_decks, slide_problems)
from .offline import network_references

__all__ = ["HIDE_INPUT", "SLIDE_TYPES", "Deck", "SlidesError", "build_lecture", "count_slides", "lecture_drift",
           "lecture_ids", "resolve_decks", "slide_problems", "network_references", "render_deck", "cli_slides"]


def render_deck(*args, **kwargs):
    """See :func:`course.slides.render.render_deck`."""
    # Here, not at the top: it pulls in nbconvert, which `course check` and the lectures' tests do not need.
    from .render import render_deck as _render

    return _render(*args, **kwargs)


def cli_slides(args) -> int:
    """``course slides <name|all>``: run each deck and write it as one self-contained HTML file."""
    root = find_root(args.root)
    decks = resolve_decks(root, args.lectures)
    out = Path(args.out).resolve() if args.out else root / "notebooks" / "lectures" / "html"
    for deck in decks:
        print(f"slides: {deck.id}: {'taking its saved outputs' if args.saved else 'running it in ' + ('fast' if args.fast else 'full') + ' mode'}...",
              flush=True)
        print(render_deck(deck, out, fast=args.fast, execute=not args.saved, timeout=args.timeout).summary(), flush=True)
    return 0
