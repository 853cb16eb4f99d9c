"""``course collect``, names: lab files recognised by the end of their name, students' names as folder names."""
from __future__ import annotations

import re

import pytest
from lms_exports import L3, L5

from course.grader.collect import match_lab_file, student_folder


@pytest.mark.parametrize("name, expected", [
    ("lab3_mlp_mnist.ipynb", (L3, "lab3_mlp_mnist.ipynb", 0, "")),
    ("Copy of lab3_mlp_mnist.ipynb", (L3, "lab3_mlp_mnist.ipynb", 0, "")),
    ("lab3_mlp_mnist (1).ipynb", (L3, "lab3_mlp_mnist.ipynb", 1, "")),
    ("doejane_12345_6789012_lab3_mlp_mnist-2.ipynb", (L3, "lab3_mlp_mnist.ipynb", 2, "doejane_12345_6789012_")),
    ("doejane_LATE_12345_6789012_LAB3_BEST.PT", (L3, "lab3_best.pt", 0, "doejane_LATE_12345_6789012_")),
    ("Jane Doe_12345_assignsubmission_file_lab5_cifar-1.pt", (L5, "lab5_cifar.pt", 1,
                                                              "Jane Doe_12345_assignsubmission_file_")),
    ("notes.txt", None), ("lab3_mlp_mnist.ipynb.bak", None), ("lab3_mlp_mnist-checkpoint.ipynb", None),
    ("lab3_best.pth", None),
])
def test_lab_files_are_recognised_by_the_end_of_their_name(name: str, expected: tuple | None) -> None:
    m = match_lab_file(name)
    assert (m and (m.lab, m.name, m.resubmission, m.prefix)) == expected


def test_student_names_stay_readable_unless_they_could_escape_or_hide() -> None:
    for name in ("doejane", "Jane Doe", "Zoë Ørsted", "o'brien"):
        assert student_folder(name) == name
    unsafe = ["..", ".", "../../etc", "a/b", "a\\b", ".hidden", "submitted", "Submitted", "two\nlines", "C:x", "",
              "x" * 300, "bad\udcff"]
    folders = [student_folder(n) for n in unsafe]
    assert len(set(folders)) == len(folders)
    for folder in folders:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,60}", folder) and not folder.startswith("."), folder
        assert folder.lower() != "submitted"
