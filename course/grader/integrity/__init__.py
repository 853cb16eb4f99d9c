"""The class integrity report: ``course similarity DIR`` and the integrity section of ``course report``.

Evidence an instructor can act on, never a grade change, and never shown to students (feedback pages do not use
it). For each lab of a folder of submissions (``DIR/<student>/<lab>/``, as ``course grade`` reads it):

* **code similarity** between students' own code: every code cell of their notebook, less the released
  notebook's code and passages many students share (:mod:`.pairs`, over :mod:`.fingerprint`'s winnowing);
* **identical artefacts**: checkpoint bytes, weights to rounding, improbable identical outputs (:mod:`.artefacts`).

:func:`class_integrity` computes it all as plain data (the JSON), :mod:`.html` draws it; :func:`cli_similarity`
is ``course similarity``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...checkout import PipelineError, find_root
from ...labs import LABS, lab_info
from ..intake import find_submissions, load_submission_notebook
from ..names import printable_name
from ..store import atomic_write
from .artefacts import checkpoint_matches, output_matches
from .fingerprint import Code, kgram_hashes, tokens
from .html import integrity_html, integrity_page
from .pairs import MIN_TOKENS, SHOWN, THRESHOLD, answer, common_limit, similar_pairs

__all__ = ["THRESHOLD", "MIN_TOKENS", "class_integrity", "integrity_html", "integrity_page", "write_integrity",
           "cli_similarity"]

def _code_cells(nb: Any, released: set[str] = frozenset()) -> list[tuple[int, str]]:
    """(number, source) of the code cells, less those exactly as released (their code would not count anyway)."""
    return [(n, cell.source) for n, cell in enumerate(nb.cells, 1)
            if cell.cell_type == "code" and cell.source not in released]


def _outputs(nb: Any) -> list[tuple[str, str]]:
    out = []
    for n, cell in enumerate(nb.cells, 1):
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = o.get("text") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain")
            if isinstance(text, list):
                text = "".join(text)
            if isinstance(text, str) and text.strip():
                out.append((f"cell {n}", text))
    return out


def _lab_integrity(root: Path, lab: str, subs: Sequence[Any], threshold: float) -> dict[str, Any]:
    released_nb = load_submission_notebook(root / "notebooks" / lab, lab).nb
    if released_nb is None:
        raise PipelineError(f"{root / 'notebooks' / lab}: the released notebook of {lab} cannot be read "
                            "(run `course build`)")
    released_cells = [source for _, source in _code_cells(released_nb)]
    as_released = set(released_cells)
    released = set(kgram_hashes(tokens(Code.of_cells(enumerate(released_cells)).text)))
    released_outputs = {" ".join(t.split()) for _, t in _outputs(released_nb)}
    answers, outputs, files, unread = [], {}, {}, []
    for sub in subs:
        student = printable_name(sub.student_raw)
        loaded = load_submission_notebook(sub.path, lab)
        if loaded.nb is None:
            unread.append({"student": student, "why": loaded.reason})
            continue
        answers.append(answer(student, Code.of_cells(_code_cells(loaded.nb, as_released)), released))
        outputs[student] = _outputs(loaded.nb)
        files[student] = {name: sub.path / name for name in lab_info(lab).checkpoints if (sub.path / name).is_file()}
    pairs = similar_pairs(answers, threshold=threshold)
    refs = {name: root / "autograder" / "references" / lab / name for name in lab_info(lab).checkpoints}
    artefacts, notes = checkpoint_matches(files, {k: v for k, v in refs.items() if v.is_file()})
    artefacts += output_matches(outputs, released_outputs)
    by_name = {a.student: a for a in answers}
    flagged = [p for p in pairs if p.flagged]
    shown = flagged + [p for p in pairs if not p.flagged and p.exact][:SHOWN]
    return {
        "lab": lab, "students": len(answers), "unreadable": unread, "pairs_measured": len(pairs),
        "pairs_exact": sum(p.exact for p in pairs),
        "common_limit": common_limit(len(answers)), "flagged": len(flagged),
        "pairs": [{"a": p.a, "b": p.b, "score": round(p.score, 3), "coverage_a": round(p.coverage_a, 3),
                   "coverage_b": round(p.coverage_b, 3), "shared_tokens": p.shared_tokens, "flagged": p.flagged,
                   "passages": [{"tokens": g.tokens,
                                 "a": _lines(by_name[p.a].code, g.a_lines), "b": _lines(by_name[p.b].code, g.b_lines)}
                                for g in p.passages[:8]] if p.flagged else []}
                  for p in shown],
        "artefacts": [{"kind": a.kind, "what": a.what, "students": list(a.students), "detail": a.detail}
                      for a in artefacts],
        "notes": notes,
    }


def _lines(code: Code, span: tuple[int, int]) -> dict[str, Any]:
    first, last = span
    cell, line = code.origin[first]
    return {"cell": cell, "line": line + 1, "text": "\n".join(code.lines[first:last + 1])}


def class_integrity(root: Path, folder: Path, labs: Sequence[str] | None = None, *,
                    threshold: float = THRESHOLD) -> dict[str, Any]:
    """The integrity summary of every lab in ``folder`` (or of ``labs``): plain data, for the JSON and the page."""
    t0 = time.perf_counter()
    chosen = [lab_info(lab).id for lab in labs] if labs else [lab.id for lab in LABS]
    by_lab: dict[str, list[Any]] = {}
    for sub in find_submissions(folder):
        lab = sub.lab_raw.decode(errors="replace")
        if lab in chosen and not sub.problem:
            by_lab.setdefault(lab, []).append(sub)
    summary = [_lab_integrity(root, lab, by_lab[lab], threshold) for lab in chosen if lab in by_lab]
    return {"threshold": threshold, "min_tokens": MIN_TOKENS, "labs": summary,
            "flagged": sum(lab["flagged"] for lab in summary),
            "artefacts": sum(len(lab["artefacts"]) for lab in summary),
            "seconds": round(time.perf_counter() - t0, 2)}


def write_integrity(summary: dict[str, Any], out_html: Path) -> tuple[Path, Path]:
    """The integrity page and its JSON beside it."""
    out_html = Path(out_html)
    generated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    json_path = atomic_write(out_html.with_suffix(".json"),
                             json.dumps(summary | {"generated": generated}, ensure_ascii=False, indent=1) + "\n")
    return atomic_write(out_html, integrity_page(summary, generated=generated)), json_path


def cli_similarity(args: argparse.Namespace) -> int:
    """``course similarity DIR [--lab ID] [--threshold X] [--out FILE]``."""
    root = find_root(getattr(args, "root", None))
    try:
        labs = [lab_info(lab).id for lab in args.lab] if args.lab else None
    except KeyError as exc:
        print(f"course similarity: {exc.args[0]}", file=sys.stderr)
        return 2
    threshold = THRESHOLD if args.threshold is None else args.threshold
    if not 0 < threshold <= 1:
        print(f"course similarity: --threshold must be in (0, 1] (got {threshold})", file=sys.stderr)
        return 2
    summary = class_integrity(root, Path(args.folder).expanduser().resolve(), labs, threshold=threshold)
    out = Path(args.out).expanduser().resolve() if args.out else root / "autograder" / "report" / "integrity.html"
    html_path, json_path = write_integrity(summary, out)
    for lab in summary["labs"]:
        top = lab["pairs"][0] if lab["pairs"] else None
        print(f"similarity: {lab['lab']}: {lab['students']} students, {lab['pairs_measured']} pair(s) measured, "
              f"{lab['flagged']} flagged, {len(lab['artefacts'])} identical artefact(s)"
              + (f"; most alike: {top['a']} and {top['b']} ({top['score']:.0%})" if top else ""))
    print(f"similarity: {summary['seconds']:.1f} s\n  HTML: {html_path}\n  JSON: {json_path}")
    return 0
