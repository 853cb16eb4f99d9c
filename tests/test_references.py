"""Tests for course.references: recording the solution's results and reading them back."""
from __future__ import annotations

import json

from course.references import reference


def test_record_then_read(tmp_path, monkeypatch) -> None:
    record = tmp_path / "labX.json"
    monkeypatch.setenv("COURSE_RECORD", str(record))
    monkeypatch.setenv("COURSE_FAST", "1")
    assert reference("labX", "3.5/test_error", 0.0812) == 0.0812
    data = json.loads(record.read_text())
    assert data["lab"] == "labX" and data["fast_mode"] is True and data["seed"] == 0 and "torch" in data
    assert data["results"] == {"3.5/test_error": 0.0812}

    monkeypatch.delenv("COURSE_RECORD")
    monkeypatch.setenv("COURSE_REFERENCES", str(tmp_path))
    assert reference("labX", "3.5/test_error", 0.5) == 0.0812  # the stored value, not the argument
    assert reference("labX", "missing") is None
    assert reference("nolab", "x") is None
