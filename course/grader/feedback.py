"""Per-student feedback: one self-contained HTML page per graded lab, made from the stored result alone.

Why from the result and nothing else: a result holds the judges' messages (what is wrong and where), never test
source, and the page is built only from the fields meant for the student (scores, messages, status, notes), so
no hidden test, reference value (``recorded``) or grader bookkeeping can reach it. Everything the student
controls (their name, messages quoting their output) is HTML-escaped; the page has no scripts and loads nothing,
so it opens the same from a mail attachment, an LMS or a file share.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..labs import lab_info
from .gradebook import task_label
from .names import safe_name
from .results import SubmissionResult, TestResult
from .store import atomic_write

__all__ = ["title_of", "feedback_html", "feedback_path", "write_feedback"]

_CSS = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1f2933;
       background: #f5f7fa; margin: 0; padding: 2rem 1rem; }
main { max-width: 920px; margin: 0 auto; background: #fff; border-radius: 10px; padding: 2rem 2.25rem;
       box-shadow: 0 1px 4px rgba(0,0,0,.08); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
.sub { color: #52606d; margin: 0 0 1.5rem; }
.total { font-size: 1.25rem; font-weight: 600; margin: 0 0 .4rem; }
.bar { height: 10px; background: #e4e7eb; border-radius: 5px; overflow: hidden; margin-bottom: 1.5rem; }
.bar span { display: block; height: 100%; background: #3e9b6b; }
.box { border-left: 4px solid; border-radius: 4px; padding: .6rem 1rem; margin: 0 0 1.25rem; }
.status { border-color: #c0392b; background: #fdecea; }
.notes { border-color: #d69e2e; background: #fff8e6; }
.box h2 { font-size: 1rem; margin: 0 0 .3rem; }
.box ul { margin: 0; padding-left: 1.2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .5rem .6rem; border-bottom: 1px solid #e4e7eb; }
th { font-size: .85rem; text-transform: uppercase; letter-spacing: .04em; color: #52606d; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.mark { font-size: 1.15rem; text-align: center; width: 2rem; }
tr.pass td.mark { color: #2f855a; }
tr.fail td.mark { color: #c0392b; }
.msg { white-space: pre-wrap; overflow-wrap: anywhere; font-size: .95rem; }
.passed { color: #52606d; }
footer { margin-top: 1.5rem; color: #7b8794; font-size: .85rem; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def title_of(lab: str) -> str:
    """The course's title of ``lab`` ("" for a lab the course does not know, e.g. a misnamed folder)."""
    try:
        return lab_info(lab).title
    except KeyError:
        return ""


def _row(test: TestResult) -> str:
    ok = test.score >= test.max_score
    message = test.message.strip()
    if not message:
        message_html = '<span class="passed">passed</span>' if ok else "no points, and no reason given"
    else:
        message_html = _e(message)
    return (f'<tr class="{"pass" if ok else "fail"}"><td>{_e(task_label(test.grade_id))}</td>'
            f'<td class="num">{test.score:g} / {test.max_score:g}</td>'
            f'<td class="mark" aria-label="{"passed" if ok else "points lost"}">{"✓" if ok else "✗"}</td>'
            f'<td><div class="msg">{message_html}</div></td></tr>')


def feedback_html(result: SubmissionResult, *, lab_title: str = "") -> str:
    """The feedback page of one student's lab: total, status, notes, and each task's points and message.

    ``lab_title`` defaults to the course's title of the lab. Only scores, messages, status and notes are shown.
    """
    title = lab_title or title_of(result.lab)
    lab_line = f"{_e(result.lab)} — {_e(title)}" if title else _e(result.lab)
    share = result.total / result.max_total if result.max_total > 0 else 0.0
    parts = [f"<h1>Autograder feedback: {_e(result.student)}</h1>", f'<p class="sub">Lab {lab_line}</p>',
             f'<p class="total">{result.total:g} / {result.max_total:g} points</p>',
             f'<div class="bar"><span style="width: {max(0.0, min(share, 1.0)) * 100:.1f}%"></span></div>']
    if result.unsafe:      # the instructor's banner, without the grader's machine details
        parts.append('<div class="box status unsafe"><h2>Not graded in the sandbox</h2><div class="msg">UNSAFE: '
                     'graded with --unsafe-no-sandbox, without every protection of the sandbox: this grade is not '
                     'trustworthy.</div></div>')
    if result.status != "ok":
        parts.append('<div class="box status"><h2>Your submission could not be fully graded</h2>'
                     f'<div class="msg">{_e(result.status)}</div></div>')
    if result.notes:
        items = "".join(f'<li class="msg">{_e(n)}</li>' for n in result.notes)
        parts.append(f'<div class="box notes"><h2>Notes</h2><ul>{items}</ul></div>')
    if result.tests:
        rows = "".join(_row(t) for t in result.tests)
        parts.append('<table><thead><tr><th>Task</th><th>Points</th><th></th><th>What the autograder found</th>'
                     f'</tr></thead><tbody>{rows}</tbody></table>')
    else:
        parts.append("<p>No task was graded.</p>")
    parts.append("<footer>Made by the course autograder from your submission's graded result.</footer>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(result.lab)}: feedback for {_e(result.student)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")


def feedback_path(result: SubmissionResult, feedback_dir: Path) -> Path:
    """``<feedback_dir>/<safe student>/<lab>.html``: the student folder named as the results store names it.

    A lab name that is not a plain file name (an unknown lab's folder can be named anything) is made safe too.
    """
    lab = result.lab if _plain(result.lab) else safe_name(result.lab)
    return Path(feedback_dir) / safe_name(result.student) / f"{lab}.html"


def _plain(name: str) -> bool:
    return bool(name) and not name.startswith(".") and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


def write_feedback(result: SubmissionResult, feedback_dir: Path) -> Path:
    """Write the feedback page atomically (a reader never sees half a page); its path."""
    return atomic_write(feedback_path(result, feedback_dir), feedback_html(result))
