"""What the instructor's processes do before they import Jupyter's libraries.

jsonschema, which nbformat imports, also loads the optional ``rfc3987_syntax`` checker of "iri" formats, which
builds its grammars at import time: about 3.5 s of every process that reads a notebook on the 2-core machine this
was measured on (``course slides gamma``, an error found in the arguments, took 14 s), against 0.5 s for the rest
of nbformat's validator. No notebook schema uses those formats, and without the module jsonschema leaves them
unchecked. Used by ``course``'s command line, by every nbgrader it starts, and by the grading processes.
"""
from __future__ import annotations

import sys

__all__ = ["NBGRADER_MAIN", "python_c", "skip_unused_format_checkers"]

_CHECKER = "rfc3987_syntax"   # the module skipped, in this process and in the children's programs alike


def python_c(statements: str) -> str:
    """A ``python -c`` program that runs ``statements`` (``sys`` imported) in a process without that checker:
    a child's ``-m module`` would import the module, and nbformat with it, before the module could say so."""
    return f"import sys; sys.modules.setdefault({_CHECKER!r}, None); {statements}"


#: ``python -c NBGRADER_MAIN ARGS``: ``python -m nbgrader ARGS`` (nbgrader/__main__.py), without that checker.
NBGRADER_MAIN = python_c("from nbgrader.apps.nbgraderapp import main; main()")


def skip_unused_format_checkers() -> None:
    """Keep jsonschema from loading ``rfc3987_syntax`` in this process (call it before nbformat is imported)."""
    sys.modules.setdefault(_CHECKER, None)  # type: ignore[arg-type]
