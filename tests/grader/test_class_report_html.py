"""The class report's files: the JSON, an offline and escaped page, the command, and (marked ``browser``/``slow``)
the page in Debian's chromium: every plot decodes and nothing is fetched.

The browser test skips without playwright or chromium, unless ``CI`` is set: then it fails. Its full-page
screenshot goes to ``$COURSE_ARTIFACTS`` or ``test-artifacts/browser/class_report.png``.
"""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from ci_support import chromium
from synthetic_class import EVIL, LAB, store_class

from course.cli import main
from course.grader.class_report import class_summary, write_class_report
from course.grader.results import SubmissionResult
from course.grader.results import TestResult as Verdict
from course.grader.store import load_results, result_path, write_result

ROOT = Path(__file__).resolve().parents[2]

@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """The synthetic class stored as `course grade` stores it, plus one unreadable file."""
    return store_class(tmp_path / "results")


def _offline_and_escaped(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "mem&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_the_report_files_agree_and_the_page_is_offline_and_escaped(results_dir: Path, tmp_path: Path) -> None:
    results, problems = load_results(results_dir)
    html_path, json_path = write_class_report(results, tmp_path / "out" / "class.html", problems=problems)
    assert (html_path, json_path) == (tmp_path / "out" / "class.html", tmp_path / "out" / "class.json")
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", doc.pop("generated"))
    assert doc == class_summary(results, problems=problems)
    page = html_path.read_text(encoding="utf-8")
    _offline_and_escaped(page)
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) == 6                               # per lab: task grid, totals, grading time
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert '<td class="num share">30%</td><td class="num">3 of 10</td>' in page   # the top failure of 3.4
    assert "the training loss does not fall" in page and "zz-broken.json" in page
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["class.html", "class.json"]


def test_course_report_writes_the_report_where_asked(results_dir: Path, course_root: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep" / "r.html"
    assert main(["--root", str(course_root), "report", "--results", str(results_dir), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert str(out) in captured.out and str(out.with_suffix(".json")) in captured.out
    assert "zz-broken.json" in captured.err
    assert json.loads(out.with_suffix(".json").read_text())["submissions"] == 12


def test_course_report_leaves_out_a_hand_edited_result_that_cannot_be_counted(
        results_dir: Path, course_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((results_dir / LAB / "00-student.json").read_text(encoding="utf-8"))
    doc["result"]["tests"][0]["score"] = "two"
    (results_dir / LAB / "00-student.json").write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "r.html"
    assert main(["--root", str(course_root), "report", "--results", str(results_dir), "--out", str(out)]) == 0
    assert "the result of 's01': a score, maximum or time that is not a finite number" in capsys.readouterr().err
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["submissions"] == 11 and len(summary["unreadable"]) == 2


def test_course_report_defaults_to_the_course_folders(course_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = SubmissionResult("ann", "lab9_mini", [Verdict("9_1", 2.0, 2.0), Verdict("9_2", 0.0, 3.0, "9.2: g(2) is 5")])
    write_result(result_path(course_root / "autograder" / "results", "lab9_mini", "ann"), r)
    assert main(["--root", str(course_root), "report"]) == 0
    out = course_root / "autograder" / "report" / "report.html"
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert "9.2: g(2) is 5" in out.read_text(encoding="utf-8")
    assert json.loads(out.with_suffix(".json").read_text())["labs"][0]["title"] == ""


def test_course_report_without_results_says_so(course_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(course_root), "report", "--results", str(tmp_path / "nope")]) == 2
    assert "no results folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / LAB).mkdir(parents=True)
    (empty / LAB / "x.json").write_text("[]", encoding="utf-8")
    assert main(["--root", str(course_root), "report", "--results", str(empty), "--out", str(tmp_path / "r.html")]) == 2
    assert "no stored results" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


# ----------------------------------------------------------------------------------------------------------------
# In a real browser
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.slow
def test_the_report_in_chromium_decodes_every_plot_and_fetches_nothing(results_dir: Path, tmp_path: Path) -> None:
    artifacts = Path(os.environ.get("COURSE_ARTIFACTS") or ROOT / "test-artifacts" / "browser").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    results, unreadable = load_results(results_dir)
    html_path, _ = write_class_report(results, tmp_path / "report.html", problems=unreadable)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto(html_path.as_uri(), wait_until="load", timeout=60_000)
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        page.screenshot(path=str(artifacts / "class_report.png"), full_page=True)
        title = page.title()
        heading = page.inner_text("h1")
        escaped = page.inner_text("body")
    assert len(sizes) == 6 and all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests
    assert (title, heading) == ("Class report", "Class report")
    assert f"mem{EVIL}" in escaped                         # shown as text, not run
    assert (artifacts / "class_report.png").stat().st_size > 10_000
