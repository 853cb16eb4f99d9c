"""The ``course`` command line: build, check, grade, demo, solve."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _cmd_build(args: argparse.Namespace) -> int:
    from .pipeline import build, find_root

    build(find_root(args.root), args.labs or None)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .pipeline import check, find_root

    report = check(find_root(args.root), args.labs or None)
    print(f"check: {len(report.lines)} ok, {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _cmd_grade(args: argparse.Namespace) -> int:
    from .grading import format_table, grade, write_csv
    from .pipeline import find_root

    root = find_root(args.root)
    rows = grade(root, Path(args.folder), timeout=args.timeout)
    out = write_csv(rows, Path(args.csv) if args.csv else root / "autograder" / "grades.csv")
    print(format_table(rows))
    print(f"grades written to {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .grading import format_table, grade, write_csv
    from .pipeline import build, check, find_root

    root = find_root(args.root)
    t0 = time.perf_counter()
    print("== course demo: 1/3 build the labs from solutions/ ==")
    build(root)
    print("== course demo: 2/3 check: drift, solutions pass, stubs fail ==")
    report = check(root)
    print("== course demo: 3/3 autograde the sample submissions in autograder/samples/ ==")
    rows = grade(root, root / "autograder" / "samples")
    out = write_csv(rows, root / "autograder" / "grades.csv")
    print()
    print(format_table(rows))
    print(f"\ngrades written to {out}; demo took {time.perf_counter() - t0:.0f} s")
    if not report.ok:
        print("check found problems:\n  - " + "\n  - ".join(report.problems))
        return 1
    return 0


def _cmd_solve(args: argparse.Namespace) -> int:
    """Run a solution notebook in full mode and keep its checkpoints as reference fixtures."""
    import shutil

    from .notebooks import execute_notebook, load_notebook, scratch_copy
    from .pipeline import find_root

    root = find_root(args.root)
    nb = load_notebook(root / "solutions" / args.lab / f"{args.lab}.ipynb")
    refs = root / "autograder" / "references" / args.lab
    with scratch_copy(root / "solutions" / args.lab) as tmp:
        t0 = time.perf_counter()
        nb, result = execute_notebook(nb, tmp, env={"COURSE_FAST": "0", "MPLBACKEND": "Agg"}, timeout=3600)
        print(f"solve: {args.lab} ran in full mode in {time.perf_counter() - t0:.0f} s; "
              f"{len(result.passed_grades)} graded tests pass, {len(result.failed_grades)} fail")
        if result.errors:
            print(f"  {result.summary()}")
        for ckpt in sorted(tmp.glob("*.pt")):
            refs.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ckpt, refs / ckpt.name)
            print(f"solve: kept {ckpt.name} → {(refs / ckpt.name).relative_to(root)}")
        if args.save:
            import nbformat

            nbformat.write(nb, args.save)
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Deep learning with PyTorch: course tools.")
    parser.add_argument("--root", help="course checkout (default: found from the current folder, or COURSE_ROOT)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="generate student notebooks and reference results from solutions/")
    p.add_argument("labs", nargs="*", help="lab ids (default: all)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("check", help="no drift; solutions pass; untouched student notebooks fail every test")
    p.add_argument("labs", nargs="*")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("grade", help="autograde DIR (nbgrader layout <student>/<lab>/) into a grade CSV")
    p.add_argument("folder")
    p.add_argument("--csv", help="where to write the grades (default: autograder/grades.csv)")
    p.add_argument("--timeout", type=float, default=float(os.environ.get("COURSE_SUBMISSION_TIMEOUT", 900)),
                   help="seconds one submission may take (default 900)")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("demo", help="build, check, and grade the sample submissions")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("solve", help="run one solution notebook in full mode; keep its checkpoints as references")
    p.add_argument("lab")
    p.add_argument("--save", help="also write the executed notebook here")
    p.set_defaults(func=_cmd_solve)

    args = parser.parse_args(argv)
    from .notebooks import NotebookError
    from .pipeline import PipelineError

    try:
        return args.func(args)
    except (PipelineError, NotebookError) as exc:
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
