"""The class report: where a class lost its points, how long grading took, which submissions hit a limit.

``course report`` turns the stored results (``<results>/<lab>/<student>.json``) into one HTML page and a JSON
file beside it. :func:`class_summary` computes every number as plain data; the HTML is drawn from that dict
alone, so the page and the JSON cannot disagree. The page is self-contained and works offline (inline CSS,
plots as embedded PNGs, no scripts), because it is read from a laptop, a mail or an LMS, not from a server.

Failure messages are grouped by their wording with numbers and quoted values masked: ``the training loss does
not fall (2.30 → 2.30 over 3 epochs)`` and ``(2.29 → 2.31 over 5 epochs)`` are the same mistake, and a teacher
wants to know that 41% of the class made it, with one real message as the example.

One module per step: :mod:`.summary` (the numbers), :mod:`.plots` (the figures, as PNG data URIs), :mod:`.html`
(the page); here :func:`write_class_report` writes both files and :func:`cli_report` is ``course report``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ...checkout import find_root
from ..integrity import class_integrity
from ..results import SubmissionResult
from ..store import atomic_write, load_results
from .html import class_report_html
from .summary import (
    LIMITS,
    SLOWEST,
    TOP_FAILURES,
    class_summary,
    limits_hit,
    message_pattern,
)

__all__ = ["LIMITS", "TOP_FAILURES", "SLOWEST", "message_pattern", "limits_hit", "class_summary",
           "class_report_html", "write_class_report", "cli_report"]


def write_class_report(results: Sequence[SubmissionResult], out_html: Path, *,
                       problems: Sequence[str] = (), integrity: dict | None = None) -> tuple[Path, Path]:
    """Write the report page and ``<stem>.json`` (the summary and when it was made) atomically; both paths.

    ``integrity`` (from :func:`~course.grader.integrity.class_integrity`) adds its section to both."""
    out_html = Path(out_html)
    generated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary = class_summary(results, problems=problems) | ({"integrity": integrity} if integrity else {})
    json_path = atomic_write(out_html.with_suffix(".json"),
                             json.dumps(summary | {"generated": generated}, ensure_ascii=False, indent=1) + "\n")
    return atomic_write(out_html, class_report_html(summary, generated=generated)), json_path


def _damaged(result: SubmissionResult) -> str:
    """Why a stored result cannot be counted (a hand-edited file: a score that is not a number), or ""."""
    try:
        numbers = [result.seconds, *(x for t in result.tests for x in (t.score, t.max_score))]
        texts = [result.student, result.lab, result.status, *result.notes, *(t.message for t in result.tests)]
    except (TypeError, AttributeError):
        return "tests or notes that are not lists"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in numbers):
        return "a score, maximum or time that is not a finite number"
    return "" if all(isinstance(x, str) for x in texts) else "a name, status, note or message that is not text"


def cli_report(args: argparse.Namespace) -> int:
    """``course report``: 0 when the report was written, 2 (and why, on stderr) when there is nothing to report."""
    def root() -> Path:
        return find_root(getattr(args, "root", None))

    results_dir = Path(args.results).expanduser().resolve() if args.results else root() / "autograder" / "results"
    out = Path(args.out).expanduser().resolve() if args.out else root() / "autograder" / "report" / "report.html"
    if not results_dir.is_dir():
        print(f"course report: no results folder at {results_dir} (grade first with `course grade DIR`, "
              "or pass --results)", file=sys.stderr)
        return 2
    results, problems = load_results(results_dir)
    damaged = [(r, why) for r in results if (why := _damaged(r))]
    problems += [f"{results_dir / r.lab}: the result of {r.student!r}: {why}" for r, why in damaged]
    results = [r for r in results if not _damaged(r)]
    for problem in problems:
        print(f"course report: left out {problem}", file=sys.stderr)
    if not results:
        print(f"course report: no stored results in {results_dir}"
              + (f" ({len(problems)} unreadable file(s))" if problems else ""), file=sys.stderr)
        return 2
    integrity = None
    if getattr(args, "submissions", None):
        integrity = class_integrity(root(), Path(args.submissions).expanduser().resolve(),
                                    sorted({r.lab for r in results}))
    html_path, json_path = write_class_report(results, out, problems=problems, integrity=integrity)
    labs = len({r.lab for r in results})
    print(f"report: {len(results)} submission(s) of {labs} lab(s)"
          + (f"; integrity: {integrity['flagged']} pair(s) flagged, {integrity['artefacts']} identical "
             "artefact(s)" if integrity else "") + f"\n  HTML: {html_path}\n  JSON: {json_path}")
    return 0
