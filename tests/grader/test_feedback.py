"""Per-student feedback pages: what the student sees, escaped, offline, and nothing the grader keeps to itself."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from course.grader.feedback import feedback_html, feedback_path, title_of, write_feedback
from course.grader.names import safe_name
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict

LOSS = "3.4: the training loss does not fall (2.30 → 2.30 over 3 epochs) — check that `opt.zero_grad()` is called"


def _result(**kw) -> SubmissionResult:
    fields = dict(student="ann", lab="lab3_mlp_mnist",
                  tests=[Verdict("3_1", 2.0, 2.0), Verdict("3_2", 0.0, 3.0, "3.2: row sums are 2.0, expected 1.0 — "
                                                                            "check `dim`"),
                         Verdict("3_4", 1.5, 4.0, LOSS), Verdict("3_6_below_2_2", 1.0, 1.0)],
                  notes=["cell 12: timed out after 180 s", "test cell 3_2 is missing from the notebook; graded "
                                                            "from your code"],
                  digest="d1g3st-0f-the-f1les", seconds=42.0, protections=["network namespace"],
                  recorded={"reference_accuracy": 0.987654321})
    return SubmissionResult(**(fields | kw))


class _Rows(HTMLParser):
    """The text of each cell of each row of the page's table body, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._in_body = self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self.rows[-1].append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.rows[-1][-1] += data


def _parse(page: str) -> _Rows:
    parser = _Rows()
    parser.feed(page)
    return parser


def test_the_page_shows_student_lab_total_notes_and_each_task_in_order() -> None:
    page = feedback_html(_result())
    assert "ann" in page and "lab3_mlp_mnist" in page and title_of("lab3_mlp_mnist") == "An MLP on MNIST"
    assert "An MLP on MNIST" in page
    assert "4.5 / 10 points" in page
    assert "cell 12: timed out after 180 s" in page and "graded from your code" in page
    assert "could not be fully graded" not in page                      # status "ok" is not shown
    rows = _parse(page).rows
    assert [r[0] for r in rows] == ["3.1", "3.2", "3.4", "3.6 (below_2_2)"]
    assert [r[1] for r in rows] == ["2 / 2", "0 / 3", "1.5 / 4", "1 / 1"]
    assert [r[2] for r in rows] == ["✓", "✗", "✗", "✓"]
    assert rows[1][3] == "3.2: row sums are 2.0, expected 1.0 — check `dim`"
    assert rows[2][3] == LOSS
    assert rows[0][3] == "passed"


def test_a_status_that_is_not_ok_is_shown_and_an_explicit_title_wins() -> None:
    page = feedback_html(_result(status="error: lab3_mlp_mnist.ipynb is not a valid notebook", tests=[]),
                         lab_title="Lab three")
    assert "could not be fully graded" in page and "is not a valid notebook" in page
    assert "Lab three" in page and "An MLP on MNIST" not in page
    assert "No task was graded" in page and "0 / 0 points" in page


def test_an_unknown_lab_has_no_title_and_still_renders() -> None:
    assert title_of("lab9_nope") == ""
    page = feedback_html(_result(lab="lab9_nope", status="unknown lab 'lab9_nope'"))
    assert "Lab lab9_nope</p>" in page and "unknown lab &#x27;lab9_nope&#x27;" in page


def test_student_controlled_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    result = _result(student=f"bob{evil}", notes=[f"skipped {evil}.pt: a symbolic link"], status=f"error: {evil}",
                     tests=[Verdict("3_2", 0.0, 3.0, f"3.2: your function printed {evil} <img src=x onerror=alert(1)>")])
    page = feedback_html(result)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 5   # title, h1, status, note, message
    assert set(_parse(page).tags) <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p",
                                      "div", "span", "ul", "li", "table", "thead", "tbody", "tr", "th", "td",
                                      "footer"}
    assert _parse(page).rows[0][3] == f"3.2: your function printed {evil} <img src=x onerror=alert(1)>"


def test_only_the_messages_reach_the_page_nothing_the_grader_keeps() -> None:
    page = feedback_html(_result())
    for secret in ("0.987654321", "reference_accuracy", "d1g3st-0f-the-f1les", "network namespace", "42.0"):
        assert secret not in page
    assert "UNSAFE: graded with --unsafe-no-sandbox" in page, "a grade made without the sandbox says so"
    assert "UNSAFE" not in feedback_html(_result(protections=[]))
    assert not re.search(r"https?://|<script|<link|<img|\bsrc=|url\(", page, re.I)    # offline, no scripts


def test_write_feedback_stores_the_page_under_the_students_safe_name(tmp_path: Path) -> None:
    result = _result(student="Jörg ../../etc")
    path = write_feedback(result, tmp_path / "feedback")
    assert path == tmp_path / "feedback" / safe_name("Jörg ../../etc") / "lab3_mlp_mnist.html"
    assert path == feedback_path(result, tmp_path / "feedback")
    assert path.read_text(encoding="utf-8") == feedback_html(result)
    result.tests[1].score = 3.0
    assert write_feedback(result, tmp_path / "feedback") == path                  # rewritten in place
    assert "7.5 / 10 points" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["lab3_mlp_mnist.html"]     # no temporary left behind


def test_a_lab_name_that_is_not_a_plain_file_name_is_made_safe(tmp_path: Path) -> None:
    result = _result(lab="../lab3 x")
    path = write_feedback(result, tmp_path)
    assert path.parent == tmp_path / safe_name("ann")
    assert path.name == f"{safe_name('../lab3 x')}.html"
