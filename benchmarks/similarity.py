"""Benchmark and honest rates of the integrity report's code similarity (``course similarity``).

Three measurements in one run:

1. **Independent correct answers** (false flags): every answer cell of every lab, written by different hands —
   the solution's, the partial sample's where it is right, and each mutation corpus's correct alternatives that
   are rewrites rather than small patches of the solution (``tests/judges/cases_lab*.py``; a variant counts as a
   rewrite when under 60 % of its lines are the solution's). Every pair of the same cell is measured, with the
   released stub as boilerplate; a pair above the threshold is a false flag. The samples' whole notebooks
   (correct against partial) too.
2. **Planted copies** (misses): each lab's correct and partial samples copied with every local name renamed, the
   functions reversed and the comments rewritten, in a class with the samples: the copies must rank first.
3. **Scale**: ``--students`` synthetic students (default 300) × every lab, all pairs, timed.

    python benchmarks/similarity.py [--students 300] [--threshold 0.6]
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import random
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "judges"), str(ROOT / "tests" / "grader")]

from disguise import disguised_class  # noqa: E402

from course.grader.integrity import THRESHOLD, class_integrity  # noqa: E402
from course.grader.integrity.fingerprint import Code, kgram_hashes, tokens  # noqa: E402
from course.grader.integrity.pairs import answer, similar_pairs  # noqa: E402

SAMPLES = ROOT / "autograder" / "samples" / "submitted"
LABS = sorted(p.name for p in (SAMPLES / "correct").iterdir())


def _cells(nb_path: Path) -> dict[str, str]:
    nb = nbformat.read(nb_path, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")}


def _rewrite(variant: str, solution: str) -> bool:
    a, b = variant.splitlines(), solution.splitlines()
    same = sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return same < 0.6 * max(len(a), 1)


def independent_answers(threshold: float) -> None:
    print("1. independent correct answers, pairs of the same answer cell")
    total = flagged = 0
    worst = (0.0, "")
    flags: list[str] = []
    for n, lab in enumerate(LABS, 1):
        cases = importlib.import_module(f"cases_lab{n}")
        solution = _cells(ROOT / "solutions" / lab / f"{lab}.ipynb")
        stubs = _cells(ROOT / "notebooks" / lab / f"{lab}.ipynb")
        partial = _cells(SAMPLES / "partial" / lab / f"{lab}.ipynb")
        lost = set()
        pop: dict[str, dict[str, str]] = {}
        for key, text in solution.items():
            if key.endswith("_code") and key in stubs:
                pop[key] = {"solution": text}
                if partial.get(key) and partial[key] != stubs[key] and _rewrite(partial[key], text):
                    pop[key]["partial sample"] = partial[key]
        for case in cases.CASES:
            if not case.buggy and case.answer in pop and _rewrite(case.source, solution[case.answer]):
                pop[case.answer][case.name] = case.source
        lab_pairs = lab_flags = 0
        for key, variants in pop.items():
            boiler = set(kgram_hashes(tokens(stubs[key])))
            answers = [answer(who, Code.of_cells([(1, text)]), boiler) for who, text in variants.items()]
            scores = {frozenset((p.a, p.b)): p for p in similar_pairs(answers, threshold=threshold)}
            for a, b in combinations(variants, 2):
                p = scores.get(frozenset((a, b)))
                lab_pairs += 1
                lab_flags += bool(p and p.flagged)
                if p and p.flagged:
                    flags.append(f"{lab} {key}: {a} / {b} {p.score:.0%} ({p.shared_tokens} tokens)")
                if p and p.score > worst[0]:
                    worst = (p.score, f"{lab} {key}: {a} / {b} ({p.shared_tokens} tokens)")
        lost |= {k for k, v in pop.items() if len(v) < 2}
        total, flagged = total + lab_pairs, flagged + lab_flags
        print(f"   {lab}: {sum(len(v) for v in pop.values())} answers in {len(pop)} cells, {lab_pairs} pairs, "
              f"{lab_flags} flagged")
    for line in flags:
        print(f"     flagged: {line}")
    print(f"   all: {total} pairs of independent answers, {flagged} flagged ({flagged / max(total, 1):.1%}); "
          f"the most alike: {worst[0]:.0%} ({worst[1]})")


def planted_copies(threshold: float) -> None:
    print("2. planted copies (renamed, functions reversed, comments rewritten) among the samples")
    with tempfile.TemporaryDirectory() as tmp:
        out = disguised_class(ROOT, Path(tmp) / "class",
                              {"correct": "copy-of-correct", "partial": "copy-of-partial"})
        summary = class_integrity(ROOT, out, threshold=threshold)
    for lab in summary["labs"]:
        ranked = [(p["a"], p["b"], p["score"], p["flagged"]) for p in lab["pairs"]]
        planted = [r for r in ranked if {r[0], r[1]} in ({"correct", "copy-of-correct"}, {"partial", "copy-of-partial"})]
        first_two = all({r[0], r[1]} in ({"correct", "copy-of-correct"}, {"partial", "copy-of-partial"})
                        for r in ranked[:2])
        others = [r for r in ranked if r not in planted]
        print(f"   {lab['lab']}: copies {', '.join(f'{r[2]:.0%}' for r in planted)} (rank first: {first_two}); "
              f"samples by different hands: {', '.join(f'{a}/{b} {s:.0%}' for a, b, s, _ in others[:3]) or 'none'}"
              f"; flagged {sum(r[3] for r in ranked)} (planted {sum(r[3] for r in planted)})")


def scale(students: int, threshold: float) -> None:
    print(f"3. scale: {students} students × {len(LABS)} labs")
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for lab in LABS:
            nbs = [nbformat.read(SAMPLES / who / lab / f"{lab}.ipynb", as_version=4) for who in ("correct", "partial")]
            for s in range(students):
                nb = nbformat.from_dict(nbformat.v4.new_notebook(cells=[c for c in rng.choice(nbs).cells]))
                for cell in nb.cells:          # everyone's own version: lines dropped and repeated at random
                    if cell.cell_type == "code" and "NotImplementedError" not in cell.source:
                        lines = [ln for ln in cell.source.splitlines() if rng.random() > 0.15]
                        cell.source = "\n".join(ln for line in lines for ln in [line] * rng.choice((1, 1, 1, 2)))
                (out / f"s{s:03d}" / lab).mkdir(parents=True)
                nbformat.write(nb, out / f"s{s:03d}" / lab / f"{lab}.ipynb")
        t0 = time.perf_counter()
        summary = class_integrity(ROOT, out, threshold=threshold)
        seconds = time.perf_counter() - t0
    pairs = sum(lab["pairs_measured"] for lab in summary["labs"])
    print(f"   {students * len(LABS)} notebooks, {students * (students - 1) // 2 * len(LABS)} pairs, {pairs} measured "
          f"after the first pass: {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args()
    print(f"threshold {args.threshold:.0%}")
    independent_answers(args.threshold)
    planted_copies(args.threshold)
    scale(args.students, args.threshold)


if __name__ == "__main__":
    main()
