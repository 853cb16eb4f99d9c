"""The course's address: install specs stamped into setup cells, Colab badges, and the setup cell on a simulated Colab."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch

import course
from course.release import (BADGES_END, BADGES_START, colab_badges, install_spec, stamp_install_spec,
                            write_readme_badges)

LAB = "lab3_mlp_mnist"
URL = "https://github.com/example-org/dl-course"
SPEC = "course @ git+https://github.com/example-org/dl-course.git@v0.1.0"


def _project(tmp_path: Path, url: str | None, version: str = "0.1.0") -> Path:
    urls = f'[project.urls]\nRepository = "{url}"\n' if url else "[project.urls]\n# Repository = \"...\"\n"
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "course"\nversion = "{version}"\n\n{urls}')
    return tmp_path


def _setup_source(repo_root: Path, spec: str | None) -> str:
    nb = nbformat.read(repo_root / "solutions" / LAB / f"{LAB}.ipynb", 4)
    assert stamp_install_spec(nb, spec) == 1, "the lab's setup cell has no `COURSE_INSTALL = ...` line"
    return next(c.source for c in nb.cells if c.cell_type == "code" and "COURSE_INSTALL = " in c.source)


def test_the_repository_ships_no_placeholder_address(repo_root) -> None:
    # No URL is set in this repository, and no notebook carries an invented one.
    assert install_spec(repo_root) is None
    for path in [*repo_root.glob("notebooks/*/*.ipynb"), *repo_root.glob("solutions/*/*.ipynb")]:
        text = path.read_text()
        assert "COURSE_INSTALL = None" in text, path
        assert "github.com" not in text and "COURSE_PIP" not in text, path


def test_install_spec_is_the_light_install_at_the_version_tag(tmp_path) -> None:
    assert install_spec(_project(tmp_path, None)) is None
    assert install_spec(_project(tmp_path, URL)) == SPEC
    assert install_spec(_project(tmp_path, URL + ".git/", "1.2.3")) == SPEC.replace("0.1.0", "1.2.3")
    assert "[" not in install_spec(_project(tmp_path, URL))  # no extras: nbgrader never reaches Colab


def test_stamp_rewrites_only_the_install_line(repo_root) -> None:
    before = _setup_source(repo_root, None)
    after = _setup_source(repo_root, SPEC)
    assert f"COURSE_INSTALL = {SPEC!r}" in after
    assert before.replace("COURSE_INSTALL = None", f"COURSE_INSTALL = {SPEC!r}") == after


def test_badges_one_per_lab_or_what_to_do(tmp_path) -> None:
    block = colab_badges(_project(tmp_path, URL), ["lab1_linear", LAB])
    assert block.startswith(BADGES_START) and block.endswith(BADGES_END)
    assert block.count("colab-badge.svg") == 2
    assert ("https://colab.research.google.com/github/example-org/dl-course/blob/v0.1.0/"
            f"notebooks/{LAB}/{LAB}.ipynb") in block
    none = colab_badges(_project(tmp_path, None), [LAB])
    assert "colab-badge.svg" not in none and "[project.urls] Repository" in none
    gitlab = colab_badges(_project(tmp_path, "https://gitlab.com/a/b"), [LAB])
    assert "colab-badge.svg" not in gitlab and "GitHub only" in gitlab


def test_write_readme_badges_is_idempotent(tmp_path) -> None:
    root = _project(tmp_path, URL)
    (root / "README.md").write_text(f"# x\n\n{BADGES_START}\nold\n{BADGES_END}\n\nmore\n")
    assert write_readme_badges(root, [LAB]) is True
    text = (root / "README.md").read_text()
    assert "colab-badge.svg" in text and "old" not in text and text.endswith("\n\nmore\n")
    assert write_readme_badges(root, [LAB]) is False


# --------------------------------------------------------------------------- the setup cell, simulated


class _Pip:
    """Stands in for subprocess.run inside the setup cell: records pip calls, installs nothing."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args, **kwargs):
        self.calls.append(list(args))
        return subprocess.CompletedProcess(args, 0)


def _run_setup(source: str, monkeypatch, *, colab: bool, installed: bool, cuda: bool) -> tuple[dict, _Pip]:
    pip = _Pip()
    monkeypatch.setattr(subprocess, "run", pip)
    if colab:
        google = types.ModuleType("google")
        colab_mod = types.ModuleType("google.colab")
        google.colab = colab_mod  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "course" and not installed else real(name, *a))
    if cuda:
        props = types.SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
        monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    ns: dict = {}
    exec(compile(source, "<setup cell>", "exec"), ns)  # noqa: S102 - the cell, as a kernel runs it
    return ns, pip


def test_setup_cell_on_colab_installs_the_stamped_spec_and_picks_cuda(repo_root, monkeypatch, capsys) -> None:
    ns, pip = _run_setup(_setup_source(repo_root, SPEC), monkeypatch, colab=True, installed=False, cuda=True)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "-q", SPEC]]
    assert not any("nbgrader" in arg or "instructor" in arg for arg in pip.calls[0])
    assert ns["DEVICE"] == torch.device("cuda", 0)
    out = capsys.readouterr().out
    assert "installing" in out and "Tesla T4" in out


def test_setup_cell_without_an_address_says_what_to_do(repo_root, monkeypatch) -> None:
    with pytest.raises(ModuleNotFoundError, match="install command your instructor gave you"):
        _run_setup(_setup_source(repo_root, None), monkeypatch, colab=True, installed=False, cuda=False)


def test_setup_cell_in_jupyterlab_installs_nothing_and_says_one_line(repo_root, monkeypatch, capsys) -> None:
    ns, pip = _run_setup(_setup_source(repo_root, SPEC), monkeypatch, colab=False, installed=True, cuda=False)
    assert pip.calls == []
    assert ns["DEVICE"] == torch.device("cpu")
    assert capsys.readouterr().out.strip().splitlines() == ["course: using cpu (no CUDA or MPS available)"]


def test_save_model_on_colab_offers_the_download(tmp_path, monkeypatch, capsys) -> None:
    downloads: list[str] = []
    google = types.ModuleType("google")
    colab_mod = types.ModuleType("google.colab")
    colab_mod.files = types.SimpleNamespace(download=downloads.append)  # type: ignore[attr-defined]
    google.colab = colab_mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
    monkeypatch.delenv("COURSE_FAST", raising=False)
    path = course.save_model(torch.nn.Linear(3, 2), tmp_path / "lab3_best.pt")
    assert downloads == [str(path)]
    assert "Colab" in capsys.readouterr().out


def test_save_model_elsewhere_offers_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COURSE_FAST", raising=False)
    course.save_model(torch.nn.Linear(3, 2), tmp_path / "m.pt")
    assert "Colab" not in capsys.readouterr().out


@pytest.mark.slow
def test_build_stamps_every_notebook_and_writes_badges(course_copy) -> None:
    from course.pipeline import build

    py = course_copy / "pyproject.toml"
    py.write_text(py.read_text().replace('# Repository = "https://github.com/<you>/<repo>"', f'Repository = "{URL}"'))
    assert install_spec(course_copy) == SPEC
    build(course_copy, [LAB], log=lambda *_: None)
    student = nbformat.read(course_copy / "notebooks" / LAB / f"{LAB}.ipynb", 4)
    assert sum(f"COURSE_INSTALL = {SPEC!r}" in c.source for c in student.cells) == 1
    readme = (course_copy / "README.md").read_text()
    assert f"github/example-org/dl-course/blob/v0.1.0/notebooks/{LAB}/{LAB}.ipynb" in readme
