"""The ``course`` command line: build, check, grade, collect, report, slides, demo, solve, validate."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .paths import absolute_paths

__all__ = ["main"]


def own_code_sandbox(command: str) -> bool:
    """`course demo` and `course check` grade only the course's own samples and solutions: where the sandbox is not
    complete they grade anyway (``--unsafe-no-sandbox``), and say so here, on the terminal."""
    from .grader.sandbox import UNSAFE_ENV, UNSAFE_OPTION, check_here

    summary, gaps = check_here()
    print(f"{command}: {summary}")
    if gaps:
        os.environ[UNSAFE_ENV] = "1"
        print(f"{command}: the sandbox is not complete here, so the course's own samples and solutions are graded "
              f"with {UNSAFE_OPTION} (`course grade` refuses students' work on this machine):")
        for p in gaps:
            print(f"{command}:   - {p.name}: {p.detail}")
    return bool(gaps)


def _cmd_build(args: argparse.Namespace) -> int:
    from .pipeline import build, find_root, split_names

    root = find_root(args.root)
    labs, lectures = split_names(root, args.labs)
    if labs or not lectures:
        own_code_sandbox("build")      # it grades the solutions to record their reference results
    build(root, labs, lectures=lectures, force=args.force)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .pipeline import check, find_root, split_names

    root = find_root(args.root)
    labs, lectures = split_names(root, args.labs)
    own_code_sandbox("check")
    report = check(root, labs, lectures=lectures, drift=args.drift, stubs=args.stubs)
    print(f"check: {len(report.lines)} ok, {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _cmd_grade(args: argparse.Namespace) -> int:
    """Grade a folder of submissions; broken submissions are rows of the report, not failures of the command."""
    from .grader.batch import grade_folder
    from .pipeline import PipelineError, find_root

    root = find_root(args.root)
    if args.workers < 1:
        raise PipelineError(f"--workers must be at least 1 (got {args.workers})")
    grade_folder(root, Path(args.folder).resolve(), labs=args.lab or None, force=args.force, workers=args.workers,
                 scheduler=args.scheduler, timeout=args.timeout, results_dir=Path(args.results).resolve() if args.results else None,
                 csv_path=Path(args.csv).resolve() if args.csv else None, unsafe=args.unsafe_no_sandbox)
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    """Normalise an LMS export (a zip per student, or Canvas/Moodle-style flat files) into <student>/<lab>/."""
    from .grader.collect import cli_collect

    return cli_collect(args)


def _cmd_report(args: argparse.Namespace) -> int:
    """The class report (HTML and JSON) from the stored results of `course grade`."""
    from .grader.class_report import cli_report

    return cli_report(args)


def _cmd_slides(args: argparse.Namespace) -> int:
    """Render lectures into self-contained HTML decks (run in full mode unless --fast, or from saved outputs)."""
    from .slides import cli_slides

    return cli_slides(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .grader.batch import grade_folder
    from .grader.class_report import write_class_report
    from .grader.store import load_results
    from .pipeline import check, find_root

    root = find_root(args.root)
    t0 = time.perf_counter()
    unsafe = own_code_sandbox("demo")
    # The demo changes no tracked file: it checks that notebooks/ and the references are what `course build`
    # would make (building them is the instructor's explicit step), then grades into ignored folders.
    print("== course demo: 1/2 check: notebooks/ and references match solutions/, solutions pass, stubs fail ==")
    report = check(root)
    print(f"check: {len(report.lines)} ok, {len(report.problems)} problem(s)")
    print("== course demo: 2/2 grade the sample submissions in autograder/samples/ ==")
    # Its own results folder, regraded every time: the demo shows grading, and mixes nothing into real grades.
    demo = root / "autograder" / ".demo"
    grade_folder(root, root / "autograder" / "samples", force=True, results_dir=demo / "results",
                 feedback_dir=demo / "feedback_html", workers=args.workers, unsafe=unsafe)
    results, problems = load_results(demo / "results")
    html, _ = write_class_report(results, demo / "report" / "report.html", problems=problems)
    print(f"class report of the samples: {html} (and {html.with_suffix('.json').name} beside it); "
          f"feedback pages in {demo / 'feedback_html'}")
    print(f"\ndemo took {time.perf_counter() - t0:.0f} s")
    if not report.ok:
        print("check found problems:\n  - " + "\n  - ".join(report.problems))
        return 1
    return 0


def _cmd_solve(args: argparse.Namespace) -> int:
    """Run a solution notebook in full mode and keep its checkpoints as reference fixtures."""
    import shutil

    from .notebooks import execute_notebook, load_notebook, scratch_copy
    from .pipeline import find_root

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
            import nbformat

            nbformat.write(nb, args.save)
    return 0 if result.ok else 1


def _cmd_validate(args: argparse.Namespace) -> int:
    """Students: run a notebook as the autograder will and list what would cost points (needs no nbgrader)."""
    from .validate import main as validate

    return validate(args.notebook, lab=args.lab, timeout=args.timeout, root=args.root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Deep learning with PyTorch: course tools.")
    parser.add_argument("--root", help="course checkout (default: found from the current folder, or COURSE_ROOT)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="generate student notebooks and reference results from solutions/, "
                                     "and normalise the lectures in notebooks/lectures/")
    p.add_argument("labs", nargs="*", metavar="name", help="lab ids or lecture names (default: all labs and lectures)")
    p.add_argument("--force", action="store_true",
                   help="re-record reference results even where the solution did not change")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("check", help="no drift; solutions pass; untouched student notebooks fail every test")
    p.add_argument("labs", nargs="*", metavar="name", help="lab ids or lecture names (default: all)")
    p.add_argument("--no-drift", dest="drift", action="store_false", help="skip the notebooks/ drift check")
    p.add_argument("--no-stubs", dest="stubs", action="store_false",
                   help="skip running the untouched student notebooks")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("grade", help="grade DIR (nbgrader layout <student>/<lab>/) into grades.csv and the gradebook")
    p.add_argument("folder")
    p.add_argument("--csv", help="where to write the grades (default: autograder/grades.csv)")
    p.add_argument("--results", help="where each submission's result is stored, and grades.json "
                                     "(default: autograder/results)")
    p.add_argument("--force", action="store_true", help="regrade submissions whose stored result is up to date")
    p.add_argument("--lab", action="append", help="grade only this lab (repeatable; default: every lab)")
    p.add_argument("--workers", type=int, default=1,
                   help="submissions graded at once on this machine, each in a process of its own (default 1)")
    p.add_argument("--scheduler", default=os.environ.get("COURSE_DASK_SCHEDULER"),
                   help="grade on a Dask cluster: the scheduler's address, e.g. tcp://host:8786 "
                        "(default: $COURSE_DASK_SCHEDULER; none: this machine)")
    p.add_argument("--timeout", type=float, default=float(os.environ.get("COURSE_SUBMISSION_TIMEOUT", 900)),
                   help="seconds one submission may take (default 900)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade even where a protection of the sandbox is missing (only code you trust: never students' "
                        "work); the terminal, every row, feedback page and the class report say so")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("collect", help="normalise an LMS export (zips per student, or flat Canvas/Moodle files) "
                                       "into DIR/<student>/<lab>/ for `course grade`")
    p.add_argument("source", help="the export: a folder of per-student zips or of flat files, or one zip of either")
    p.add_argument("--out", required=True, help="where to write <student>/<lab>/ (created)")
    p.add_argument("--lab", action="append", help="only this lab (repeatable; default: every lab)")
    p.add_argument("--force", action="store_true", help="replace submissions already in --out")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("report", help="the class report: score distributions, frequent failures, timing, limits")
    p.add_argument("--results", help="stored results of `course grade` (default: autograder/results)")
    p.add_argument("--out", help="the HTML report (default: autograder/report/report.html; JSON beside it)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("slides", help="run lectures and render each into one self-contained HTML deck (offline)")
    p.add_argument("lectures", nargs="+", metavar="name",
                   help="'all', a lecture id (lecture3_cnns), its number (3) or its topic (cnns)")
    p.add_argument("--out", help="folder for the decks (default: notebooks/lectures/html, which git ignores)")
    p.add_argument("--fast", action="store_true", help="run in fast mode (COURSE_FAST=1): smaller budgets, same slides")
    p.add_argument("--saved", action="store_true",
                   help="do not run: take the outputs saved in notebooks/lectures/<id>.ipynb (right after a live "
                        "session, before `course build` clears them)")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    p.set_defaults(func=_cmd_slides)

    p = sub.add_parser("demo", help="check the labs, and grade the sample submissions")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="samples graded at once (default: 2, or 1 on a one-core machine)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("solve", help="run one solution notebook in full mode; keep its checkpoints as references")
    p.add_argument("lab")
    p.add_argument("--save", help="also write the executed notebook here")
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("validate",
                       help="students: run your notebook as the autograder will; list what would cost points")
    p.add_argument("notebook",
                   help="your lab notebook, e.g. lab3_mlp_mnist.ipynb (its folder holds the files to hand in)")
    p.add_argument("--lab", help="the lab id, when the notebook's name or folder does not say it")
    p.add_argument("--timeout", type=int, default=300, help="seconds one cell may run (default 300)")
    p.set_defaults(func=_cmd_validate)

    args = parser.parse_args(argv)
    absolute_paths()
    if args.root:
        args.root = str(Path(args.root).expanduser().resolve())
    if args.command == "validate":  # a student install: no nbgrader, maybe no nbformat; it reports its own errors
        return args.func(args)
    try:
        from .notebooks import NotebookError
        from .grader.sandbox import SandboxRefused
        from .pipeline import PipelineError
        from .slides import SlidesError
        import nbgrader  # noqa: F401  (only to say clearly when the instructor tools are missing)
    except ModuleNotFoundError as exc:
        print(f"course {args.command}: this is an instructor command and needs the instructor tools "
              f"({exc.name} is not installed): pip install 'course[instructor]'", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (PipelineError, NotebookError, SlidesError, SandboxRefused) as exc:
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
