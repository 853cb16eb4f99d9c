"""Stored results: atomic writes (never half a file, even under kill -9), loading, and when to regrade."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from course.grader import store
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import (load_results, mark_exported, needs_grading, read_result, remove_stale_temporaries,
                                 result_path, write_result)


def _result(student: str = "ann", score: float = 2.0, digest: str = "d1") -> SubmissionResult:
    return SubmissionResult(student, "lab9_mini", [Verdict("9_1", score, 2.0, "" if score else "9.1: wrong"),
                                                   Verdict("9_2", 0.0, 3.0, "9.2: wrong")],
                            notes=["a note"], digest=digest, seconds=1.5)


def test_a_result_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = result_path(tmp_path, "lab9_mini", "j_xf6rg-0123456789")
    write_result(path, _result("j\\xf6rg"), grader_key="k1")
    stored = read_result(path)
    assert stored.result == _result("j\\xf6rg") and stored.grader_key == "k1" and not stored.exported
    assert json.loads(path.read_text(encoding="utf-8"))["result"]["total"] == 2.0
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    mark_exported(path)
    assert read_result(path).exported and read_result(path).grader_key == "k1"


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lab" / "ann.json"
    write_result(path, _result(score=2.0))

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_result(path, _result(score=0.0))
    assert read_result(path).result.total == 2.0
    assert sorted(p.name for p in path.parent.iterdir()) == ["ann.json"]


def test_loading_skips_and_reports_unreadable_files(tmp_path: Path) -> None:
    write_result(tmp_path / "lab9_mini" / "ann.json", _result("ann"))
    write_result(tmp_path / "lab9_mini" / "bob.json", _result("bob"))
    text = (tmp_path / "lab9_mini" / "bob.json").read_text()
    (tmp_path / "lab9_mini" / "cut.json").write_text(text[: len(text) // 2])
    (tmp_path / "lab9_mini" / "junk.json").write_bytes(os.urandom(64))
    (tmp_path / "lab9_mini" / "other.json").write_text('{"format": 99}')
    (tmp_path / "lab9_mini" / ".ann.json.1.x.tmp").write_text(text[:10])    # a writer's temporary file
    (tmp_path / "grades.json").write_text("{}")                             # the report, not a result
    results, problems = load_results(tmp_path)
    assert sorted(r.student for r in results) == ["ann", "bob"]
    assert len(problems) == 3 and all("lab9_mini/" in p for p in problems)
    assert load_results(tmp_path / "nowhere") == ([], [])


def test_needs_grading(tmp_path: Path) -> None:
    path = tmp_path / "lab" / "ann.json"
    assert needs_grading(path, "d1")                          # never graded
    write_result(path, _result(digest="d1"), grader_key="k1")
    assert not needs_grading(path, "d1")
    assert not needs_grading(path, "d1", grader_key="k1")
    assert needs_grading(path, "d1", force=True)              # --force
    assert needs_grading(path, "d2")                          # resubmitted
    assert needs_grading(path, "d1", grader_key="k2")         # the judges changed
    assert needs_grading(path, "")                            # no digest: never trusted
    path.write_text('{"format": 1, "result": {')
    assert needs_grading(path, "d1")                          # unreadable


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / f".ann.json.{dead.stdout.strip()}.abc_12.tmp").write_text("{")
    (lab / f".bob.json.{os.getpid()}.abc_12.tmp").write_text("{")
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in lab.iterdir()] == [f".bob.json.{os.getpid()}.abc_12.tmp"]


def test_kill_9_while_writing_never_leaves_half_a_file(tmp_path: Path) -> None:
    # A writer rewrites five results (each about 1 MB) as fast as it can, and is killed at an arbitrary moment.
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from course.grader.results import SubmissionResult, TestResult
        from course.grader.store import write_result
        i = 0
        while True:
            r = SubmissionResult("s", "lab", [TestResult("9_1", 1.0, 2.0, "x" * 1_000_000)], notes=[str(i)])
            write_result(__import__("pathlib").Path({str(tmp_path)!r}) / "lab" / f"s{{i % 5}}.json", r)
            i += 1
            if i == 5:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    results, problems = load_results(tmp_path)
    assert len(results) == 5 and not problems, problems
