"""What is particular to Lab 3's judges, beyond the contract every lab's corpus keeps (``test_contract.py``).

The ``lab`` fixture (``conftest.py``) is this lab's kernel, holding the solution's notebook state."""
from __future__ import annotations

import re
import textwrap

from cases_lab3 import CASES, NB, REPORT


def test_a_broken_mlp_costs_only_its_own_points(lab) -> None:
    """Tasks 3.2, 3.3 and 3.5 judge with models of their own: a 3.1 bug is not charged twice."""
    broken = next(c for c in CASES if c.id == "3.1-bug-no-relu")
    verdicts = lab.judge_cell("3_1_code", broken.source, ("3_1", "3_2", "3_3", "3_5"))
    assert verdicts["3_1"].score == 0
    assert all(verdicts[g].score == verdicts[g].max_score for g in ("3_2", "3_3", "3_5")), verdicts

def test_report_chosen_on_the_test_set_is_caught(lab) -> None:
    """Editing the report cell to pick a run by *test* error loses 3.5 (results)."""
    by_test = NB.patched(REPORT, ("best_lr, best_epoch = select_best(histories)", textwrap.dedent("""\
        def _test_err(lr):
            m = histories[lr].load_best(MLP()).eval()
            with torch.no_grad():
                return (m(data.test_x.cpu()).argmax(1) != data.test_y.cpu()).float().mean().item()
        best_lr = min(histories, key=_test_err)
        best_epoch = histories[best_lr].best_epoch
        best_lr = best_lr if best_lr != select_best(histories)[0] else [lr for lr in histories if lr != best_lr][0]
        best_epoch = histories[best_lr].best_epoch""")))
    verdicts = lab.judge_cell(REPORT, by_test, ("3_5_results",))
    assert verdicts["3_5_results"].score == 0
    assert re.search(r"3\.5: .*select_best picks", verdicts["3_5_results"].message), verdicts
    verdicts = lab.judge_cell(REPORT, NB.source(REPORT), ("3_5_results",))
    assert verdicts["3_5_results"].score == 1, verdicts
