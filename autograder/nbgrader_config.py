"""nbgrader configuration for the course: ``cd autograder && nbgrader <command>``.

Paths are absolute on purpose: nbgrader changes directory while converting,
and a relative sqlite URL would then create a second, empty gradebook.
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
c.CourseDirectory.submitted_directory = os.environ.get("COURSE_SUBMITTED", str(HERE / "submitted"))
c.CourseDirectory.autograded_directory = os.environ.get("COURSE_AUTOGRADED", str(HERE / "autograded"))
c.CourseDirectory.feedback_directory = os.environ.get("COURSE_FEEDBACK", str(HERE / "feedback"))
# Fixtures and caches never ship in a release; a student's own checkpoint (*.pt) is
# kept on autograde, which is why no "*.pt" pattern is listed here.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.db"]

c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", "sqlite:///" + str(HERE / "gradebook.db"))

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Fast mode keeps each lab well under a minute; a cell that runs longer than
# this is a submission stuck in a loop, and is stopped rather than waited on.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "180"))
c.Execute.interrupt_on_timeout = True

c.Autograde.create_student = True
c.GenerateAssignment.create_assignment = True
