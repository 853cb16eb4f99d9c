"""The class report's page: :func:`class_report_html` draws it from :func:`~.summary.class_summary`'s dict alone.

The page is self-contained and works offline (inline CSS, plots as embedded PNGs, no scripts), because it is read
from a laptop, a mail or an LMS, not from a server; every text in it is escaped.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..integrity.html import INTEGRITY_CSS, integrity_html
from .plots import task_grid, time_plot, total_plot

__all__ = ["class_report_html"]

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1f2933;
       background: #f5f7fa; margin: 0; padding: 1.5rem 1rem 3rem; }
main { max-width: 1160px; margin: 0 auto; }
h1 { font-size: 1.8rem; margin: 0 0 .2rem; }
h2 { font-size: 1.35rem; margin: 0 0 .6rem; }
h3 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; color: #323f4b; }
.muted { color: #616e7c; }
section, header { background: #fff; border-radius: 10px; padding: 1.4rem 1.75rem; margin-bottom: 1.25rem;
                  box-shadow: 0 1px 4px rgba(0,0,0,.08); }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0 .5rem; }
.card { background: #f0f4f8; border-radius: 8px; padding: .55rem .95rem; min-width: 7.5rem; }
.card b { display: block; font-size: 1.45rem; font-variant-numeric: tabular-nums; }
.card.warn { background: #fff3e0; } .card.bad { background: #fdecea; }
nav a { margin-right: 1rem; color: #2c5aa0; }
img { max-width: 100%; height: auto; display: block; }
.pair { display: flex; flex-wrap: wrap; gap: 1rem; }
.pair img { flex: 1 1 420px; min-width: 0; max-width: 540px; }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
table.compact { width: auto; min-width: 50%; }
th, td { text-align: left; vertical-align: top; padding: .4rem .55rem; border-bottom: 1px solid #e4e7eb; }
th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; color: #616e7c; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.task td { background: #f7f9fb; font-weight: 600; border-top: 2px solid #d9e2ec; }
.msg { white-space: pre-wrap; overflow-wrap: anywhere; }
.share { font-weight: 600; }
.unsafe { background: #fdecea; border-left: 4px solid #c0392b; border-radius: 4px; padding: .3rem 1rem; margin: 1rem 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}".rstrip("0").rstrip(".") if isinstance(x, float) else str(x)


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], num: Sequence[int] = (), *,
           compact: bool = False) -> str:
    """A table of already-escaped cells; columns in ``num`` are right-aligned numbers."""
    th = "".join(f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    css = ' class="compact"' if compact else ""
    return f"<table{css}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _failures(lab: dict[str, Any]) -> str:
    rows = []
    for task in lab["tasks"]:
        if not task["failures"]:
            continue
        rows.append(f'<tr class="task"><td colspan="3">{_e(task["task"])} — {task["lost_points"]} of '
                    f'{lab["submissions"]} lost points, {task["failure_groups"]} kind(s) of failure</td></tr>')
        for f in task["failures"]:
            rows.append(f'<tr><td class="num share">{_pct(f["share"])}</td><td class="num">{f["count"]} of '
                        f'{lab["submissions"]}</td><td class="msg">{_e(f["example"])}</td></tr>')
        if task["other_failures"]:
            rows.append(f'<tr><td></td><td class="num">{task["other_failures"]}</td>'
                        f'<td class="muted">other failures</td></tr>')
    if not rows:
        return "<p>No points were lost.</p>"
    return ('<table><thead><tr><th class="num">of the class</th><th class="num">submissions</th>'
            f'<th>example message</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _lab_section(i: int, lab: dict[str, Any]) -> str:
    title = f"{_e(lab['lab'])} — {_e(lab['title'])}" if lab["title"] else _e(lab["lab"])
    t = lab["timing"]
    parts = [f'<section id="lab-{i}"><h2>{title}</h2>',
             f'<p class="muted">{lab["submissions"]} submission(s) · mean {_n(lab["mean_total"])} · median '
             f'{_n(lab["median_total"])} · best {_n(lab["best_total"])} of {_n(lab["max_total"])} points · '
             f'{len(lab["errors"])} not fully graded · {len(lab["limits"])} limit(s) reached</p>']
    if lab["tasks"]:
        parts += ["<h3>Scores per task</h3>",
                  f'<img src="{task_grid(lab["tasks"])}" alt="score distribution of each task">',
                  _table(["task", "max", "mean", "full marks", "zero", "lost points"],
                         [[_e(tk["task"]), _n(tk["max_points"]), _n(tk["mean_score"]), _pct(tk["full_marks"]),
                           _pct(tk["zero"]), f'{tk["lost_points"]} of {tk["graded"]}'] for tk in lab["tasks"]],
                         num=(1, 2, 3, 4, 5), compact=True),
                  "<h3>Most frequent failures</h3>", _failures(lab)]
    parts += ["<h3>Total scores and grading time</h3>",
              f'<div class="pair"><img src="{total_plot(lab)}" alt="histogram of total scores">'
              f'<img src="{time_plot(t)}" alt="histogram of grading time"></div>',
              f'<p class="muted">Grading time: mean {_n(t["mean"], 1)} s · median {_n(t["median"], 1)} s · '
              f'max {_n(t["max"], 1)} s. The slowest:</p>',
              _table(["student", "seconds"], [[_e(s["student"]), _n(s["seconds"], 1)] for s in t["slowest"]], num=(1,),
                     compact=True),
              "<h3>Submissions that hit a limit</h3>",
              _table(["student", "limit", "what the grader said"],
                     [[_e(h["student"]), _e(h["limit"]), f'<span class="msg">{_e(h["text"])}</span>']
                      for h in lab["limits"]]) if lab["limits"] else "<p>None.</p>"]
    if lab["errors"]:
        parts += ["<h3>Not fully graded</h3>",
                  _table(["student", "status"], [[_e(x["student"]), f'<span class="msg">{_e(x["status"])}</span>']
                                                 for x in lab["errors"]])]
    return "".join(parts) + "</section>"


def class_report_html(summary: dict[str, Any], *, generated: str = "") -> str:
    """The report page for ``summary`` (from :func:`class_summary`): self-contained, offline, all text escaped."""
    labs = summary["labs"]
    cards = [("submissions", summary["submissions"], ""), ("students", summary["students"], ""),
             ("labs", len(labs), ""),
             ("not fully graded", summary["error_count"], "bad" if summary["error_count"] else ""),
             ("limits reached", summary["limit_count"], "warn" if summary["limit_count"] else ""),
             ("unreadable files", len(summary["unreadable"]), "bad" if summary["unreadable"] else "")]
    head = ["<header><h1>Class report</h1>",
            f'<p class="muted">Generated {_e(generated)} from the stored grading results.</p>' if generated else "",
            '<div class="cards">' + "".join(f'<div class="card {c}"><b>{v}</b>{_e(k)}</div>' for k, v, c in cards)
            + "</div>",
            "<nav>" + "".join(f'<a href="#lab-{i}">{_e(lab["lab"])}</a>' for i, lab in enumerate(labs))
            + ('<a href="#integrity">integrity</a>' if summary.get("integrity") else "") + "</nav>"]
    unsafe = summary.get("unsafe") or []
    if unsafe:
        head.append(f'<div class="unsafe"><h3>{len(unsafe)} submission(s) graded without the sandbox</h3>'
                    f'<p class="msg">{_e(unsafe[0]["banner"])}</p><ul>'
                    + "".join(f'<li>{_e(u["student"])} / {_e(u["lab"])}</li>' for u in unsafe[:50]) + "</ul></div>")
    if summary["unreadable"]:
        head.append("<h3>Stored results that could not be read (left out)</h3><ul>"
                    + "".join(f'<li class="msg">{_e(p)}</li>' for p in summary["unreadable"]) + "</ul>")
    body = "".join(head) + "</header>" + "".join(_lab_section(i, lab) for i, lab in enumerate(labs))
    if summary.get("integrity"):
        body += integrity_html(summary["integrity"])
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Class report</title><style>{_CSS}{INTEGRITY_CSS}</style></head><body><main>{body}</main>"
            "</body></html>\n")
