"""Taking submissions in: finding them, copying one safely, and reading its notebook without ever crashing.

* :func:`find_submissions` lists ``DIR/<student>/<lab>/`` (or ``DIR/submitted/<student>/<lab>/``). Folder names
  may be any bytes: they are kept raw (``os.fsencode``), shown through :func:`~.names.printable_name` and stored
  under :func:`~.names.safe_name`.
* :func:`copy_submission` copies one submission into a throw-away folder without following symbolic links, with
  caps on size and file count; whatever it leaves out is said in a note.
* :func:`load_submission_notebook` (from :mod:`course.grader.notebook_intake`, re-exported here) reads the lab's
  notebook and returns a reason, never an exception, when it cannot be graded (empty, not JSON, no cells, ...).
* :func:`digest` fingerprints what was handed in, so an unchanged submission is not graded twice.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..checkout import PipelineError
from .names import printable_name, safe_name
from .notebook_intake import LoadedNotebook, load_submission_notebook

__all__ = ["Caps", "Submission", "LoadedNotebook", "SKIPPED_DIRS", "find_submissions", "scratch_folder", "copy_submission", "load_submission_notebook", "digest",
           "submission_timestamp"]

SKIPPED_DIRS = frozenset({".ipynb_checkpoints", "__pycache__"})
_MB = 2 ** 20
_NOTE_LIMIT = 10          # notes of one kind kept per submission; the rest are counted


@dataclass(frozen=True)
class Caps:
    """What one submission may hold: total bytes, number of files (and folders), bytes of one file, depth."""

    total_bytes: int = 500 * _MB
    files: int = 2000
    file_bytes: int = 300 * _MB
    depth: int = 32


@dataclass(frozen=True)
class Submission:
    """One ``<student>/<lab>/`` folder; ``problem`` is set when it cannot be graded at all."""

    student_raw: bytes
    lab_raw: bytes
    path: Path
    problem: str = ""

    @property
    def student(self) -> str:
        return printable_name(self.student_raw)

    @property
    def lab(self) -> str:
        return printable_name(self.lab_raw)

    @property
    def safe_student(self) -> str:
        return safe_name(self.student_raw)


def find_submissions(folder: Path) -> list[Submission]:
    """Every ``<student>/<lab>/`` under ``folder`` or ``folder/submitted``, sorted; hidden entries are skipped.

    A student or lab folder that is a symbolic link is listed with a ``problem`` (it is not followed).
    Raises ``PipelineError`` when the folder is missing or holds no submission.
    """
    folder = Path(folder).resolve()
    base = folder / "submitted" if (folder / "submitted").is_dir() else folder
    if not base.is_dir():
        raise PipelineError(f"{folder}: no such folder of submissions")
    found: list[Submission] = []
    for student in _entries(base):
        if student.is_symlink():
            found.append(Submission(os.fsencode(student.name), b"", Path(student.path),
                                    "the student's folder is a symbolic link (not followed)"))
            continue
        if not student.is_dir(follow_symlinks=False):
            continue
        labs = _entries(Path(student.path))
        if not any(lab.is_dir(follow_symlinks=False) or lab.is_symlink() for lab in labs):
            found.append(Submission(os.fsencode(student.name), b"", Path(student.path),
                                    "no lab folder: expected <student>/<lab>/<lab>.ipynb"))
        for lab in labs:
            if lab.is_symlink():
                found.append(Submission(os.fsencode(student.name), os.fsencode(lab.name), Path(lab.path),
                                        "the lab folder is a symbolic link (not followed)"))
            elif lab.is_dir(follow_symlinks=False):
                found.append(Submission(os.fsencode(student.name), os.fsencode(lab.name), Path(lab.path)))
    if not found:
        raise PipelineError(f"{base}: no submissions (expected {base}/<student>/<lab>/<lab>.ipynb)")
    return sorted(found, key=lambda s: (s.student_raw, s.lab_raw))


def _entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: os.fsencode(e.name))


def _walk(folder: Path, caps: Caps) -> Iterator[tuple[Path, str, os.stat_result | None]]:
    """(relative path, kind, lstat) for everything under ``folder``, sorted by raw name, links never followed.

    kind is "dir", "file", "link", "other" (fifo, socket, device), "deep" (below ``caps.depth``) or "error".
    """
    stack: list[tuple[Path, int]] = [(Path(), 0)]
    while stack:
        rel, depth = stack.pop()
        try:
            with os.scandir(folder / rel) as it:
                # Notebooks first at the top: the caps never leave out the notebook for other files.
                entries = sorted(it, key=lambda e: (depth > 0 or not e.name.endswith(".ipynb"), os.fsencode(e.name)))
        except OSError:
            yield rel, "error", None
            continue
        subdirs: list[tuple[Path, int]] = []
        for entry in entries:
            sub = rel / entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                yield sub, "error", None
                continue
            if stat.S_ISLNK(st.st_mode):
                yield sub, "link", st
            elif stat.S_ISDIR(st.st_mode):
                if entry.name in SKIPPED_DIRS:
                    continue
                if depth + 1 >= caps.depth:
                    yield sub, "deep", st
                    continue
                yield sub, "dir", st
                subdirs.append((sub, depth + 1))
            elif stat.S_ISREG(st.st_mode):
                yield sub, "file", st
            else:
                yield sub, "other", st
        stack.extend(reversed(subdirs))


@contextlib.contextmanager
def scratch_folder(prefix: str = "course-grade-") -> Iterator[Path]:
    """A throw-away folder, removed afterwards whatever the runner left in it."""
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)


class _Notes:
    """Notes of a few kinds, each kind capped at ``_NOTE_LIMIT`` lines and then counted."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.counts: dict[str, int] = {}

    def add(self, kind: str, line: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= _NOTE_LIMIT:
            self.lines.append(line)

    def result(self) -> list[str]:
        extra = [f"... and {n - _NOTE_LIMIT} more {kind}" for kind, n in self.counts.items() if n > _NOTE_LIMIT]
        return self.lines + extra


def copy_submission(src: Path, dst: Path, caps: Caps = Caps()) -> list[str]:
    """Copy the submission in ``src`` into ``dst`` (created); return notes on what was left out and why.

    Symbolic links are never followed or copied, whether they point inside or outside the submission; files are
    opened with ``O_NOFOLLOW`` and checked to be regular files, so a link swapped in meanwhile is not read either.
    """
    notes = _Notes()
    dst.mkdir(parents=True, exist_ok=True)
    count = total = 0
    for rel, kind, st in _walk(src, caps):
        shown = printable_name(str(rel))
        if kind == "link":
            notes.add("symbolic links skipped", f"skipped {shown}: a symbolic link (links are never followed)")
        elif kind in ("other", "error"):
            notes.add("unreadable entries skipped", f"skipped {shown}: not a regular file or folder")
        elif kind == "deep":
            notes.add("deep folders skipped", f"skipped {shown}: nested deeper than {caps.depth} folders")
        elif kind == "file" and st is not None and st.st_size > caps.file_bytes:
            notes.add("files over the size cap", f"skipped {shown}: {_size(st.st_size)}, over the "
                                                 f"{_size(caps.file_bytes)} cap for one file")
        elif count >= caps.files:
            notes.add("files over the file-count cap", f"skipped {shown}: over the cap of {caps.files} files")
        elif kind == "dir":
            count += 1
            (dst / rel).mkdir(exist_ok=True)
        elif st is not None and total + st.st_size > caps.total_bytes:
            notes.add("files over the total cap", f"skipped {shown}: the submission is over the "
                                                  f"{_size(caps.total_bytes)} cap in all")
        else:
            count += 1
            copied = _copy_file(src / rel, dst / rel, min(caps.file_bytes, caps.total_bytes - total))
            if copied is None:
                notes.add("unreadable entries skipped", f"skipped {shown}: could not be read")
            else:
                total += copied
    return notes.result()


def _size(n: int) -> str:
    return f"{n / _MB:.0f} MB" if n >= _MB else f"{n} bytes"


def _copy_file(src: Path, dst: Path, limit: int) -> int | None:
    """Copy one regular file (never through a link), at most ``limit`` bytes; the bytes copied, or None."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        done = 0
        with open(dst, "wb") as out:
            while done < limit:
                chunk = os.read(fd, min(_MB, limit - done))
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
        return done
    except OSError:
        with contextlib.suppress(OSError):
            dst.unlink()
        return None
    finally:
        os.close(fd)


def digest(folder: Path, caps: Caps = Caps()) -> str:
    """sha256 of what was handed in: names and bytes of files, links by their target string, in name order.

    Caches (``.ipynb_checkpoints``, ``__pycache__``) do not count; a file over the size cap counts by its size
    only (it is never graded). Never raises: an unreadable entry counts as such.
    """
    h = hashlib.sha256()

    def put(*parts: bytes) -> None:
        for part in parts:
            h.update(len(part).to_bytes(8, "big") + part)

    try:
        for rel, kind, st in _walk(Path(folder), caps):
            name = os.fsencode(str(rel))
            if kind == "link":
                try:
                    put(b"L", name, os.fsencode(os.readlink(Path(folder) / rel)))
                except OSError:
                    put(b"L?", name)
            elif kind == "file" and st is not None and st.st_size <= caps.file_bytes:
                put(b"F", name, _file_sha(Path(folder) / rel))
            elif kind == "file" and st is not None:
                put(b"F>", name, str(st.st_size).encode())
            else:
                put(kind.encode(), name)
    except OSError:
        put(b"unreadable")
    return h.hexdigest()


def _file_sha(path: Path) -> bytes:
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b"unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"not a file"
        while chunk := os.read(fd, _MB):
            h.update(chunk)
    except OSError:
        return b"unreadable"
    finally:
        os.close(fd)
    return h.digest()


def submission_timestamp(folder: Path) -> str | None:
    """The text of nbgrader's ``timestamp.txt`` in a submission (when it was handed in), if there is one."""
    try:
        fd = os.open(Path(folder) / "timestamp.txt", os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 200).decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return text or None
