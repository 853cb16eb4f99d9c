"""Grading fails closed, as root and as an ordinary user: ``course grade`` refuses before touching a submission when
a protection is missing, naming each with its fix; ``--unsafe-no-sandbox`` grades anyway, and then the terminal (at
the start and in the summary), every CSV row, every feedback page and the class report say so.

A missing protection is made with ``COURSE_BWRAP=none`` (no bubblewrap: nothing of the sandbox can hold). The user
mode runs the same commands as ``unprivileged.probe_user()`` from its own checkout and venv.
"""
from __future__ import annotations

import csv
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab3_mlp_mnist"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["root", "user"])
def run(request, tmp_path_factory):
    """``run(args, env) -> CompletedProcess``: ``course ARGS`` in a checkout, as root or as the throw-away user,
    with a folder of its own holding the untouched Lab 3 sample as student ``ann``; the folder is ``run.base``."""
    if request.param == "user":
        if os.geteuid() != 0:
            skip_or_fail("the ordinary-user mode needs root to make the user")
        from unprivileged import UnavailableError, probe_user

        try:
            user = probe_user()
        except UnavailableError as exc:
            skip_or_fail(str(exc))
        base = Path(f"/tmp/course-refusal-{os.getpid()}")
        shutil.rmtree(base, ignore_errors=True)
        checkout, course = user.checkout, str(user.checkout / ".venv" / "bin" / "course")
    else:
        base = tmp_path_factory.mktemp("refusal")
        checkout, course = base / "course", str(Path(sys.executable).parent / "course")
        # A copy: the gradebook and feedback pages are written into the checkout's (ignored) autograder/ folders.
        shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
            ".git", ".venv", "data", "__pycache__", "test-artifacts", "results", "feedback_html", "autograded",
            "gradebook.db", ".demo", "report", "*.egg-info"))
    shutil.copytree(checkout / "autograder" / "samples" / "submitted" / "untouched" / LAB, base / "in" / "ann" / LAB)
    if request.param == "user":
        subprocess.run(["chown", "-R", f"{user.name}:", str(base)], check=True)

    def call(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
        env = {"COURSE_DATA": os.environ.get("COURSE_DATA", ""), **env}
        args = ["--root", str(checkout), *args]
        if request.param == "user":
            return user.run(" ".join(shlex.quote(a) for a in [course, *args]), env=env, timeout=900)
        return subprocess.run([course, *args], cwd=checkout, capture_output=True, text=True, timeout=900,
                              env={**os.environ, **env})
    call.base, call.mode, call.checkout = base, request.param, checkout
    yield call
    shutil.rmtree(base, ignore_errors=True)


def test_grading_is_refused_before_any_submission_is_touched(run):
    base = run.base
    done = run(["grade", str(base / "in"), "--results", str(base / "refused"), "--csv", str(base / "refused.csv")],
               {"COURSE_BWRAP": "none"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    text = done.stderr
    assert "grading refused: 8 of 8 protections are missing" in text, text
    for name in ("filesystem view", "unprivileged identity", "network", "memory cap", "process/thread cap",
                 "scratch size cap", "no new user namespaces", "time limits"):
        assert f"  - {name}: no bubblewrap: COURSE_BWRAP=none. Fix: unset COURSE_BWRAP" in text, name
    assert "--unsafe-no-sandbox" in text
    assert not (base / "refused").exists() and not (base / "refused.csv").exists(), "nothing was written"
    assert "grade [" not in done.stdout + done.stderr, "no submission was graded"


def test_unsafe_grades_and_every_report_says_so(run):
    base = run.base
    results, table = base / "unsafe", base / "unsafe.csv"
    done = run(["grade", str(base / "in"), "--unsafe-no-sandbox", "--results", str(results), "--csv", str(table)],
               {"COURSE_BWRAP": "none"})
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    lines = (done.stdout + done.stderr).splitlines()
    banners = [i for i, ln in enumerate(lines) if "UNSAFE: graded with --unsafe-no-sandbox" in ln]
    graded = [i for i, ln in enumerate(lines) if ln.startswith("grade [")]
    assert graded and banners and banners[0] < graded[0] and banners[-1] > graded[-1], lines
    assert any(ln.startswith("grade: sandbox: 0/8 protections") for ln in lines[:3]), lines[:5]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 1 and rows[0]["notes"].startswith("UNSAFE: graded with --unsafe-no-sandbox"), rows
    page, = (run.checkout / "autograder" / "feedback_html").glob(f"ann*/{LAB}.html")
    assert "UNSAFE: graded with --unsafe-no-sandbox" in page.read_text()
    report = run(["report", "--results", str(results), "--out", str(base / "report.html")], {})
    assert report.returncode == 0, report.stderr
    assert "graded without the sandbox" in (base / "report.html").read_text()


def test_safe_grading_says_what_is_in_force(run):
    base = run.base
    done = run(["grade", str(base / "in"), "--results", str(base / "safe"), "--csv", str(base / "safe.csv")], {})
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    first = (done.stdout + done.stderr).splitlines()[0]
    assert first.startswith("grade: sandbox: 8/8 protections (bubblewrap "), first
    assert ("as nobody" if run.mode == "root" else "user namespace") in first
    assert "UNSAFE" not in done.stdout + done.stderr
    rows = list(csv.DictReader((base / "safe.csv").open()))
    assert rows[0]["total"] == "0" and "UNSAFE" not in rows[0]["notes"]
    page, = (run.checkout / "autograder" / "feedback_html").glob(f"ann*/{LAB}.html")
    assert "UNSAFE" not in page.read_text()
