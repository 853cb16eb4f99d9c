"""Tests for ``course validate``: the table logic and exit codes on synthetic notebooks (run in-process by a
fake executor, no kernel), a few real-kernel runs (timeouts, the checkpoint check, the environment), and
the real Lab 3 notebooks end to end."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import course.validate as V
from course import notebooks
from course.mode import grading_env
from course.notebooks import ExecutionResult
from course.validate import analyse
from course.labs import Lab, lab_info
from course.submission import save_model

LAB = "lab3_mlp_mnist"
FAKE = Lab("lab9_fake", "A fake lab", {"tiny.pt": "build_tiny"})


def _cell(src: str, gid: str | None = None, *, points=None, solution=False):
    c = new_code_cell(src)
    if gid is not None:
        c.metadata["nbgrader"] = {"grade": points is not None, "solution": solution, "locked": points is not None,
                                  "grade_id": gid, "schema_version": 3}
        if points is not None:
            c.metadata["nbgrader"]["points"] = points
    return c


def _fake_nb(*, answer_1="def f():\n    return 1", answer_2="def g():\n    return 2",
             build="import torch\ndef build_tiny():\n    return torch.nn.Linear(3, 2)"):
    """Task 9.1 (f, 2 points), task 9.2 (g, 3 points: two test cells), and the builder of tiny.pt."""
    return new_notebook(cells=[
        new_markdown_cell("# lab 9"),
        _cell(answer_1, "9_1_code", solution=True),
        _cell("assert f() == 1, 'f() should be 1\\nsecond line'", "9_1", points=2),
        _cell(answer_2, "9_2_code", solution=True),
        _cell("assert g() == 2", "9_2", points=2),
        _cell("result = g() + 1"),
        _cell("assert result == 3", "9_2_result", points=1),
        _cell(build, "9_3_code", solution=True),
    ])


def _execute_in_process(nb, cwd, *, env=None, timeout=300):
    """A stand-in for ``course.notebooks.execute_notebook``: exec each code cell in one namespace, recording
    outputs like nbclient."""
    ns: dict = {}
    here = os.getcwd()
    os.chdir(cwd)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):
                    exec(cell.source, ns)  # noqa: S102 - the test's own notebooks
            except Exception as exc:  # noqa: BLE001
                cell.outputs.append(new_output("error", ename=type(exc).__name__, evalue=str(exc), traceback=[]))
            if buf.getvalue():
                cell.outputs.insert(0, new_output("stream", name="stdout", text=buf.getvalue()))
    finally:
        os.chdir(here)
    return nb, ExecutionResult()


@pytest.fixture
def fake_lab(monkeypatch):
    """Register lab9_fake for course.validate only."""
    monkeypatch.setattr(analyse, "LAB_IDS", (*analyse.LAB_IDS, FAKE.id))
    real = analyse.lab_info
    monkeypatch.setattr(analyse, "lab_info", lambda i: FAKE if i == FAKE.id else real(i))
    return FAKE


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr(notebooks, "execute_notebook", _execute_in_process)


def _write(folder: Path, nb, name: str = "lab9_fake.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def _tiny_checkpoint(path: Path, *, fast: bool = False, shape=(3, 2)) -> Path:
    path.unlink(missing_ok=True)  # in fast mode save_model would keep a full-mode file
    old = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            save_model(torch.nn.Linear(*shape), path)
    finally:
        if old is None:
            os.environ.pop("COURSE_FAST")
        else:
            os.environ["COURSE_FAST"] = old
    return path


def _run(capsys, *args, **kw) -> tuple[int, str, str]:
    code = V.main(*args, **kw)
    out = capsys.readouterr()
    return code, out.out, out.err


def _status(out: str, gid: str) -> str:
    """The status column of the table row of test ``gid``."""
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[1] == gid:
            return parts[3]
    raise AssertionError(f"no row for {gid} in:\n{out}")


# --- the table logic on executed notebooks -------------------------------------------------------------------


def _executed(cells_and_errors):
    """A notebook as nbclient leaves it: each (cell, error or None) gets an error output."""
    nb = new_notebook()
    for cell, err in cells_and_errors:
        if err is not None:
            cell.outputs = [new_output("error", ename=err[0], evalue=err[1], traceback=[])]
        nb.cells.append(cell)
    return nb


def test_statuses_passed_failed_not_attempted_and_their_causes() -> None:
    nie = ("NotImplementedError", "Task 3.2: your code here")
    nb = _executed([
        (_cell("class MLP: ...", "3_1_code", solution=True), None),
        (_cell("test", "3_1", points=2), ("AssertionError", "3.1: wrong shape\nmore detail")),
        (_cell("def train_epoch(): ...", "3_2_code", solution=True), None),
        (_cell("test", "3_2", points=3), nie),
        (_cell("def run_sweep(): ...", "3_4_code", solution=True), None),
        (_cell("histories = run_sweep()"), nie),                           # the sweep calls 3.2's stub
        (_cell("test", "3_4", points=2), ("NameError", "name 'histories' is not defined")),
        (_cell("best = pick(histories)"), ("NameError", "name 'histories' is not defined")),
        (_cell("test", "3_5", points=1), ("AssertionError", "3.5: select_best raised NotImplementedError: ...")),
        (_cell("test", "3_5_results", points=1), ("NameError", "name 'best' is not defined")),
        (_cell("raise NotImplementedError", "3_6_train", solution=True), ("NotImplementedError", "Task 3.6")),
        (_cell("test", "3_6_below_2_2", points=1), ("CheckpointError", "no checkpoint at lab3_best.pt")),
        (_cell("x = 1 / 0"), ("ZeroDivisionError", "division by zero")),
        (_cell("test", "3_7", points=1), ("NameError", "name 'x' is not defined")),
        (_cell("test", "3_8", points=1), None),
    ])
    rows = {r.grade_id: r for r in V.analyse_tests(nb)}
    assert [r.grade_id for r in V.analyse_tests(nb)] == [
        "3_1", "3_2", "3_4", "3_5", "3_5_results", "3_6_below_2_2", "3_7", "3_8"]
    assert rows["3_1"].label() == "failed: AssertionError: 3.1: wrong shape"   # the first line only
    assert rows["3_2"].label() == "not attempted"
    assert rows["3_4"].label() == "not attempted (needs task 3.2)"             # NameError caused by a stub
    assert rows["3_5"].label() == "not attempted"                              # the test quotes the stub's error
    assert rows["3_5_results"].label() == "not attempted (needs task 3.2)"     # a chain of NameErrors
    assert rows["3_6_below_2_2"].label() == "not attempted"                    # its task's answer cell raised
    assert rows["3_7"].label() == ("failed: NameError: name 'x' is not defined "
                                   "(cell 12 failed before it: ZeroDivisionError)")
    assert rows["3_8"].label() == "passed" and not rows["3_8"].costs_points
    assert (rows["3_1"].task, rows["3_1"].points, rows["3_6_below_2_2"].task) == ("3.1", 2.0, "3.6")


def test_deleted_test_cells_and_a_stopped_run() -> None:
    nb = _executed([(_cell("t", "3_1", points=2), None), (_cell("slow()"), None),
                    (_cell("t", "3_3", points=2), None), (_cell("t", "3_4", points=2), None)])
    stop = V.Stop(2, "timed out after 5 s")
    rows = V.analyse_tests(nb, {"3_1": 2, "3_2": 3, "3_3": 2, "3_4": 2}, stop)
    assert [(r.grade_id, r.label()) for r in rows] == [
        ("3_1", "passed"),
        ("3_2", "missing — test cell deleted, 0 points"),
        ("3_3", "failed: this cell timed out after 5 s"),
        ("3_4", "not run (the run stopped at cell 2, which timed out after 5 s)"),
    ]
    assert rows[1].points == 3 and rows[1].costs_points


def test_identify_lab_by_name_folder_prefix_or_option(tmp_path) -> None:
    assert V.identify_lab(tmp_path / f"{LAB}.ipynb") == (lab_info(LAB), None)
    lab, naming = V.identify_lab(tmp_path / LAB / "mine.ipynb")
    assert lab.id == LAB and f"looks for {LAB}.ipynb" in naming
    lab, naming = V.identify_lab(tmp_path / f"{LAB} (1).ipynb")
    assert lab.id == LAB and naming is not None
    assert V.identify_lab(tmp_path / "x.ipynb", "lab1_linear")[0].id == "lab1_linear"
    with pytest.raises(V.ValidationError, match="cannot tell which lab untitled.ipynb is.*--lab"):
        V.identify_lab(tmp_path / "untitled.ipynb")
    with pytest.raises(V.ValidationError, match="unknown lab 'lab7'"):
        V.identify_lab(tmp_path / "x.ipynb", "lab7")


def test_check_files(tmp_path) -> None:
    lab = Lab("labx", "x", {"a.pt": "build"})
    rows = V.check_files(lab, tmp_path, {})
    assert rows[0].status == "missing" and "course.save_model" in rows[0].detail
    (tmp_path / "a.pt").write_bytes(b"not a checkpoint")
    assert V.check_files(lab, tmp_path, {})[0].status == "unreadable"
    _tiny_checkpoint(tmp_path / "a.pt")
    fine = {"a.pt": {"file": "a.pt", "ok": True, "parameters": 8}}
    row = V.check_files(lab, tmp_path, fine)[0]
    assert row.status == "ok" and not row.costs_points and "8 parameters, full mode" in row.detail
    misfit = {"a.pt": {"ok": False, "error": "CheckpointError: do not fit\nsize mismatch"}}
    row = V.check_files(lab, tmp_path, misfit)[0]
    assert row.status == "misfit" and row.detail == "does not fit build(): CheckpointError: do not fit"
    stub = {"a.pt": {"ok": False, "error": "NotImplementedError: x", "not_attempted": True}}
    row = V.check_files(lab, tmp_path, stub)[0]
    assert row.status == "misfit" and "still raises NotImplementedError" in row.detail
    row = V.check_files(lab, tmp_path, {}, V.Stop(4, "timed out after 1 s"))[0]
    assert row.status == "unchecked" and "stopped at cell 4" in row.detail
    _tiny_checkpoint(tmp_path / "a.pt", fast=True)
    row = V.check_files(lab, tmp_path, fine)[0]
    assert row.status == "fast" and "full mode" in row.detail and row.costs_points


def test_the_notebook_runs_as_the_grader_runs_it(tmp_path, capsys, monkeypatch, fake_lab) -> None:
    seen: dict = {}

    def record(nb, cwd, *, env=None, timeout=300):
        seen.update(env or {})
        return _execute_in_process(nb, cwd, env=env, timeout=timeout)
    monkeypatch.setattr(notebooks, "execute_notebook", record)
    _run(capsys, str(_write(tmp_path / "lab9_fake", _fake_nb())))
    assert seen == grading_env() and seen["COURSE_FAST"] == "1" and seen["MPLBACKEND"] == "Agg"


def test_scratch_copy_skips_hidden_and_caches(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "keep.txt").write_text("k")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "a.pt").write_text("w")
    with notebooks.scratch_copy(tmp_path) as tmp:
        assert sorted(p.name for p in tmp.iterdir()) == ["a.pt", "sub"]
        assert (tmp / "sub" / "keep.txt").read_text() == "k"


# --- the whole command with the in-process executor: table and exit codes ------------------------------------


def test_all_passed_and_checkpoint_ok_exit_0(tmp_path, capsys, fake_lab, in_process) -> None:
    folder = tmp_path / "lab9_fake"
    nb_path = _write(folder, _fake_nb())
    ckpt = _tiny_checkpoint(folder / "tiny.pt")
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    code, out, err = _run(capsys, str(nb_path))
    assert code == 0, out + err
    for gid in ("9_1", "9_2", "9_2_result"):
        assert _status(out, gid) == "passed"
    assert "tiny.pt  OK — loads with weights_only=True into build_tiny() (8 parameters, full mode" in out
    assert "visible tests: 5 of 5 points pass" in out and "autograder adds hidden tests" in out
    assert "nothing found that would cost points" in out
    assert "no course checkout with lab9_fake found" in out  # a note, not a problem
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == before


def test_failures_stubs_and_a_misfit_checkpoint_exit_1(tmp_path, capsys, fake_lab, in_process) -> None:
    folder = tmp_path / "lab9_fake"
    nb_path = _write(folder, _fake_nb(answer_1="def f():\n    return 7",
                                      answer_2="def g():\n    raise NotImplementedError('Task 9.2: your code here')"))
    _tiny_checkpoint(folder / "tiny.pt", shape=(4, 2))
    code, out, err = _run(capsys, str(nb_path))
    assert code == 1, out + err
    assert _status(out, "9_1") == "failed: AssertionError: f() should be 1"
    assert _status(out, "9_2") == "not attempted"
    assert _status(out, "9_2_result") == "not attempted"
    assert "tiny.pt  does not fit build_tiny(): CheckpointError: the weights in" in out
    assert "visible tests: 0 of 5 points pass" in out and "4 thing(s) above would cost points" in out


def test_missing_and_fast_checkpoints_cost_points(tmp_path, capsys, fake_lab, in_process) -> None:
    folder = tmp_path / "lab9_fake"
    nb_path = _write(folder, _fake_nb())
    code, out, _ = _run(capsys, str(nb_path))
    assert code == 1 and "tiny.pt  missing — run the notebook in full mode" in out
    _tiny_checkpoint(folder / "tiny.pt", fast=True)
    code, out, _ = _run(capsys, str(nb_path))
    assert code == 1 and "tiny.pt  trained in fast mode" in out


def test_deleted_test_cell_against_the_release(tmp_path, capsys, fake_lab, in_process) -> None:
    release = _write(tmp_path / "checkout" / "notebooks" / "lab9_fake", _fake_nb())
    nb = nbformat.read(release, 4)
    del nb.cells[4]  # the test cell 9_2
    folder = tmp_path / "student" / "lab9_fake"
    nb_path = _write(folder, nb)
    _tiny_checkpoint(folder / "tiny.pt")
    code, out, _ = _run(capsys, str(nb_path), root=str(tmp_path / "checkout"))
    assert code == 1
    assert _status(out, "9_2") == "missing — test cell deleted, 0 points"
    assert "visible tests: 3 of 5 points pass" in out
    lines = [ln.split()[1] for ln in out.splitlines() if ln.startswith("9.")]
    assert lines == ["9_1", "9_2", "9_2_result"]  # in the release's order


def test_misnamed_notebook_costs_points(tmp_path, capsys, fake_lab, in_process) -> None:
    folder = tmp_path / "lab9_fake"
    nb_path = _write(folder, _fake_nb(), name="lab9_fake-Copy1.ipynb")
    _tiny_checkpoint(folder / "tiny.pt")
    code, out, _ = _run(capsys, str(nb_path))
    assert code == 1 and "problem: the autograder looks for lab9_fake.ipynb" in out


def test_usage_errors_exit_2_without_traceback(tmp_path, capsys, fake_lab, in_process, monkeypatch) -> None:
    code, out, err = _run(capsys, str(tmp_path / "lab9_fake.ipynb"))
    assert code == 2 and "no such notebook" in err and "Traceback" not in err
    bad = tmp_path / "lab9_fake.ipynb"
    bad.write_text('{"cells": [ this is not json')
    code, out, err = _run(capsys, str(bad))
    assert code == 2 and "lab9_fake.ipynb is not a valid notebook" in err and "Traceback" not in err
    code, out, err = _run(capsys, str(_write(tmp_path, _fake_nb(), name="untitled.ipynb")))
    assert code == 2 and "cannot tell which lab" in err
    code, out, err = _run(capsys, str(bad), timeout=0)
    assert code == 2 and "--timeout" in err
    monkeypatch.setattr(analyse, "REQUIRED_MODULES", ("nbformat", "no_such_module_for_course"))
    code, out, err = _run(capsys, str(bad))
    assert code == 2 and "pip install no_such_module_for_course" in err


def test_import_course_is_light() -> None:
    """A student install has no nbgrader (nor, outside Jupyter, nbformat/nbclient): importing must not need them."""
    code = ("import sys, course, course.validate, course.labs\n"
            "heavy = ('nbgrader', 'nbclient', 'nbconvert', 'nbformat', 'notebook', 'ipykernel')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('jupyter'))\n"
            "print(bad)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_cli_lists_validate_and_reports_a_missing_notebook(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "course.cli", "validate", str(tmp_path / f"{LAB}.ipynb")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no such notebook" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "course.cli", "--help"], capture_output=True, text=True, timeout=300)
    assert "validate" in proc.stdout


# --- real kernels ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_kernel_env_scratch_folder_and_checkpoint(tmp_path, capsys, fake_lab) -> None:
    folder = tmp_path / "lab9_fake"
    nb = _fake_nb()
    # The kernel runs in fast mode in a scratch copy; what it writes there never reaches the student's folder.
    nb.cells.insert(1, _cell(f"import os\nassert os.environ['COURSE_FAST'] == '1', os.environ.get('COURSE_FAST')\n"
                             f"assert os.getcwd() != {str(folder)!r}\nassert os.path.exists('tiny.pt')\n"
                             "open('tiny.pt', 'wb').write(b'overwritten')\nopen('new.txt', 'w').write('x')"))
    nb_path = _write(folder, nb)
    ckpt = _tiny_checkpoint(folder / "tiny.pt")
    before = sorted(p.name for p in folder.iterdir()), hashlib.sha256(ckpt.read_bytes()).hexdigest()
    code, out, err = _run(capsys, str(nb_path), timeout=60)
    assert code == 0, out + err
    assert "tiny.pt  OK — loads with weights_only=True into build_tiny() (8 parameters" in out
    assert (sorted(p.name for p in folder.iterdir()), hashlib.sha256(ckpt.read_bytes()).hexdigest()) == before


@pytest.mark.slow
def test_real_kernel_cell_timeout_names_the_cell(tmp_path, capsys, fake_lab) -> None:
    nb = _fake_nb()
    nb.cells.insert(5, _cell("import time\ntime.sleep(120)  # a hung training loop"))
    folder = tmp_path / "lab9_fake"
    nb_path = _write(folder, nb)
    _tiny_checkpoint(folder / "tiny.pt")
    code, out, err = _run(capsys, str(nb_path), timeout=3)
    assert code == 1, out + err
    assert _status(out, "9_1") == "passed" and _status(out, "9_2") == "passed"
    assert _status(out, "9_2_result") == "not run (the run stopped at cell 5, which timed out after 3 s)"
    assert "problem: cell 5: import time — timed out after 3 s; the cells after it did not run" in out
    assert "tiny.pt  not checked against build_tiny(): the run stopped at cell 5" in out


@pytest.mark.slow
def test_end_to_end_lab3_untouched_and_correct(repo_root, tmp_path) -> None:
    def validate(path: Path, *extra: str, root: Path | None = None) -> subprocess.CompletedProcess:
        where = ["--root", str(root)] if root else []
        return subprocess.run([sys.executable, "-m", "course.cli", *where, "validate", str(path), *extra],
                              capture_output=True, text=True, timeout=1800, cwd=tmp_path)

    tests = ["3_1", "3_2", "3_3", "3_4", "3_5", "3_5_results", "3_6_below_2_2", "3_6_below_2_0", "3_6_below_1_8"]
    untouched = repo_root / "notebooks" / LAB / f"{LAB}.ipynb"
    proc = validate(untouched)
    print(proc.stdout)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for gid in tests:
        assert _status(proc.stdout, gid).startswith("not attempted"), gid
    assert "lab3_best.pt  missing" in proc.stdout
    assert "visible tests: 0 of 14 points pass" in proc.stdout and "autograder adds hidden tests" in proc.stdout
    assert not (untouched.parent / "lab3_best.pt").exists()

    correct = repo_root / "autograder" / "samples" / "submitted" / "correct" / LAB
    before = sorted((p.name, p.stat().st_mtime_ns) for p in correct.iterdir())
    proc = validate(correct / f"{LAB}.ipynb")
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for gid in tests:
        assert _status(proc.stdout, gid) == "passed", gid
    assert "lab3_best.pt  OK — loads with weights_only=True into build_best_model()" in proc.stdout
    assert "visible tests: 14 of 14 points pass" in proc.stdout and "autograder adds hidden tests" in proc.stdout
    assert sorted((p.name, p.stat().st_mtime_ns) for p in correct.iterdir()) == before

    # A student's copy with a deleted test cell, checked against the checkout's release.
    nb = nbformat.read(untouched, 4)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "3_3"]
    mine = tmp_path / LAB / f"{LAB}.ipynb"
    mine.parent.mkdir()
    nbformat.write(nb, mine)
    proc = validate(mine, "--timeout", "120", root=repo_root)
    assert proc.returncode == 1
    assert _status(proc.stdout, "3_3") == "missing — test cell deleted, 0 points"
    mine.write_text('{"cells": [')
    proc = validate(mine)
    assert proc.returncode == 2 and "is not a valid notebook" in proc.stderr and "Traceback" not in proc.stderr
