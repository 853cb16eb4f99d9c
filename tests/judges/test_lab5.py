"""What is particular to Lab 5's judges, beyond the contract every lab's corpus keeps (``test_contract.py``).

The ``lab`` fixture (``conftest.py``) is this lab's kernel, holding the solution's notebook state."""
from __future__ import annotations

from cases_lab5 import NB, TESTS


def test_the_stub_loses_every_task(lab) -> None:
    """The untouched notebook's answers (NotImplementedError everywhere) score zero on every judge."""
    for key, tests in [("5_1_code", TESTS["5.1"]), ("5_4_code", TESTS["5.4"]), ("5_7_code", TESTS["5.7"])]:
        verdicts = lab.judge_cell(key, NB.stub(key), tests)
        assert all(v.score == 0 for v in verdicts.values()), {g: v.message for g, v in verdicts.items()}
        assert all("NotImplementedError" in v.message for v in verdicts.values()), verdicts
