"""Small lecture notebooks and course checkouts for the slides tests (no kernel needed to make them)."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

SETUP = "COURSE_INSTALL = None\nimport course"


def cell(kind: str, source: str, slide_type: str | None, tags: list[str] | None = None, outputs=None):
    c = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
    if slide_type is not None:
        c.metadata["slideshow"] = {"slide_type": slide_type}
    if tags:
        c.metadata["tags"] = tags
    if outputs is not None:
        c.outputs = outputs
    return c


def png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 4, 9])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def lecture(title: str = "Lecture 1 — Toy", *, maths: bool = True, executed: bool = False,
            extra_html: str | None = None):
    """A four-slide lecture; ``executed``: with the outputs a kernel would have given it."""
    png = base64.b64encode(png_bytes()).decode("ascii") if executed else None
    plot_out = [new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})] if executed else []
    html_out = ([new_output("display_data", data={"text/html": extra_html, "text/plain": "<HTML>"})]
                if executed and extra_html else [])
    cells = [
        cell("markdown", f"# {title}\nA deck about $e^{{i\\pi}} + 1 = 0$." if maths else f"# {title}\nNo maths.",
             "slide"),
        cell("code", SETUP, "skip"),
        cell("markdown", "## A plot", "slide"),
        cell("code", "SECRET_PLOT_CODE = 1\nplot()", "-", ["hide-input"], plot_out),
        cell("markdown", "Say: the curve is a parabola.", "notes"),
        cell("code", "VISIBLE_CODE = 2", "-", None, html_out),
        cell("markdown", "## A step", "subslide"),
        cell("markdown", "- revealed later", "fragment"),
        cell("markdown", "## The end", "slide"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def make_root(base: Path, lectures: dict[str, object] | None = None, repository: str | None = None) -> Path:
    """A course checkout holding only lectures (no labs)."""
    root = base / "course"
    (root / "autograder").mkdir(parents=True)
    (root / "autograder" / "nbgrader_config.py").write_text("c = get_config()\n")
    (root / "notebooks" / "lectures").mkdir(parents=True)
    urls = f'\n[project.urls]\nRepository = "{repository}"\n' if repository else ""
    (root / "pyproject.toml").write_text(f'[project]\nname = "course"\nversion = "0.3.0"\n{urls}')
    for name, nb in ({"lecture1_alpha": lecture()} if lectures is None else lectures).items():
        nbformat.write(nb, root / "notebooks" / "lectures" / f"{name}.ipynb")
    return root
