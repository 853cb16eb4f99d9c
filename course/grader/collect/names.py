"""Names in an export: which lab a file or folder belongs to, whose it is, and the student's folder under DIR.

* :func:`match_lab_file` recognises a lab's file in a name (``doejane_1_2_Copy of lab3_mlp_mnist-1.ipynb``).
* :func:`folder_lab` recognises a lab's folder; :func:`student_part` is the student in ``<student>_<anything>``.
* :func:`student_folder` keeps a student's name readable as a folder name, unless it could escape ``DIR``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ...labs import LABS, Lab
from ..names import safe_name

__all__ = ["LabFile", "match_lab_file", "folder_lab", "student_part", "student_folder"]


@dataclass(frozen=True)
class LabFile:
    """A file name recognised as one of a lab's files; ``name`` is what it is called in ``<student>/<lab>/``."""

    lab: str
    name: str
    resubmission: int       # N of a "-N" or " (N)" suffix (an LMS's re-submission), else 0
    prefix: str             # what came before the lab's file name ("doejane_12345_6789012_", "", ...)


_NUMBER = r"(?:-\d{1,4}|\s?\(\d{1,4}\))"


@lru_cache(maxsize=8)
def _file_patterns(labs: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[int, str, str, re.Pattern[str]]]:
    """(length, lab id, file name, pattern) for every (lab id, its file names), the longest name first."""
    out = []
    for lab, targets in labs:
        for target in targets:
            stem, ext = os.path.splitext(target)
            pattern = re.compile(rf"(?P<prefix>.*?)(?:copy[ _]of[ _])?{re.escape(stem)}(?P<n>{_NUMBER}*)"
                                 rf"{re.escape(ext)}", re.IGNORECASE | re.DOTALL)
            out.append((len(target), lab, target, pattern))
    return sorted(out, key=lambda t: -t[0])          # the most specific first


def match_lab_file(name: str, labs: Sequence[Lab] = LABS) -> LabFile | None:
    """The lab file ``name`` ends in (case-insensitive, ``Copy of`` and ``-N`` / `` (N)`` tolerated), or None."""
    for _, lab, target, pattern in _file_patterns(tuple((lab.id, (lab.notebook, *lab.checkpoints)) for lab in labs)):
        m = pattern.fullmatch(name)
        if m:
            numbers = re.findall(r"\d+", m["n"])
            return LabFile(lab, target, int(numbers[-1]) if numbers else 0, m["prefix"])
    return None


@lru_cache(maxsize=8)
def _folder_patterns(labs: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
    return [(lab, re.compile(rf"(?P<prefix>.*[_ -])?(?:copy[ _]of[ _])?{re.escape(lab)}(?:-main|-master|{_NUMBER})*",
                             re.IGNORECASE | re.DOTALL)) for lab in labs]


def folder_lab(name: str, *, strict: bool = False) -> str | None:
    """The lab a folder is named after: ``lab3_mlp_mnist``, ``lab3_mlp_mnist-main``, ``Copy of lab3_mlp_mnist (1)``
    and, unless ``strict`` (where a student's name may come first), ``alice_lab3_mlp_mnist``."""
    for lab, pattern in _folder_patterns(tuple(lab.id for lab in LABS)):
        m = pattern.fullmatch(name)
        if m and not (strict and m["prefix"]):
            return lab
    return None


def student_part(name: str) -> str:
    """The student in ``<student>_<anything>``: the part before the first ``_`` (the whole name without one)."""
    return re.sub(rf"{_NUMBER}$", "", name.split("_", 1)[0]).strip()


_UNSAFE = re.compile(r'[/\\:*?"<>|]')


def student_folder(name: str) -> str:
    """The folder under DIR for a student: the name as it is (``doejane``, ``Jane Doe``) when it is safe;
    otherwise :func:`~course.grader.names.safe_name` of it, which can never leave DIR, hide from
    ``course grade`` (a leading dot) or be taken for nbgrader's ``submitted/`` folder."""
    name = name.strip()
    if (not name or name.startswith(".") or name.endswith(".") or name.lower() == "submitted"
            or _UNSAFE.search(name) or not name.isprintable() or len(os.fsencode(name)) > 100):
        return safe_name(name)
    return name
