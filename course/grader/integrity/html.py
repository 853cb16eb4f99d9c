"""The integrity report's HTML: a section (:func:`integrity_html`, also part of the class report) and a page.

Offline and self-contained like the class report: inline CSS, no scripts, every text escaped. Flagged pairs show
their shared passages side by side, highlighted, with the cell and line each starts at.
"""
from __future__ import annotations

import html
from typing import Any

__all__ = ["INTEGRITY_CSS", "integrity_html", "integrity_page"]

INTEGRITY_CSS = """
.integrity table.passages { table-layout: fixed; width: 100%; }
.integrity table.passages td { width: 50%; }
.integrity pre.hit { background: #fff3bf; border-left: 4px solid #f0b400; margin: .2rem 0; padding: .4rem .6rem;
                     white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; }
.integrity .flag { color: #b42318; font-weight: 600; }
.integrity .ok { color: #1e7b34; font-weight: 600; }
.integrity details { margin: .3rem 0 1rem; }
"""

_PAGE_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1f2933;
       background: #f5f7fa; margin: 0; padding: 1.5rem 1rem 3rem; }
main { max-width: 1160px; margin: 0 auto; }
section, header { background: #fff; border-radius: 10px; padding: 1.4rem 1.75rem; margin-bottom: 1.25rem;
                  box-shadow: 0 1px 4px rgba(0,0,0,.08); }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
th, td { text-align: left; vertical-align: top; padding: .4rem .55rem; border-bottom: 1px solid #e4e7eb; }
th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; color: #616e7c; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.muted { color: #616e7c; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pairs_table(lab: dict[str, Any]) -> str:
    if not lab["pairs"]:
        return "<p>No two students share a passage that counts.</p>"
    rows = []
    for p in lab["pairs"]:
        mark = '<span class="flag">flagged</span>' if p["flagged"] else '<span class="muted">below threshold</span>'
        rows.append(f'<tr><td>{_e(p["a"])}</td><td>{_e(p["b"])}</td><td class="num">{p["score"]:.0%}</td>'
                    f'<td class="num">{p["coverage_a"]:.0%} / {p["coverage_b"]:.0%}</td>'
                    f'<td class="num">{p["shared_tokens"]}</td><td>{mark}</td></tr>')
    return ('<table><thead><tr><th>student</th><th>student</th><th class="num">similarity</th>'
            '<th class="num">of each one\'s code</th><th class="num">shared tokens</th><th></th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _passages(p: dict[str, Any], open_: bool) -> str:
    rows = "".join(
        f'<tr><td><span class="muted">cell {g["a"]["cell"]}, line {g["a"]["line"]}</span>'
        f'<pre class="hit">{_e(g["a"]["text"])}</pre></td>'
        f'<td><span class="muted">cell {g["b"]["cell"]}, line {g["b"]["line"]}</span>'
        f'<pre class="hit">{_e(g["b"]["text"])}</pre></td></tr>' for g in p["passages"])
    return (f'<details{" open" if open_ else ""}><summary>{_e(p["a"])} and {_e(p["b"])}: {p["score"]:.0%} alike, '
            f'{len(p["passages"])} shared passage(s), the longest first</summary>'
            f'<table class="passages"><thead><tr><th>{_e(p["a"])}</th><th>{_e(p["b"])}</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></details>')


def _lab(lab: dict[str, Any], threshold: float) -> str:
    flagged = [p for p in lab["pairs"] if p["flagged"]]
    verdict = (f'<span class="flag">{len(flagged)} pair(s) flagged</span>' if flagged
               else f'<span class="ok">no pair flagged</span> (threshold {threshold:.0%})')
    parts = [f'<h3>{_e(lab["lab"])}</h3>',
             (f'<p>{verdict} · {lab["students"]} students · {lab["pairs_measured"]} pair(s) share a passage that '
              f'counts ({lab.get("pairs_exact", lab["pairs_measured"])} measured in full, the rest estimated far '
              f'below the threshold) · passages held by more than {lab["common_limit"]} students are left out as '
              f'common</p>'),
             _pairs_table(lab)]
    parts += [_passages(p, open_=k == 0) for k, p in enumerate(flagged)]     # the most alike pair opened
    if lab["artefacts"]:
        parts.append("<h4>Identical artefacts</h4><table><thead><tr><th>kind</th><th>what</th><th>students</th>"
                     "<th>detail</th></tr></thead><tbody>"
                     + "".join(f'<tr><td>{_e(a["kind"])}</td><td>{_e(a["what"])}</td>'
                               f'<td>{_e(", ".join(a["students"]))}</td><td>{_e(a["detail"])}</td></tr>'
                               for a in lab["artefacts"]) + "</tbody></table>")
    else:
        parts.append("<p>Identical artefacts: none (checkpoint bytes, weights to rounding, improbable outputs).</p>")
    parts += [f'<p class="muted">{_e(n)}</p>' for n in lab["notes"]]
    if lab["unreadable"]:
        parts.append("<p>Not compared (notebook unreadable): "
                     + ", ".join(f'{_e(u["student"])} ({_e(u["why"])})' for u in lab["unreadable"]) + "</p>")
    return "".join(parts)


def integrity_html(summary: dict[str, Any]) -> str:
    """The integrity section: per lab, the ranked pairs, flagged pairs' passages side by side, artefacts."""
    intro = ("<p class=\"muted\">Evidence to look at, never a verdict: similarity is the share of each student's own "
             "code (not the released notebook's, not passages many students share) that the other's code also "
             "holds, robust to renamed variables, reordered functions, comments and whitespace. Students never "
             "see this section.</p>")
    body = "".join(_lab(lab, summary["threshold"]) for lab in summary["labs"]) or "<p>No submissions.</p>"
    return (f'<section id="integrity" class="integrity"><h2>Integrity: similar code and identical artefacts</h2>'
            f"{intro}{body}</section>")


def integrity_page(summary: dict[str, Any], *, generated: str = "") -> str:
    when = f'<p class="muted">Generated {_e(generated)}.</p>' if generated else ""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Integrity report</title><style>{_PAGE_CSS}{INTEGRITY_CSS}</style></head><body><main>"
            f"<header><h1>Integrity report</h1>{when}</header>{integrity_html(summary)}</main></body></html>\n")
