"""Tests for the `course` command line, including the README's main job, `course demo`."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys

import pytest

LAB = "lab3_mlp_mnist"


def _course(*args, cwd=None, timeout=1800):
    return subprocess.run([sys.executable, "-m", "course.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ})


def test_help_lists_the_commands() -> None:
    out = _course("--help").stdout
    for cmd in ("build", "check", "grade", "collect", "report", "demo", "solve"):
        assert cmd in out


def test_grade_of_a_missing_folder_is_a_clear_error(repo_root, tmp_path) -> None:
    proc = _course("--root", str(repo_root), "grade", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "no such folder of submissions" in proc.stderr


def test_outside_a_checkout_is_a_clear_error(tmp_path) -> None:
    proc = _course("build", cwd=tmp_path)
    assert proc.returncode == 2 and "not inside a course checkout" in proc.stderr


def test_an_instructor_command_without_the_instructor_extra_names_it(repo_root) -> None:
    # nbgrader made unimportable in the child, as in a student's install: the command says what to install.
    program = "import sys; sys.modules['nbgrader'] = None; from course.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", program, "--root", str(repo_root), "check"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "nbgrader is not installed" in proc.stderr and "pip install 'course[instructor]'" in proc.stderr, proc.stderr


def test_an_instructor_command_does_not_import_nbgrader_to_find_it(repo_root) -> None:
    program = ("import sys; from course.cli import main; rc = main(sys.argv[1:]); "
               "print('imported' if 'nbgrader' in sys.modules else 'not imported'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", program, "--root", str(repo_root), "slides", "gamma"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "matches no lecture" in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("not imported"), proc.stdout


@pytest.mark.slow
def test_samples_grade_full_partial_zero_and_a_broken_one_is_a_row(readme_demo, course_copy) -> None:
    """What `course demo` grades after its check: the README's demo block, run verbatim once for the session (two at
    a time, in a fresh clone), wrote these grades; here they are read, not graded again."""
    course = readme_demo.clone
    assert readme_demo.returncode == 0, readme_demo.output[-3000:]
    rows = {(r["student"], r["lab"]): r for r in csv.DictReader((course / "autograder" / "grades.csv").open())}
    samples = course / "autograder" / "samples" / "submitted"
    labs = sorted({p.name for p in samples.glob("correct/*")})
    assert {LAB, "lab1_linear"} <= set(labs)
    assert set(rows) == {(who, lab) for lab in labs for who in ("correct", "partial", "untouched")}
    # One extra submission that is not even JSON must not stop the others from being graded.
    broken = course_copy / "incoming" / "broken" / LAB
    broken.mkdir(parents=True)
    (broken / f"{LAB}.ipynb").write_text('{"cells": [')
    proc = _course("--root", str(course_copy), "grade", str(course_copy / "incoming"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    broken_rows = {(r["student"], r["lab"]): r for r in csv.DictReader((course_copy / "autograder" / "grades.csv").open())}
    assert set(broken_rows) == {("broken", LAB)}
    assert float(broken_rows["broken", LAB]["total"]) == 0 and "is not a valid notebook" in broken_rows["broken", LAB]["status"]
    assert float(rows["correct", LAB]["max"]) == 14 and float(rows["correct", "lab1_linear"]["max"]) == 19
    for lab in labs:
        full = float(rows["correct", lab]["max"])
        assert float(rows["correct", lab]["total"]) == full, rows["correct", lab]
        assert float(rows["untouched", lab]["total"]) == 0, rows["untouched", lab]
        assert 0 < float(rows["partial", lab]["total"]) < full, rows["partial", lab]
    # Lab 3's partial sample: no zero_grad (3.2), accuracy returned as error (3.3), no 3.6.
    partial = rows["partial", LAB]
    assert partial["3_1"] == "2" and partial["3_2"] == "0" and partial["3_3"] == "0"
    assert partial["3_6_below_2_2"] == "0"
    # Lab 1's: a naive softmax (1.2), the true class counted in the hinge (1.3), test images not centred (1.5
    # results), no lab1_best.pt (the tiers); the other tasks keep their points.
    partial = rows["partial", "lab1_linear"]
    assert [partial[g] for g in ("1_1", "1_2", "1_3", "1_4", "1_5", "1_5_results", "1_5_at_least_36", "1_7")] == \
        ["2", "0", "0", "2", "2", "0", "0", "2"]
    # Lab 2's: a one-sided difference (2.3), 1 − tanh as tanh's derivative (2.4), no one-hot subtraction (2.5);
    # 2.6 trains with the notebook's own gradients and is graded on what it returns, since 2.5 already lost.
    if "lab2_backprop" in labs:
        partial = rows["partial", "lab2_backprop"]
        assert [partial[g] for g in ("2_1", "2_2", "2_3", "2_4", "2_5", "2_6")] == ["1", "2", "0", "0", "0", "2"]
    # Lab 4's: x and y swapped (4.1), cosines before sines (4.3), the worst candidate selected (4.5).
    if "lab4_positional_encoding" in labs:
        partial = rows["partial", "lab4_positional_encoding"]
        assert [partial[g] for g in ("4_1", "4_3", "4_5_select", "4_5_generalise")] == ["0", "0", "0", "0"]
        assert float(partial["total"]) == 12
    # Lab 5's: a flipped kernel (5.1), ReLU before the addition (5.4), Adam without bias correction (5.7: Adam and
    # the AdamW built on it), no checkpoints (the LeNet-5 and CIFAR-10 tiers); ResNet-18's count still matches.
    if "lab5_cnn_resnet" in labs:
        partial = rows["partial", "lab5_cnn_resnet"]
        assert [partial[g] for g in ("5_1", "5_2", "5_4", "5_4_resnet18", "5_7_sgd", "5_7_adam", "5_7_adamw",
                                     "5_3_below_2_0", "5_8_at_least_75")] == ["0", "2", "0", "1", "1", "0", "0", "0", "0"]
        assert float(partial["total"]) == 14 and float(rows["correct", "lab5_cnn_resnet"]["total"]) == 28
    assert re.search(r"correct\s+lab3_mlp_mnist\s.*14/14", readme_demo.output)  # the printed table
    # The demo ends with the class report's integrity section (the samples are written by different hands: no
    # pair flagged) and a plain export whose totals are the grades'.
    assert re.search(r"integrity \(in the class report\): 0 pair\(s\) of samples flagged", readme_demo.output)
    demo = course / "autograder" / ".demo"
    report = json.loads((demo / "report" / "report.json").read_text())
    assert [lab["lab"] for lab in report["integrity"]["labs"]] == labs and report["integrity"]["flagged"] == 0
    assert 'id="integrity"' in (demo / "report" / "report.html").read_text()
    plain = list(csv.reader((demo / "export" / "grades_plain.csv").open()))
    assert plain[0] == ["student", *labs, "total"] and plain[1][0] == "(maximum)"
    for row in plain[2:]:
        assert [float(x) for x in row[1:-1]] == [float(rows[row[0], lab]["total"]) for lab in labs], row
    # Grading leaves the course's tracked files as they were.
    assert readme_demo.status == ""


def test_paths_given_relative_are_made_absolute(tmp_path, monkeypatch) -> None:
    from course.paths import absolute_paths

    monkeypatch.chdir(tmp_path)
    env = {"COURSE_DATA": "../shared/data", "COURSE_CACHE": "~/c", "COURSE_SUBMITTED": "refs", "COURSE_DEVICE": "cpu",
           "COURSE_DB_URL": "sqlite:///gb.db", "COURSE_FEEDBACK": ""}
    absolute_paths(env)
    assert env["COURSE_DATA"] == str((tmp_path / ".." / "shared" / "data").resolve())
    assert env["COURSE_SUBMITTED"] == str(tmp_path / "refs") and env["COURSE_CACHE"].startswith("/")
    assert env["COURSE_DB_URL"] == f"sqlite:///{tmp_path / 'gb.db'}"
    assert env["COURSE_DEVICE"] == "cpu" and env["COURSE_FEEDBACK"] == ""  # not paths, or unset: untouched


@pytest.mark.slow
def test_a_relative_course_data_reaches_the_kernels(readme_demo) -> None:
    """The README's form, COURSE_DATA relative to where `course` is started, reaches the kernels, which run in temp
    folders: the README's demo (run once for the session in a newcomer's clone, no COURSE_* inherited) starts
    `course` that way, and its check runs every solution with the data (nbclient's kernels) and grades it in the
    sandbox (the engine's). Each lab's lines are read by ``test_pipeline.py::test_check_passes_on_the_repository``."""
    assert "COURSE_DATA=../shared/data course demo" in readme_demo.block, readme_demo.block
    assert readme_demo.returncode == 0, readme_demo.output[-3000:]
    assert re.search(r"check: \d+ ok, 0 problem\(s\)", readme_demo.output), readme_demo.output[-3000:]
    assert "DataNotFoundError" not in readme_demo.output
