"""Benchmark: grading a whole class with 1 and 2 local workers and on a 2-worker Dask ``LocalCluster``.

The class is synthetic: ``--students`` students (default 8) each hand in every lab that exists, each lab's
submission being one of its samples (``autograder/samples/submitted/{correct,partial,untouched}``) in turn, so 8
students make 40 submissions. The three runs grade the same class side by side in one run (``--force``, results
in scratch folders, no gradebook: its writes are the same single writer in every mode), check that they gave the
same grades, and print seconds per submission and per student (all labs), the speed-up of 2 workers over 1, and
the Dask overhead over 2 local workers.

    python benchmarks/grade.py [--students 8] [--lab lab2_backprop ...] [--modes serial,local2,dask2]

Goals (2 cores): ≤ 90 s per student for all five labs; ≥ 1.7× from 1 to 2 workers; Dask overhead ≤ 10 %;
≤ 20 s per submission of any lab on one worker (printed lab by lab for the serial mode).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.grader.batch import grade_folder  # noqa: E402
from course.grader.sandbox import check_here  # noqa: E402

SAMPLES = ("correct", "partial", "untouched")


def make_class(dest: Path, students: int, labs: list[str]) -> int:
    """``dest/<student>/<lab>/`` for every student and lab, from the samples in turn; the number of submissions."""
    base = ROOT / "autograder" / "samples" / "submitted"
    n = 0
    for k in range(students):
        for j, lab in enumerate(labs):
            sample = SAMPLES[(k + j) % len(SAMPLES)]
            shutil.copytree(base / sample / lab, dest / f"student{k:02d}" / lab)
            n += 1
    return n


def _cpu() -> float:
    """CPU seconds the whole machine has been busy (``/proc/stat``): the sandboxed runners live in pid
    namespaces and cgroups of their own, so this process's rusage does not see them. Run on an idle machine."""
    with open("/proc/stat", encoding="ascii") as fh:
        user, nice, system, idle, iowait, irq, softirq, *_ = map(int, fh.readline().split()[1:])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def run(mode: str, folder: Path, out: Path, log) -> tuple[float, float, dict[tuple[str, str], float], dict]:
    kw: dict = {}
    cpu0 = _cpu()
    cluster = None
    if mode == "local2":
        kw["workers"] = 2
    elif mode == "dask2":
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
        kw["scheduler"] = cluster.scheduler_address
    try:
        t0 = time.perf_counter()
        results = grade_folder(ROOT, folder, force=True, gradebook=False, results_dir=out / "results",
                               csv_path=out / "grades.csv", feedback_dir=out / "feedback", log=log, **kw)
        seconds = time.perf_counter() - t0
    finally:
        if cluster is not None:
            cluster.close()
    return (seconds, _cpu() - cpu0, {(r.student, r.lab): r.total for r in results},
            {(r.student, r.lab): r.seconds for r in results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--lab", action="append", help="only these labs (default: every lab with samples)")
    parser.add_argument("--modes", default="serial,local2,dask2")
    parser.add_argument("--verbose", action="store_true", help="print every submission's line")
    args = parser.parse_args()
    labs = args.lab or sorted(p.name for p in (ROOT / "autograder" / "samples" / "submitted" / "correct").iterdir())
    print(check_here()[0])
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        folder = Path(tmp) / "class"
        n = make_class(folder, args.students, labs)
        print(f"class: {args.students} students × {len(labs)} labs = {n} submissions ({', '.join(labs)})")
        times, grades, each = {}, {}, {}
        for mode in modes:
            lines: list[str] = []
            log = print if args.verbose else lines.append
            times[mode], cpu, grades[mode], each[mode] = run(mode, folder, Path(tmp) / mode, log)
            print(f"{mode:>7}: {times[mode]:7.1f} s  {times[mode] / n:6.1f} s/submission  "
                  f"{times[mode] / args.students:6.1f} s/student  machine busy {cpu / times[mode]:.2f} of "
                  f"{os.cpu_count()} cores on average", flush=True)
    if "serial" in each:
        # One worker, one submission at a time: what a single submission costs, lab by lab (goal ≤ 20 s each).
        for lab in labs:
            seconds = sorted(v for (_, lb), v in each["serial"].items() if lb == lab)
            print(f"one worker, {lab}: {len(seconds)} submissions, mean {sum(seconds) / len(seconds):.1f} s, "
                  f"slowest {seconds[-1]:.1f} s (goal ≤ 20 s)")
    same = all(grades[m] == grades[modes[0]] for m in modes)
    print(f"same grades in every mode: {'yes' if same else 'NO'}")
    if "serial" in times and "local2" in times:
        print(f"speed-up 1 → 2 local workers: {times['serial'] / times['local2']:.2f}× (goal ≥ 1.7×)")
    if "local2" in times and "dask2" in times:
        print(f"Dask overhead over 2 local workers: {100 * (times['dask2'] / times['local2'] - 1):+.1f} % "
              "(goal ≤ 10 %)")
    best = min(times.values())
    if len(labs) == 5:
        print(f"per student, all five labs, fastest mode: {best / args.students:.1f} s (goal ≤ 90 s)")


if __name__ == "__main__":
    main()
