"""The instructor pipeline: ``course build`` and ``course check``.

build: validate solutions → nbgrader generate_assignment → stamp task ids into
stubs → run each solution in fast mode, recording reference results.
check: no drift in notebooks/ → solutions pass all tests → student notebooks
fail every graded test (hidden tests included, as the autograder sees them).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .checkout import LABS, PipelineError, find_root, lab_ids, solution_digest, tools_path
from .notebooks import (NotebookError, execute_notebook, load_notebook, metadata_problems,
                        scratch_copy, stamp_task_ids)
from .release import install_spec, stamp_install_spec, write_readme_badges
from .slides.decks import SlidesError, build_lecture, count_slides, lecture_drift, lecture_ids, resolve_decks

__all__ = ["LABS", "PipelineError", "find_root", "lab_ids", "split_names", "run_nbgrader", "tools_path", "generate", "build", "check",
           "grading_env", "CheckReport", "solution_digest"]



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


def grading_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for running a lab's notebook in a Jupyter kernel as the autograder would (fast mode)."""
    # One thread per kernel: the labs' small models gain nothing from more, and two threads fighting
    # another busy process for two cores make small torch operations many times slower.
    env = {"COURSE_FAST": "1", "COURSE_GRADING": "1",
           "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update(extra)
    return env


def run_nbgrader(root: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float | None = None) -> subprocess.CompletedProcess:
    """``cd autograder && nbgrader ARGS`` with this interpreter; raise with nbgrader's own log on failure."""
    path = tools_path()
    # A session of its own, so a timeout kills the kernels nbgrader started too, not just nbgrader.
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=root / "autograder",
                            env={**os.environ, "PATH": path, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        log = "\n".join(out.strip().splitlines()[-25:])
        raise PipelineError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{log}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


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
        run_nbgrader(root, "generate_assignment", lab, "--force", f"--CourseDirectory.release_directory={tmp}",
                     env={"COURSE_DB_URL": db_url} if db_url else None)
        made = Path(tmp) / lab / f"{lab}.ipynb"
        nb = stamp_task_ids(load_notebook(made))
        stamp_install_spec(nb, install_spec(root))
        nbformat.write(nb, made)
        _sync(Path(tmp) / lab, target)
    return target / f"{lab}.ipynb"


def _run_solution(root: Path, lab: str):
    """The solution run in a Jupyter kernel in fast mode: (executed notebook, result); its visible tests
    (self-checks) must all pass."""
    nb = load_notebook(root / "solutions" / lab / f"{lab}.ipynb")
    # Reference fixtures (e.g. the full-mode checkpoint a lab grades) sit beside the notebook, as a student's would.
    with scratch_copy(root / "solutions" / lab, root / "autograder" / "references" / lab) as tmp:
        return execute_notebook(nb, tmp, env=grading_env(root))


# What a stray last expression looks like: a repr of an object rather than a result a person asked for.
_STRAY = re.compile(r"^(<\S+ (object )?at 0x|<torch\.|(Posix|Windows|Saved)Path\(|\[?<matplotlib)")


def clutter(nb) -> list[str]:
    """What an executed solution shows a person that it should not: stray reprs, graded cells that pass without
    the ✓ line of ``course.passed``, and graded cells that write to stderr (nbgrader scores those 0)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/plain", "") if out.get("output_type") == "execute_result" else ""
            if _STRAY.match(text):
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


def grade_reference(root: Path, lab: str, folder: str):
    """Grade ``folder``'s notebook of ``lab`` (solutions/ or notebooks/) through the engine, as a submission
    with the reference checkpoints beside it."""
    from .grader.engine import grade_submission

    with scratch_copy(root / folder / lab, root / "autograder" / "references" / lab) as tmp:
        return grade_submission(root, lab, tmp, student=f"<{folder}>")


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
          solutions: bool = True, stubs: bool = True, log=print) -> CheckReport:
    """Drift, solutions passing, student notebooks failing, lectures normalised and their slide metadata sound: every problem found, not just the first. Default, when neither ``labs`` nor
    ``lectures`` is given: all of both."""
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

    for lab in labs if solutions else []:
        executed, result = _run_solution(root, lab)
        note(result.ok, f"{lab}: solution runs in fast mode, {len(result.passed_grades)} graded tests pass"
             if result.ok else f"{lab}: solution fails in fast mode: {result.summary()}")
        shown = clutter(executed)
        note(not shown, f"{lab}: the solution's run shows no clutter (stray reprs, silent or noisy graded cells)"
             if not shown else f"{lab}: the solution's run shows clutter: {'; '.join(shown[:5])}")

    for lab in labs if solutions else []:
        result = grade_reference(root, lab, "solutions")
        lost = [f"{t.grade_id}: {t.message}" for t in result.tests if t.score < t.max_score]
        note(not lost, f"{lab}: the judges give the solution full marks ({result.total:g}/{result.max_total:g})"
             if not lost else f"{lab}: the judges take points from the solution: {'; '.join(lost)}")

    for lab in labs if stubs else []:
        result = grade_reference(root, lab, "notebooks")
        earned = [t.grade_id for t in result.tests if t.score > 0]
        note(not earned, f"{lab}: untouched student notebook fails all {len(result.tests)} graded tests"
             if not earned else f"{lab}: untouched student notebook earns points on {earned} — a test that passes "
             "on the stub gives free points")
    return report
