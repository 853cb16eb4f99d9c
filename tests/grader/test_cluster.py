"""Grading on Dask distributed, on a ``LocalCluster`` on loopback: the same grades as here, one writer, a worker
killed midway loses nothing, and a worker whose checkout differs refuses to grade.

Each Dask task runs the one-submission grader as a child process of its worker (``python -m course.grader.one``,
with the fake engine): the tests check that, too.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from fake_engine import LAB, POINTS, set_env, student_notebook, write_submission
from test_parallel import _grade, class_of, comparable, gradebook_scores

from course.grader.cluster import pack_folder, unpack_folder
from course.grader.store import read_result
from course.checkout import PipelineError

distributed = pytest.importorskip("distributed", reason="grading on Dask needs `distributed` (course[instructor])")

FULL = sum(POINTS.values())
pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(request, tmp_path, monkeypatch, calls):
    """Two single-threaded worker processes (with nannies, which restart a killed worker) on 127.0.0.1.

    The fake engine's settings are in the environment before the workers start: their grading children
    inherit the workers' environment, not this process's. Each grading takes ``FAKE_DELAY`` seconds (1.5, or the
    test's indirect parameter).
    """
    from distributed import Client, LocalCluster

    monkeypatch.setenv("FAKE_DELAY", str(getattr(request, "param", 1.5)))
    monkeypatch.setenv("FAKE_SPANS", str(tmp_path / "spans.txt"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as lc, Client(lc) as client:
        yield lc, client


def test_the_cluster_gives_exactly_the_local_grades(course_root, tmp_path, cluster, db_url) -> None:
    lc, client = cluster
    folder = class_of(tmp_path / "in", n=4)
    local = _grade(course_root, folder, tmp_path / "local", workers=2)
    (tmp_path / "spans.txt").unlink()
    lines: list[str] = []
    remote = _grade(course_root, folder, tmp_path / "dask", scheduler=lc.scheduler_address, log=lines.append,
                    db_url=db_url, gradebook=True, autograded_dir=tmp_path / "ag")
    assert [(r.student, r.total, r.status) for r in remote] == [(r.student, r.total, r.status) for r in local]
    assert comparable(tmp_path / "dask") == comparable(tmp_path / "local")
    assert len(gradebook_scores(db_url)) == 5 * len(POINTS)              # the client wrote every grade
    # Every grade came from a child process of a worker, not from a worker itself, nor from this process.
    workers = set(client.run(os.getpid).values())
    spans = [ln.split() for ln in (tmp_path / "spans.txt").read_text().splitlines()]
    graders, parents = {int(s[2]) for s in spans}, {int(s[3]) for s in spans}
    assert len(spans) == 4 and parents <= workers and not graders & (workers | {os.getpid()})
    # Two workers on this machine: each grader gets its share of the cores, as with --workers 2, not all of them.
    assert {s[4] for s in spans} == {str(max(1, (os.cpu_count() or 1) // 2))}
    assert any(f"Dask scheduler {lc.scheduler_address}" in ln for ln in lines)
    assert sum(" on " in ln and "(pid " in ln for ln in lines if ln.startswith("grade [")) == 5


# Six seconds a grading: on a loaded machine (CI runs the demo beside this), the scheduler's answers can take
# over a second, and the kill must land while the worker is still grading, not after its call returned.
@pytest.mark.parametrize("cluster", [6.0], indirect=True)
def test_a_worker_killed_midway_loses_no_grade(course_root, tmp_path, cluster, calls, db_url) -> None:
    lc, client = cluster
    folder = class_of(tmp_path / "in", n=6)
    killed: dict[str, int] = {}

    def kill_a_busy_worker() -> None:
        # Wait until both workers are grading (two calls started), then SIGKILL one of them.
        deadline = time.monotonic() + 120
        while len(calls()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        busy = {addr: pid for addr, pid in client.run(os.getpid).items()}
        processing = client.processing()
        addr = next(a for a in busy if processing.get(a))
        killed["pid"], killed["calls"] = busy[addr], len(calls())
        killed["children"] = _graders_of(busy[addr])
        os.kill(busy[addr], signal.SIGKILL)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    results = _grade(course_root, folder, tmp_path, scheduler=lc.scheduler_address, db_url=db_url, gradebook=True,
                     autograded_dir=tmp_path / "ag")
    killer.join(timeout=5)
    assert killed, "no worker was killed"

    expected = {**{f"s{k:02d}": FULL if k % 3 != 2 else 2.0 for k in range(6)}, "raiser": 0.0}
    assert {r.student: r.total for r in results} == expected
    assert [r.status for r in results if r.student != "raiser"] == ["ok"] * 6
    stored = [read_result(p) for p in (tmp_path / "results" / LAB).glob("*.json")]
    assert {s.result.student: s.result.total for s in stored} == expected      # stored, and final:
    assert not any(s.transient for s in stored)
    # The submission the dead worker was grading was graded again elsewhere: more calls than submissions.
    assert len(calls()) > len(expected)
    assert len({k for (k, _g) in gradebook_scores(db_url)}) == 7
    # The killed worker's grading child died with it (PR_SET_PDEATHSIG): none is left running.
    assert killed["children"], "the killed worker had no grading child"
    time.sleep(1)
    assert not [pid for pid in killed["children"] if Path(f"/proc/{pid}").exists()]


def _graders_of(parent: int) -> list[int]:
    """The grading processes (``python -m course.grader.one``) whose parent is ``parent``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"course.grader.one" in cmd:
            found.append(int(proc.name))
    return found


def test_a_worker_with_another_checkout_refuses_and_the_next_run_grades(course_root, tmp_path, cluster) -> None:
    import shutil

    lc, client = cluster
    other = tmp_path / "other-course"
    shutil.copytree(course_root, other)
    solution = other / "solutions" / LAB / f"{LAB}.ipynb"
    solution.write_text(solution.read_text().replace("return x + 1", "return x + 2"))
    client.run(set_env, "COURSE_ROOT", str(other))
    folder = class_of(tmp_path / "in", n=2)
    results = _grade(course_root, folder, tmp_path, scheduler=lc.scheduler_address)
    assert all(r.total == 0 and "grades lab9_mini differently" in r.status and "graded again on the next run"
               in r.status for r in results)
    for path in (tmp_path / "results" / LAB).iterdir():
        assert read_result(path).transient
    client.run(set_env, "COURSE_ROOT", str(course_root))
    again = _grade(course_root, folder, tmp_path, scheduler=lc.scheduler_address)
    assert [r.total for r in again] == [0.0, FULL, FULL]


def test_an_unreachable_scheduler_is_a_clear_error(course_root, tmp_path) -> None:
    from course.grader.cluster import connect

    with pytest.raises(PipelineError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        connect("tcp://127.0.0.1:9", timeout=2)


def test_a_packed_submission_unpacks_to_the_same_files_and_never_outside(tmp_path) -> None:
    import io
    import tarfile

    src = tmp_path / "src"
    write_submission(src, "ann", student_notebook())
    (src / "ann" / LAB / "weights.pt").write_bytes(os.urandom(3000))
    (src / "ann" / LAB / "sub").mkdir()
    (src / "ann" / LAB / "sub" / "x.txt").write_text("x")
    out = unpack_folder(pack_folder(src / "ann" / LAB), tmp_path / "out")
    files = lambda d: {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}  # noqa: E731
    assert files(out) == files(src / "ann" / LAB) and len(files(out)) == 3

    for name, kind in (("../evil.py", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, 0, "/etc/passwd"
            tar.addfile(info, io.BytesIO(b""))
        with pytest.raises(ValueError, match="not a file inside it"):
            unpack_folder(buf.getvalue(), tmp_path / f"bad-{kind!r}")
    assert not (tmp_path / "evil.py").exists()


def test_a_worker_without_the_sandbox_refuses_the_batch_and_its_tasks(course_root, tmp_path, cluster) -> None:
    """Every worker's sandbox is checked before any submission is sent; a task that reaches a worker whose sandbox
    went missing since is refused there (a transient result: graded again on the next run), never graded."""
    from course.grader.store import grader_key
    from course.grader.cluster import grade_task
    from course.grader.sandbox import SandboxRefused

    lc, client = cluster
    client.run(set_env, "COURSE_BWRAP", "none")
    folder = class_of(tmp_path / "in", n=2)
    with pytest.raises(SandboxRefused) as caught:
        _grade(course_root, folder, tmp_path, scheduler=lc.scheduler_address, grade_one=None)
    text = str(caught.value)
    assert text.startswith("grading refused on ") and "(tcp://127.0.0.1:" in text
    assert "  - filesystem view: no bubblewrap: COURSE_BWRAP=none. Fix: unset COURSE_BWRAP" in text
    assert not (tmp_path / "results").exists(), "no submission was touched"
    payload = {"root": str(course_root), "lab": LAB, "student": "ann", "timeout": 60,
               "key": grader_key(course_root, LAB), "files": pack_folder(folder / "s00" / LAB)}
    with pytest.raises(SandboxRefused, match="grading refused on worker"):
        client.submit(grade_task, payload, pure=False).result()
    client.run(set_env, "COURSE_BWRAP", "")
