"""``course export``: a Canvas gradebook and a Moodle grading worksheet filled in, as the LMS downloads them
(headers, the Points Possible row, sections, a test student, semicolons, a byte-order mark); the plain table; what
may not be exported; bad input with a clear error, and the LMS file never changed."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from lms_exports import make_zip, nb

from course.cli import main
from course.grader.collect import collect
from course.grader.export import collect_grades, plain_table
from course.grader.export.grades import lms_ids
from course.grader.export.lms import ExportError, canvas_fill, moodle_fill
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import result_path, write_result

L1, L3 = "lab1_linear", "lab3_mlp_mnist"

CANVAS = """Student,ID,SIS User ID,SIS Login ID,Section,Lab 1: Linear classifiers (5501),Lab 3 (5503),Quiz 1 (5510),Current Score,Unposted Current Score,Final Score
    Points Possible,,,,,19,14,10,(read only),(read only),(read only)
"Doe, Jane",101,S-001,jdoe,Section A,,3,8,50,50,50
"Roe, Richard",102,S-002,rroe,Section A,,,9,60,60,60
"Poe, Edgar",103,S-003,epoe,Section B,,,7,70,70,70
"Student, Test",999,,,Section A,,,,,,
"""
MOODLE = """Identifier,Full name,Email address,Status,Grade,Maximum grade,Grade can be changed,Last modified (submission),Last modified (grade),Feedback comments
Participant 8801,Jane Doe,jane@example.org,Submitted for grading - Graded,,100.00,Yes,"Monday, 2 December 2026, 9:00 AM",-,
Participant 8802,Richard Roe,rich@example.org,Submitted for grading,,100.00,Yes,"Monday, 2 December 2026, 9:10 AM",-,
Participant 8803,Edgar Poe,ed@example.org,No submission,,100.00,Yes,-,-,
"""


def _result(student: str, lab: str, scores: list[tuple[float, float]], **kw) -> SubmissionResult:
    return SubmissionResult(student, lab, [Verdict(f"t{i}", s, m) for i, (s, m) in enumerate(scores)], **kw)


def _results() -> list[SubmissionResult]:
    return [_result("doejane", L1, [(10, 12), (7, 7)]), _result("doejane", L3, [(12.5, 14)]),
            _result("rroe", L1, [(4, 12), (0, 7)]),                          # by login
            _result("Mystery Student", L1, [(1, 12), (1, 7)]),               # in no gradebook
            _result("poeedgar", L3, [(14, 14)], protections=["network: not isolated"]),   # unsafe: withheld
            _result("roerichard", L3, [], status="refused: the sandbox was not complete")]


def _store(tmp_path: Path, results: list[SubmissionResult]) -> Path:
    out = tmp_path / "results"
    for r in results:
        write_result(result_path(out, r.lab, r.student), r)
    return out


def _rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))


def test_grades_withheld_unless_graded_whole_with_every_protection() -> None:
    grades = collect_grades(_results())
    assert grades.by_student["doejane"][L3].total == 12.5 and grades.maxima == {L1: 19, L3: 14}
    assert "poeedgar" not in grades.by_student and "roerichard" not in grades.by_student
    assert any("poeedgar" in w and "without the sandbox" in w for w in grades.withheld)
    assert any("roerichard" in w and "refused" in w for w in grades.withheld)


def test_canvas_gradebook_filled_matched_by_name_login_and_collected_id(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    path.write_text(CANVAS)
    filled = canvas_fill(path, collect_grades(_results()), {"doejane": {"canvas": "101"}})
    rows = _rows(filled.text())
    assert rows[0] == _rows(CANVAS)[0] and rows[1] == _rows(CANVAS)[1]            # header, Points Possible kept
    by_name = {r[0]: r for r in rows[2:]}
    assert by_name["Doe, Jane"][5:8] == ["17", "12.5", "8"]                    # the quiz column untouched
    assert by_name["Roe, Richard"][5:7] == ["4", ""]                           # lab 3 missing: blank, not 0
    assert by_name["Poe, Edgar"][5:7] == ["", ""] and by_name["Student, Test"][5:7] == ["", ""]
    assert filled.unknown == ["Mystery Student"] and filled.written == 3
    assert "Roe, Richard / lab3_mlp_mnist" in filled.missing and "Poe, Edgar / lab1_linear" in filled.missing
    zeros = _rows(canvas_fill(path, collect_grades(_results()), {}, zeros=True).text())
    assert {r[0]: r for r in zeros[2:]}["Poe, Edgar"][5:7] == ["0", "0"]
    assert path.read_text() == CANVAS


def test_canvas_semicolons_bom_scaling_and_explicit_columns(tmp_path: Path) -> None:
    text = CANVAS.replace("Lab 1: Linear classifiers (5501)", "Homework A (5501)").replace(",", ";")
    text = text.replace("19;14;10", "100;14;10")
    path = tmp_path / "gradebook.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace('"Doe; Jane"', '"Doe, Jane"').encode())
    grades = collect_grades(_results())
    with pytest.raises(ExportError, match=r"lab1_linear: no column .* --column lab1_linear="):
        canvas_fill(path, grades, {})
    filled = canvas_fill(path, grades, {}, explicit={L1: "Homework A (5501)"})
    assert filled.text().startswith("\ufeffStudent;ID;")
    rows = {r[0]: r for r in _rows(filled.text(), ";")[2:]}
    assert rows["Doe, Jane"][5] == "89.47"                                      # 17 of 19 → of 100
    assert any("scaled from 19 to the LMS's 100" in n for n in filled.notes)


def test_canvas_bad_layouts_and_ambiguous_columns_say_why(tmp_path: Path) -> None:
    grades = collect_grades(_results())
    other = tmp_path / "other.csv"
    other.write_text("name,score\nJane,3\n")
    with pytest.raises(ExportError, match="not a Canvas gradebook export"):
        canvas_fill(other, grades, {})
    twice = tmp_path / "twice.csv"
    twice.write_text(CANVAS.replace("Quiz 1 (5510)", "Lab 3 resubmission (5511)"))
    with pytest.raises(ExportError, match=r"lab3_mlp_mnist: more than one column"):
        canvas_fill(twice, grades, {})
    latin = tmp_path / "latin.csv"
    latin.write_bytes(CANVAS.replace("Doe", "Do\xe9").encode("latin-1"))
    with pytest.raises(ExportError, match="not UTF-8"):
        canvas_fill(latin, grades, {})


def test_moodle_worksheet_filled_by_participant_number_and_name(tmp_path: Path) -> None:
    path = tmp_path / "worksheet.csv"
    path.write_text(MOODLE)
    results = [_result("Jane Doe", L3, [(7, 14)]), _result("someone", L3, [(14, 14)])]
    filled = moodle_fill(path, collect_grades(results), {"someone": {"moodle": "8802"}}, L3)
    rows = {r[1]: r for r in _rows(filled.text())[1:]}
    assert rows["Jane Doe"][4] == "50" and rows["Richard Roe"][4] == "100"      # scaled to the maximum 100
    assert rows["Edgar Poe"][4] == "" and rows["Jane Doe"][8] == "-"            # missing stays; the rest as it was
    assert filled.unknown == [] and any("Edgar Poe" in m for m in filled.missing)
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,Name,Note\n1,Jane,2\n")
    with pytest.raises(ExportError, match="not a Moodle grading worksheet.*Identifier"):
        moodle_fill(bad, collect_grades(results), {}, L3)


def test_lms_ids_come_from_the_file_names_collect_saw(tmp_path: Path) -> None:
    (tmp_path / "collect_report.json").write_text(json.dumps({"matched": [
        {"student": "doejane", "files": {"lab3_mlp_mnist.ipynb": "export.zip/doejane_LATE_101_7001_lab3_mlp_mnist.ipynb"}},
        {"student": "Jane Doe", "files": {"lab3_mlp_mnist.ipynb": "Jane Doe_8801_assignsubmission_file_lab3_mlp_mnist.ipynb"}},
        {"student": "odd", "files": {"a": "odd_1_2_a.ipynb", "b": "odd_3_4_b.ipynb"}}]}))
    assert lms_ids(tmp_path) == {"doejane": {"canvas": "101"}, "Jane Doe": {"moodle": "8801"}, "odd": {}}
    (tmp_path / "collect_report.json").write_text("[]")
    with pytest.raises(ValueError, match="not a report of `course collect`"):
        lms_ids(tmp_path)


def test_plain_table_one_row_per_student_maxima_and_blank_for_missing() -> None:
    rows = _rows(plain_table(collect_grades(_results() + [_result("=cmd()", L3, [(1, 14)])])))
    assert rows[0] == ["student", L1, L3, "total"] and rows[1] == ["(maximum)", "19", "14", "33"]
    table = {r[0]: r for r in rows[2:]}
    assert table["doejane"] == ["doejane", "17", "12.5", "29.5"] and table["rroe"] == ["rroe", "4", "", "4"]
    assert "'=cmd()" in table                                  # not a formula in a spreadsheet


def test_course_export_command(tmp_path: Path, capsys) -> None:
    results = _store(tmp_path, _results())
    gradebook = tmp_path / "gradebook.csv"
    gradebook.write_text(CANVAS)
    out = tmp_path / "filled.csv"
    assert main(["export", "--results", str(results), "--canvas", str(gradebook), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Mystery Student" in err and "poeedgar" in err and "without the sandbox" in err
    assert {r[0]: r for r in _rows(out.read_text())[2:]}["Doe, Jane"][5] == "17"
    assert main(["export", "--results", str(results), "--canvas", str(gradebook), "--out", str(gradebook)]) == 2
    assert "that is the LMS file itself" in capsys.readouterr().err and gradebook.read_text() == CANVAS
    assert main(["export", "--results", str(results), "--moodle", str(gradebook)]) == 2
    assert "one assignment; say which lab with --lab" in capsys.readouterr().err
    assert main(["export", "--results", str(tmp_path / "none")]) == 2
    assert "no stored results" in capsys.readouterr().err
    assert main(["export", "--results", str(results), "--canvas", str(gradebook), "--column", "lab9=x"]) == 2
    assert "unknown lab" in capsys.readouterr().err
    plain = tmp_path / "plain.csv"
    assert main(["export", "--results", str(results), "--out", str(plain)]) == 1      # some grades withheld
    assert _rows(plain.read_text())[0][0] == "student"


def test_round_trip_collect_names_match_the_lms_rows(tmp_path: Path) -> None:
    """Canvas and Moodle exports through `course collect`: the students it derives from the file names, graded (here
    stored as if graded), land on their own LMS rows, by the ids their files carried."""
    canvas_zip = make_zip(tmp_path / "canvas.zip", {
        f"doejane_101_7001_{L3}.ipynb": nb("a"), f"roerichard_LATE_102_7002_{L3}-1.ipynb": nb("b")})
    moodle_zip = make_zip(tmp_path / "moodle.zip", {
        f"Jane Doe_8801_assignsubmission_file_/{L3}.ipynb": nb("a"),
        f"Richard Roe_8802_assignsubmission_file_{L3}.ipynb": nb("b")})
    for zipped, kind in ((canvas_zip, "canvas"), (moodle_zip, "moodle")):
        out = tmp_path / f"{kind}-in"
        collect(zipped, out)
        students = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
        ids = lms_ids(out)
        assert len(students) == 2 and all(ids[s].get(kind) for s in students), (kind, students, ids)
        graded = [_result(s, L3, [(k + 3, 14)]) for k, s in enumerate(students)]
        # Names that match no row on their own: only the ids from the file names place them.
        renamed = [SubmissionResult(f"x{k}", r.lab, r.tests) for k, r in enumerate(graded)]
        by_id = {f"x{k}": ids[s] for k, s in enumerate(students)}
        sheet = tmp_path / f"{kind}.csv"
        sheet.write_text(CANVAS if kind == "canvas" else MOODLE)
        if kind == "canvas":
            filled = canvas_fill(sheet, collect_grades(renamed), by_id)
            rows = {r[1]: r[6] for r in _rows(filled.text())[2:]}
            want = {ids[s]["canvas"]: str(k + 3) for k, s in enumerate(students)}
            assert {i: rows[i] for i in want} == want and rows["103"] == ""
        else:
            filled = moodle_fill(sheet, collect_grades(renamed), by_id, L3)
            rows = {r[0]: r[4] for r in _rows(filled.text())[1:]}
            want = {f"Participant {ids[s]['moodle']}": f"{(k + 3) / 14 * 100:.2f}".rstrip("0").rstrip(".")
                    for k, s in enumerate(students)}
            assert {i: rows[i] for i in want} == want and rows["Participant 8803"] == ""
        assert filled.unknown == [] and filled.written == 2
