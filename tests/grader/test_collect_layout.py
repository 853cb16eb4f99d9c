"""``course collect``: LMS exports (Canvas, Moodle, a zip per student, one zip of either) into <student>/<lab>/.

Every export here is built for real in ``tmp_path`` (:mod:`lms_exports`); the layout written is what
``course grade`` finds.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from lms_exports import JAN, L3, L5, MAR, add_symlink_entry, layout, make_zip, nb, pairs, tag_of

from course.cli import main
from course.grader.collect import collect


def test_canvas_flat_files_resubmissions_checkpoints_and_strays(tmp_path: Path) -> None:
    src = tmp_path / "canvas"
    src.mkdir()
    files = {"doejane_12345_6789012_lab3_mlp_mnist.ipynb": nb("first"),
             "doejane_12345_6789012_lab3_mlp_mnist-2.ipynb": nb("third"),
             "doejane_12345_6789012_lab3_mlp_mnist-1.ipynb": nb("second"),
             "doejane_LATE_12345_6789012_lab3_best.pt": b"weights",
             "smithjohn_222_333_lab5_cnn_resnet.ipynb": nb("john"), "smithjohn_222_333_lab5_lenet.pt": b"lenet",
             "smithjohn_222_333_Copy of lab5_cifar.pt": b"cifar", "smithjohn_222_333_notes.txt": b"?",
             "lab3_mlp_mnist.ipynb": nb("whose?"), "readme.txt": b"?"}
    for name, data in files.items():
        (src / name).write_bytes(data)
    (src / "evil_1_2_lab3_best.pt").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    report = collect(src, out)
    assert layout(out) == {f"doejane/{L3}/{L3}.ipynb", f"doejane/{L3}/lab3_best.pt", f"smithjohn/{L5}/{L5}.ipynb",
                           f"smithjohn/{L5}/lab5_lenet.pt", f"smithjohn/{L5}/lab5_cifar.pt"}
    assert tag_of(out / "doejane" / L3 / f"{L3}.ipynb") == "third"
    assert (out / "doejane" / L3 / "lab3_best.pt").read_bytes() == b"weights"
    assert sorted((s.path, s.kept, s.reason) for s in report.superseded) == [
        ("doejane_12345_6789012_lab3_mlp_mnist-1.ipynb", "doejane_12345_6789012_lab3_mlp_mnist-2.ipynb",
         "a higher re-submission number"),
        ("doejane_12345_6789012_lab3_mlp_mnist.ipynb", "doejane_12345_6789012_lab3_mlp_mnist-2.ipynb",
         "a higher re-submission number")]
    assert {u.path: u.reason for u in report.unmatched} == {
        "smithjohn_222_333_notes.txt": "no lab file name in it", "readme.txt": "no lab file name in it",
        "lab3_mlp_mnist.ipynb": "not a file named <student>_..._<file>",
        "evil_1_2_lab3_best.pt": "symbolic link skipped"}
    assert pairs(out) == [("doejane", L3), ("smithjohn", L5)]
    saved = json.loads((out / "collect_report.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(report.to_json()))
    assert saved["counts"] == {"students": 2, "submissions": 2, "written": 2, "kept": 0, "failed": 0,
                               "unmatched": 4, "superseded": 2, "problems": 0}
    assert saved["matched"][0]["files"] == {f"{L3}.ipynb": "doejane_12345_6789012_lab3_mlp_mnist-2.ipynb",
                                            "lab3_best.pt": "doejane_LATE_12345_6789012_lab3_best.pt"}
    summary = report.summary()
    assert summary.startswith("collect: 2 submissions of 2 students") and "readme.txt: no lab file name" in summary


def test_moodle_flat_files_and_folders_per_student(tmp_path: Path) -> None:
    src = tmp_path / "moodle"
    src.mkdir()
    (src / "Jane Doe_12345_assignsubmission_file_lab3_mlp_mnist.ipynb").write_bytes(nb("jane"))
    (src / "Jane Doe_12345_assignsubmission_file_lab3_best.pt").write_bytes(b"w")
    (src / "Jane Doe_12345_assignsubmission_onlinetext_onlinetext.html").write_bytes(b"<p>hi</p>")
    ann = src / "Ann Lee_67890_assignsubmission_file_"
    (ann / "data").mkdir(parents=True)
    (ann / "lab3_mlp_mnist.ipynb").write_bytes(nb("ann"))
    (ann / "lab3_best.pt").write_bytes(b"w")
    (ann / "helper.py").write_bytes(b"def f(): ...")           # travels: the folder holds one lab's notebook
    (ann / "data" / "tiny.csv").write_bytes(b"1,2")
    (ann / ".DS_Store").write_bytes(b"junk")
    (ann / "secret").symlink_to("/etc/passwd")
    make_zip(src / "Bo Chen_555_assignsubmission_file_" / "submission.zip", {f"{L5}/{L5}.ipynb": nb("bo")})
    out = tmp_path / "out"
    report = collect(src, out)
    assert layout(out) == {f"Jane Doe/{L3}/{L3}.ipynb", f"Jane Doe/{L3}/lab3_best.pt", f"Ann Lee/{L3}/{L3}.ipynb",
                           f"Ann Lee/{L3}/lab3_best.pt", f"Ann Lee/{L3}/helper.py", f"Ann Lee/{L3}/data/tiny.csv",
                           f"Bo Chen/{L5}/{L5}.ipynb"}
    assert {u.path: u.reason for u in report.unmatched} == {
        "Jane Doe_12345_assignsubmission_onlinetext_onlinetext.html": "no lab file name in it",
        "Ann Lee_67890_assignsubmission_file_/secret": "symbolic link skipped"}
    assert pairs(out) == [("Ann Lee", L3), ("Bo Chen", L5), ("Jane Doe", L3)]

    zipped = tmp_path / "moodle.zip"                     # the same export as Moodle's "download all" zip
    with zipfile.ZipFile(zipped, "w") as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file() and not path.is_symlink():
                zf.write(path, f"moodle-export/{path.relative_to(src).as_posix()}")
    out2 = tmp_path / "out2"
    collect(zipped, out2)
    assert layout(out2) == layout(out)


def test_a_zip_per_student_in_every_shape(tmp_path: Path) -> None:
    src = tmp_path / "zips"
    make_zip(src / "alice.zip", {
        f"alice/{L3}/Copy of {L3}.ipynb": nb("alice"), f"alice/{L3}/lab3_best.pt": b"w", f"alice/{L3}/utils/h.py": b"",
        f"__MACOSX/alice/{L3}/._Copy of {L3}.ipynb": b"junk", f"alice/{L3}/.ipynb_checkpoints/{L3}-checkpoint.ipynb":
        nb("old"), "alice/.DS_Store": b"junk"})
    make_zip(src / "bob_12345_67890_lab3.zip", {
        f"{L3}-main/{L3} (1).ipynb": nb("bob3"), f"{L3}-main/lab3_best.pt": b"w",
        f"{L5}.ipynb": nb("bob5"), "lab5_lenet.pt": b"l", "lab5_cifar.pt": b"c", "notes.md": b"n"})
    make_zip(src / "eve.zip", {f"{L3}.ipynb": (nb("older"), JAN), f"Copy of {L3}.ipynb": (nb("newer"), MAR),
                               f"{L5}.ipynb": nb("eve5"), "stray.txt": b"?"})
    dave = make_zip(src / "dave.zip", {"../../evil.py": b"x", f"{L3}.ipynb": nb("dave"),
                                       "inner.zip": b"PK"})           # beside one lab's notebook: it travels
    add_symlink_entry(dave, "lab3_best.pt", "/etc/passwd")
    (src / "carol.zip").write_bytes(b"this is not a zip")
    make_zip(src / "frank.zip", {"readme.txt": b"nothing here"})
    out = tmp_path / "out"
    report = collect(src, out)
    assert layout(out) == {
        f"alice/{L3}/{L3}.ipynb", f"alice/{L3}/lab3_best.pt", f"alice/{L3}/utils/h.py",
        f"bob/{L3}/{L3}.ipynb", f"bob/{L3}/lab3_best.pt",
        f"bob/{L5}/{L5}.ipynb", f"bob/{L5}/lab5_lenet.pt", f"bob/{L5}/lab5_cifar.pt", f"bob/{L5}/notes.md",
        f"dave/{L3}/{L3}.ipynb", f"dave/{L3}/inner.zip", f"eve/{L3}/{L3}.ipynb", f"eve/{L5}/{L5}.ipynb"}
    assert not (tmp_path / "evil.py").exists() and not (out.parent / "evil.py").exists()
    assert tag_of(out / "alice" / L3 / f"{L3}.ipynb") == "alice" and tag_of(out / "eve" / L3 / f"{L3}.ipynb") == "newer"
    [sup] = report.superseded
    assert (sup.student, sup.lab, sup.path, sup.kept, sup.reason) == ("eve", L3, f"eve.zip/{L3}.ipynb",
                                                                      f"eve.zip/Copy of {L3}.ipynb", "newer")
    unmatched = {u.path: u.reason for u in report.unmatched}
    assert unmatched == {
        "eve.zip/stray.txt": f"beside the notebooks of several labs ({L3}, {L5}): put it in its <lab>/ folder",
        "dave.zip/../../evil.py": "skipped: a path that climbs out of the zip (..)",
        "dave.zip/lab3_best.pt": "symbolic link skipped",
        "frank.zip/readme.txt": "no lab file name in it", "frank.zip": "no lab's file in it"}
    assert list(report.problems) == ["carol.zip"] and "not a readable zip" in report.problems["carol.zip"][0]
    assert pairs(out) == [("alice", L3), ("bob", L3), ("bob", L5), ("dave", L3), ("eve", L3), ("eve", L5)]
    assert not list(out.glob(".collect-*"))            # the scratch folder is gone
    assert not list(out.rglob("timestamp.txt"))        # the export carries no time stamps: none are made up


def test_a_canvas_download_all_zip_with_zips_inside(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "parts" / "frank_3_4_lab5.zip", {
        f"{L5}/{L5}.ipynb": nb("frank"), f"{L5}/lab5_lenet.pt": b"l", f"{L5}/data.zip": b"kept as a file",
        "deeper.zip": b"not opened"})
    export = tmp_path / "submissions.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("doejane_1_2_lab3_mlp_mnist-1.ipynb", nb("jane"))
        zf.writestr("doejane_1_2_lab3_best.pt", b"w")
        zf.write(inner, "frank_3_4_lab5.zip")
        zf.writestr("../escape_1_2_lab3_mlp_mnist.ipynb", nb("evil"))
    out = tmp_path / "out"
    assert main(["collect", str(export), "--out", str(out)]) == 0
    assert layout(out) == {f"doejane/{L3}/{L3}.ipynb", f"doejane/{L3}/lab3_best.pt",
                           f"frank/{L5}/{L5}.ipynb", f"frank/{L5}/lab5_lenet.pt", f"frank/{L5}/data.zip"}
    assert not (tmp_path / "escape_1_2_lab3_mlp_mnist.ipynb").exists()
    saved = json.loads((out / "collect_report.json").read_text(encoding="utf-8"))
    assert {u["path"]: u["reason"] for u in saved["unmatched"]} == {
        "submissions.zip/../escape_1_2_lab3_mlp_mnist.ipynb": "skipped: a path that climbs out of the zip (..)",
        "submissions.zip/frank_3_4_lab5.zip/deeper.zip":
            "a zip inside a zip: not extracted (one level of zips at most)"}
    assert pairs(out) == [("doejane", L3), ("frank", L5)]


def test_names_that_could_escape_dir_are_sanitised(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for student in ("..", "submitted", "a\\b", ".hidden"):
        (src / f"{student}_1_2_lab3_mlp_mnist.ipynb").write_bytes(nb(student))
    make_zip(src / "..zip", {f"{L3}.ipynb": nb("dots")})
    out = tmp_path / "deep" / "out"
    report = collect(src, out)
    assert set(os.listdir(tmp_path)) == {"src", "deep"} and os.listdir(tmp_path / "deep") == ["out"]
    folders = {m.student: m.export_name for m in report.matched}
    assert sorted(folders.values()) == [".", "..", ".hidden", "a\\\\b", "submitted"]   # "..zip" is student "."
    for folder in folders:
        assert re.fullmatch(r"[A-Za-z0-9._-]+-[0-9a-f]{10}", folder) and not folder.startswith(".")
    assert len(pairs(out)) == len(folders) and not (out / "submitted").exists()


def test_existing_submissions_are_kept_unless_forced_and_lab_filter(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ann_1_2_lab3_mlp_mnist.ipynb").write_bytes(nb("v1"))
    (src / "ann_1_2_lab5_cnn_resnet.ipynb").write_bytes(nb("five"))
    out = tmp_path / "out"
    assert main(["collect", str(src), "--out", str(out), "--lab", L3]) == 0
    assert layout(out) == {f"ann/{L3}/{L3}.ipynb"}
    printed = capsys.readouterr().out
    assert f"ann_1_2_lab5_cnn_resnet.ipynb: a file of {L5}, which was not asked for (--lab)" in printed
    assert f"report: {out / 'collect_report.json'}" in printed

    (src / "ann_1_2_lab3_mlp_mnist-1.ipynb").write_bytes(nb("v2"))
    (out / "ann" / L3 / "graded-by-hand.txt").write_text("mine")
    assert main(["collect", str(src), "--out", str(out), "--lab", L3]) == 0
    assert tag_of(out / "ann" / L3 / f"{L3}.ipynb") == "v1" and (out / "ann" / L3 / "graded-by-hand.txt").exists()
    assert "already in DIR, left alone (--force replaces them) (1):" in capsys.readouterr().out
    saved = json.loads((out / "collect_report.json").read_text(encoding="utf-8"))
    assert [m["status"] for m in saved["matched"]] == ["kept"]

    assert main(["collect", str(src), "--out", str(out), "--force"]) == 0
    assert layout(out) == {f"ann/{L3}/{L3}.ipynb", f"ann/{L5}/{L5}.ipynb"}
    assert tag_of(out / "ann" / L3 / f"{L3}.ipynb") == "v2"
    saved = json.loads((out / "collect_report.json").read_text(encoding="utf-8"))
    assert sorted(m["status"] for m in saved["matched"]) == ["replaced", "written"]


def test_dir_inside_the_export_is_not_collected_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "ann_x").mkdir(parents=True)
    (src / "ann_x" / f"{L3}.ipynb").write_bytes(nb("ann"))
    for _ in range(2):
        report = collect(src, src / "collected")
    assert layout(src / "collected") == {f"ann/{L3}/{L3}.ipynb"} and not report.unmatched


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nowhere", "no such file or folder"),
    (lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt", "neither a folder nor a zip file"),
])
def test_an_unusable_source_is_exit_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          make, message: str) -> None:
    source = make(tmp_path)
    assert main(["collect", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("course collect: ") and str(source) in err and message in err


def test_an_unknown_lab_or_a_file_as_out_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "src").mkdir()
    assert main(["collect", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--lab", "lab99"]) == 2
    assert "unknown lab 'lab99'" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["collect", str(tmp_path / "src"), "--out", str(tmp_path / "file")]) == 2
    assert "--out exists and is not a folder" in capsys.readouterr().err
