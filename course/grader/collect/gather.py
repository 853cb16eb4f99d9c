"""Walking an export: every file of it becomes a :class:`Candidate` for a ``<student>/<lab>/`` or is unmatched.

A :class:`Collector` reads the three shapes an LMS hands out — per-student zips, flat ``<student>_..._<file>``
files, per-student folders — under up to three folders that only wrap them, unpacks students' zips (one level),
and notes in its :class:`~course.grader.collect.report.CollectReport` every file it cannot place, and why.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..names import printable_name
from .extract import ZipCaps, exc_text, is_junk, over_cap, unpack
from .names import folder_lab, match_lab_file, student_part
from .report import CollectReport, Unmatched
from .walk import scandir_sorted, walk_files

__all__ = ["Candidate", "Collector"]


@dataclass
class Candidate:
    student: str
    lab: str
    name: str               # its path inside <student>/<lab>/
    path: Path
    shown: str
    rank: tuple[int, int]   # (re-submission, mtime in ns): the highest is kept


class Collector:
    """Finds every candidate file of every student's submissions (``candidates``, by (student, lab, file))."""

    def __init__(self, report: CollectReport, labs: set[str], caps: ZipCaps, tmp: Path, skip: Path) -> None:
        self.report, self.labs, self.caps, self.tmp, self.skip = report, labs, caps, tmp, skip
        self.candidates: dict[tuple[str, str, str], list[Candidate]] = {}
        self.zips = self.seen = 0

    def unmatched(self, shown: str, reason: str) -> None:
        self.report.unmatched.append(Unmatched(printable_name(shown), reason))

    def add(self, student: str, lab: str, name: str, path: Path, shown: str, rank: tuple[int, int]) -> None:
        self.seen += 1
        if lab not in self.labs:
            self.unmatched(shown, f"a file of {lab}, which was not asked for (--lab)")
            return
        cand = Candidate(student, lab, name, path, printable_name(shown), rank)
        self.candidates.setdefault((student, lab, name), []).append(cand)

    def scan(self, root: Path, shown: str) -> None:
        """The top of an export: per-student zips, flat ``<student>_..._<file>`` files, per-student folders."""
        for depth in range(4):                   # "download all" zips may wrap everything in a folder or two
            entries = [e for e in scandir_sorted(root) if not is_junk(e.name)]
            if (depth < 3 and len(entries) == 1 and entries[0].is_dir(follow_symlinks=False)
                    and _is_wrapper(Path(entries[0].path))):
                root, shown = Path(entries[0].path), f"{shown}{entries[0].name}/"
            else:
                break
        for e in entries:
            path, where = Path(e.path), shown + e.name
            if path == self.skip:
                continue
            if e.is_symlink():
                self.unmatched(where, "symbolic link skipped")
            elif e.is_dir(follow_symlinks=False):
                if folder_lab(e.name, strict=True):
                    self.unmatched(where + "/", "a lab's folder, not a student's: expected <student>/<lab>/")
                else:
                    self.tree(student_part(e.name), path, where + "/", zips=True)
            elif not e.is_file(follow_symlinks=False):
                self.unmatched(where, "not a regular file")
            elif e.name.lower().endswith(".zip"):
                self.student_zip(None, path, where)
            else:
                self.flat(e, where)

    def flat(self, e: os.DirEntry, where: str) -> None:
        m = match_lab_file(e.name)
        try:
            st = e.stat(follow_symlinks=False)
        except OSError as exc:
            self.unmatched(where, f"could not be read ({exc_text(exc)})")
            return
        if m is None:
            self.unmatched(where, "no lab file name in it")
        elif not m.prefix.endswith("_") or not student_part(m.prefix):
            self.unmatched(where, "not a file named <student>_..._<file>")
        elif st.st_size > self.caps.file_bytes:
            self.unmatched(where, over_cap(st.st_size, self.caps))
        else:
            self.add(student_part(m.prefix), m.lab, m.name, Path(e.path), where, (m.resubmission, st.st_mtime_ns))

    def student_zip(self, student: str | None, path: Path, where: str) -> None:
        stem = path.name[:-4]
        if student is None:
            if folder_lab(stem, strict=True):
                self.unmatched(where, "a zip named after a lab, not a student: expected <student>.zip or "
                                      "<student>_..._<file>.zip")
                return
            student = student_part(stem)
        if not student:
            self.unmatched(where, "no student's name in it: expected <student>.zip or <student>_..._<file>.zip")
            return
        self.zips += 1
        dest = self.tmp / f"zip{self.zips}"
        dest.mkdir()
        for entry, why, problem in unpack(path, dest, self.caps):
            if problem:
                self.report.problems.setdefault(printable_name(where), []).append(f"{entry}: {why}" if entry else why)
            else:
                self.unmatched(f"{where}/{entry}", why)
        before = self.seen
        self.tree(student, dest, where + "/", zips=False)
        if self.seen == before and printable_name(where) not in self.report.problems:
            self.unmatched(where, "no lab's file in it")

    def tree(self, student: str, root: Path, shown: str, *, zips: bool) -> None:
        """One student's files (an unpacked zip, a Moodle folder): lab files by name, lab folders, extras."""
        if not student:
            self.unmatched(shown, "no student's name in it: expected <student>_.../")
            return
        files, skipped = walk_files(root, self.caps, self.skip)
        for rel, why in skipped:
            self.unmatched(shown + rel, why)
        pending: list[tuple[tuple[str, ...], Path, int]] = []
        anchors: dict[tuple[str, ...], set[str]] = {}
        for parts, path, mtime in files:
            where = shown + "/".join(parts)
            home = next(((i, lab) for i in range(len(parts) - 2, -1, -1) if (lab := folder_lab(parts[i]))), None)
            m = match_lab_file(parts[-1])
            if m and (not m.prefix or m.prefix[-1] in "_ -."):
                self.add(student, m.lab, m.name, path, where, (m.resubmission, mtime))
                if home is None and m.name.endswith(".ipynb"):
                    anchors.setdefault(parts[:-1], set()).add(m.lab)
            elif home is not None:
                self.add(student, home[1], "/".join(parts[home[0] + 1:]), path, where, (0, mtime))
            elif zips and parts[-1].lower().endswith(".zip"):
                self.student_zip(student, path, where)
            else:
                pending.append((parts, path, mtime))
        for parts, path, mtime in pending:
            where = shown + "/".join(parts)
            anchor = next((parts[:i] for i in range(len(parts) - 1, -1, -1) if parts[:i] in anchors), None)
            if anchor is not None and len(anchors[anchor]) == 1:
                self.add(student, next(iter(anchors[anchor])), "/".join(parts[len(anchor):]), path, where, (0, mtime))
            elif anchor is not None:
                self.unmatched(where, f"beside the notebooks of several labs ({', '.join(sorted(anchors[anchor]))}): "
                                      f"put it in its <lab>/ folder")
            elif parts[-1].lower().endswith(".zip"):
                self.unmatched(where, "a zip inside a zip: not extracted (one level of zips at most)")
            else:
                self.unmatched(where, "no lab file name in it")


def _is_wrapper(folder: Path) -> bool:
    """A folder that only wraps an export (zips, flat files, student folders), not a student's own folder."""
    try:
        entries = [e for e in scandir_sorted(folder) if not is_junk(e.name)]
    except OSError:
        return False
    if folder_lab(folder.name, strict=True) or any(e.is_dir(follow_symlinks=False) and folder_lab(e.name, strict=True)
                                                   for e in entries):
        return False
    flat = [m for e in entries if e.is_file(follow_symlinks=False) and (m := match_lab_file(e.name))]
    if any(not m.prefix.endswith("_") for m in flat):
        return False
    return (bool(flat) or any(e.name.lower().endswith(".zip") for e in entries)
            or sum(e.is_dir(follow_symlinks=False) for e in entries) >= 2)
