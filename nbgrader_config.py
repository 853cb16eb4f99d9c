"""nbgrader configuration when nbgrader starts from the repository root.

`jupyter lab` run here: nbgrader's formgrader (Nbgrader → Formgrader, or /formgrader) reads
``nbgrader_config.py`` from the folder JupyterLab was started in, and would otherwise show an empty
course. `nbgrader <command>` run here reads it too.

The course's configuration lives in ``autograder/nbgrader_config.py`` (which `course build/check/grade`
and `cd autograder && nbgrader ...` use); this file only loads it, so there is one configuration.
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

_AUTOGRADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograder")
if not os.path.isfile(os.path.join(_AUTOGRADER, "nbgrader_config.py")):
    raise FileNotFoundError(f"{_AUTOGRADER}/nbgrader_config.py is missing: the course's nbgrader configuration")
load_subconfig("nbgrader_config.py", path=_AUTOGRADER)  # noqa: F821  (injected by traitlets, like get_config)
