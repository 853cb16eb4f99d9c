"""The last step of a collect: keep the newest candidate of every file, and write each ``<student>/<lab>/``."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..names import printable_name
from .extract import CHUNK, exc_text
from .gather import Candidate
from .names import student_folder
from .report import CollectReport, Matched, Superseded

__all__ = ["choose_newest", "write_submissions"]


def choose_newest(report: CollectReport, candidates: dict[tuple[str, str, str], list[Candidate]]
                  ) -> dict[tuple[str, str], dict[str, Candidate]]:
    """The newest candidate of every file, by (student, lab) then file; the others go to ``report.superseded``."""
    groups: dict[tuple[str, str], dict[str, Candidate]] = {}
    for (student, lab, name), cands in sorted(candidates.items()):
        cands.sort(key=lambda c: (c.rank, c.shown), reverse=True)
        groups.setdefault((student, lab), {})[name] = cands[0]
        for old in cands[1:]:
            why = "a higher re-submission number" if cands[0].rank[0] > old.rank[0] else "newer"
            report.superseded.append(Superseded(printable_name(student), lab, name, old.shown,
                                                cands[0].shown, why))
    return groups


def write_submissions(report: CollectReport, groups: dict[tuple[str, str], dict[str, Candidate]], out: Path, *,
                      force: bool, file_bytes: int) -> None:
    """Write each ``out/<student>/<lab>/`` of ``groups`` (an existing one only if ``force``) into ``report``."""
    for (student, lab), files in groups.items():
        folder = student_folder(student)
        target = out / folder / lab
        entry = Matched(folder, printable_name(student), lab, str(target),
                        {name: c.shown for name, c in sorted(files.items())}, "written")
        report.matched.append(entry)
        if (out / folder).is_symlink():
            entry.status = "failed"
            _problem(report, target, f"{out / folder} is a symbolic link: nothing is written through it")
        elif os.path.lexists(target) and not force:
            entry.status = "kept"
        else:
            try:
                if os.path.lexists(target):
                    entry.status = "replaced"
                    if target.is_symlink() or not target.is_dir():
                        target.unlink()
                    else:
                        shutil.rmtree(target)
                target.mkdir(parents=True)
                for name, cand in files.items():
                    _copy(cand.path, target / name, file_bytes)
            except OSError as exc:
                entry.status = "failed"
                _problem(report, target, f"could not be written ({exc_text(exc)})")


def _problem(report: CollectReport, where: Path, text: str) -> None:
    report.problems.setdefault(printable_name(str(where)), []).append(text)


def _copy(src: Path, dst: Path, limit: int) -> None:
    """Copy one regular file, never through a link, at most ``limit`` bytes, keeping its modification time."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fin:
        st = os.fstat(fin.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{printable_name(str(src))} is not a regular file")
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(out, "wb") as fout:
            done = 0
            while done < limit and (chunk := fin.read(min(CHUNK, limit - done))):
                fout.write(chunk)
                done += len(chunk)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
