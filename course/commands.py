"""The instructor's commands of ``course`` (build, check, grade, collect, report, slides, demo, solve): they need the
instructor extra (nbgrader, the notebook-execution stack), so :mod:`course.cli` imports this module only for them."""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import time
from pathlib import Path

# First, so that a missing instructor extra is reported as such (course.cli names the missing module). Looked up, not
# imported: importing nbgrader loads its Jupyter server extensions (about 1.5 s of every instructor command), and
# the commands need only its applications, which they import where they run them.
if importlib.util.find_spec("nbgrader") is None:
    raise ModuleNotFoundError("No module named 'nbgrader'", name="nbgrader")

import nbformat

from .check import check
from .checkout import PipelineError, find_root
from .grader.batch import grade_folder
from .grader.class_report import cli_report, write_class_report
from .grader.collect import cli_collect
from .grader.export import cli_export, collect_grades, plain_table
from .grader.integrity import class_integrity, cli_similarity
from .grader.sandbox import UNSAFE_ENV, UNSAFE_OPTION, SandboxRefused, check_here
from .grader.store import atomic_write, load_results
from .notebooks import NotebookError, execute_notebook, load_notebook, scratch_copy
from .pipeline import build, split_names
from .slides import SlidesError, cli_slides

__all__ = ["ERRORS", "own_code_sandbox", "cmd_build", "cmd_check", "cmd_grade", "cmd_collect", "cmd_report",
           "cmd_similarity", "cmd_export", "cmd_slides", "cmd_demo", "cmd_solve"]

#: What an instructor command reports as one line and exit status 2, not as a traceback.
ERRORS = (PipelineError, NotebookError, SlidesError, SandboxRefused)


def own_code_sandbox(command: str) -> bool:
    """`course demo`, `check` and `build` grade only the course's own samples and solutions: where the sandbox is not
    complete they grade anyway (``--unsafe-no-sandbox``), and say so here, on the terminal."""
    summary, gaps = check_here()
    print(f"{command}: {summary}")
    if gaps:
        os.environ[UNSAFE_ENV] = "1"
        print(f"{command}: the sandbox is not complete here, so the course's own samples and solutions are graded "
              f"with {UNSAFE_OPTION} (`course grade` refuses students' work on this machine):")
        for p in gaps:
            print(f"{command}:   - {p.name}: {p.detail}")
    return bool(gaps)


def cmd_build(args: argparse.Namespace) -> int:
    """Generate student notebooks and reference results from solutions/; normalise the lectures."""
    root = find_root(args.root)
    labs, lectures = split_names(root, args.labs)
    if labs or not lectures:
        own_code_sandbox("build")      # it grades the solutions to record their reference results
    build(root, labs, lectures=lectures, force=args.force)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """No drift; solutions pass; untouched student notebooks fail every test; lectures sound."""
    root = find_root(args.root)
    labs, lectures = split_names(root, args.labs)
    own_code_sandbox("check")
    report = check(root, labs, lectures=lectures, drift=args.drift, stubs=args.stubs, workers=args.workers)
    print(f"check: {len(report.lines)} ok, {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade a folder of submissions; broken submissions are rows of the report, not failures of the command."""
    root = find_root(args.root)
    if args.workers < 1:
        raise PipelineError(f"--workers must be at least 1 (got {args.workers})")
    grade_folder(root, Path(args.folder).resolve(), labs=args.lab or None, force=args.force, workers=args.workers,
                 scheduler=args.scheduler, timeout=args.timeout, results_dir=Path(args.results).resolve() if args.results else None,
                 csv_path=Path(args.csv).resolve() if args.csv else None, unsafe=args.unsafe_no_sandbox)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Normalise an LMS export (a zip per student, or Canvas/Moodle-style flat files) into <student>/<lab>/."""
    return cli_collect(args)


def cmd_report(args: argparse.Namespace) -> int:
    """The class report (HTML and JSON) from the stored results of `course grade`."""
    return cli_report(args)


def cmd_similarity(args: argparse.Namespace) -> int:
    """The integrity report: similar code between students and identical artefacts, per lab."""
    return cli_similarity(args)


def cmd_export(args: argparse.Namespace) -> int:
    """Grades back into the LMS: a filled Canvas gradebook or Moodle worksheet, or a plain table."""
    return cli_export(args)


def cmd_slides(args: argparse.Namespace) -> int:
    """Render lectures into self-contained HTML decks (run in full mode unless --fast, or from saved outputs)."""
    return cli_slides(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Check the labs, grade the samples, write their class report."""
    root = find_root(args.root)
    t0 = time.perf_counter()
    unsafe = own_code_sandbox("demo")
    # The demo changes no tracked file: it checks that notebooks/ and the references are what `course build`
    # would make (building them is the instructor's explicit step), then grades into ignored folders.
    print("== course demo: 1/2 check: notebooks/ and references match solutions/, solutions pass, stubs fail ==")
    report = check(root, workers=args.workers)
    print(f"check: {len(report.lines)} ok, {len(report.problems)} problem(s)")
    print("== course demo: 2/2 grade the sample submissions in autograder/samples/ ==")
    # Its own results folder, regraded every time: the demo shows grading, and mixes nothing into real grades.
    demo = root / "autograder" / ".demo"
    grade_folder(root, root / "autograder" / "samples", force=True, results_dir=demo / "results",
                 feedback_dir=demo / "feedback_html", workers=args.workers, unsafe=unsafe)
    results, problems = load_results(demo / "results")
    integrity = class_integrity(root, root / "autograder" / "samples")
    html, _ = write_class_report(results, demo / "report" / "report.html", problems=problems, integrity=integrity)
    print(f"class report of the samples: {html} (and {html.with_suffix('.json').name} beside it); "
          f"feedback pages in {demo / 'feedback_html'}")
    print(f"integrity (in the class report): {integrity['flagged']} pair(s) of samples flagged as similar, "
          f"{integrity['artefacts']} identical artefact(s), {integrity['seconds']:.1f} s")
    plain = atomic_write(demo / "export" / "grades_plain.csv", plain_table(collect_grades(results)))
    print(f"plain export (one row per student, one column per lab): {plain}")
    print(f"\ndemo took {time.perf_counter() - t0:.0f} s")
    if not report.ok:
        print("check found problems:\n  - " + "\n  - ".join(report.problems))
        return 1
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    """Run a solution notebook in full mode and keep its checkpoints as reference fixtures."""
    root = find_root(args.root)
    nb = load_notebook(root / "solutions" / args.lab / f"{args.lab}.ipynb")
    refs = root / "autograder" / "references" / args.lab
    with scratch_copy(root / "solutions" / args.lab) as tmp:
        t0 = time.perf_counter()
        nb, result = execute_notebook(nb, tmp, env={"COURSE_FAST": "0", "MPLBACKEND": "Agg"}, timeout=3600)
        print(f"solve: {args.lab} ran in full mode in {time.perf_counter() - t0:.0f} s; "
              f"{len(result.passed_grades)} graded tests pass, {len(result.failed_grades)} fail")
        if result.errors:
            print(f"  {result.summary()}")
        for ckpt in sorted(tmp.glob("*.pt")):
            refs.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ckpt, refs / ckpt.name)
            print(f"solve: kept {ckpt.name} → {(refs / ckpt.name).relative_to(root)}")
        if args.save:
            nbformat.write(nb, args.save)
    return 0 if result.ok else 1
