"""Intake: finding submissions, copying one safely, reading its notebook with a reason instead of a crash."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from fake_engine import LAB, SECRET, bytes_folder_or_skip, student_notebook, write_submission

from course.grader.intake import Caps, copy_submission, digest, find_submissions, load_submission_notebook
from course.grader.names import printable_name, safe_name
from course.checkout import PipelineError


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- names -----------------------------------------------------------------------------------------------------

def test_printable_names_are_readable_one_line_and_never_alike() -> None:
    assert printable_name(b"ann") == "ann" and printable_name(b"Zo\xc3\xab") == "Zoë"
    assert printable_name(b"bad\xff\xfename") == "bad\\xff\\xfename"
    assert printable_name(b"two\nlines\t") == "two\\u000alines\\u0009"
    # A name that spells an escape is not confused with the undecodable byte it spells.
    assert printable_name(b"\\xff") != printable_name(b"\xff")
    assert len({printable_name(n) for n in (b"\xff", b"\\xff", b"\\\\xff", b"\xc3\xbf")}) == 4
    json.dumps(printable_name(b"\xed\xa0\x80\xff")).encode("utf-8")   # encodable: no lone surrogates


def test_safe_names_are_short_ascii_and_distinct() -> None:
    names = [b"ann", b"Ann", b"a/b".replace(b"/", b"_"), b"\xff" * 300, b"..", b"", "Zoë".encode()]
    safe = [safe_name(n) for n in names]
    assert len(set(safe)) == len(safe)
    for s in safe:
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,60}", s) and not s.startswith("."), s
    assert safe_name(b"ann").startswith("ann-")


# --- finding submissions ---------------------------------------------------------------------------------------

def test_both_layouts_hidden_entries_and_linked_folders(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_submission(plain, "bob", student_notebook())
    write_submission(plain, "ann", student_notebook())
    write_submission(plain, ".ipynb_checkpoints", student_notebook())
    (plain / "notes.txt").write_text("not a student")
    found = find_submissions(plain)
    assert [(s.student, s.lab) for s in found] == [("ann", LAB), ("bob", LAB)]

    nested = tmp_path / "course" / "submitted"
    write_submission(nested, "cat", student_notebook())
    (nested / "flat").mkdir()
    (nested / "flat" / f"{LAB}.ipynb").write_text("{}")            # handed in without the lab folder
    (nested / "dan").symlink_to(plain / "ann")
    (nested / "eve").mkdir()
    (nested / "eve" / LAB).symlink_to(plain / "bob" / LAB)
    found = {s.student: s for s in find_submissions(tmp_path / "course")}
    assert set(found) == {"cat", "dan", "eve", "flat"}
    assert not found["cat"].problem
    assert found["flat"].problem == "no lab folder: expected <student>/<lab>/<lab>.ipynb" and found["flat"].lab == ""
    assert "symbolic link" in found["dan"].problem and "symbolic link" in found["eve"].problem


def test_missing_or_empty_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no such folder of submissions"):
        find_submissions(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineError, match="no submissions"):
        find_submissions(tmp_path / "empty")


def test_folder_names_that_are_not_utf8(tmp_path: Path) -> None:
    raw = b"j\xf6rg\xff"                               # Latin-1 bytes, as an old zip tool leaves them
    bytes_folder_or_skip(tmp_path, raw)
    write_submission(tmp_path, raw, student_notebook())
    [sub] = find_submissions(tmp_path)
    assert sub.student_raw == raw and sub.student == "j\\xf6rg\\xff"
    assert sub.safe_student.startswith("j_xf6rg_xff-") and sub.safe_student.isascii()
    assert load_submission_notebook(sub.path, LAB).nb is not None
    dst = tmp_path / "copy"
    copy_submission(sub.path, dst)
    assert (dst / f"{LAB}.ipynb").exists()


# --- copying -----------------------------------------------------------------------------------------------------

def test_links_are_skipped_inside_or_out_and_their_targets_never_copied(tmp_path: Path) -> None:
    secrets = tmp_path / "autograder"
    (secrets / "references").mkdir(parents=True)
    (secrets / "gradebook.db").write_bytes(SECRET)
    (secrets / "references" / "lab9.json").write_bytes(SECRET)
    sub = write_submission(tmp_path / "in", "mallory", student_notebook())
    (sub / "gradebook.db").symlink_to(secrets / "gradebook.db")
    (sub / "references").symlink_to(secrets / "references")
    (sub / "abs").symlink_to("/etc/passwd")
    (sub / "inside.ipynb").symlink_to(sub / f"{LAB}.ipynb")
    (sub / "loop").symlink_to(sub)
    (sub / "data").mkdir()
    (sub / "data" / "deep").symlink_to(secrets / "gradebook.db")

    dst = tmp_path / "scratch"
    notes = copy_submission(sub, dst)
    assert SECRET not in _all_bytes(dst)
    assert not [p for p in dst.rglob("*") if p.is_symlink()]
    assert (dst / f"{LAB}.ipynb").is_file() and (dst / "data").is_dir()
    skipped = " ".join(notes)
    for name in ("gradebook.db", "references", "abs", "inside.ipynb", "loop", "data/deep"):
        assert f"skipped {name}: a symbolic link" in skipped, (name, notes)


def test_caps_on_size_and_count_skip_with_a_note(tmp_path: Path) -> None:
    sub = write_submission(tmp_path / "in", "big", student_notebook())
    (sub / "weights.pt").write_bytes(b"x" * 5000)
    for i in range(5):
        (sub / f"f{i}.txt").write_bytes(b"y" * 100)
    dst = tmp_path / "scratch"
    notes = copy_submission(sub, dst, Caps(total_bytes=10**6, files=4, file_bytes=4000))
    assert not (dst / "weights.pt").exists()
    assert any("weights.pt" in n and "cap for one file" in n for n in notes), notes
    assert len([p for p in dst.iterdir()]) == 4 and any("cap of 4 files" in n for n in notes)

    dst2 = tmp_path / "scratch2"
    notes = copy_submission(sub, dst2, Caps(total_bytes=6000 + len((sub / f"{LAB}.ipynb").read_bytes()) - 5000))
    assert any("cap in all" in n for n in notes), notes


def test_an_oversized_file_is_neither_copied_nor_read(tmp_path: Path) -> None:
    sub = write_submission(tmp_path / "in", "huge", student_notebook())
    with open(sub / "dump.bin", "wb") as fh:              # sparse: 301 MB on paper, nothing on disk
        fh.truncate(301 * 2**20)
    dst = tmp_path / "scratch"
    notes = copy_submission(sub, dst)
    assert not (dst / "dump.bin").exists() and any("dump.bin: 301 MB, over the 300 MB cap" in n for n in notes)
    assert digest(sub)                                   # counted by its size, not read


def test_caches_are_skipped_and_a_fifo_does_not_hang(tmp_path: Path) -> None:
    sub = write_submission(tmp_path / "in", "ann", student_notebook())
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / f"{LAB}-checkpoint.ipynb").write_text("{}")
    (sub / "__pycache__").mkdir()
    (sub / "__pycache__" / "x.pyc").write_bytes(b"\0")
    os.mkfifo(sub / "pipe")
    dst = tmp_path / "scratch"
    notes = copy_submission(sub, dst)
    assert sorted(p.name for p in dst.iterdir()) == [f"{LAB}.ipynb"]
    assert any("pipe" in n and "not a regular file" in n for n in notes)
    assert digest(sub)


def test_many_notes_of_one_kind_are_counted(tmp_path: Path) -> None:
    sub = write_submission(tmp_path / "in", "ann", student_notebook())
    for i in range(30):
        (sub / f"l{i:02d}").symlink_to("/etc/hostname")
    notes = copy_submission(sub, tmp_path / "scratch")
    assert len(notes) == 11 and notes[-1] == "... and 20 more symbolic links skipped"


# --- the digest ----------------------------------------------------------------------------------------------------

def test_the_digest_follows_names_bytes_and_link_targets_only(tmp_path: Path) -> None:
    a = write_submission(tmp_path / "a", "ann", student_notebook())
    b = write_submission(tmp_path / "b", "bob", student_notebook())
    assert digest(a) == digest(b)
    (b / ".ipynb_checkpoints").mkdir()
    (b / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert digest(a) == digest(b)
    first = digest(a)
    (a / "link").symlink_to("target-1")
    with_link = digest(a)
    (a / "link").unlink()
    (a / "link").symlink_to("target-2")
    assert len({first, with_link, digest(a)}) == 3
    (a / "link").unlink()
    assert digest(a) == first
    (a / f"{LAB}.ipynb").write_bytes((a / f"{LAB}.ipynb").read_bytes() + b" ")
    assert digest(a) != first
    (a / f"{LAB}.ipynb").rename(a / "other.ipynb")
    assert digest(a) not in (first, with_link)


# --- reading the notebook ------------------------------------------------------------------------------------------

def _load(tmp_path: Path, content, name: str = f"{LAB}.ipynb"):
    folder = write_submission(tmp_path / "sub", "ann", content, name=name)
    return load_submission_notebook(folder, LAB)


@pytest.mark.parametrize("content, reason", [
    ('{"cells": [', r"lab9_mini.ipynb is not a valid notebook: not valid JSON \(line 1, column 12"),
    ("", r"is not a valid notebook: the file is empty \(0 bytes\)"),
    ("  \n", r"is not a valid notebook: the file is empty \(3 bytes\)"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe", r"is not a valid notebook: not UTF-8 text"),
    ("[1, 2]", r"is not a valid notebook: the JSON is a list, not a notebook"),
    ('{"cells": []}', r"is not a valid notebook: it has no nbformat version"),
    ('{"nbformat": 9, "cells": []}', r"nbformat 9 is newer"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', r"lab9_mini.ipynb has no cells"),
    ("[" * 100_000 + "]" * 100_000, r"is not a valid notebook: the JSON is nested too deeply"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "widget"}]}',
     r"is not a valid notebook: "),
])
def test_unreadable_notebooks_give_a_reason_not_an_exception(tmp_path: Path, content, reason) -> None:
    loaded = _load(tmp_path, content)
    assert loaded.nb is None and re.search(reason, loaded.reason), loaded.reason


def test_missing_notebook(tmp_path: Path) -> None:
    loaded = _load(tmp_path, None)
    assert loaded.nb is None and loaded.reason == "no notebook: lab9_mini.ipynb is missing from the submission"


def test_a_renamed_notebook_is_graded_and_noted(tmp_path: Path) -> None:
    loaded = _load(tmp_path, student_notebook(), name="lab9_mini (1).ipynb")
    assert loaded.nb is not None and loaded.changed
    assert loaded.notes == ["lab9_mini.ipynb is missing: graded lab9_mini (1).ipynb instead "
                            "(renamed to lab9_mini.ipynb)"]


def test_two_other_notebooks_are_ambiguous(tmp_path: Path) -> None:
    folder = write_submission(tmp_path / "sub", "ann", student_notebook(), name="a.ipynb")
    (folder / "b.ipynb").write_text(nbformat.writes(student_notebook()))
    loaded = load_submission_notebook(folder, LAB)
    assert loaded.nb is None and "2 other notebooks (a.ipynb, b.ipynb)" in loaded.reason


def test_an_nbformat3_notebook_is_converted(tmp_path: Path) -> None:
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": LAB},
          "worksheets": [{"metadata": {}, "cells": [
              {"cell_type": "markdown", "metadata": {}, "source": ["# Lab 9"]},
              {"cell_type": "code", "metadata": {}, "language": "python", "collapsed": False,
               "input": ["def f(x):\n", "    return x + 1  # OK"], "outputs": [], "prompt_number": 1}]}]}
    loaded = _load(tmp_path, json.dumps(v3))
    assert loaded.nb is not None and loaded.changed and loaded.nb.nbformat == 4
    assert loaded.nb.cells[1].source == "def f(x):\n    return x + 1  # OK"
    assert loaded.notes == ["lab9_mini.ipynb was in the old nbformat 3: converted to nbformat 4"]


def test_a_wrong_kernelspec_is_ignored_and_noted(tmp_path: Path) -> None:
    nb = student_notebook()
    nb.metadata["kernelspec"] = {"display_name": "R", "language": "R", "name": "ir"}
    loaded = _load(tmp_path, nb)
    assert loaded.nb is not None and loaded.changed and loaded.nb.metadata.kernelspec.name == "python3"
    assert loaded.notes == ["the notebook's kernel 'R' is ignored: graded with Python 3"]
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    assert not _load(tmp_path / "again", nb).notes


def test_a_slightly_broken_notebook_is_repaired(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(student_notebook()))
    del nb["cells"][1]["source"]                     # a tool that wrote a cell without its source
    nb["cells"][2]["source"] = ["def f(x):\n", "    return x + 1  # OK"]
    loaded = _load(tmp_path, json.dumps(nb))
    assert loaded.nb is not None and loaded.changed and loaded.nb.cells[1].source == ""
    assert "repaired" in loaded.notes[0]
