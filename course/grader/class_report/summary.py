"""The numbers of the class report, as plain data: :func:`class_summary` (what ``report.json`` holds).

Failure messages are grouped by their wording with numbers and quoted values masked (:func:`message_pattern`):
``the training loss does not fall (2.30 → 2.30 over 3 epochs)`` and ``(2.29 → 2.31 over 5 epochs)`` are the same
mistake, and a teacher wants to know that 41% of the class made it, with one real message as the example.
:func:`limits_hit` finds the sandbox's and the intake's limits (:data:`LIMITS`) that a submission reached.
"""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ...labs import LAB_IDS
from ..feedback import title_of
from ..gradebook import task_label
from ..results import SubmissionResult

__all__ = ["LIMITS", "TOP_FAILURES", "SLOWEST", "message_pattern", "limits_hit", "class_summary"]

TOP_FAILURES = 5        # failure groups shown per task
SLOWEST = 5             # slowest submissions listed per lab
_EXAMPLE_CHARS = 400    # an example message is cut here (some quote a whole traceback)

#: What the sandbox and the intake limit, and how their notes, statuses and messages say it was reached.
LIMITS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("time limit", re.compile(r"timed out|time limit|timeout|no answer within", re.I)),
    ("memory limit", re.compile(r"memory (?:limit|cap)|out of memory", re.I)),
    ("process cap", re.compile(r"process(?:es)?(?:/threads?)? (?:cap|limit)|pids|can't start new thread|"
                               r"resource temporarily unavailable", re.I)),
    ("size cap", re.compile(r"\d ?[KMGT]?i?B cap|size cap|total cap|cap for one file|cap in all", re.I)),
    ("file-count cap", re.compile(r"cap of \d+ files|file-count cap", re.I)),
    ("kernel died", re.compile(r"kernel died|kernel was killed|kernel exited|channel to the kernel broke", re.I)),
)

_QUOTED = re.compile(r"(?<![A-Za-z])'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|‘[^’\n]{0,200}’|“[^”\n]{0,200}”")
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_\d])")


def _squash(text: str) -> str:
    return " ".join(str(text).split())


def message_pattern(message: str) -> str:
    """``message`` with quoted values as ``'…'`` and numbers as ``#``: messages that differ only there group."""
    return _NUMBER.sub("#", _QUOTED.sub("'…'", _squash(message)))


def _example(message: str) -> str:
    text = _squash(message)
    return text if len(text) <= _EXAMPLE_CHARS else text[:_EXAMPLE_CHARS - 1] + "…"


def limits_hit(result: SubmissionResult) -> list[dict[str, str]]:
    """Each limit ``result`` reached, once, with the first text saying so (notes, then status, then messages)."""
    texts = [*result.notes, result.status if result.status != "ok" else "", *(t.message for t in result.tests)]
    found = []
    for name, pattern in LIMITS:
        text = next((t for t in texts if t and pattern.search(t)), None)
        if text is not None:
            found.append({"student": result.student, "lab": result.lab, "limit": name, "text": _example(text)})
    return found


def _mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _counts(xs: Sequence[float]) -> list[list[float]]:
    """``[[value, how many], ...]`` by value: a histogram of exact scores (JSON keeps the numbers as numbers)."""
    return [[float(v), n] for v, n in sorted(Counter(xs).items())]


def _nice(x: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``x``: a bin width people read without effort."""
    if x <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(x))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= x * (1 - 1e-9))


def _bins(xs: Sequence[float], target: int = 12, upto: float = 0.0) -> list[dict[str, float]]:
    """``[{"from", "to", "count"}]``: equal bins of a nice width from 0 past the largest value (or ``upto``)."""
    if not xs:
        return []
    hi = max(*xs, upto)
    width = _nice(hi / target) if hi > 0 else 1.0
    n = max(1, math.floor(hi / width) + 1)
    counts = Counter(min(n - 1, max(0, int(x // width))) for x in xs)
    return [{"from": i * width, "to": (i + 1) * width, "count": counts.get(i, 0)} for i in range(n)]


def _timing(results: Sequence[SubmissionResult]) -> dict[str, Any]:
    secs = [float(r.seconds) for r in results]
    slowest = sorted(results, key=lambda r: (-r.seconds, r.student))[:SLOWEST]
    return {"mean": _mean(secs), "median": _median(secs), "max": max(secs) if secs else None,
            "total": sum(secs), "histogram": _bins(secs),
            "slowest": [{"student": r.student, "lab": r.lab, "seconds": float(r.seconds)} for r in slowest]}


def _task(gid: str, results: Sequence[SubmissionResult], submissions: int) -> dict[str, Any]:
    tests = [t for r in results for t in r.tests if t.grade_id == gid]
    top = max(t.max_score for t in tests)
    scores = [float(t.score) for t in tests]
    failed = [t for t in tests if t.score < t.max_score]
    groups: dict[str, list[str]] = {}
    for t in failed:
        message = t.message.strip() or "no points, and no reason given"
        groups.setdefault(message_pattern(message), []).append(message)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    failures = [{"pattern": p, "example": _example(ms[0]), "count": len(ms), "share": len(ms) / submissions}
                for p, ms in ranked[:TOP_FAILURES]]
    return {"grade_id": gid, "task": task_label(gid), "max_points": float(top), "graded": len(tests),
            "mean_score": statistics.fmean(scores),
            "full_marks": sum(t.score >= t.max_score for t in tests) / len(tests),
            "zero": sum(t.score <= 0 for t in tests) / len(tests), "histogram": _counts(scores),
            "lost_points": len(failed), "failure_groups": len(groups), "failures": failures,
            "other_failures": len(failed) - sum(f["count"] for f in failures)}


def _lab(lab: str, results: Sequence[SubmissionResult]) -> dict[str, Any]:
    totals = [float(r.total) for r in results]
    ids = list(dict.fromkeys(t.grade_id for r in results for t in r.tests))
    return {"lab": lab, "title": title_of(lab), "submissions": len(results),
            "students": len({r.student for r in results}),
            "max_total": max(float(r.max_total) for r in results), "mean_total": _mean(totals),
            "median_total": _median(totals), "best_total": max(totals), "lowest_total": min(totals),
            "total_histogram": _counts(totals),
            "total_bins": _bins(totals, upto=max(float(r.max_total) for r in results)),
            "tasks": [_task(g, results, len(results)) for g in ids],
            "timing": _timing(results), "limits": [hit for r in results for hit in limits_hit(r)],
            "errors": [{"student": r.student, "lab": r.lab, "status": _example(r.status)}
                       for r in results if r.status != "ok"]}


def class_summary(results: Sequence[SubmissionResult], *, problems: Sequence[str] = ()) -> dict[str, Any]:
    """Every number of the class report, as plain data (what ``report.json`` holds, but for its time).

    Per lab (course order, then by name): totals, per grade id the score distribution and the most frequent
    failure groups (shares are of the lab's submissions; full/zero shares of the submissions that have the
    test), grading time, the limits reached, the submissions whose status is not "ok". ``problems``: stored
    files that could not be read, listed as they are.
    """
    rank = {lab: i for i, lab in enumerate(LAB_IDS)}
    by_lab: dict[str, list[SubmissionResult]] = {}
    for r in sorted(results, key=lambda r: (r.student, r.lab)):
        by_lab.setdefault(r.lab, []).append(r)
    labs = [_lab(lab, by_lab[lab]) for lab in sorted(by_lab, key=lambda lab: (rank.get(lab, len(rank)), lab))]
    return {"submissions": len(results), "students": len({r.student for r in results}), "labs": labs,
            "error_count": sum(len(lab["errors"]) for lab in labs),
            "limit_count": sum(len(lab["limits"]) for lab in labs),
            "unsafe": [{"student": r.student, "lab": r.lab, "banner": r.unsafe} for r in results if r.unsafe],
            "timing": {k: v for k, v in _timing(results).items() if k not in ("histogram", "slowest")},
            "unreadable": list(problems)}
