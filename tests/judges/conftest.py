"""The judges' corpora share one kernel per lab for the whole session (building one runs the lab's solution in
fast mode: seconds to a minute), made when a test first needs it."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))   # harness and the cases_lab*.py modules

from harness import LabSession  # noqa: E402

from course.data import DataNotFoundError  # noqa: E402
from course.grader import toolkit  # noqa: E402


@pytest.fixture(scope="session")
def lab_sessions(tmp_path_factory):
    """``lab_sessions(cases_module)``: that lab's :class:`~harness.LabSession`, made once."""
    made: dict[str, LabSession] = {}

    def get(cases) -> LabSession:
        spec = cases.SPEC
        if spec.lab not in made:
            if cases.DATA_SET:
                try:
                    getattr(toolkit, cases.DATA_SET)()
                except DataNotFoundError as exc:
                    pytest.skip(f"no {cases.DATA_SET} copy: {exc}")
            made[spec.lab] = LabSession(spec, cases.NB, tmp_path_factory.mktemp(spec.lab),
                                        tmp_path_factory.mktemp(f"{spec.lab}-handed-in"))
        return made[spec.lab]
    yield get
    for session in made.values():
        session.close()


@pytest.fixture
def lab(request, lab_sessions) -> LabSession:
    """In ``test_labN.py``: lab N's kernel (``cases_labN.py`` says what it holds)."""
    return lab_sessions(importlib.import_module(request.module.__name__.replace("test_", "cases_", 1)))
