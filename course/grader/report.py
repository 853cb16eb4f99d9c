"""Reports made from the stored results: ``grades.csv``, ``grades.json`` and a table for the terminal.

Both files are regenerated from scratch from ``<results_dir>/*/*.json`` and written atomically, so they are
always complete and always agree with the stored results, however often a batch was interrupted.
"""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path

from .results import SubmissionResult
from .store import atomic_write, load_results

__all__ = ["ordered", "grade_ids", "lost_points", "write_csv", "write_json", "format_table", "regenerate"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def ordered(results: Sequence[SubmissionResult], labs: Sequence[str] = ()) -> list[SubmissionResult]:
    """Results by student, then lab in course order (``labs``), then lab name."""
    rank = {lab: i for i, lab in enumerate(labs)}
    return sorted(results, key=lambda r: (r.student, rank.get(r.lab, len(rank)), r.lab))


def grade_ids(results: Sequence[SubmissionResult]) -> list[str]:
    """Every grade id, in the order it first appears (each lab's tests are in lab order)."""
    return list(dict.fromkeys(t.grade_id for r in results for t in r.tests))


def lost_points(result: SubmissionResult) -> str:
    """'3_2: <message>; 3_4: <message>': why each point was lost, one entry per test that lost any."""
    parts = []
    for t in result.tests:
        if t.score < t.max_score:
            why = " ".join((t.message or "no points, and no reason given").split())
            parts.append(f"{t.grade_id}: {why}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    """A text cell that a spreadsheet shows as text (a leading '=' would make it a formula)."""
    text = " ".join(str(text).split()) if "\n" in str(text) or "\r" in str(text) else str(text)
    return "'" + text if text.startswith(_FORMULA) else text


def _num(x: float) -> str:
    return f"{x:g}"


def write_csv(results: Sequence[SubmissionResult], path: Path, labs: Sequence[str] = ()) -> Path:
    """One row per student and lab: points per grade id, total, max, status, why points were lost, notes."""
    rows = ordered(results, labs)
    ids = grade_ids(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", "lab", *ids, "total", "max", "status", "reasons", "notes"])
    for r in rows:
        scores = {t.grade_id: t.score for t in r.tests}
        w.writerow([_cell(r.student), _cell(r.lab), *(_num(scores[g]) if g in scores else "" for g in ids),
                    _num(r.total), _num(r.max_total), _cell(r.status), _cell(lost_points(r)),
                    _cell("; ".join(([r.unsafe] if r.unsafe else []) + r.notes +
                                     [f"protection off: {p}" for p in r.protections]))])
    return atomic_write(Path(path), buf.getvalue())


def write_json(results: Sequence[SubmissionResult], path: Path, labs: Sequence[str] = (),
               problems: Sequence[str] = ()) -> Path:
    """Every result in full (``SubmissionResult.as_dict``), and the stored files that could not be read."""
    doc = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "results": [r.as_dict() for r in ordered(results, labs)], "unreadable": list(problems)}
    return atomic_write(Path(path), json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def format_table(results: Sequence[SubmissionResult], labs: Sequence[str] = ()) -> str:
    """A plain-text grade table: earned/max per grade id, total, status."""
    rows = ordered(results, labs)
    ids = grade_ids(rows)
    head = ["student", "lab", *ids, "total", "status"]
    body = []
    for r in rows:
        tests = {t.grade_id: t for t in r.tests}
        body.append([r.student, r.lab,
                     *(f"{_num(tests[g].score)}/{_num(tests[g].max_score)}" if g in tests else "-" for g in ids),
                     f"{_num(r.total)}/{_num(r.max_total)}", " ".join(r.status.split())[:120]])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*b) for b in body)])


def regenerate(results_dir: Path, csv_path: Path, json_path: Path | None = None,
               labs: Sequence[str] = ()) -> tuple[list[SubmissionResult], list[str]]:
    """Rewrite ``grades.csv`` (and ``grades.json``, default ``<results_dir>/grades.json``) from the stored results.

    Returns every stored result and one line per stored file that could not be read (left out, and listed in
    grades.json).
    """
    results, problems = load_results(Path(results_dir))
    write_csv(results, Path(csv_path), labs)
    write_json(results, Path(json_path) if json_path else Path(results_dir) / "grades.json", labs, problems)
    return ordered(results, labs), problems
