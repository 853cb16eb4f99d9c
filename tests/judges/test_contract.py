"""What every lab's judges keep, checked on each lab's mutation corpus (``cases_lab*.py``): the notebook's graded
cells and the judges match one for one, hidden tests live in the judges and not in the notebook, the solution
gets full marks, every BUG case loses its task's points with a message naming the cause, and every OK case (a
correct answer written another way) keeps full marks."""
from __future__ import annotations

import importlib

import pytest
from harness import ROOT, Case, assert_full_marks, assert_verdict

from course.grader.judge import load_judges

LABS = [importlib.import_module(f"cases_lab{n}") for n in range(1, 6)]


@pytest.fixture(params=LABS, ids=lambda m: m.LAB)
def cases(request):
    return request.param


def test_the_corpus_knows_its_notebook(cases) -> None:
    cases.check_layout()
    assert cases.NB.graded == cases.GRADED
    for key in cases.NB.graded:
        assert "### BEGIN HIDDEN TESTS" not in cases.NB.source(key), f"{key}: hidden tests belong in autograder/judges/"
    assert len({c.id for c in cases.CASES}) == len(cases.CASES), "duplicate case ids"
    assert {c.task for c in cases.CASES if c.buggy} == {c.task for c in cases.CASES}, "every task has bugs"


def test_every_graded_cell_has_a_judge(cases) -> None:
    assert set(load_judges(ROOT, cases.LAB)) == cases.NB.graded


def test_the_solution_gets_full_marks(cases, lab_sessions) -> None:
    lab = lab_sessions(cases)
    answer = cases.SPEC.state[1] if cases.SPEC.state[1].endswith("_code") else next(
        k for k in cases.NB.keys if k.endswith("_code"))
    assert_full_marks(lab.judge(Case("", "solution", cases.NB.source(answer), None, cell=answer,
                                     tests=cases.FULL_MARKS)))


@pytest.mark.parametrize("case", [pytest.param((m, c), id=c.id) for m in LABS for c in m.CASES])
def test_mutant(case: tuple, lab_sessions) -> None:
    cases, case = case
    assert_verdict(case, lab_sessions(cases).judge(case))
