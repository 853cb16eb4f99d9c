"""Unpacking a zip without trusting it: :func:`safe_extract`, and the caps it stops at (:class:`ZipCaps`).

A student's zip (or a class's "download all") may name files outside its target, hold links, lie about its sizes
or be a bomb. :func:`unpack` never writes outside its target, never makes a link, and counts its caps on the bytes
it actually inflates; it returns a note on everything it leaves out, for :mod:`~course.grader.collect` to report.
The small helpers here (:func:`is_junk`, :func:`over_cap`, :func:`exc_text`) are shared with the walk of a folder.
"""
from __future__ import annotations

import contextlib
import os
import re
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..names import printable_name

__all__ = ["ZipCaps", "EXPORT_CAPS", "CHUNK", "safe_extract", "unpack", "is_junk", "over_cap", "exc_text"]

_MB = 2 ** 20
CHUNK = _MB                 # bytes read or written at a time
_JUNK = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class ZipCaps:
    """What one zip (or one student's folder) may unpack to: total bytes, files, bytes of one file, folder depth.

    Counted on the bytes actually inflated, not on the sizes the zip declares, which a zip bomb can falsify.
    """

    total_bytes: int = 1024 * _MB
    files: int = 5000
    file_bytes: int = 300 * _MB
    depth: int = 32


#: Caps for SOURCE itself when it is a zip: a whole class's "download all submissions".
EXPORT_CAPS = ZipCaps(total_bytes=32 * 1024 * _MB, files=200_000)


def is_junk(name: str) -> bool:
    return name in _JUNK or name.startswith("._")


def _size(n: int) -> str:
    return f"{n / _MB:.0f} MB" if n >= _MB else f"{n} bytes"


def over_cap(size: int, caps: ZipCaps) -> str:
    return f"over the size cap ({_size(size)}; {_size(caps.file_bytes)} for one file)"


def exc_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def _entry_parts(name: str) -> tuple[list[str], str]:
    """The folders and file of a zip entry, or ``[]`` and why it may not be written."""
    posix = name.replace("\\", "/")             # zips made on Windows may use either separator
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if "\x00" in name:
        return [], "a NUL byte in its name"
    if posix.startswith("/"):
        return [], "an absolute path"
    if parts and re.match(r"[A-Za-z]:", parts[0]):
        return [], "a drive letter in its path"
    if ".." in parts:
        return [], "a path that climbs out of the zip (..)"
    return parts, ""


def unpack(zip_path: Path, dest: Path, caps: ZipCaps) -> list[tuple[str, str, bool]]:
    """Unpack ``zip_path`` into ``dest``; (entry, why it was skipped, whether it is a problem of the zip) each."""
    notes: list[tuple[str, str, bool]] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        return [("", f"not a readable zip ({exc_text(exc)})", True)]
    total = count = 0
    with zf:
        for info in zf.infolist():
            entry = printable_name(info.filename)
            parts, unsafe = _entry_parts(info.filename)
            mode = info.external_attr >> 16
            if unsafe:
                notes.append((entry, f"skipped: {unsafe}", False))
            elif stat.S_ISLNK(mode):
                notes.append((entry, "symbolic link skipped", False))
            elif not parts or any(is_junk(p) for p in parts):
                continue
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                notes.append((entry, "not a regular file", False))
            elif len(parts) > caps.depth:
                notes.append((entry, f"nested deeper than {caps.depth} folders", False))
            elif count >= caps.files:               # folders count too: a million empty ones is a bomb as well
                notes.append(("", f"over the cap of {caps.files} files: {entry} and the rest not extracted", True))
                break
            elif info.is_dir():
                count += 1
                with contextlib.suppress(OSError):
                    dest.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            elif info.flag_bits & 0x1:
                notes.append((entry, "encrypted (password-protected): not extracted", True))
            elif info.file_size > caps.file_bytes:
                notes.append((entry, over_cap(info.file_size, caps), False))
            else:
                count += 1
                done, why, stop = _inflate(zf, info, dest, parts, min(caps.file_bytes, caps.total_bytes - total),
                                           caps)
                total += done
                if why:
                    notes.append(("" if stop else entry, why, stop or why.startswith("corrupt")))
                if stop:
                    break
    return notes


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, parts: list[str], limit: int,
             caps: ZipCaps) -> tuple[int, str, bool]:
    """Stream one entry to its file, at most ``limit`` bytes; (bytes inflated, why it is not kept, stop the zip)."""
    target = dest.joinpath(*parts)
    entry = printable_name(info.filename)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not Path(os.path.realpath(target.parent)).is_relative_to(os.path.realpath(dest)):
            return 0, "skipped: its folder is outside the target", False
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return 0, "skipped: a second entry of the same name (the first is kept)", False
    except OSError as exc:
        return 0, f"skipped: could not be written ({exc_text(exc)})", False
    done, why, stop = 0, "", False
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(CHUNK):
                done += len(chunk)
                if done > limit:
                    if done > caps.file_bytes:
                        why = f"over the size cap: inflates past {_size(caps.file_bytes)} for one file"
                    else:
                        why, stop = (f"stopped at {entry}: the zip inflates past {_size(caps.total_bytes)} in "
                                     f"all; the rest is not extracted"), True
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError, OSError) as exc:
        why = f"corrupt: could not be extracted ({exc_text(exc)})"
    if why:
        with contextlib.suppress(OSError):
            target.unlink()
        return done, why, stop
    with contextlib.suppress(ValueError, OverflowError, OSError):
        mtime = time.mktime(info.date_time + (0, 0, -1))
        os.utime(target, (mtime, mtime))
    return done, "", False


def safe_extract(zip_path: Path, dest: Path, caps: ZipCaps = ZipCaps()) -> list[str]:
    """Unpack ``zip_path`` into ``dest`` (created) without trusting it; return a note on everything left out.

    Nothing is written outside ``dest`` (absolute names, ``..``, drive letters and backslashes are refused), no link
    is made, encrypted entries are skipped, and the caps stop it on the bytes really inflated. Never raises for what
    the zip holds: a corrupt zip is a note. Junk (``__MACOSX/``, ``.DS_Store``, ``.ipynb_checkpoints/``) is dropped.
    """
    zip_path, dest = Path(zip_path).expanduser().resolve(), Path(dest).expanduser().resolve()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"{dest} could not be made ({exc_text(exc)})"]
    return [f"{entry}: {why}" if entry else why for entry, why, _ in unpack(zip_path, dest, caps)]
