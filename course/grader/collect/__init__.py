"""Collecting an LMS export into the nbgrader layout: ``course collect SOURCE --out DIR``.

Canvas, Moodle and a folder of per-student zips hand the instructor the same submissions in different shapes;
``course grade`` reads one: ``DIR/<student>/<lab>/<lab>.ipynb`` with the lab's checkpoints (and whatever else the
student put in their lab folder) beside it. :func:`collect` makes that layout from any of the three, or from one
zip of them, and says in a :class:`CollectReport` what matched, what did not and why, which re-submissions were
superseded and which zips could not be read. Students' zips are not trusted: :func:`safe_extract` never writes
outside its target, never makes a link, and stops at caps counted on the bytes it actually inflates.

One module per step:

* :mod:`.extract`: :func:`safe_extract` and its caps, :class:`ZipCaps` and :data:`EXPORT_CAPS`.
* :mod:`.names`: :func:`match_lab_file` recognises a lab's file in a name (``doejane_1_2_Copy of
  lab3_mlp_mnist-1.ipynb``); :func:`student_folder` keeps a student's name readable as a folder name, unless it
  could escape ``DIR``.
* :mod:`.walk` and :mod:`.gather`: reading the export, file by file, into candidates (or unmatched files).
* :mod:`.write`: keeping the newest candidate of every file (re-submissions) and writing ``<student>/<lab>/``.
* :mod:`.report`: :class:`CollectReport`, its summary and ``DIR/collect_report.json``.
* here: :func:`collect`, and :func:`cli_collect`, which is ``course collect``: it prints the summary and writes
  ``DIR/collect_report.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ...labs import LABS, lab_info
from ..names import printable_name
from .extract import EXPORT_CAPS, ZipCaps, exc_text, safe_extract, unpack
from .gather import Collector
from .names import LabFile, match_lab_file, student_folder
from .report import REPORT_NAME, CollectReport, Matched, Superseded, Unmatched
from .write import choose_newest, write_submissions

__all__ = ["ZipCaps", "EXPORT_CAPS", "CollectError", "LabFile", "Matched", "Unmatched", "Superseded",
           "CollectReport", "REPORT_NAME", "safe_extract", "match_lab_file", "student_folder", "collect", "cli_collect"]


class CollectError(Exception):
    """SOURCE or DIR cannot be used at all (missing, not a folder or zip, ...); the message says which and why."""


def collect(source: str | os.PathLike, out: str | os.PathLike, labs: Sequence[str] | None = None, *,
            force: bool = False, caps: ZipCaps = ZipCaps(), export_caps: ZipCaps = EXPORT_CAPS) -> CollectReport:
    """Write every submission of the export ``source`` as ``out/<student>/<lab>/``; the report says what was done.

    ``labs`` limits it to those lab ids (default: every lab). An existing ``<student>/<lab>/`` is left alone and
    reported, unless ``force``. Raises :class:`CollectError` only when ``source`` or ``out`` cannot be used at all;
    whatever a submission holds is a line of the report.
    """
    src = Path(source).expanduser().resolve()
    dst = Path(out).expanduser().resolve()
    try:
        chosen = [lab_info(lab).id for lab in labs] if labs else [lab.id for lab in LABS]
    except KeyError as exc:
        raise CollectError(exc.args[0]) from None
    if not os.path.lexists(src):
        raise CollectError(f"{src}: no such file or folder (expected an LMS export: a folder or a zip)")
    is_zip = src.is_file() and zipfile.is_zipfile(src)
    if not src.is_dir() and not is_zip:
        raise CollectError(f"{src}: neither a folder nor a zip file (expected an LMS export)")
    if dst == src:
        raise CollectError(f"{dst}: --out must not be the export itself")
    if os.path.lexists(dst) and not dst.is_dir():
        raise CollectError(f"{dst}: --out exists and is not a folder")
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CollectError(f"{dst}: --out could not be made ({exc_text(exc)})") from None
    report = CollectReport(printable_name(str(src)), printable_name(str(dst)), chosen)
    # The scratch folder is inside DIR (hidden, so `course grade` never sees it): the same disk as the output.
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=dst, ignore_cleanup_errors=True) as tmp:
        collector = Collector(report, set(chosen), caps, Path(tmp), dst)
        if is_zip:
            root = Path(tmp) / "export"
            root.mkdir()
            for entry, why, problem in unpack(src, root, export_caps):
                if problem:
                    report.problems.setdefault(src.name, []).append(f"{entry}: {why}" if entry else why)
                else:
                    collector.unmatched(f"{src.name}/{entry}", why)
            collector.scan(root, f"{src.name}/")
        else:
            collector.scan(src, "")
        write_submissions(report, choose_newest(report, collector.candidates), dst, force=force,
                          file_bytes=caps.file_bytes)
    text = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
    part = dst / f".{REPORT_NAME}.part"
    part.write_text(text + "\n", encoding="utf-8", errors="backslashreplace")
    os.replace(part, dst / REPORT_NAME)
    return report


def cli_collect(args: argparse.Namespace) -> int:
    """``course collect SOURCE --out DIR [--lab ID ...] [--force]``: 0 when it ran, 2 when it could not start."""
    try:
        report = collect(args.source, args.out, args.lab or None, force=bool(args.force))
    except CollectError as exc:
        print(f"course collect: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"report: {Path(report.out) / REPORT_NAME}")
    return 0
