"""The built wheel holds the `course` package only: no solutions, hidden tests or references."""
from __future__ import annotations

import subprocess
import re
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_wheel_contains_course_only(repo_root, tmp_path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(repo_root)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("course-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"course", next(t for t in top if t.endswith(".dist-info"))}, top
    assert "course/cli.py" in names and "course/data/__init__.py" in names and "course/plotting/__init__.py" in names
    for name in names:
        if name.startswith("course/"):
            text = zipfile.ZipFile(wheel).read(name).decode("utf-8", "replace")
            assert not re.search(r"^\s*#+\s*BEGIN (SOLUTION|HIDDEN TESTS)", text, re.M), name
    assert not any(n.endswith((".ipynb", ".pt")) for n in names)
    # `course slides` works from an installed wheel: the vendored files, their manifest and the template ship.
    import json

    manifest = json.loads(zipfile.ZipFile(wheel).read("course/slides/vendor/MANIFEST.json"))
    vendored = [f"course/slides/vendor/{pkg}/{f}{'.gz' if f in p.get('gzipped', []) else ''}"
                for pkg, p in manifest["packages"].items() for f in p["files"]]
    assert set(vendored) <= set(names), sorted(set(vendored) - set(names))
    assert "course/slides/template/course_reveal/index.html.j2" in names
    assert "course/slides/template/course_reveal/conf.json" in names
    # The student install is light: what the labs import, and no more; nbgrader only in the extras.
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    light = sorted(re.split(r"[<>=;\[ ]", r)[0].lower() for r in requires if "extra ==" not in r)
    assert light == ["matplotlib", "numpy", "pillow", "torch", "torchvision", "tqdm"], light
    extras = [r for r in requires if "extra ==" in r]
    assert any(r.startswith("nbgrader") and 'extra == "instructor"' in r for r in extras), extras
    assert any(r.startswith("jupyterlab-rise") and 'extra == "instructor"' in r for r in extras), extras
