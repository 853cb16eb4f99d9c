"""The README's whole run, through the command line, on real labs: an LMS export → `course collect` →
`course grade --workers 2` → grades.csv, feedback pages, `course report` → `course export` into Canvas.

The export is a Canvas-style zip of flat files made from Lab 2's three samples (a re-submission and a stray file
among them); grading uses the sandboxed engine and the real judges; `course export` fills a Canvas gradebook with
every total, matched on the user ids the file names carried.
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from course import cli

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab2_backprop"
pytestmark = pytest.mark.slow


def canvas_export(path: Path) -> Path:
    samples = ROOT / "autograder" / "samples" / "submitted"
    with zipfile.ZipFile(path, "w") as zf:
        for k, who in enumerate(("correct", "partial", "untouched")):
            nb = (samples / who / LAB / f"{LAB}.ipynb").read_bytes()
            zf.writestr(f"{who}_{100 + k}_{9000 + k}_{LAB}-2.ipynb", nb)
        # An older re-submission of "correct" (the untouched notebook): superseded by the -2 above.
        zf.writestr(f"correct_100_9000_{LAB}-1.ipynb", (samples / "untouched" / LAB / f"{LAB}.ipynb").read_bytes())
        zf.writestr("partial_101_9001_notes.txt", "my notes")
    return path


def test_collect_grade_report_from_an_lms_export(course_copy, tmp_path, monkeypatch) -> None:
    work = course_copy
    monkeypatch.setenv("COURSE_DB_URL", f"sqlite:///{tmp_path / 'gradebook.db'}")
    export = canvas_export(tmp_path / "submissions.zip")
    assert cli.main(["--root", str(work), "collect", str(export), "--out", str(tmp_path / "incoming")]) == 0
    collected = json.loads((tmp_path / "incoming" / "collect_report.json").read_text())
    assert collected["counts"]["submissions"] == 3 and collected["counts"]["superseded"] == 1
    assert any("notes.txt" in u["path"] for u in collected["unmatched"])

    assert cli.main(["--root", str(work), "grade", str(tmp_path / "incoming"), "--workers", "2"]) == 0
    with (work / "autograder" / "grades.csv").open(encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"correct", "partial", "untouched"}
    assert float(rows["correct"]["total"]) == float(rows["correct"]["max"]) == 17     # the -2, not the -1
    assert float(rows["untouched"]["total"]) == 0 and 0 < float(rows["partial"]["total"]) < 17
    assert "2_3:" in rows["partial"]["reasons"]                        # the reason for every lost point
    pages = sorted((work / "autograder" / "feedback_html").rglob("*.html"))
    assert len(pages) == 3
    partial_page = next(p for p in pages if p.parent.name.startswith("partial")).read_text()
    assert "2.3" in partial_page and "BEGIN HIDDEN TESTS" not in partial_page and "def test" not in partial_page

    assert cli.main(["--root", str(work), "report"]) == 0
    summary = json.loads((work / "autograder" / "report" / "report.json").read_text())
    (lab,) = summary["labs"]
    assert lab["lab"] == LAB and lab["submissions"] == 3
    task = next(t for t in lab["tasks"] if t["grade_id"] == "2_3")
    assert task["zero"] > 0 and task["failures"] and task["failures"][0]["count"] >= 1
    assert (work / "autograder" / "report" / "report.html").stat().st_size > 10_000

    # Back into Canvas: its gradebook, matched on the user ids the export's file names carried; a student who
    # handed nothing in stays blank.
    gradebook = tmp_path / "gradebook.csv"
    gradebook.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Lab 2: Backpropagation (4402),Final Score\n"
                         "    Points Possible,,,,,17,(read only)\n"
                         '"Rect, Cor",100,,c1,A,,\n"Tial, Par",101,,p1,A,,\n"Touched, Un",102,,u1,B,,\n'
                         '"Late, Nobody",103,,n1,B,,\n')
    filled = tmp_path / "filled.csv"
    assert cli.main(["--root", str(work), "export", "--canvas", str(gradebook), "--collected",
                     str(tmp_path / "incoming"), "--out", str(filled)]) == 0
    with filled.open(encoding="utf-8") as fh:
        canvas = {r["ID"]: r["Lab 2: Backpropagation (4402)"] for r in csv.DictReader(fh)}
    total = {who: f'{float(rows[who]["total"]):g}' for who in rows}
    assert canvas == {"": "17", "100": total["correct"], "101": total["partial"], "102": "0", "103": ""}, canvas
