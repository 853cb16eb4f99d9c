"""Benchmark: grading one Lab 3 submission, nbgrader's in-kernel autograde vs the sandboxed engine.

Both grade the same sample submission (``autograder/samples/submitted/<sample>``) in fast mode, side by side
in one run, in a scratch copy of the course (its own gradebook), and the ratio is printed. nbgrader's run
executes the notebook with its visible tests in one Jupyter kernel; the engine runs the notebook in the
sandboxed runner, then the judges (hidden tests), then re-measures the checkpoint in a second runner.

    python benchmarks/engine_vs_nbgrader.py [--sample correct] [--repeat 2] [--baseline REF]

``--baseline REF`` also times the engine of another commit (a git worktree of ``REF``, e.g. the commit before a
change to the sandbox) on the same submission, interleaved with the others, and prints the ratio of the two.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.grader.engine import grade_submission  # noqa: E402
from course.grader.sandbox import check_here  # noqa: E402

LAB = "lab3_mlp_mnist"
GOAL = 20.0  # seconds per submission, fast mode, 2 cores


def _course_copy(tmp: Path) -> Path:
    dst = tmp / "course"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".git", "data", "__pycache__", "test-artifacts",
                                                             "gradebook.db", "autograded", "results", ".demo", ".venv"))
    return dst


def time_nbgrader(sample: str) -> float:
    """`nbgrader autograde` of one student, in a scratch copy with its own gradebook (generated first, untimed)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _course_copy(Path(tmp))
        env = {**os.environ, "COURSE_FAST": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
               "COURSE_SUBMITTED": str(root / "autograder" / "samples" / "submitted"),
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        run = lambda *a: subprocess.run([sys.executable, "-m", "nbgrader", *a], cwd=root / "autograder", env=env,  # noqa: E731
                                        capture_output=True, text=True)
        check = lambda p: p if p.returncode == 0 else sys.exit(f"nbgrader {p.args[3]} failed:\n{p.stdout[-1500:]}{p.stderr[-1500:]}")  # noqa: E731
        check(run("generate_assignment", LAB, "--force"))
        t0 = time.perf_counter()
        check(run("autograde", LAB, "--student", sample, "--force"))
        return time.perf_counter() - t0


def time_engine(sample: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / sample
        shutil.copytree(ROOT / "autograder" / "samples" / "submitted" / sample / LAB, folder)
        t0 = time.perf_counter()
        result = grade_submission(ROOT, LAB, folder, student=sample)
        return time.perf_counter() - t0, result.total


_BASELINE = r"""
import json, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from course.grader.engine import grade_submission
root, sample, lab = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp) / sample
    shutil.copytree(root / "autograder" / "samples" / "submitted" / sample / lab, folder)
    t0 = time.perf_counter()
    result = grade_submission(root, lab, folder, student=sample)
    print(json.dumps([time.perf_counter() - t0, result.total, result.protections]))
"""


def time_baseline(tree: Path, sample: str) -> tuple[float, float, list[str]]:
    """The engine of another commit (its checkout ``tree``), in a process of its own."""
    done = subprocess.run([sys.executable, "-c", _BASELINE, str(tree), sample, LAB], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        sys.exit(f"the baseline's engine failed:\n{done.stderr[-2000:]}")
    seconds, total, off = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    return seconds, total, off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="correct")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", help="also time the engine of this git commit (side by side)")
    args = parser.parse_args()
    print(check_here()[0])
    tree = None
    if args.baseline:
        tree = Path(tempfile.mkdtemp(prefix="course-baseline-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], cwd=ROOT, check=True,
                       capture_output=True)
        for name in ("references",):      # the reference checkpoints are not in git: the baseline uses these
            src = ROOT / "autograder" / name / LAB
            if src.is_dir() and not (tree / "autograder" / name / LAB).exists():
                shutil.copytree(src, tree / "autograder" / name / LAB)
    old, new, base, scores = [], [], [], []
    try:
        for _ in range(args.repeat):   # interleaved, so all see the same machine
            old.append(time_nbgrader(args.sample))
            seconds, total = time_engine(args.sample)
            new.append(seconds)
            scores.append(total)
            if tree is not None:
                seconds, total, off = time_baseline(tree, args.sample)
                base.append(seconds)
                print(f"baseline {args.baseline}: {seconds:.1f} s, score {total:g}, protections off: {off or 'none'}")
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    o, n = statistics.median(old), statistics.median(new)
    if base:
        b = statistics.median(base)
        print(f"engine at {args.baseline}: {b:5.1f} s (runs: {', '.join(f'{x:.1f}' for x in base)}); "
              f"this checkout / baseline: {n / b:.2f}x")
    print(f"nbgrader autograde (in-kernel, visible tests): {o:5.1f} s  (runs: {', '.join(f'{x:.1f}' for x in old)})")
    print(f"sandboxed engine (notebook + judges + re-measured checkpoint): {n:5.1f} s  "
          f"(runs: {', '.join(f'{x:.1f}' for x in new)}; score {scores[-1]:g}/14)")
    print(f"engine / nbgrader: {n / o:.2f}x; goal ≤ {GOAL:.0f} s per submission: {'met' if n <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
