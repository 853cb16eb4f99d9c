"""The instructor pipeline: ``course build`` and ``course check``.

build: validate solutions → nbgrader generate_assignment → stamp task ids into
stubs → run each solution in fast mode, recording reference results.
check: no drift in notebooks/ → solutions pass all tests → student notebooks
fail every graded test (hidden tests included, as the autograder sees them).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import nbformat

from .checkout import PipelineError, lab_ids, solution_digest
from .references import grade_reference
from .nbgrader_run import generate_assignment
from .notebooks import (load_notebook, metadata_problems,
                        stamp_task_ids)
from .release import install_spec, stamp_install_spec, write_readme_badges
from .slides.decks import SlidesError, build_lecture, lecture_ids, resolve_decks

__all__ = ["split_names", "generate", "build"]



def split_names(root: Path, names: list[str]) -> tuple[list[str], list[str]]:
    """Command-line names as (lab ids, lecture names): a lab is named by its id; anything else must name a
    lecture (see :func:`course.slides.resolve_decks`), or it is an error that lists both."""
    labs = lab_ids(root)
    chosen_labs = [n for n in names if n in labs]
    lectures = [n for n in names if n not in labs]
    if lectures and not lecture_ids(root):
        raise PipelineError(f"{', '.join(map(repr, lectures))}: not a lab ({', '.join(labs)}), and this course has "
                            "no lectures")
    try:
        resolve_decks(root, lectures) if lectures else None
    except SlidesError as exc:
        raise PipelineError(f"{exc}; the labs are: {', '.join(labs)}") from None
    return chosen_labs, lectures


def _validate(root: Path, lab: str) -> None:
    path = root / "solutions" / lab / f"{lab}.ipynb"
    problems = metadata_problems(load_notebook(path))
    if problems:
        raise PipelineError(f"{path.relative_to(root)} has nbgrader metadata problems:\n  - " + "\n  - ".join(problems))


def _sync(src: Path, dst: Path) -> None:
    """Make folder ``dst`` hold exactly the files of ``src``, writing only those whose bytes differ."""
    dst.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(src) for p in src.rglob("*") if p.is_file()}
    for rel in sorted(wanted):
        data = (src / rel).read_bytes()
        target = dst / rel
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
    for p in sorted(dst.rglob("*"), reverse=True):
        if p.is_file() and p.relative_to(dst) not in wanted and ".ipynb_checkpoints" not in p.parts:
            p.unlink()


def generate(root: Path, lab: str, release_dir: Path | None = None, db_url: str | None = None) -> Path:
    """Generate the student notebook of ``lab`` (into notebooks/ unless ``release_dir``).

    nbgrader writes into a temporary folder first: a failed generation leaves notebooks/ as it was, and a
    successful one rewrites only the files whose content changed.
    """
    _validate(root, lab)
    target = (release_dir or root / "notebooks") / lab
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        made = generate_assignment(root, lab, Path(tmp), db_url)
        nb = stamp_task_ids(load_notebook(made))
        stamp_install_spec(nb, install_spec(root))
        nbformat.write(nb, made)
        _sync(Path(tmp) / lab, target)
    return target / f"{lab}.ipynb"


def _record_references(root: Path, lab: str, *, force: bool, log) -> None:
    """Re-run the solution in fast mode and record its reference results, unless they match the solution already.

    The recorded numbers are this machine's (fast-mode test error differs by a few tenths of a point from one
    machine to another, within the tests' tolerances), so they are re-recorded only when the solution changed:
    a build on an unchanged checkout leaves every tracked file as it was.
    """
    refs = root / "autograder" / "references"
    record = refs / f"{lab}.json"
    digest = solution_digest(root, lab)
    if not force and record.exists():
        try:
            stored = json.loads(record.read_text()).get("solution_sha256")
        except ValueError:
            stored = None
        if stored == digest:
            log(f"build: {lab}: reference results are up to date ({record.relative_to(root)})")
            return
    result = grade_reference(root, lab, "solutions")
    lost = {t.grade_id: t.message for t in result.tests if t.score < t.max_score}
    if lost:
        raise PipelineError(f"build: the solution of {lab} does not get full marks from its judges: {lost}")
    import platform

    import torch

    data = {"lab": lab, "fast_mode": True, "seed": 0, "torch": str(torch.__version__).split("+")[0],
            "python": platform.python_version(), "results": dict(sorted(result.recorded.items())),
            "solution_sha256": digest}
    refs.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, record)
    log(f"build: {lab}: reference results → {record.relative_to(root)} ({len(data['results'])} values)")


def build(root: Path, labs: list[str] | None = None, *, lectures: list[str] | None = None, force: bool = False,
          log=print) -> None:
    """Generate student notebooks for ``labs`` and normalise ``lectures`` (default, when neither is given: all of
    both), and record reference results where solutions changed.

    Nothing tracked changes on an unchanged checkout: nbgrader regenerates the same notebooks, references are
    re-recorded only for a changed solution (or ``force``), and the README's badges only when the course's
    address or version changed.
    """
    everything = not labs and not lectures
    labs = lab_ids(root) if everything else list(labs or [])
    decks = resolve_decks(root, lectures or ["all"]) if lectures or (everything and lecture_ids(root)) else []
    for lab in labs:
        _validate(root, lab)
    if install_spec(root) is None:
        log("build: pyproject.toml names no [project.urls] Repository, so the notebooks' setup cells cannot install "
            "`course` on Colab; set it once to the course's git URL (see README, 'Colab')")
    for lab in labs:
        out = generate(root, lab)
        log(f"build: {lab}: student notebook → {out.relative_to(root)}")
        _record_references(root, lab, force=force, log=log)
    for deck in decks:
        changed = build_lecture(root, deck)
        log(f"build: {deck.id}: {deck.path.relative_to(root)} {'normalised' if changed else 'unchanged'}")
    if write_readme_badges(root, lab_ids(root)):
        log("build: README.md: Open in Colab badges updated")


