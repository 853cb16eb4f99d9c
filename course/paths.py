"""Paths given by a user, made absolute once where they enter.

Notebook kernels run in temporary folders and nbgrader changes directory while it converts, so a relative
``COURSE_DATA=../shared/data`` would point somewhere else by the time a kernel reads it.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["PATH_VARIABLES", "absolute_paths"]

#: Environment variables that hold paths.
PATH_VARIABLES = ("COURSE_DATA", "COURSE_CACHE", "COURSE_ROOT", "COURSE_SUBMITTED", "COURSE_AUTOGRADED",
                  "COURSE_FEEDBACK", "COURSE_EXCHANGE")


def absolute_paths(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Resolve every path-valued ``COURSE_*`` variable (and a relative sqlite ``COURSE_DB_URL``) in place.

    ``environ`` defaults to ``os.environ``; it is returned, for chaining.
    """
    env = os.environ if environ is None else environ
    for name in PATH_VARIABLES:
        if env.get(name, "").strip():
            env[name] = str(Path(env[name]).expanduser().resolve())
    url = env.get("COURSE_DB_URL", "")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        env["COURSE_DB_URL"] = "sqlite:///" + str(Path(url[len("sqlite:///"):]).expanduser().resolve())
    return env
