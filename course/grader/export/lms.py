"""Filling an LMS's own grade file: Canvas's gradebook CSV and Moodle's offline grading worksheet.

Both start from the file the instructor downloads from the LMS, because the LMS matches rows by its own ids; the
copy written keeps every row, column and cell as it was, except the grades filled in. Canvas (``canvas-lms``'s
``GradebookImporter``): columns ``Student, ID[, SIS User ID, SIS Login ID, ...], Section``, then one column per
assignment (``Lab 3 (12345)``), a ``Points Possible`` row, comma or semicolon separated. Moodle
(``mod/assign`` offline grading worksheet): ``Identifier`` (``Participant N``), ``Full name``, ..., ``Grade``,
``Maximum grade``, ``Last modified (grade)``.

Students are matched by the LMS id their files carried (``course collect``'s report), else by login or SIS id,
else by name, and only where exactly one row fits. A grade is scaled to the LMS's maximum when that differs from
the lab's. A student without a grade keeps the cell as it was (missing, not zero) unless ``zeros``.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...labs import LABS
from .grades import Grades, LabGrade, fmt, plain_key

__all__ = ["ExportError", "Filled", "canvas_fill", "lab_columns", "moodle_fill", "read_table"]


class ExportError(Exception):
    """The file cannot be filled at all (another layout, a lab without a column, ...); the message says why."""


@dataclass
class Filled:
    rows: list[list[str]]
    delimiter: str
    bom: bool
    written: int = 0
    missing: list[str] = field(default_factory=list)      # LMS rows left as they were (no grade)
    unknown: list[str] = field(default_factory=list)      # graded students no row fits
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n").writerows(self.rows)
        return ("\ufeff" if self.bom else "") + out.getvalue()


def read_table(path: Path) -> tuple[list[list[str]], str, bool]:
    """The rows of a CSV file, its delimiter (``,`` or ``;``) and whether it started with a byte-order mark."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not UTF-8 text (download the CSV from the LMS again)") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        raise ExportError(f"{path}: empty file")
    return rows, delimiter, raw.startswith(b"\xef\xbb\xbf")


def _value(grade: LabGrade, maximum: float | None, lab: str, notes: list[str]) -> str:
    if maximum and abs(maximum - grade.max_total) > 1e-9:
        note = f"{lab}: scaled from {fmt(grade.max_total)} to the LMS's {fmt(maximum)} points"
        if note not in notes:
            notes.append(note)
        return fmt(grade.total / grade.max_total * maximum if grade.max_total else 0.0)
    return fmt(grade.total)


def _number(cell: str) -> float | None:
    try:
        return float(cell.strip().replace(",", "."))
    except ValueError:
        return None


def _lab_number(lab: str) -> str:
    return re.match(r"lab(\d+)", lab)[1]


def lab_columns(titles: Sequence[str], labs: Sequence[str], explicit: Mapping[str, str]) -> dict[str, int]:
    """The column of each lab: ``explicit`` titles first, else the one title that names the lab (its id, its
    title, or ``Lab N``). A lab two columns could be is an error: ``--column`` says which."""
    bare = [re.sub(r"\s*\(\d+\)\s*$", "", t).strip() for t in titles]
    found: dict[str, int] = {}
    for lab in labs:
        if lab in explicit:
            want = explicit[lab]
            hits = [i for i, (t, b) in enumerate(zip(titles, bare)) if want in (t, b)]
            if len(hits) != 1:
                raise ExportError(f"--column {lab}={want!r}: {'no' if not hits else 'more than one'} column has that "
                                  f"title (columns: {', '.join(titles) or 'none'})")
            found[lab] = hits[0]
            continue
        info = next(x for x in LABS if x.id == lab)
        keys = {plain_key(lab), plain_key(info.title)}
        pattern = re.compile(rf"\blab\s*0*{_lab_number(lab)}\b", re.IGNORECASE)
        hits = [i for i, b in enumerate(bare) if plain_key(b) in keys or pattern.search(b)]
        if len(hits) > 1:
            raise ExportError(f"{lab}: more than one column could be it ({', '.join(titles[i] for i in hits)}); "
                              f"say which with --column {lab}='<title>'")
        if hits:
            found[lab] = hits[0]
    return found


class _Matcher:
    """Rows by id, by login/SIS ids and by name; a key two rows share matches neither."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], set[int]] = {}

    def add(self, row: int, kind: str, value: str) -> None:
        if value.strip():
            self.keys.setdefault((kind, value.strip().casefold()), set()).add(row)

    def find(self, kind: str, value: str | None) -> int | None:
        rows = self.keys.get((kind, (value or "").strip().casefold()), set())
        return next(iter(rows)) if len(rows) == 1 else None


def _fill(rows: list[list[str]], first: int, matcher: _Matcher, ids: Mapping[str, Mapping[str, str]], lms: str,
          grades: Grades, columns: Mapping[str, int], maxima: Mapping[str, float | None], zeros: bool,
          describe, filled: Filled) -> None:
    placed: set[int] = set()
    for student, labs in grades.by_student.items():
        row = (matcher.find("id", ids.get(student, {}).get(lms)) or matcher.find("login", student)
               or matcher.find("name", plain_key(student)))
        if row is None:
            filled.unknown.append(student)
            continue
        placed.add(row)
        for lab, grade in labs.items():
            if lab in columns:
                rows[row][columns[lab]] = _value(grade, maxima.get(lab), lab, filled.notes)
                filled.written += 1
        for lab in columns:
            if lab not in labs:
                filled.missing.append(f"{describe(row)} / {lab}")
                if zeros:
                    rows[row][columns[lab]] = "0"
    for r in range(first, len(rows)):
        if r not in placed and describe(r):
            filled.missing += [f"{describe(r)} / {lab}" for lab in columns]
            if zeros:
                for col in columns.values():
                    rows[r][col] = "0"


def canvas_fill(path: Path, grades: Grades, ids: Mapping[str, Mapping[str, str]], *,
                explicit: Mapping[str, str] = {}, zeros: bool = False) -> Filled:
    rows, delimiter, bom = read_table(path)
    head = rows[0]
    if len(head) < 4 or "Student" not in head[0] or "ID" not in head[1] or "Section" not in head:
        raise ExportError(f"{path}: not a Canvas gradebook export (its header must start Student, ID, ... Section, "
                          f"then the assignments; found {', '.join(head[:6])})")
    last = max(i for i, h in enumerate(head) if "Section" in h)
    titles = head[last + 1:]
    found = lab_columns(titles, grades.labs, explicit)
    for lab in grades.labs:
        if lab not in found:
            raise ExportError(f"{lab}: no column of {path.name} names it (assignments: {', '.join(titles) or 'none'}); "
                              f"say which with --column {lab}='<title>'")
    columns = {lab: last + 1 + i for lab, i in found.items()}
    points = next((r for r in rows[1:3] if r and "Points Possible" in r[0]), None)
    maxima = {lab: _number(points[c]) if points and c < len(points) else None for lab, c in columns.items()}
    width = len(head)
    for r in rows:
        r.extend([""] * (width - len(r)))
    matcher = _Matcher()
    first = 1
    for i, r in enumerate(rows[1:], 1):
        if "Points Possible" in r[0] or r[0].strip() in ("Muted", "Manual Posting") or not any(r):
            first = i + 1
            continue
        matcher.add(i, "id", r[1])
        for c, h in enumerate(head[:last]):
            if h in ("SIS Login ID", "SIS User ID", "Login ID"):
                matcher.add(i, "login", r[c])
        name = r[0]
        matcher.add(i, "name", plain_key(name))
        if "," in name:                                    # "Doe, Jane" is also "Jane Doe"
            last_name, first_name = name.split(",", 1)
            matcher.add(i, "name", plain_key(first_name + last_name))
    filled = Filled(rows, delimiter, bom)
    _fill(rows, first, matcher, ids, "canvas", grades, columns, maxima, zeros,
          lambda r: rows[r][0].strip(), filled)
    return filled


_MOODLE_HEAD = ("Identifier", "Full name", "Grade")


def moodle_fill(path: Path, grades: Grades, ids: Mapping[str, Mapping[str, str]], lab: str, *,
                zeros: bool = False) -> Filled:
    rows, delimiter, bom = read_table(path)
    head = [h.strip() for h in rows[0]]
    lower = [h.casefold() for h in head]
    missing = [h for h in _MOODLE_HEAD if h.casefold() not in lower]
    if missing:
        raise ExportError(f"{path}: not a Moodle grading worksheet (no {', '.join(missing)} column; found "
                          f"{', '.join(head[:8])}). Download it from the assignment: View all submissions → "
                          "Grading action → Download grading worksheet")
    col = {h: lower.index(h.casefold()) for h in _MOODLE_HEAD}
    maximum_col = next((i for i, h in enumerate(lower) if h == "maximum grade"), None)
    width = len(head)
    for r in rows:
        r.extend([""] * (width - len(r)))
    matcher = _Matcher()
    for i, r in enumerate(rows[1:], 1):
        matcher.add(i, "id", re.sub(r"^\D*", "", r[col["Identifier"]]))
        matcher.add(i, "name", plain_key(r[col["Full name"]]))
    one = Grades({s: {lab: g[lab]} for s, g in grades.by_student.items() if lab in g}, {lab: grades.maxima[lab]})
    filled = Filled(rows, delimiter, bom)
    maxima = {}
    if maximum_col is not None:
        values = {_number(r[maximum_col]) for r in rows[1:] if r[maximum_col].strip()}
        maxima[lab] = values.pop() if len(values) == 1 else None
    _fill(rows, 1, matcher, ids, "moodle", one, {lab: col["Grade"]}, maxima, zeros,
          lambda r: rows[r][col["Full name"]].strip() or rows[r][col["Identifier"]].strip(), filled)
    return filled
