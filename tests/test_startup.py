"""``course.startup``: the processes the course starts skip jsonschema's optional "iri" checker (3.5 s of import),
and still read and validate notebooks."""
from __future__ import annotations

import importlib.machinery
import subprocess
import sys

from course.startup import NBGRADER_MAIN, python_c

_LOADED = "print(type(sys.modules.get('rfc3987_syntax', 'never imported')).__name__)"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_a_child_reads_and_validates_notebooks_without_the_checker() -> None:
    done = _run("-c", python_c("import nbformat, jsonschema; nb = nbformat.v4.new_notebook(); "
                               "nb.cells.append(nbformat.v4.new_code_cell('1 + 1')); nbformat.validate(nb); "
                               "print('iri' in jsonschema.FormatChecker().checkers); " + _LOADED))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "NoneType"]
    # Without the prelude the same child loads it wherever it is installed: the test tells the two apart.
    plain = _run("-c", "import sys, nbformat; " + _LOADED)
    # (looked up on the path: this test process skipped the module too, see conftest.py)
    installed = importlib.machinery.PathFinder.find_spec("rfc3987_syntax") is not None
    assert plain.stdout.strip() == ("module" if installed else "never imported"), plain.stderr


def test_the_command_line_and_nbgrader_start_without_the_checker(tmp_path) -> None:
    done = _run("-c", "import sys, course.cli, nbformat; " + _LOADED)
    assert done.returncode == 0 and done.stdout.strip() == "NoneType", done.stderr
    done = subprocess.run([sys.executable, "-c", NBGRADER_MAIN, "--version"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and "nbgrader version" in done.stdout, done.stdout + done.stderr
