"""Lecture decks: where they live, which one a name means, their slide metadata, and keeping them clean.

A lecture is one notebook, ``notebooks/lectures/<id>.ipynb``: the instructor writes and presents that file, and
it is what students get. It is not graded, so it has no nbgrader source in ``solutions/`` (nbgrader would list
any folder there as an assignment). ``course build`` normalises it in place, as it builds a lab's student
notebook: outputs cleared, the setup cell stamped with the course's install command, the live-slides settings
(``metadata.rise``) filled in; ``course check`` reports a lecture that is not normalised, and every
slide-metadata problem, naming the cell.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..notebooks import describe_cell, load_notebook
from ..release import INSTALL_LINE, install_spec, stamp_install_spec

__all__ = ["SLIDE_TYPES", "HIDE_INPUT", "RISE_DEFAULTS", "SlidesError", "Deck", "lecture_ids", "resolve_decks", "slide_problems",
           "count_slides", "lecture_notebook", "build_lecture", "lecture_drift"]

#: What a cell's ``metadata.slideshow.slide_type`` may be (RISE and nbconvert's reveal exporter agree on these).
SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
#: The tag of a code cell whose output is shown in the static deck without its code.
HIDE_INPUT = "hide-input"
_ID = re.compile(r"^lecture(\d+)_([a-z0-9_]+)$")
#: How jupyterlab-rise plays a lecture live, unless the lecture's own metadata.rise says otherwise: the white theme, whose fonts
#: RISE bundles (its default theme imports Google Fonts, which an offline lecture hall cannot reach), and tall
#: slides scrolling rather than cut off. No fixed canvas size: RISE lays cells out for the window, and a
#: width or height here shifts them off its left edge.
RISE_DEFAULTS = {"theme": "white", "transition": "slide", "scroll": True, "slideNumber": "c/t", "controls": True,
                 "progress": True, "center": False}


class SlidesError(RuntimeError):
    """A lecture could not be found, built, run or rendered; the message says which and why."""


@dataclass(frozen=True)
class Deck:
    id: str
    path: Path   # notebooks/lectures/<id>.ipynb


def lecture_ids(root: Path) -> list[str]:
    """The lectures in notebooks/lectures/, in course order (lecture1_..., lecture2_...)."""
    folder = root / "notebooks" / "lectures"
    found = [p.stem for p in folder.glob("*.ipynb")] if folder.is_dir() else []

    def order(lecture: str) -> tuple[int, str]:
        match = _ID.match(lecture)
        return (int(match.group(1)) if match else 1 << 30, lecture)

    return sorted(found, key=order)


def _deck(root: Path, lecture: str) -> Deck:
    return Deck(lecture, root / "notebooks" / "lectures" / f"{lecture}.ipynb")


def resolve_decks(root: Path, names: list[str] | tuple[str, ...]) -> list[Deck]:
    """The decks ``names`` mean: ``all``, an id (``lecture3_cnns``), its number (``3``, ``lecture3``), or its topic
    (``cnns``); an unknown or ambiguous name is an error that lists the lectures."""
    ids = lecture_ids(root)
    if not ids:
        raise SlidesError(f"no lectures: {root / 'notebooks' / 'lectures'} holds no notebooks")
    chosen: list[str] = []
    for name in names:
        key = name.strip().lower().removesuffix(".ipynb")
        if key == "all":
            matches = ids
        else:
            matches = [i for i in ids if i == key] or [
                i for i in ids if (m := _ID.match(i)) and key in (m.group(1), f"lecture{m.group(1)}", m.group(2))] or [
                i for i in ids if i.startswith(key) or ((m := _ID.match(i)) and m.group(2).startswith(key))]
        if len(matches) != 1 and key != "all":
            what = "matches no lecture" if not matches else f"could be any of {', '.join(matches)}"
            raise SlidesError(f"{name!r} {what}; the lectures are: {', '.join(ids)} (or 'all')")
        chosen += [m for m in matches if m not in chosen]
    return [_deck(root, i) for i in chosen]


def _slide_type(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def count_slides(nb: NotebookNode) -> int:
    """Slides a deck shows: its "slide" and "subslide" cells (each starts one)."""
    return sum(_slide_type(c) in ("slide", "subslide") for c in nb.cells)


def slide_problems(nb: NotebookNode, *, source: bool = True) -> list[str]:
    """Every problem of a lecture notebook's slide metadata, each naming its cell. ``source``: it is the
    committed notebook, which must carry no outputs (``course build`` clears them)."""
    problems: list[str] = []
    if not nb.cells:
        return ["the notebook has no cells"]
    for i, cell in enumerate(nb.cells):
        where = describe_cell(i, cell)
        kind = _slide_type(cell)
        if kind is None:
            problems.append(f"{where}: no slide type (metadata.slideshow.slide_type: one of {', '.join(SLIDE_TYPES)})")
        elif kind not in SLIDE_TYPES:
            problems.append(f"{where}: slide type {kind!r} is not one of {', '.join(SLIDE_TYPES)}")
        if "nbgrader" in cell.get("metadata", {}):
            problems.append(f"{where}: carries nbgrader metadata, but lectures are not graded")
        tags = cell.get("metadata", {}).get("tags", [])
        if HIDE_INPUT in tags and cell.cell_type != "code":
            problems.append(f"{where}: tagged {HIDE_INPUT!r}, which only means something on a code cell")
        if source and cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"{where}: has outputs; clear them (`course build` does; lectures are committed without)")
    if _slide_type(nb.cells[0]) != "slide":
        problems.append(f"{describe_cell(0, nb.cells[0])}: the first cell must start a slide (slide type 'slide')")
    if not any(c.cell_type == "code" and INSTALL_LINE.search(c.source) for c in nb.cells):
        problems.append("no setup cell: one code cell must hold the line `COURSE_INSTALL = None` "
                        "(its install command, written by `course build`)")
    return problems


def lecture_notebook(root: Path, deck: Deck) -> NotebookNode:
    """What ``course build`` makes of ``deck``: outputs cleared, the setup cell stamped, ``metadata.rise`` filled in."""
    if not deck.path.is_file():
        raise SlidesError(f"{deck.path} does not exist")
    nb = load_notebook(deck.path)
    problems = slide_problems(nb, source=False)
    if problems:
        raise SlidesError(f"{deck.path.relative_to(root)} has slide-metadata problems:\n  - " + "\n  - ".join(problems))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    stamp_install_spec(nb, install_spec(root))
    nb.metadata["rise"] = {**RISE_DEFAULTS, **nb.metadata.get("rise", {})}
    return nb


def build_lecture(root: Path, deck: Deck) -> bool:
    """Normalise ``deck`` in place; True when the file changed."""
    text = nbformat.writes(lecture_notebook(root, deck)) + "\n"
    if deck.path.read_text() == text:
        return False
    tmp = deck.path.with_name(deck.path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(deck.path)
    return True


def lecture_drift(root: Path, deck: Deck) -> str | None:
    """Why ``deck`` is not what `course build` makes of it (outputs, install command, live-slides settings),
    or None when it is. Slide-metadata problems are a :class:`SlidesError`."""
    fresh = lecture_notebook(root, deck)
    current = load_notebook(deck.path)
    where = deck.path.relative_to(root)
    if any(c.get("outputs") or c.get("execution_count") for c in current.cells if c.cell_type == "code"):
        return f"{where} carries outputs; run `course build` (it clears them) and commit"
    if fresh.metadata.get("rise") != current.metadata.get("rise"):
        return f"{where}: its live-slides settings (metadata.rise) are incomplete; run `course build` and commit"
    if [c.source for c in fresh.cells] != [c.source for c in current.cells]:
        return f"{where}: its setup cell does not hold the course's install command; run `course build` and commit"
    return None
