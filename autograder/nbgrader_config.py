"""nbgrader configuration for the course: ``cd autograder && nbgrader <command>``.

The repository root's ``nbgrader_config.py`` loads this file, so `jupyter lab` (the formgrader) and
`nbgrader <command>` started in the repository root use it too.

Paths are absolute on purpose: nbgrader changes directory while converting,
and a relative sqlite URL would then create a second, empty gradebook. Folders given
through the environment may be relative to the folder nbgrader (or JupyterLab) starts in.

Environment (all optional):

* ``COURSE_SUBMITTED``, ``COURSE_AUTOGRADED``, ``COURSE_FEEDBACK``: nbgrader's working folders
  (default ``autograder/submitted``, ``autograder/autograded``, ``autograder/feedback``).
  To see `course demo`'s grades in the formgrader: ``COURSE_SUBMITTED=autograder/samples/submitted jupyter lab``.
* ``COURSE_DB_URL``: the gradebook (default ``sqlite:///<repo>/autograder/gradebook.db``).
* ``COURSE_EXCHANGE``: the exchange folder for release/fetch/submit/collect on a JupyterHub
  (default nbgrader's ``/srv/nbgrader/exchange``; it must be shared by the instructor and students).
* ``COURSE_CELL_TIMEOUT``: seconds one cell may run under the autograder (default 180).

The gradebook learns a lab (its notebooks, graded cells and points) from nbgrader's generate_assignment,
which `course build` and `course grade` run: a fresh clone's formgrader lists the labs (from ``solutions/``)
before that, but shows their scores and lets you autograde only after one of them has run.
"""
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "dl-pytorch"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"


def _folder(var: str, default: Path) -> str:
    """A folder from the environment (absolute, resolved from where nbgrader starts), else ``default``."""
    value = os.environ.get(var)
    return str(Path(value).expanduser().resolve() if value else default)


c.CourseDirectory.submitted_directory = _folder("COURSE_SUBMITTED", HERE / "submitted")
c.CourseDirectory.autograded_directory = _folder("COURSE_AUTOGRADED", HERE / "autograded")
c.CourseDirectory.feedback_directory = _folder("COURSE_FEEDBACK", HERE / "feedback")
# Fixtures and caches never ship in a release; a student's own checkpoint (*.pt) is
# kept on autograde, which is why no "*.pt" pattern is listed here.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.db"]

c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", "sqlite:///" + str(HERE / "gradebook.db"))

# JupyterHub: release/collect go through this folder, shared by instructor and students (each student's own
# nbgrader config needs the same course_id and Exchange.root to fetch and submit).
c.Exchange.root = _folder("COURSE_EXCHANGE", Path("/srv/nbgrader/exchange"))

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Fast mode keeps each lab well under a minute; a cell that runs longer than
# this is a submission stuck in a loop, and is stopped rather than waited on.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
c.Execute.interrupt_on_timeout = True

c.Autograde.create_student = True
c.GenerateAssignment.create_assignment = True
