"""Building LMS exports for the ``course collect`` tests: notebooks that say which file they were, zips (crafted
with ``zipfile`` and, where zipfile would not write what an attacker can, patched byte by byte), and what DIR holds.
"""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from course.grader.intake import find_submissions

__all__ = ["L3", "L5", "JAN", "FEB", "MAR", "nb", "tag_of", "make_zip", "add_symlink_entry", "patch_headers",
           "files_under", "layout", "pairs"]

L3, L5 = "lab3_mlp_mnist", "lab5_cnn_resnet"
JAN, FEB, MAR = (2024, 1, 1, 9, 0, 0), (2024, 2, 1, 9, 0, 0), (2024, 3, 1, 9, 0, 0)


def nb(tag: str) -> bytes:
    """A valid notebook that says which file it was (its only cell holds ``tag``)."""
    return nbformat.writes(new_notebook(cells=[new_markdown_cell(tag)])).encode()


def tag_of(path: Path) -> str:
    return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4).cells[0].source


def make_zip(path: Path, entries: dict[str, bytes | tuple[bytes, tuple]], *,
             method: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            data, date = data if isinstance(data, tuple) else (data, JAN)
            info = zipfile.ZipInfo(name, date_time=date)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return path


def add_symlink_entry(path: Path, name: str, target: str) -> None:
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo(name, date_time=JAN)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)


def patch_headers(path: Path, *, size: int | None = None, flags: int = 0) -> None:
    """Falsify the declared uncompressed size, or set flag bits, in every local and central header."""
    data = bytearray(path.read_bytes())
    for sig, flag_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        for m in re.finditer(re.escape(sig), bytes(data)):
            at = m.start()
            data[at + flag_at:at + flag_at + 2] = (int.from_bytes(data[at + flag_at:at + flag_at + 2], "little")
                                                   | flags).to_bytes(2, "little")
            if size is not None:
                data[at + size_at:at + size_at + 4] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def layout(out: Path) -> set[str]:
    """What ``course grade`` would see: the files of DIR, without the report."""
    return files_under(out) - {"collect_report.json"}


def pairs(out: Path) -> list[tuple[str, str]]:
    return [(s.student, s.lab) for s in find_submissions(out)]
