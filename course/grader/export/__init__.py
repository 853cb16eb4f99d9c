"""Grades back into the LMS: ``course export``.

* :mod:`.grades`: the totals that may be exported (graded with every protection, as a whole), and students' LMS
  ids from ``course collect``'s report.
* :mod:`.lms`: filling Canvas's gradebook CSV and Moodle's grading worksheet, as downloaded from the LMS.
* here: :func:`plain_table` (one row per student, one column per lab, a row of maxima) and :func:`cli_export`.

Nothing is silently dropped: graded students no LMS row fits, labs without a column and grades that may not be
exported are listed, and the command exits 1 when there are any. The input file is never written to.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ...checkout import find_root
from ...labs import lab_info
from ..store import atomic_write, load_results
from .grades import Grades, collect_grades, fmt, lms_ids
from .lms import ExportError, Filled, canvas_fill, moodle_fill

__all__ = ["ExportError", "cli_export", "plain_table"]


def plain_table(grades: Grades) -> str:
    """CSV: ``student, <lab>..., total``; the first row after the header holds the maxima. Missing is blank."""
    labs = grades.labs
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", *labs, "total"])
    w.writerow(["(maximum)", *(fmt(grades.maxima[lab]) for lab in labs), fmt(sum(grades.maxima.values()))])
    for student in sorted(grades.by_student):
        mine = grades.by_student[student]
        # A name that a spreadsheet would take for a formula is written as text.
        w.writerow(["'" + student if student[:1] in ("=", "+", "-", "@") else student, *(fmt(mine[lab].total) if lab in mine else "" for lab in labs),
                    fmt(sum(g.total for g in mine.values()))])
    return out.getvalue()


def _explicit(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        lab, sep, title = p.partition("=")
        if not sep or not title:
            raise ExportError(f"--column {p!r}: expected LAB=TITLE, e.g. lab3_mlp_mnist='Lab 3 (12345)'")
        try:
            out[lab_info(lab.strip()).id] = title
        except KeyError as exc:
            raise ExportError(f"--column {p!r}: {exc.args[0]}") from None
    return out


def _report(filled: Filled, what: str, out: Path) -> int:
    print(f"export: {what}: {filled.written} grade(s) written to {out}")
    for note in filled.notes:
        print(f"export:   {note}")
    if filled.missing:
        print(f"export:   {len(filled.missing)} left as they were (no submission graded): "
              + ", ".join(filled.missing[:20]) + (" ..." if len(filled.missing) > 20 else ""))
    if filled.unknown:
        print(f"export: {len(filled.unknown)} graded student(s) match no row of the LMS file (not written; match "
              f"them by hand or pass --collected): {', '.join(filled.unknown)}", file=sys.stderr)
    return 1 if filled.unknown else 0


def cli_export(args: argparse.Namespace) -> int:
    """``course export [--canvas CSV | --moodle CSV --lab ID] [--collected DIR] [--zeros] [--out FILE]``."""
    def root() -> Path:
        return find_root(getattr(args, "root", None))

    results_dir = Path(args.results).expanduser().resolve() if args.results else root() / "autograder" / "results"
    try:
        if args.canvas and args.moodle:
            raise ExportError("--canvas and --moodle: one LMS file at a time")
        results, problems = load_results(results_dir)
        if not results:
            raise ExportError(f"no stored results in {results_dir} (grade first with `course grade DIR`, or pass "
                              "--results)")
        grades = collect_grades(results)
        for line in problems + grades.withheld:
            print(f"export: left out {line}", file=sys.stderr)
        ids = lms_ids(Path(args.collected).expanduser().resolve()) if args.collected else {}
        source = Path(args.canvas or args.moodle).expanduser().resolve() if (args.canvas or args.moodle) else None
        kind = "canvas" if args.canvas else "moodle" if args.moodle else "plain"
        out = (Path(args.out).expanduser().resolve() if args.out
               else results_dir.parent / "export" / (f"{source.stem}-filled.csv" if source else "grades_plain.csv"))
        if source is not None and out == source:
            raise ExportError(f"--out {out}: that is the LMS file itself; write the filled copy elsewhere")
        if kind == "canvas":
            filled = canvas_fill(source, grades, ids, explicit=_explicit(args.column), zeros=args.zeros)
        elif kind == "moodle":
            labs = [lab_info(args.lab).id] if args.lab else grades.labs
            if len(labs) != 1:
                raise ExportError(f"--moodle: a worksheet belongs to one assignment; say which lab with --lab "
                                  f"({', '.join(labs)})")
            if labs[0] not in grades.maxima:
                raise ExportError(f"--lab {labs[0]}: no exportable grades of that lab in {results_dir}")
            filled = moodle_fill(source, grades, ids, labs[0], zeros=args.zeros)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(out, plain_table(grades))
            print(f"export: {len(grades.by_student)} student(s), {len(grades.labs)} lab(s) → {out}")
            return 1 if grades.withheld or problems else 0
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, filled.text())
        return max(_report(filled, kind, out), 1 if grades.withheld or problems else 0)
    except (ExportError, ValueError, KeyError) as exc:
        print(f"course export: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
