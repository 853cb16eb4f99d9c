"""Faults and cheats in realistic Lab 3 submissions: each gets what its honest content deserves, nothing outlives it.

Each fixture is the sample *correct* (or *untouched*) submission with faults inserted as extra cells, graded by
the engine as `course grade` grades it, in the sandbox. ``test_sandbox.py`` runs the fixtures that rest on the
sandbox again as an ordinary user, from that user's own checkout and venv (``SANDBOX_FAULTS``,
``test_the_fault_fixtures_hold_as_an_ordinary_user``).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from ci_support import skip_or_fail

from course.grader.engine import grade_submission, make_launcher
from course.grader.sandbox import SandboxRefused

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab3_mlp_mnist"
SAMPLES = ROOT / "autograder" / "samples" / "submitted"
pytestmark = pytest.mark.slow


def _submission(tmp_path: Path, sample: str, edit) -> Path:
    folder = tmp_path / sample
    shutil.copytree(SAMPLES / sample / LAB, folder)
    path = folder / f"{LAB}.ipynb"
    nb = nbformat.read(path, 4)
    edit(nb)
    nbformat.write(nb, path)
    return folder


def _insert_after_data(nb, *sources: str) -> None:
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "mnist_splits(" in c.source) + 1
    for offset, source in enumerate(sources):
        nb.cells.insert(at + offset, nbformat.v4.new_code_cell(source))


def _grade(folder: Path, **kwargs):
    try:
        return grade_submission(ROOT, LAB, folder, student=folder.name, **kwargs)
    except SandboxRefused as exc:
        skip_or_fail(f"grading is refused on this machine: {exc}")


def _scores(result) -> dict[str, float]:
    return {t.grade_id: t.score for t in result.tests}


def _sleepers(tag: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", tag], capture_output=True, text=True)
    return out.stdout.split()


KILLERS = {
    "sys.exit": "import sys\nsys.exit(3)",
    "os._exit": "import os\nos._exit(1)",
    "SIGKILL": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "infinite loop": "while True:\n    pass",
    # Asleep rather than spinning: the infinite loop above already holds a core for its 40 s, and this one tests that
    # a cell deaf to SIGINT and SIGTERM is killed, which does not need a second core busy (CI runs beside it).
    "ignores SIGINT": "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)",
    "print flood": "import sys\nline = 'x' * 999 + '\\n'\nfor _ in range(50_000):\n    sys.stdout.write(line)",
    "background process": "import subprocess\nsubprocess.Popen(['sleep', '4242.5'], start_new_session=True)",
    "forked child": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(4243.5)\n    os._exit(0)",
}


BOMBS = {   # only where the sandbox caps them
    "memory bomb": "hoard = []\nwhile True:\n    hoard.append(bytearray(2**30))",
    "fork bomb": "import os, time\nfor _ in range(2000):\n    if os.fork() == 0:\n        time.sleep(4244.5)\n        os._exit(0)",
}


def test_cells_that_kill_hang_or_flood_cost_nothing_else(tmp_path, monkeypatch) -> None:
    # 40 s a cell: under CI's load (two test sessions and a demo side by side) the memory bomb's 4 GiB of
    # zero-filled pages once took over 20 s to reach the memory limit, and timed out instead of being killed.
    monkeypatch.setenv("COURSE_CELL_TIMEOUT", "40")
    try:
        make_launcher([])
    except SandboxRefused as exc:
        skip_or_fail(f"grading is refused on this machine: {exc}")
    cells = [*KILLERS.values(), *BOMBS.values()]
    folder = _submission(tmp_path, "correct", lambda nb: _insert_after_data(nb, *cells))
    t0 = time.monotonic()
    result = _grade(folder)
    took = time.monotonic() - t0
    assert result.total == result.max_total == 14, [(t.grade_id, t.message) for t in result.tests if t.score < t.max_score]
    notes = "\n".join(result.notes)
    expected = ["SystemExit", "exited with code 1", "SIGKILL", "SIGSEGV", "timed out after 40 s", "BlockingIOError"]
    # The memory bomb: killed by the memory cgroup (root), or a MemoryError at RLIMIT_DATA (an ordinary user).
    assert "memory limit" in notes or "MemoryError" in notes, notes
    for why in expected:
        assert why in notes, f"{why!r} not reported in the notes:\n{notes}"
    assert not _sleepers("sleep 4242.5") and not _sleepers("4243.5") and not _sleepers("4244.5"), (
        "a process outlived the submission")
    assert took < 300, took


def test_cheats_do_not_raise_an_untouched_notebook(tmp_path) -> None:
    cheats = [
        # The checks the notebooks use, and the comparisons of numpy, torch and math.
        "import course, torch, math, numpy\n"
        "course.assert_close = course.check_shape = lambda *a, **k: None\n"
        "torch.allclose = lambda *a, **k: True\nmath.isclose = lambda *a, **k: True\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n",
        # Exception hooks that swallow every error.
        "import sys\nsys.excepthook = lambda *a: None\n"
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n",
        # An input transformer that blanks every later cell (the answers' stubs included).
        "get_ipython().input_transformers_cleanup.append(lambda lines: [])\n",
    ]
    folder = _submission(tmp_path, "untouched", lambda nb: _insert_after_data(nb, *cheats))
    result = _grade(folder)
    assert result.total == 0, [(t.grade_id, t.score) for t in result.tests if t.score]


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def test_submissions_cannot_touch_references_other_submissions_or_the_network(tmp_path) -> None:
    victims = [ROOT / "autograder" / "references" / f"{LAB}.json", ROOT / "autograder" / "references" / LAB / "lab3_best.pt",
               SAMPLES / "correct" / LAB / f"{LAB}.ipynb", ROOT / "autograder" / "judges" / f"{LAB}.py"]
    before = _digest(victims)
    report = tmp_path / "report.txt"
    attack = (
        "import os, socket, pathlib\nfound = []\n"
        f"for p in {[str(v) for v in victims]!r}:\n"
        "    try:\n        open(p, 'a').write('pwned')\n        found.append('wrote ' + p)\n    except OSError:\n        pass\n"
        "    try:\n        open(p, 'rb').read(1)\n        found.append('read ' + p)\n    except OSError:\n        pass\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n    found.append('socket')\nexcept OSError:\n    pass\n"
        "print('ATTACK', found)\n"
        "assert not found, found\n"
    )
    folder = _submission(tmp_path, "correct", lambda nb: _insert_after_data(nb, attack))
    result = _grade(folder)
    assert _digest(victims) == before, "a submission changed files outside its own folder"
    notes = "\n".join(result.notes)
    assert "AssertionError" not in notes, f"the sandbox let the submission reach them: {notes}"
    assert result.total == 14
    del report


def test_deleted_duplicated_edited_and_reordered_cells_are_graded_on_their_content(tmp_path) -> None:
    def edit(nb):
        graded = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
        nb.cells.remove(graded["3_2"])                       # a deleted test cell
        nb.cells.append(nbformat.from_dict(dict(graded["3_3"])))   # a duplicated one
        graded["3_1"].source = "pass  # tests? what tests"    # an edited one
        answer = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "3_4_code")
        answer.metadata.nbgrader["grade_id"] = "renamed"      # changed metadata
        nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}   # a wrong kernelspec
        # The report moved above select_best's definition: it fails, and only what uses it suffers.
        report = next(c for c in nb.cells if c.cell_type == "code" and "best_lr, best_epoch = select_best" in c.source)
        nb.cells.remove(report)
        at = next(i for i, c in enumerate(nb.cells)
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "3_5_code")
        nb.cells.insert(at, report)
    result = _grade(_submission(tmp_path, "correct", edit))
    scores = _scores(result)
    assert scores["3_5_results"] == 0 and "best_lr" in next(t.message for t in result.tests if t.grade_id == "3_5_results")
    assert sum(scores.values()) == 13, scores
    assert any("3_2" in n and "missing" in n for n in result.notes), result.notes


def test_hostile_checkpoints_lose_only_the_tiers(tmp_path) -> None:
    marker = tmp_path / "payload-ran"
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = _submission(tmp_path, "correct", lambda nb: None)
    with (folder / "lab3_best.pt").open("wb") as fh:
        pickle.dump({"meta": {"format": "course-checkpoint-1"}, "state_dict": Payload()}, fh)
    result = _grade(folder)
    scores = _scores(result)
    assert not marker.exists(), "a pickle payload in a checkpoint ran"
    assert [scores[g] for g in ("3_6_below_2_2", "3_6_below_2_0", "3_6_below_1_8")] == [0, 0, 0]
    assert sum(scores.values()) == 11
    message = next(t.message for t in result.tests if t.grade_id == "3_6_below_2_2")
    assert "lab3_best.pt" in message


def test_answer_cells_marked_as_tests_still_run(tmp_path) -> None:
    """Which cells are tests comes from the released notebook: metadata saying ``grade: true`` skips nothing."""
    def edit(nb):
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta and meta.get("solution"):
                meta.update(grade=True, solution=False, points=1)
    result = _grade(_submission(tmp_path, "correct", edit))
    assert result.total == result.max_total == 14, [(t.grade_id, t.message) for t in result.tests if t.score < t.max_score]


def test_an_untouched_notebook_cannot_borrow_the_solution(tmp_path) -> None:
    """The attack that scored 10/14 without a filesystem view: run the answer cells of solutions/ from a cell."""
    solution = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
    attack = (
        "import json, os, glob\n"
        f"candidates = [{str(solution)!r}] + glob.glob('/*/*/solutions/{LAB}/{LAB}.ipynb')"
        f" + glob.glob('/home/*/*/solutions/{LAB}/{LAB}.ipynb') + glob.glob('/root/*/solutions/{LAB}/{LAB}.ipynb')\n"
        "for path in candidates:\n"
        "    try:\n"
        "        nb = json.load(open(path))\n"
        "    except OSError:\n"
        "        continue\n"
        "    for cell in nb['cells']:\n"
        "        if cell.get('metadata', {}).get('nbgrader', {}).get('solution'):\n"
        "            try:\n"
        "                exec(''.join(cell['source']), globals())\n"
        "            except Exception:\n"
        "                pass\n"
        "    print('BORROWED', path)\n"
        "    break\n"
    )
    outside: dict = {}
    exec("import torch, course\nfrom torch import nn\nfrom course import *", outside)   # the notebook's setup
    exec(attack, outside)       # outside the sandbox, the attack works: it defines the answers
    assert "MLP" in outside and "train_epoch" in outside
    result = _grade(_submission(tmp_path, "untouched", lambda nb: nb.cells.append(nbformat.v4.new_code_cell(attack))))
    assert result.total == 0, [(t.grade_id, t.score) for t in result.tests if t.score]
