"""``course validate NOTEBOOK``: the student's last check before handing in.

It runs the notebook as the autograder does (fast mode, in a scratch copy of the notebook's
folder, so none of the student's files change) and prints one row per graded test cell:
``passed``, ``failed: <first line of the message>``, ``not attempted`` (the task's stub still
raises ``NotImplementedError``), ``missing — test cell deleted, 0 points`` or ``not run``. Then it
checks each file the lab asks for (:mod:`course.labs`): present beside the notebook, readable
with ``weights_only=True``, fitting the student's own architecture (loaded inside the executed
kernel, where the student's builder is defined) and trained in full mode.

Exit status: 0 when nothing found would cost points, 1 when something would, 2 for a usage
problem (no such file, a corrupt notebook, an unknown lab, a missing package).

Light on purpose: importing this module imports neither Jupyter nor nbgrader. Running it needs
``nbformat``, ``nbclient`` and ``ipykernel`` (every JupyterLab and Colab has them), never nbgrader.
"""
from __future__ import annotations

from .analyse import REQUIRED_MODULES, analyse_tests, check_files, find_reference, identify_lab, missing_modules
from .report import FileRow, Report, Stop, TestRow, ValidationError, format_report
from .run import main, validate

__all__ = [
    "ValidationError", "TestRow", "FileRow", "Stop", "Report", "REQUIRED_MODULES",
    "missing_modules", "identify_lab", "find_reference", "analyse_tests", "check_files",
    "validate", "format_report", "main",
]
