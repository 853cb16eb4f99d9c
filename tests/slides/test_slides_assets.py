"""course.slides.assets: the vendored reveal.js and MathJax are what the manifest says, with their licences."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from course.slides import assets
from course.slides.render import escape_script


def test_every_vendored_file_matches_its_sha256_and_each_package_has_its_licence() -> None:
    pkgs = assets.packages()
    assert set(pkgs) == {"reveal.js", "mathjax"}
    assert pkgs["reveal.js"].version.startswith("4."), "the template is written for reveal.js 4"
    for pkg in pkgs.values():
        assert "LICENSE" in pkg.files and pkg.integrity.startswith("sha512-"), pkg.name
        for file, digest in pkg.files.items():
            data = assets.vendored(pkg.name, file)
            assert hashlib.sha256(data).hexdigest() == digest and len(data) > 500, f"{pkg.name}/{file}"
    stored = [p for p in assets.VENDOR.rglob("*") if p.is_file()]
    assert max(p.stat().st_size for p in stored) < 2_000_000, "git holds no file over 2 MB: gzip it in the manifest"
    assert (assets.VENDOR / "mathjax" / "es5" / "tex-svg-full.js.gz").is_file()
    assert len(assets.vendored("mathjax", "es5/tex-svg-full.js")) > 2_000_000      # served uncompressed
    assert "MIT" in assets.vendored_text("reveal.js", "LICENSE")
    assert "Apache License" in assets.vendored_text("mathjax", "LICENSE")
    assert "SIL Open Font License" in assets.vendored_text("reveal.js", "dist/theme/fonts/source-sans-pro/LICENSE")


def test_a_changed_or_missing_vendored_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "vendor"
    shutil.copytree(assets.VENDOR, copy)
    monkeypatch.setattr(assets, "VENDOR", copy)
    assets.vendored.cache_clear()
    try:
        (copy / "reveal.js" / "LICENSE").write_text("edited by hand")
        with pytest.raises(assets.AssetError, match="differs from the sha256"):
            assets.vendored("reveal.js", "LICENSE")
        bundle = copy / "mathjax" / "es5" / "tex-svg-full.js.gz"
        bundle.write_bytes(bundle.read_bytes()[:1000])           # truncated
        with pytest.raises(assets.AssetError, match="not a readable gzip file"):
            assets.vendored("mathjax", "es5/tex-svg-full.js")
        (copy / "mathjax" / "LICENSE").unlink()
        with pytest.raises(assets.AssetError, match="is missing"):
            assets.vendored("mathjax", "LICENSE")
        with pytest.raises(assets.AssetError, match="not in"):
            assets.vendored("mathjax", "es5/tex-chtml.js")
    finally:
        assets.vendored.cache_clear()


def test_data_uri_embeds_the_bytes() -> None:
    import base64

    uri = assets.data_uri("reveal.js", "dist/theme/fonts/source-sans-pro/source-sans-pro-regular.woff", "font/woff")
    head, body = uri.split(",", 1)
    assert head == "data:font/woff;base64"
    assert base64.b64decode(body)[:4] == b"wOFF"


def test_inlined_scripts_cannot_end_or_reenter_their_script_element() -> None:
    js = 'var a = "</script>"; var re = /<!--(?!-?>)/; var b = "<script src=x>";'
    out = escape_script(js)
    assert "</script" not in out and "<!--" not in out and "<script" not in out
    assert out.count("\\x3C") == 3          # "\x3C" is "<" in a JavaScript string or regular expression
    for file in ("dist/reveal.js", "plugin/notes/notes.js"):
        text = escape_script(assets.vendored_text("reveal.js", file))
        assert "</script" not in text.lower() and "<!--" not in text
