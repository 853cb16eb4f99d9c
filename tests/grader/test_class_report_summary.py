"""The class report's numbers: messages grouped by their wording, limits found, exact counts of a synthetic class."""
from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_class import BROKEN, EVIL, LAB, LOSS, MAX, ROWS, store_class, synthetic_class

from course.grader.class_report import class_summary, limits_hit, message_pattern
from course.grader.results import SubmissionResult
from course.grader.store import load_results


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """The synthetic class stored as `course grade` stores it, plus one unreadable file."""
    return store_class(tmp_path / "results")


def test_messages_that_differ_only_in_numbers_or_quoted_values_group() -> None:
    assert message_pattern(LOSS.format("2.30", "2.30", 3)) == message_pattern(LOSS.format("2.29", "2.31", 5))
    assert message_pattern(LOSS.format("2.30", "2.30", 3)) == (
        "#: the training loss does not fall (# → # over # epochs) — check that `opt.zero_grad()` is called each step")
    assert message_pattern("name 'model' is not defined") == message_pattern("name 'net'  is not\ndefined")
    assert message_pattern(ROWS.format("2.0")) != message_pattern(LOSS.format("2.30", "2.30", 3))
    assert message_pattern("lab3_mlp_mnist: conv2d failed, it doesn't 1e-3") == \
        "lab3_mlp_mnist: conv2d failed, it doesn't #"


def test_limits_are_found_in_notes_status_and_messages() -> None:
    by = {r.student: r for r in synthetic_class()}
    assert [(h["limit"], h["text"]) for h in limits_hit(by["slow"])] == [("time limit", "cell 12: timed out after 180 s")]
    assert [h["limit"] for h in limits_hit(by[f"mem{EVIL}"])] == ["memory limit"]
    assert [h["limit"] for h in limits_hit(by["s03"])] == ["size cap"]
    assert [h["limit"] for h in limits_hit(by["s05"])] == ["process cap"]
    assert limits_hit(by["s01"]) == [] and limits_hit(by["broken"]) == []
    died = SubmissionResult("k", LAB, status="error: the kernel died too often; grading stopped",
                            notes=["skipped x/y.npy: over the cap of 2000 files"])
    assert [h["limit"] for h in limits_hit(died)] == ["file-count cap", "kernel died"]


def test_the_summary_counts_exactly(results_dir: Path) -> None:
    results, problems = load_results(results_dir)
    assert len(results) == 12 and len(problems) == 1
    s = class_summary(results, problems=problems)
    assert (s["submissions"], s["students"], s["error_count"], s["limit_count"]) == (12, 10, 1, 4)
    assert s["unreadable"] == problems and "zz-broken.json" in problems[0]
    assert [lab["lab"] for lab in s["labs"]] == ["lab1_linear", LAB]          # course order
    lab1, lab3 = s["labs"]
    assert (lab1["submissions"], lab1["mean_total"], lab1["max_total"], lab1["title"]) == (2, 0.5, 1.0,
                                                                                          "Linear classifiers on CIFAR-10")
    assert lab3["submissions"] == 10 and lab3["max_total"] == 10.0
    # totals: 10 10 10 6 6 4 3 5 6 0
    assert lab3["mean_total"] == pytest.approx(6.0) and lab3["median_total"] == 6.0
    assert (lab3["best_total"], lab3["lowest_total"]) == (10.0, 0.0)
    assert lab3["total_histogram"] == [[0.0, 1], [3.0, 1], [4.0, 1], [5.0, 1], [6.0, 3], [10.0, 3]]
    assert [(b["from"], b["to"], b["count"]) for b in lab3["total_bins"]] == [
        (i, i + 1, {0: 1, 3: 1, 4: 1, 5: 1, 6: 3, 10: 3}.get(i, 0)) for i in range(11)]
    tasks = {t["grade_id"]: t for t in lab3["tasks"]}
    assert list(tasks) == list(MAX) and tasks["3_6_below_2_2"]["task"] == "3.6 (below_2_2)"
    t34 = tasks["3_4"]
    assert (t34["max_points"], t34["graded"], t34["lost_points"], t34["failure_groups"]) == (4.0, 10, 7, 5)
    assert t34["mean_score"] == pytest.approx(1.3)
    assert (t34["full_marks"], t34["zero"]) == (0.3, 0.6)
    assert t34["histogram"] == [[0.0, 6], [1.0, 1], [4.0, 3]]
    top = t34["failures"][0]
    assert (top["count"], top["share"]) == (3, 0.3)
    assert top["example"] == LOSS.format("2.30", "2.30", 3)          # one real message: the first, by student
    assert [f["count"] for f in t34["failures"]] == [3, 1, 1, 1, 1] and t34["other_failures"] == 0
    t32 = tasks["3_2"]
    assert [(f["count"], f["share"]) for f in t32["failures"]] == [(2, 0.2), (1, 0.1)]
    assert t32["failures"][0]["example"] == ROWS.format("2.0")
    assert (t32["full_marks"], t32["zero"], t32["mean_score"]) == (0.7, 0.3, 2.1)
    assert tasks["3_1"]["failures"][0]["example"] == BROKEN[len("error: "):]
    assert tasks["3_6_below_2_2"]["histogram"] == [[0.0, 2], [1.0, 8]]
    timing = lab3["timing"]
    assert (timing["mean"], timing["median"], timing["max"]) == (144.2, 65.0, 900.0)
    assert [x["student"] for x in timing["slowest"]] == ["slow", f"mem{EVIL}", "s07", "s06", "s05"]
    assert sum(b["count"] for b in timing["histogram"]) == 10
    assert {(h["student"], h["limit"]) for h in lab3["limits"]} == {
        ("slow", "time limit"), (f"mem{EVIL}", "memory limit"), ("s03", "size cap"), ("s05", "process cap")}
    assert lab3["errors"] == [{"student": "broken", "lab": LAB, "status": BROKEN}] and lab1["errors"] == []
    assert s["timing"]["max"] == 900.0 and s["timing"]["total"] == pytest.approx(1472.0)
