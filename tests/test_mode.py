"""Tests for course.mode: fast mode and budgets."""
from __future__ import annotations

import pytest

from course.mode import budget, fast_mode


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_fast_mode_reads_env(monkeypatch, value, expected) -> None:
    monkeypatch.setenv("COURSE_FAST", value)
    assert fast_mode() is expected
    assert budget(100, 3) == (3 if expected else 100)


def test_full_mode_by_default(monkeypatch) -> None:
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert not fast_mode() and budget("full", "fast") == "full"
