"""Reports from the stored results: grades.csv with a reason for every lost point, grades.json, the table."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from course.grader.report import format_table, lost_points, regenerate, write_csv, write_json
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import write_result


def _results() -> list[SubmissionResult]:
    lab3 = [("3_1", 2.0), ("3_2", 3.0), ("3_10", 1.0)]
    return [
        SubmissionResult("bob", "lab3", [Verdict(g, 0.0 if g != "3_1" else m, m, f"{g[0]}.{g[2:]}: wrong\nsee cell 4")
                                         for g, m in lab3], status="ok", notes=["test cell 3_2 deleted"]),
        SubmissionResult("ann", "lab3", [Verdict(g, m, m) for g, m in lab3]),
        SubmissionResult("ann", "lab1", [Verdict("1_1", 1.0, 1.0)]),
        SubmissionResult("=HYPERLINK(\"x\")", "lab3", [Verdict(g, 0.0, m, "=cmd|' /C calc'!A0") for g, m in lab3],
                         status="error: lab3.ipynb is not a valid notebook: not valid JSON (line 1, column 12: x)"),
        SubmissionResult("j\\xf6rg", "lab9", status="unknown lab 'lab9'"),
    ]


def test_csv_points_per_grade_id_totals_status_and_a_reason_for_every_lost_point(tmp_path: Path) -> None:
    path = write_csv(_results(), tmp_path / "grades.csv", labs=["lab1", "lab3"])
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == ["student", "lab", "3_1", "3_2", "3_10", "1_1", "total", "max", "status", "reasons", "notes"]
    by = {(r[0], r[1]): dict(zip(rows[0], r)) for r in rows[1:]}
    assert [(r[0], r[1]) for r in rows[1:]] == [("'=HYPERLINK(\"x\")", "lab3"), ("ann", "lab1"), ("ann", "lab3"),
                                                ("bob", "lab3"), ("j\\xf6rg", "lab9")]
    expected = {"3_1": "2", "3_2": "3", "3_10": "1", "1_1": "", "total": "6", "max": "6", "status": "ok", "reasons": ""}
    assert {k: by["ann", "lab3"][k] for k in expected} == expected
    bob = by["bob", "lab3"]
    assert (bob["3_1"], bob["3_2"], bob["total"], bob["max"]) == ("2", "0", "2", "6")
    assert bob["reasons"] == "3_2: 3.2: wrong see cell 4; 3_10: 3.10: wrong see cell 4"
    assert bob["notes"] == "test cell 3_2 deleted"
    # Student-controlled text never becomes a spreadsheet formula.
    evil = by["'=HYPERLINK(\"x\")", "lab3"]
    assert evil["reasons"].startswith("3_1: =cmd") and evil["total"] == "0"   # not at the start: harmless
    assert by["j\\xf6rg", "lab9"]["status"] == "unknown lab 'lab9'" and by["j\\xf6rg", "lab9"]["max"] == "0"
    assert not [p for p in tmp_path.iterdir() if p.name != "grades.csv"]


def test_lost_points_without_a_message_still_say_so() -> None:
    r = SubmissionResult("a", "l", [Verdict("1_1", 0.5, 1.0, ""), Verdict("1_2", 1.0, 1.0, "")])
    assert lost_points(r) == "1_1: no points, and no reason given"


def test_json_holds_every_result_in_full(tmp_path: Path) -> None:
    path = write_json(_results(), tmp_path / "grades.json", problems=["x.json: unreadable"])
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert len(doc["results"]) == 5 and doc["unreadable"] == ["x.json: unreadable"]
    bob = next(r for r in doc["results"] if r["student"] == "bob")
    assert bob["total"] == 2.0 and bob["tests"][1]["message"].startswith("3.2: wrong")
    assert SubmissionResult.from_dict(bob).notes == ["test cell 3_2 deleted"]


def test_table_shows_earned_over_max() -> None:
    table = format_table(_results(), labs=["lab1", "lab3"])
    lines = table.splitlines()
    assert lines[0].split() == ["student", "lab", "3_1", "3_2", "3_10", "1_1", "total", "status"]
    bob = next(ln for ln in lines if ln.startswith("bob"))
    assert bob.split()[:7] == ["bob", "lab3", "2/2", "0/3", "0/1", "-", "2/6"]
    assert "unknown lab 'lab9'" in table and "error: lab3.ipynb is not a valid notebook" in table


def test_regenerate_from_stored_results_leaves_out_and_lists_broken_files(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for i, r in enumerate(_results()):
        write_result(results / r.lab / f"s{i}.json", r)
    (results / "lab3" / "broken.json").write_text('{"format": 1, "res')
    csv_path = tmp_path / "out" / "grades.csv"
    stored, problems = regenerate(results, csv_path, labs=["lab1", "lab3"])
    assert len(stored) == 5 and len(problems) == 1 and "broken.json" in problems[0]
    assert len(list(csv.reader(csv_path.open(encoding="utf-8")))) == 6
    assert json.loads((results / "grades.json").read_text())["unreadable"] == problems
