"""What is particular to Lab 2's judges, beyond the contract every lab's corpus keeps (``test_contract.py``).

The ``lab`` fixture (``conftest.py``) is this lab's kernel, holding the solution's notebook state."""
from __future__ import annotations

import dataclasses

from cases_lab2 import CASES


def test_a_broken_backward_pass_costs_only_its_own_points(lab) -> None:
    """Task 2.6 trains with the student's 2.5; when 2.5 failed, 2.6 is judged on its own code's results only."""
    broken = next(c for c in CASES if c.id == "2.5-bug-no-one-hot-subtraction")
    verdicts = lab.judge(dataclasses.replace(broken, tests=("2_5", "2_6")))
    assert verdicts["2_5"].score == 0 and verdicts["2_6"].score == verdicts["2_6"].max_score, verdicts
    assert any("2.6" in n for n in lab.last_notes), lab.last_notes


def test_a_broken_engine_costs_only_its_own_points(lab) -> None:
    """Tasks 2.5 and 2.6 do not use Value: a broken engine loses 2.4 alone."""
    broken = next(c for c in CASES if c.id == "2.4-bug-order-not-reversed")
    verdicts = lab.judge_cell("2_4_code", broken.source, ("2_4", "2_5", "2_6"))
    assert verdicts["2_4"].score == 0
    assert all(verdicts[g].score == verdicts[g].max_score for g in ("2_5", "2_6")), verdicts
