"""Where students get the course from: the install spec in every setup cell, and the README's Colab badges.

The instructor sets the course's address once, as ``Repository`` under ``[project.urls]`` in
``pyproject.toml``. ``course build`` then stamps ``pip install "course @ git+<url>@v<version>"``
(the light, student install: no nbgrader) into each notebook's setup cell, and writes one
"Open in Colab" badge per lab into the README. Without an address nothing is invented: the setup
cell keeps ``COURSE_INSTALL = None`` and tells the student to ask for the install command.
"""
from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from nbformat import NotebookNode

__all__ = ["INSTALL_LINE", "BADGES_START", "BADGES_END", "project_info", "install_spec", "stamp_install_spec",
           "colab_badges", "write_readme_badges"]

#: The line of each setup cell that ``course build`` rewrites.
INSTALL_LINE = re.compile(r"^COURSE_INSTALL = .*$", re.M)
BADGES_START = "<!-- colab-badges:start (written by `course build`) -->"
BADGES_END = "<!-- colab-badges:end -->"
_GITHUB = re.compile(r"^https://github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?$")


def project_info(root: Path) -> tuple[str, str | None]:
    """(version, repository URL or None) from ``root/pyproject.toml``."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = data.get("project", {})
    urls = {k.lower(): v for k, v in project.get("urls", {}).items()}
    url = urls.get("repository") or urls.get("source") or None
    return str(project.get("version", "0")), (url.strip() if isinstance(url, str) and url.strip() else None)


def install_spec(root: Path) -> str | None:
    """``course @ git+<url>@v<version>`` (the light install), or None when no repository is set."""
    version, url = project_info(root)
    if url is None:
        return None
    url = url.removesuffix("/")
    return f"course @ git+{url if url.endswith('.git') else url + '.git'}@v{version}"


def stamp_install_spec(nb: NotebookNode, spec: str | None) -> int:
    """Write ``COURSE_INSTALL = <spec>`` into every setup cell; returns how many cells carry the line."""
    value = "None" if spec is None else repr(spec)
    stamped = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and INSTALL_LINE.search(cell.source):
            cell.source = INSTALL_LINE.sub(lambda _: f"COURSE_INSTALL = {value}", cell.source)
            stamped += 1
    return stamped


def colab_badges(root: Path, labs: list[str]) -> str:
    """The README's badge block: one "Open in Colab" badge per lab, or what to do to get them."""
    version, url = project_info(root)
    match = _GITHUB.match(url or "")
    if match is None:
        why = ("no repository is set" if url is None else
               f"Colab opens notebooks from GitHub only, and the repository is {url}")
        body = (f"*Open in Colab badges appear here once `[project.urls] Repository` in `pyproject.toml` names the "
                f"course's GitHub repository and `course build` has run ({why}).*")
    else:
        owner, repo = match.groups()
        lines = []
        for lab in labs:
            link = f"https://colab.research.google.com/github/{owner}/{repo}/blob/v{version}/notebooks/{lab}/{lab}.ipynb"
            lines.append(f"[![Open {lab} in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link}) "
                         f"`{lab}`")
        body = "  \n".join(lines)
    return f"{BADGES_START}\n{body}\n{BADGES_END}"


def write_readme_badges(root: Path, labs: list[str]) -> bool:
    """Replace the badge block in ``root/README.md``; True when the file changed."""
    readme = root / "README.md"
    if not readme.is_file():
        return False
    text = readme.read_text()
    start, end = text.find(BADGES_START), text.find(BADGES_END)
    if start < 0 or end < start:
        return False
    new = text[:start] + colab_badges(root, labs) + text[end + len(BADGES_END):]
    if new == text:
        return False
    readme.write_text(new)
    return True
