"""The ``course`` command line: build, check, grade, collect, report, similarity, export, slides, demo, solve,
validate."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .startup import skip_unused_format_checkers

skip_unused_format_checkers()   # first: course.validate (below) and the instructor's commands import nbformat

from .paths import absolute_paths
from .validate import main as validate_main

__all__ = ["main"]


def _cmd_validate(args: argparse.Namespace) -> int:
    """Students: run a notebook as the autograder will and list what would cost points (needs no nbgrader)."""
    return validate_main(args.notebook, lab=args.lab, timeout=args.timeout, root=args.root)




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Deep learning with PyTorch: course tools.")
    parser.add_argument("--root", help="course checkout (default: found from the current folder, or COURSE_ROOT)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="generate student notebooks and reference results from solutions/, "
                                     "and normalise the lectures in notebooks/lectures/")
    p.add_argument("labs", nargs="*", metavar="name", help="lab ids or lecture names (default: all labs and lectures)")
    p.add_argument("--force", action="store_true",
                   help="re-record reference results even where the solution did not change")
    p.set_defaults(func="build")

    p = sub.add_parser("check", help="no drift; solutions pass; untouched student notebooks fail every test")
    p.add_argument("labs", nargs="*", metavar="name", help="lab ids or lecture names (default: all)")
    p.add_argument("--no-drift", dest="drift", action="store_false", help="skip the notebooks/ drift check")
    p.add_argument("--no-stubs", dest="stubs", action="store_false",
                   help="skip running the untouched student notebooks")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="solutions run and notebooks graded at once (default: 2, or 1 on a one-core machine)")
    p.set_defaults(func="check")

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
    p.set_defaults(func="grade")

    p = sub.add_parser("collect", help="normalise an LMS export (zips per student, or flat Canvas/Moodle files) "
                                       "into DIR/<student>/<lab>/ for `course grade`")
    p.add_argument("source", help="the export: a folder of per-student zips or of flat files, or one zip of either")
    p.add_argument("--out", required=True, help="where to write <student>/<lab>/ (created)")
    p.add_argument("--lab", action="append", help="only this lab (repeatable; default: every lab)")
    p.add_argument("--force", action="store_true", help="replace submissions already in --out")
    p.set_defaults(func="collect")

    p = sub.add_parser("report", help="the class report: score distributions, frequent failures, timing, limits")
    p.add_argument("--results", help="stored results of `course grade` (default: autograder/results)")
    p.add_argument("--out", help="the HTML report (default: autograder/report/report.html; JSON beside it)")
    p.add_argument("--submissions", metavar="DIR",
                   help="the graded submissions: adds the integrity section (similar code, identical artefacts)")
    p.set_defaults(func="report")

    p = sub.add_parser("similarity", help="the integrity report: similar code between students (less the released "
                                          "notebook and common passages) and identical artefacts, per lab")
    p.add_argument("folder", help="the submissions, as `course grade` reads them (<student>/<lab>/)")
    p.add_argument("--lab", action="append", help="only this lab (repeatable; default: every lab)")
    p.add_argument("--threshold", type=float,
                   help="similarity at which a pair is flagged, 0-1 (default 0.7)")
    p.add_argument("--out", help="the HTML page (default: autograder/report/integrity.html; JSON beside it)")
    p.set_defaults(func="similarity")

    p = sub.add_parser("export", help="grades back into the LMS: fill a Canvas gradebook CSV or a Moodle grading "
                                      "worksheet, or write a plain table (one row per student, one column per lab)")
    p.add_argument("--results", help="stored results of `course grade` (default: autograder/results)")
    p.add_argument("--canvas", metavar="CSV", help="the gradebook CSV downloaded from Canvas: a filled copy is written")
    p.add_argument("--moodle", metavar="CSV", help="a Moodle assignment's grading worksheet: a filled copy is written")
    p.add_argument("--lab", help="with --moodle: the lab of that assignment")
    p.add_argument("--column", action="append", default=[], metavar="LAB=TITLE",
                   help="with --canvas: the gradebook column of a lab, when its title does not name the lab")
    p.add_argument("--collected", help="the folder `course collect --out` wrote: its report links students to "
                                       "their LMS ids (the most reliable match)")
    p.add_argument("--zeros", action="store_true", help="write 0 for a missing submission (default: leave it blank)")
    p.add_argument("--out", help="where to write (default: the export/ folder beside the results: "
                                 "<LMS file>-filled.csv, or grades_plain.csv)")
    p.set_defaults(func="export")

    p = sub.add_parser("slides", help="run lectures and render each into one self-contained HTML deck (offline)")
    p.add_argument("lectures", nargs="+", metavar="name",
                   help="'all', a lecture id (lecture3_cnns), its number (3) or its topic (cnns)")
    p.add_argument("--out", help="folder for the decks (default: notebooks/lectures/html, which git ignores)")
    p.add_argument("--fast", action="store_true", help="run in fast mode (COURSE_FAST=1): smaller budgets, same slides")
    p.add_argument("--saved", action="store_true",
                   help="do not run: take the outputs saved in notebooks/lectures/<id>.ipynb (right after a live "
                        "session, before `course build` clears them)")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    p.set_defaults(func="slides")

    p = sub.add_parser("demo", help="check the labs, and grade the sample submissions")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="samples graded at once (default: 2, or 1 on a one-core machine)")
    p.set_defaults(func="demo")

    p = sub.add_parser("solve", help="run one solution notebook in full mode; keep its checkpoints as references")
    p.add_argument("lab")
    p.add_argument("--save", help="also write the executed notebook here")
    p.set_defaults(func="solve")

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
        # Here, not at the top: the instructor's commands need the instructor extra, which `course validate`,
        # the one command a student runs, must not.
        from . import commands
    except ModuleNotFoundError as exc:
        print(f"course {args.command}: this is an instructor command and needs the instructor tools "
              f"({exc.name} is not installed): pip install 'course[instructor]'", file=sys.stderr)
        return 2
    try:
        return getattr(commands, f"cmd_{args.func}")(args)
    except commands.ERRORS as exc:
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2

if __name__ == "__main__":
    sys.exit(main())
