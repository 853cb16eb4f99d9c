"""Listing a folder of the export without trusting it: links are never followed, and the caps of a zip apply."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .extract import ZipCaps, exc_text, is_junk, over_cap

__all__ = ["walk_files", "scandir_sorted"]


def walk_files(root: Path, caps: ZipCaps, skip: Path | None = None
               ) -> tuple[list[tuple[tuple[str, ...], Path, int]], list[tuple[str, str]]]:
    """Regular files under ``root`` as (parts, path, mtime), and (relative path, why) for what is left out.

    Links are never followed; junk, and ``skip`` (DIR, when it is inside the export), are dropped without a word.
    """
    files: list[tuple[tuple[str, ...], Path, int]] = []
    skipped: list[tuple[str, str]] = []
    stack: list[tuple[str, ...]] = [()]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root.joinpath(*rel)) as it:
                entries = sorted(it, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            skipped.append(("/".join(rel), f"could not be read ({exc_text(exc)})"))
            continue
        for e in entries:
            sub, shown = rel + (e.name,), "/".join(rel + (e.name,))
            if is_junk(e.name) or Path(e.path) == skip:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                skipped.append((shown, f"could not be read ({exc_text(exc)})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                skipped.append((shown, "symbolic link skipped"))
            elif stat.S_ISDIR(st.st_mode):
                if len(sub) >= caps.depth:
                    skipped.append((shown, f"nested deeper than {caps.depth} folders"))
                else:
                    stack.append(sub)
            elif not stat.S_ISREG(st.st_mode):
                skipped.append((shown, "not a regular file"))
            elif st.st_size > caps.file_bytes:
                skipped.append((shown, over_cap(st.st_size, caps)))
            elif len(files) >= caps.files:
                skipped.append((shown, f"over the cap of {caps.files} files"))
            else:
                files.append((sub, Path(e.path), st.st_mtime_ns))
    return sorted(files), skipped


def scandir_sorted(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``, by name."""
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)
