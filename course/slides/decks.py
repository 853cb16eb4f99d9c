"""Lecture decks: where they live, which one a name means, their slide metadata, and building them.

The instructor writes a lecture once, as ``solutions/lectures/<id>.ipynb`` (as labs are written in
``solutions/``). ``course build`` makes the copy handed out, ``notebooks/lectures/<id>.ipynb``: outputs
cleared and the setup cell stamped with the course's install command, as it does for labs; ``course check``
reports drift between the two and every slide-metadata problem. Lectures are not graded.
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
#: How jupyterlab-rise plays a handout live, unless its source says otherwise: the white theme, whose fonts
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
    source: Path    # solutions/lectures/<id>.ipynb
    handout: Path   # notebooks/lectures/<id>.ipynb

    @property
    def number(self) -> int:
        match = _ID.match(self.id)
        return int(match.group(1)) if match else 0


def lecture_ids(root: Path) -> list[str]:
    """The lectures that have a source notebook, in course order (lecture1_..., lecture2_...)."""
    folder = root / "solutions" / "lectures"
    found = [p.stem for p in folder.glob("*.ipynb")] if folder.is_dir() else []
    return sorted(found, key=lambda s: (int(_ID.match(s).group(1)) if _ID.match(s) else 1 << 30, s))


def _deck(root: Path, lecture: str) -> Deck:
    return Deck(lecture, root / "solutions" / "lectures" / f"{lecture}.ipynb",
                root / "notebooks" / "lectures" / f"{lecture}.ipynb")


def resolve_decks(root: Path, names: list[str] | tuple[str, ...]) -> list[Deck]:
    """The decks ``names`` mean: ``all``, an id (``lecture3_cnns``), its number (``3``, ``lecture3``), or its topic
    (``cnns``); an unknown or ambiguous name is an error that lists the lectures."""
    ids = lecture_ids(root)
    if not ids:
        raise SlidesError(f"no lectures: {root / 'solutions' / 'lectures'} holds no notebooks")
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
    instructor's source, which must carry no outputs."""
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
            problems.append(f"{where}: has outputs; clear them (the source is committed without outputs)")
    if _slide_type(nb.cells[0]) != "slide":
        problems.append(f"{describe_cell(0, nb.cells[0])}: the first cell must start a slide (slide type 'slide')")
    if not any(c.cell_type == "code" and INSTALL_LINE.search(c.source) for c in nb.cells):
        problems.append("no setup cell: one code cell must hold the line `COURSE_INSTALL = None` "
                        "(its install command, written by `course build`)")
    return problems


def lecture_notebook(root: Path, deck: Deck) -> NotebookNode:
    """The handout ``course build`` makes of ``deck``: its source, outputs cleared, the setup cell stamped."""
    if not deck.source.is_file():
        raise SlidesError(f"{deck.source} does not exist")
    nb = load_notebook(deck.source)
    problems = slide_problems(nb, source=True)
    if problems:
        raise SlidesError(f"{deck.source.relative_to(root)} has slide-metadata problems:\n  - " + "\n  - ".join(problems))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    stamp_install_spec(nb, install_spec(root))
    nb.metadata["rise"] = {**RISE_DEFAULTS, **nb.metadata.get("rise", {})}
    return nb


def build_lecture(root: Path, deck: Deck) -> bool:
    """Write ``deck``'s handout into notebooks/lectures/; True when the file changed."""
    text = nbformat.writes(lecture_notebook(root, deck)) + "\n"
    if deck.handout.is_file() and deck.handout.read_text() == text:
        return False
    deck.handout.parent.mkdir(parents=True, exist_ok=True)
    tmp = deck.handout.with_name(deck.handout.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(deck.handout)
    return True


def lecture_drift(root: Path, deck: Deck) -> str | None:
    """Why notebooks/lectures/<id>.ipynb is not what `course build` makes of its source, or None when it is."""
    fresh = lecture_notebook(root, deck)
    if not deck.handout.is_file():
        return f"{deck.handout.relative_to(root)} is missing; run `course build` and commit"
    handed = load_notebook(deck.handout)

    def cells(nb: NotebookNode) -> list:
        return [(c.cell_type, c.source, c.get("metadata", {})) for c in nb.cells]

    if fresh.metadata.get("rise") != handed.metadata.get("rise"):
        return (f"{deck.handout.relative_to(root)}: its live-slides settings (metadata.rise) are not what "
                "`course build` writes; run `course build` and commit")
    a, b = cells(fresh), cells(handed)
    changed = [i for i, (x, y) in enumerate(zip(a, b)) if x != y] + ([min(len(a), len(b))] if len(a) != len(b) else [])
    if changed:
        return (f"{deck.handout.relative_to(root)} differs from what `course build` makes of "
                f"{deck.source.relative_to(root)} (first at cell {min(changed)}); run `course build` and commit")
    return None
