"""What is particular to Lab 1's judges, beyond the contract every lab's corpus keeps (``test_contract.py``).

The ``lab`` fixture (``conftest.py``) is this lab's kernel, holding the solution's notebook state."""
from __future__ import annotations

import dataclasses

from cases_lab1 import CASES


def test_a_broken_scores_costs_only_its_own_points(lab) -> None:
    """1.4 uses scores() from 1.1; a 1.1 bug is not charged to 1.4 again."""
    broken = next(c for c in CASES if c.id == "1.1-bug-no-bias")
    verdicts = lab.judge(dataclasses.replace(broken, tests=("1_1", "1_4")))
    assert verdicts["1_1"].score == 0
    assert verdicts["1_4"].score == verdicts["1_4"].max_score, verdicts["1_4"].message
