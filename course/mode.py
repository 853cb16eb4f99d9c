"""Fast mode: the autograder's shrunken training budgets.

``COURSE_FAST=1`` (set by ``course build/check/grade``) makes every lab run in
well under a minute on two CPU cores. Students run full mode, the default.
"""
from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["fast_mode", "budget", "grading_env"]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes/on."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in _TRUE


def budget(full: T, fast: T) -> T:
    """``full`` normally, ``fast`` in fast mode: ``n_epochs = budget(100, 3)``."""
    return fast if fast_mode() else full


def grading_env(**extra: str) -> dict[str, str]:
    """The settings a lab runs with when it is graded (and when ``course build``/``check``/``validate`` run it as
    the grader would): fast mode, no display, hash seed fixed, one thread per kernel (the labs' small models gain
    nothing from more, and two threads fighting another busy process for two cores make small torch operations
    many times slower); ``extra`` added."""
    return {"COURSE_FAST": "1", "COURSE_GRADING": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}
