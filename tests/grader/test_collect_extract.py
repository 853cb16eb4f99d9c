"""``course collect``, safe extraction: students' zips never write outside their target, and the caps hold.

The malicious zips are crafted with ``zipfile`` and, where zipfile would not write what an attacker can, patched
byte by byte (:mod:`lms_exports`).
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from lms_exports import add_symlink_entry, files_under, make_zip, nb, patch_headers

from course.grader.collect import ZipCaps, safe_extract
from course.grader.names import printable_name


def test_a_malicious_zip_writes_nothing_outside_its_target(tmp_path: Path) -> None:
    evil = make_zip(tmp_path / "in" / "evil.zip", {
        "../evil.py": b"x", "ok/../../evil2.py": b"x", "..\\..\\evil3.py": b"x", f"{tmp_path}/abs_evil.txt": b"x",
        "C:/evil.txt": b"x", "C:\\Windows\\evil.txt": b"x", "good/file.txt": b"fine", "__MACOSX/good/._file.txt": b"j",
        ".DS_Store": b"j", "good/.ipynb_checkpoints/x-checkpoint.ipynb": b"j",
        "/".join(["d"] * 40) + "/deep.txt": b"x"})
    add_symlink_entry(evil, "good/link", "/etc/passwd")
    add_symlink_entry(evil, "up", "..")
    before = files_under(tmp_path)
    dest = tmp_path / "a" / "b" / "dest"
    notes = safe_extract(evil, dest)
    assert files_under(dest) == {"good/file.txt"} and (dest / "good" / "file.txt").read_bytes() == b"fine"
    assert files_under(tmp_path) - before == {"a/b/dest/good/file.txt"}
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]
    text = "\n".join(notes)
    for entry, why in [("../evil.py", "climbs out"), ("ok/../../evil2.py", "climbs out"),
                       ("..\\..\\evil3.py", "climbs out"), (f"{tmp_path}/abs_evil.txt", "an absolute path"),
                       ("C:/evil.txt", "a drive letter"), ("C:\\Windows\\evil.txt", "a drive letter"),
                       ("good/link", "symbolic link skipped"), ("up", "symbolic link skipped"),
                       ("/deep.txt", "nested deeper than 32 folders")]:
        assert re.search(re.escape(printable_name(entry)) + r".*: .*" + why, text), (entry, notes)
    assert "__MACOSX" not in text and ".DS_Store" not in text       # junk is dropped without a word


def test_caps_stop_an_honest_bomb_on_size_total_and_count(tmp_path: Path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(5 * 2**20), "small.txt": b"ok"})
    assert bomb.stat().st_size < 100_000
    notes = safe_extract(bomb, tmp_path / "d1", ZipCaps(file_bytes=2**20))
    assert files_under(tmp_path / "d1") == {"small.txt"}
    assert any(n.startswith("zeros.bin: over the size cap (5 MB; 1 MB for one file)") for n in notes), notes

    three = make_zip(tmp_path / "three.zip", {f"f{i}.bin": bytes(400_000) for i in range(3)})
    notes = safe_extract(three, tmp_path / "d2", ZipCaps(total_bytes=1_000_000))
    assert files_under(tmp_path / "d2") == {"f0.bin", "f1.bin"}       # f2 is stopped while it inflates
    assert any("stopped at f2.bin" in n and "in all" in n for n in notes), notes

    many = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(6)})
    notes = safe_extract(many, tmp_path / "d3", ZipCaps(files=4))
    assert len(files_under(tmp_path / "d3")) == 4 and any("over the cap of 4 files" in n for n in notes), notes


def test_a_header_that_lies_about_its_size_is_stopped(tmp_path: Path) -> None:
    liar = make_zip(tmp_path / "liar.zip", {"zeros.bin": bytes(3 * 2**20), "after.txt": b"still read"})
    patch_headers(liar, size=1000)                    # "1000 bytes", inflating to 3 MB
    with zipfile.ZipFile(liar) as zf:
        assert zf.getinfo("zeros.bin").file_size == 1000
    notes = safe_extract(liar, tmp_path / "dest", ZipCaps(file_bytes=10_000))
    assert not (tmp_path / "dest" / "zeros.bin").exists()
    assert all(p.stat().st_size <= 10_000 for p in (tmp_path / "dest").rglob("*"))
    assert any(n.startswith("zeros.bin: corrupt") for n in notes), notes


def test_the_caps_count_the_bytes_inflated_not_the_declared_size(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Even were zipfile to trust a falsified header, the bytes written are counted and capped."""
    small = make_zip(tmp_path / "small.zip", {"claims_tiny.bin": b"tiny", "ok.txt": b"ok"})
    real_open = zipfile.ZipFile.open

    def lying_open(self: zipfile.ZipFile, name: object, *args: object, **kw: object) -> object:
        if getattr(name, "filename", name) == "claims_tiny.bin":
            return io.BytesIO(bytes(8 * 2**20))       # what an unchecked inflater would deliver
        return real_open(self, name, *args, **kw)

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    notes = safe_extract(small, tmp_path / "dest", ZipCaps(file_bytes=64 * 1024))
    assert files_under(tmp_path / "dest") == {"ok.txt"}
    assert any("claims_tiny.bin: over the size cap: inflates past" in n for n in notes), notes
    notes = safe_extract(small, tmp_path / "dest2", ZipCaps(total_bytes=100_000))
    assert not (tmp_path / "dest2" / "claims_tiny.bin").exists() and any("stopped at" in n for n in notes)


def test_corrupt_and_encrypted_zips_are_notes_not_crashes(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(os.urandom(2000))
    [note] = safe_extract(junk, tmp_path / "d1")
    assert note.startswith("not a readable zip (BadZipFile")

    flipped = make_zip(tmp_path / "flipped.zip", {"a.txt": b"A" * 500 + b"MARKER" + b"A" * 500, "b.txt": b"fine"},
                       method=zipfile.ZIP_STORED)
    flipped.write_bytes(flipped.read_bytes().replace(b"MARKER", b"XXXXXX"))
    notes = safe_extract(flipped, tmp_path / "d2")
    assert files_under(tmp_path / "d2") == {"b.txt"} and any(n.startswith("a.txt: corrupt") for n in notes), notes

    secret = make_zip(tmp_path / "secret.zip", {"lab3_mlp_mnist.ipynb": nb("locked")})
    patch_headers(secret, flags=0x1)
    notes = safe_extract(secret, tmp_path / "d3")
    assert files_under(tmp_path / "d3") == set() and notes == ["lab3_mlp_mnist.ipynb: encrypted (password-protected): "
                                                             "not extracted"]
