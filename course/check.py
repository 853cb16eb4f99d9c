"""``course check``: the course is sound — no drift between solutions and what students get, lectures normalised,
solutions that pass their own tests and get full marks from the judges, student notebooks that earn nothing."""
from __future__ import annotations

import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .checkout import PipelineError, lab_ids, solution_digest
from .notebooks import NotebookError, load_notebook
from .pipeline import generate
from .references import grade_references, run_solution
from .slides.decks import SlidesError, count_slides, lecture_drift, lecture_ids, resolve_decks

__all__ = ["CheckReport", "check", "clutter", "STRAY_REPR"]


# What a stray last expression looks like: a repr of an object rather than a result a person asked for.
STRAY_REPR = re.compile(r"^(<\S+ (object )?at 0x|<torch\.|(Posix|Windows|Saved)Path\(|\[?<matplotlib)")


def clutter(nb) -> list[str]:
    """What an executed solution shows a person that it should not: stray reprs, graded cells that pass without
    the ✓ line of ``course.passed``, and graded cells that write to stderr (nbgrader scores those 0)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/plain", "") if out.get("output_type") == "execute_result" else ""
            if STRAY_REPR.match(text):
                found.append(f"cell {i} shows a stray repr {text[:60]!r}")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
            task = ".".join(meta["grade_id"].split("_")[:2])
            if not re.search(rf"^✓ Task {re.escape(task)} passed .*\(the autograder adds hidden tests\)$", printed, re.M):
                found.append(f"graded cell {meta['grade_id']} passes without saying so (end it with course.passed(...))")
            found += [f"graded cell {meta['grade_id']} writes to stderr: {o.get('text', '')[:100]!r}"
                      for o in cell.get("outputs", []) if o.get("name") == "stderr"]
    return found


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _comparable(nb) -> list:
    return [(c.cell_type, c.source, c.get("metadata", {}).get("nbgrader")) for c in nb.cells]


def check(root: Path, labs: list[str] | None = None, *, lectures: list[str] | None = None, drift: bool = True,
          solutions: bool = True, stubs: bool = True, workers: int = 1, log=print) -> CheckReport:
    """Drift, solutions passing, student notebooks failing, lectures normalised and their slide metadata sound: every problem found, not just the first. Default, when neither ``labs`` nor
    ``lectures`` is given: all of both. ``workers``: how many solutions run, and notebooks are graded, at once."""
    report = CheckReport()
    everything = not labs and not lectures
    labs = lab_ids(root) if everything else list(labs or [])
    decks = resolve_decks(root, lectures or ["all"]) if lectures or (everything and lecture_ids(root)) else []

    def note(ok: bool, msg: str) -> None:
        (report.lines if ok else report.problems).append(msg)
        log(("check: ok   " if ok else "check: FAIL ") + msg)

    with tempfile.TemporaryDirectory(prefix="course-drift-") as tmp:
        for lab in labs if drift else []:
            try:
                fresh = load_notebook(generate(root, lab, release_dir=Path(tmp) / "release",
                                               db_url=f"sqlite:///{tmp}/drift.db"))
                committed = load_notebook(root / "notebooks" / lab / f"{lab}.ipynb")
            except (PipelineError, NotebookError) as exc:
                note(False, f"{lab}: {exc}")
                continue
            changed = [i for i, (a, b) in enumerate(zip(_comparable(fresh), _comparable(committed))) if a != b]
            if len(fresh.cells) != len(committed.cells):
                changed.append(min(len(fresh.cells), len(committed.cells)))
            note(not changed, f"{lab}: notebooks/ matches its solution" if not changed else
                 f"{lab}: notebooks/{lab}/{lab}.ipynb differs from what `course build` makes "
                 f"(first at cell {min(changed)}); run `course build` and commit")

    for deck in decks if drift else []:
        try:
            why = lecture_drift(root, deck)
        except (SlidesError, NotebookError) as exc:
            note(False, f"{deck.id}: {exc}")
            continue
        note(why is None, f"{deck.id}: the lecture is as `course build` leaves it "
             f"({count_slides(load_notebook(deck.path))} slides, slide metadata sound)" if why is None else f"{deck.id}: {why}")

    for lab in labs if drift else []:
        record = root / "autograder" / "references" / f"{lab}.json"
        try:
            stored = json.loads(record.read_text()).get("solution_sha256") if record.exists() else None
        except ValueError:
            stored = None
        fresh = stored == solution_digest(root, lab)
        note(fresh, f"{lab}: reference results match the solution" if fresh else
             f"{lab}: {record.relative_to(root)} was not recorded from this solution; run `course build` and commit")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        runs = list(pool.map(lambda lab: run_solution(root, lab), labs if solutions else []))
    for lab, (executed, result) in zip(labs if solutions else [], runs):
        note(result.ok, f"{lab}: solution runs in fast mode, {len(result.passed_grades)} graded tests pass"
             if result.ok else f"{lab}: solution fails in fast mode: {result.summary()}")
        shown = clutter(executed)
        note(not shown, f"{lab}: the solution's run shows no clutter (stray reprs, silent or noisy graded cells)"
             if not shown else f"{lab}: the solution's run shows clutter: {'; '.join(shown[:5])}")

    graded = grade_references(root, [(lab, "solutions") for lab in labs if solutions] +
                              [(lab, "notebooks") for lab in labs if stubs], workers)
    for lab in labs if solutions else []:
        result = graded[lab, "solutions"]
        lost = [f"{t.grade_id}: {t.message}" for t in result.tests if t.score < t.max_score]
        note(not lost, f"{lab}: the judges give the solution full marks ({result.total:g}/{result.max_total:g})"
             if not lost else f"{lab}: the judges take points from the solution: {'; '.join(lost)}")

    for lab in labs if stubs else []:
        result = graded[lab, "notebooks"]
        earned = [t.grade_id for t in result.tests if t.score > 0]
        note(not earned, f"{lab}: untouched student notebook fails all {len(result.tests)} graded tests"
             if not earned else f"{lab}: untouched student notebook earns points on {earned} — a test that passes "
             "on the stub gives free points")
    return report
