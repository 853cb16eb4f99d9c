"""The labs and the formgrader in a real browser: JupyterLab driven by Playwright with Debian's chromium.

* Each student notebook (``notebooks/<lab>/<lab>.ipynb``), copied to a scratch folder and run with
  Run → Run All Cells: the first error a student sees names its task ("Task 3.1: your code here").
* Each solution notebook (its folder, plus the reference checkpoints in ``autograder/references/<lab>/``),
  run the same way in fast mode: no error output at all, every code cell ran, matplotlib figures render as
  images and tqdm progress bars render (as ipywidgets when the kernel can import ipywidgets, else as text).
* The formgrader of a JupyterLab started in the repository root (what the README says), after
  ``course grade autograder/samples``: "Manage Assignments" lists every lab with its number of submissions,
  and a lab's submissions page lists each student with the score in ``grades.csv``.

Screenshots (after Run All, the first failing cell, the formgrader pages) and the browser console go to
``$COURSE_ARTIFACTS`` or ``test-artifacts/browser/``. Without playwright or ``/usr/bin/chromium`` these tests
skip, unless ``CI`` is set: then they fail, so that CI cannot pass without running them.
Never run ``playwright install``: the tests use the system chromium (``COURSE_CHROMIUM`` overrides its path).
"""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from ci_support import chromium

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}

SERVER_START_TIMEOUT = 180      # s: JupyterLab answering /api/status
OPEN_TIMEOUT = 120              # s: notebook open and its kernel idle
STUDENT_RUN_TIMEOUT = 300       # s: Run All of a student notebook (stops at the first stub)
SOLUTION_RUN_TIMEOUT = 900      # s: Run All of a solution in fast mode (lab 3: ~15-40 s here)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _labs(folder: str) -> list[str]:
    base = ROOT / folder
    return sorted(p.name for p in base.iterdir() if (p / f"{p.name}.ipynb").is_file()) if base.is_dir() else []


STUDENT_LABS = _labs("notebooks")
SOLUTION_LABS = _labs("solutions")


def _task_prefix(lab: str) -> str:
    """'Task 3.' for lab3_mlp_mnist: how the stubs of a lab name their tasks."""
    m = re.match(r"lab(\d+)", lab)
    return f"Task {m.group(1)}." if m else "Task "


# ----------------------------------------------------------------------------------------------------------------
# Fixtures: where screenshots go, the browser, JupyterLab servers
# ----------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("COURSE_ARTIFACTS") or ROOT / "test-artifacts" / "browser").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright (closed, with Playwright's driver, at the end of the session)."""
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Where the labs find their data (COURSE_DATA, else the course's default cache), as an absolute path."""
    from course.data import data_root

    return data_root()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_with_marker(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (the server and the kernels it started)."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class JupyterLab:
    """``python -m jupyter lab`` on a free loopback port with a random token, in its own process group.

    Settings, workspaces, runtime files and user config live in ``state`` (nothing is read from or written to
    ~/.jupyter); news and update checks are off. ``stop()`` shuts the server down through its API (which stops
    its kernels), then kills its process group and any process left that carries this server's marker."""

    def __init__(self, root_dir: Path, cwd: Path, state: Path, env: dict[str, str], unset: tuple[str, ...] = ()):
        self.root_dir, self.cwd, self.state = root_dir, cwd, state
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.marker = f"course-browser-{secrets.token_hex(8)}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state / "jupyterlab.log"
        settings = state / "settings"
        (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        drop = {"MPLBACKEND", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR", "COURSE_RECORD", "COURSE_GRADING", *unset}
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env.update({
            # The venv's tools first (the kernel, nbgrader's alembic), as an activated venv would have them.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "JUPYTER_CONFIG_DIR": str(state / "config"),
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
            "IPYTHONDIR": str(state / "ipython"),
            # Two cores shared with chromium and the server: one thread per kernel is faster, not slower.
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "COURSE_BROWSER_TEST": self.marker,
            **env,
        })
        self.proc: subprocess.Popen | None = None

    def start(self) -> "JupyterLab":
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
               "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{self.log_tail()}")

    def page_url(self, path: str, query: str = "") -> str:
        return f"{self.url}/{path.lstrip('/')}?{query + '&' if query else ''}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:  # a clean shutdown also stops the kernels, which run in sessions of their own
                req = urllib.request.Request(f"{self.url}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {self.token}"})
                urllib.request.urlopen(req, timeout=10).close()
                self.proc.wait(timeout=20)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for pid in _pids_with_marker(self.marker):  # kernels or their children that outlived the server
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _server(root_dir: Path, cwd: Path, state: Path, env: dict[str, str]):
    server = JupyterLab(root_dir, cwd, state, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, data_dir):
    """JupyterLab serving scratch copies: ``student/<lab>/`` (from notebooks/) and ``solution/<lab>/``
    (from solutions/, with the reference checkpoints beside the notebook), in fast mode with real data."""
    base = tmp_path_factory.mktemp("jupyterlab-labs")
    work = base / "work"
    for lab in STUDENT_LABS:
        shutil.copytree(ROOT / "notebooks" / lab, work / "student" / lab,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for lab in SOLUTION_LABS:
        dst = work / "solution" / lab
        shutil.copytree(ROOT / "solutions" / lab, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        for ckpt in sorted((ROOT / "autograder" / "references" / lab).glob("*.pt")):
            shutil.copy2(ckpt, dst / ckpt.name)
    env = {"COURSE_FAST": "1", "COURSE_DATA": str(data_dir),
           "COURSE_REFERENCES": str(ROOT / "autograder" / "references")}
    yield from _server(work, work, base, env)


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh browser context and page; its console errors go to <artifacts>/<test>-console.log."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    lines: list[str] = []
    pg.on("console", lambda m: lines.append(f"console.{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: lines.append(f"pageerror: {e}"))
    try:
        yield pg
    finally:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        (artifacts / f"{name}-console.log").write_text("\n".join(lines) + "\n")
        context.close()


# ----------------------------------------------------------------------------------------------------------------
# Driving a notebook in JupyterLab
# ----------------------------------------------------------------------------------------------------------------

# The NotebookPanel of a path (the app is exposed as window.jupyterapp by --LabApp.expose_app_in_browser).
_PANEL = """(path) => {
  if (!window.jupyterapp) return null;
  for (const w of window.jupyterapp.shell.widgets('main')) { if (w.context && w.context.path === path) return w; }
  return null; }"""

_READY = f"""(path) => {{
  const p = ({_PANEL})(path);
  const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && window.jupyterapp.shell.currentWidget === p && p.content.widgets.length > 0); }}"""

_STARTED = f"""(path) => ({_PANEL})(path).content.widgets.some(c => c.model.type === 'code'
  && (c.model.executionCount !== null || c.promptNode.textContent.includes('*')))"""

_DONE = f"""(path) => {{
  const p = ({_PANEL})(path);
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  const pending = p.content.widgets.some(c => c.model.type === 'code' && c.promptNode.textContent.includes('*'));
  return !!k && k.status === 'idle' && !pending; }}"""

# Every output of every code cell, from the notebook model (which says precisely which outputs are errors:
# the DOM renders an error and a stderr stream, e.g. tqdm's text bars, alike), with what the page shows for it.
# Error outputs and the first failing cell get data-course-* attributes, for screenshots.
_OUTPUTS = f"""(path) => {{
  const p = ({_PANEL})(path);
  const out = [];
  let firstError = true;
  p.content.widgets.forEach((cell, i) => {{
    if (cell.model.type !== 'code') return;
    for (let k = 0; k < cell.model.outputs.length; k++) {{
      const o = cell.model.outputs.get(k);
      const panel = cell.outputArea.widgets[k];
      const node = panel ? (panel.node.querySelector('.jp-OutputArea-output') || panel.node) : null;
      if (o.type === 'error' && node) {{
        node.setAttribute('data-course-error', String(out.length));
        if (firstError) {{ cell.node.setAttribute('data-course-first-error-cell', ''); firstError = false; }}
      }}
      out.push({{cell: i, index: k, type: o.type, mimes: Object.keys(o.data),
                 name: o.toJSON().name || null,
                 ename: o.type === 'error' ? o.toJSON().ename : null,
                 evalue: o.type === 'error' ? o.toJSON().evalue : null,
                 text: node ? node.textContent : null,
                 mime: node ? node.getAttribute('data-mime-type') : null,
                 images: node ? [...node.querySelectorAll('img')].filter(im => im.complete && im.naturalWidth > 0).length : 0,
                 bars: node ? node.querySelectorAll('.widget-hprogress, .widget-vprogress').length : 0,
                 barsDone: node ? node.querySelectorAll('.progress-bar-success').length : 0}});
    }}
  }});
  return out; }}"""

_UNRUN = f"""(path) => ({_PANEL})(path).content.widgets.map((c, i) => [c, i])
  .filter(([c, i]) => c.model.type === 'code' && c.model.sharedModel.getSource().trim() && c.model.executionCount === null)
  .map(([c, i]) => i)"""


def _open_notebook(pg, server: JupyterLab, path: str) -> None:
    pg.goto(server.page_url(f"lab/tree/{quote(path)}", "reset"), timeout=OPEN_TIMEOUT * 1000)
    pg.wait_for_function(_READY, arg=path, timeout=OPEN_TIMEOUT * 1000, polling=500)


def _run_all(pg, path: str, timeout: float) -> float:
    """Run → Run All Cells from the menu bar; wait until every queued cell has run and the kernel is idle."""
    t0 = time.monotonic()
    pg.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    pg.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    pg.wait_for_function(_STARTED, arg=path, timeout=60_000, polling=250)
    deadline = t0 + timeout
    while True:  # idle twice, a second apart: the queue does not flicker to idle between two cells
        remaining = max(1.0, deadline - time.monotonic())
        pg.wait_for_function(_DONE, arg=path, timeout=remaining * 1000, polling=1000)
        pg.wait_for_timeout(1000)
        if pg.evaluate(_DONE, path):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"Run All of {path} did not finish within {timeout:.0f} s")
    elapsed = time.monotonic() - t0
    # Let images decode and widgets render before anything is measured.
    pg.wait_for_function("() => [...document.querySelectorAll('.jp-RenderedImage img')].every(i => i.complete)",
                         timeout=30_000)
    pg.wait_for_timeout(1000)
    return elapsed


def _full_screenshot(pg, path: str, out: Path) -> None:
    """The whole notebook in one image: the viewport is made as tall as the notebook, then restored."""
    height = pg.evaluate(f"""(path) => {{ const outer = ({_PANEL})(path).node.querySelector('.jp-WindowedPanel-outer');
        if (!outer) return 0; outer.scrollTop = 0; return outer.scrollHeight - outer.clientHeight; }}""", path)
    pg.set_viewport_size({"width": VIEWPORT["width"], "height": min(VIEWPORT["height"] + height + 50, 16000)})
    pg.wait_for_timeout(1500)
    pg.screenshot(path=str(out), full_page=True)
    pg.set_viewport_size(VIEWPORT)
    pg.wait_for_timeout(500)


def _first_error_screenshot(pg, out: Path) -> None:
    cell = pg.locator("[data-course-first-error-cell]").first
    if cell.count():
        cell.scroll_into_view_if_needed()
        cell.screenshot(path=str(out))


def _describe(o: dict) -> str:
    text = (o["text"] or "").strip()
    return f"cell {o['cell']}: {o['ename']}: {o['evalue']}\n{text[-800:]}"


# ----------------------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lab", STUDENT_LABS)
def test_student_notebook_run_all_first_error_names_its_task(lab, lab_server, page, artifacts) -> None:
    path = f"student/{lab}/{lab}.ipynb"
    _open_notebook(page, lab_server, path)
    _run_all(page, path, STUDENT_RUN_TIMEOUT)
    outputs = page.evaluate(_OUTPUTS, path)
    _full_screenshot(page, path, artifacts / f"{lab}-student-run-all.png")
    _first_error_screenshot(page, artifacts / f"{lab}-student-first-error.png")

    errors = [o for o in outputs if o["type"] == "error"]
    assert errors, (f"{lab}: Run All on the untouched student notebook raised nothing — the stubs should raise "
                    f"NotImplementedError (screenshot: {artifacts / f'{lab}-student-run-all.png'})")
    first = errors[0]
    shown = first["text"] or ""
    assert first["mime"] == "application/vnd.jupyter.stderr" and shown.strip(), (
        f"{lab}: the first error (cell {first['cell']}) is not rendered as a traceback on the page")
    task = _task_prefix(lab)
    assert task in shown and "NotImplementedError" in shown, (
        f"{lab}: the first error a student sees should name its task ({task!r}), it shows:\n{_describe(first)}\n"
        f"(screenshot: {artifacts / f'{lab}-student-first-error.png'})")


@pytest.mark.parametrize("lab", SOLUTION_LABS)
def test_solution_run_all_in_jupyterlab_no_errors_figures_and_progress_bars(lab, lab_server, page, artifacts) -> None:
    path = f"solution/{lab}/{lab}.ipynb"
    _open_notebook(page, lab_server, path)
    seconds = _run_all(page, path, SOLUTION_RUN_TIMEOUT)
    outputs = page.evaluate(_OUTPUTS, path)
    unrun = page.evaluate(_UNRUN, path)
    shot = artifacts / f"{lab}-solution-run-all.png"
    _full_screenshot(page, path, shot)
    print(f"{lab}: solution Run All took {seconds:.0f} s in fast mode; screenshot {shot}")

    errors = [o for o in outputs if o["type"] == "error"]
    if errors:
        _first_error_screenshot(page, artifacts / f"{lab}-solution-first-error.png")
    assert not errors, (f"{lab}: the solution shows {len(errors)} error output(s) in JupyterLab; the first:\n"
                        f"{_describe(errors[0])}\n(screenshots: {shot}, {artifacts / f'{lab}-solution-first-error.png'})")
    assert not unrun, f"{lab}: Run All left code cells {unrun} unexecuted (screenshot: {shot})"

    images = sum(o["images"] for o in outputs if "image/png" in o["mimes"])
    assert images >= 1, f"{lab}: no matplotlib figure rendered as an image (.jp-RenderedImage img); screenshot: {shot}"

    # tqdm.auto draws ipywidgets progress bars when the kernel can import ipywidgets, text bars on stderr otherwise.
    if importlib.util.find_spec("ipywidgets") is not None:
        widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o["mimes"]]
        broken = [o for o in widgets if re.search(r"Error displaying widget|Loading widget", o["text"] or "")]
        assert widgets, f"{lab}: ipywidgets is installed but no progress widget was displayed (screenshot: {shot})"
        assert not broken, (f"{lab}: progress widgets did not render (is the JupyterLab widget manager, "
                            f"jupyterlab_widgets, installed?): {broken[0]['text']!r}")
        assert sum(o["bars"] for o in widgets) >= 1, f"{lab}: no rendered progress bar (.widget-hprogress); see {shot}"
        assert sum(o["barsDone"] for o in widgets) >= 1, f"{lab}: no progress bar reached its end; see {shot}"
    else:
        text_bars = [o for o in outputs if o["type"] == "stream" and o["name"] == "stderr"
                     and re.search(r"\d+%\|.*\|\s*\d+/\d+", o["text"] or "")]
        assert text_bars, f"{lab}: no tqdm text progress bar on stderr (screenshot: {shot})"


def _graded_course(demo, dst: Path) -> tuple[Path, dict[tuple[str, str], tuple[str, str]]]:
    """A copy of the course the README's demo block graded (its gradebook, autograded notebooks and grades.csv: the
    samples, graded once for the session), and its grades."""
    assert demo.returncode == 0, demo.output[-3000:]
    shutil.copytree(demo.clone, dst, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv"))
    with (dst / "autograder" / "grades.csv").open() as fh:
        return dst, {(r["student"], r["lab"]): (r["total"], r["max"]) for r in csv.DictReader(fh)}


def test_formgrader_from_the_repository_root_lists_labs_submissions_and_scores(
        readme_demo, tmp_path, browser, artifacts) -> None:
    course_copy, grades = _graded_course(readme_demo, tmp_path / "course")
    assert (course_copy / "nbgrader_config.py").is_file(), "no nbgrader_config.py at the repository root"
    samples = course_copy / "autograder" / "samples" / "submitted"

    # As the README says: `jupyter lab` in the repository root, pointed at the graded samples.
    # The exchange exists and is writable by everyone, as nbgrader's docs ask an admin to set it up on a hub.
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    env = {"COURSE_SUBMITTED": "autograder/samples/submitted",          # relative to where JupyterLab starts
           "COURSE_EXCHANGE": str(exchange)}
    state = tmp_path / "jupyter-state"
    state.mkdir()
    server = JupyterLab(course_copy, course_copy, state, env,
                        unset=("COURSE_DB_URL", "COURSE_AUTOGRADED", "COURSE_FEEDBACK", "COURSE_ROOT", "COURSE_FAST"))
    context = browser.new_context(viewport=VIEWPORT)
    console: list[str] = []
    try:
        server.start()
        pg = context.new_page()
        pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        pg.on("console", lambda m: console.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)

        pg.goto(server.page_url("formgrader"), timeout=60_000)
        pg.wait_for_url(re.compile(r"/formgrader/manage_assignments"), timeout=60_000)
        pg.wait_for_function("() => window.models && window.models.loaded === true", timeout=120_000, polling=500)
        pg.wait_for_timeout(500)
        shot = artifacts / "formgrader-manage-assignments.png"
        pg.screenshot(path=str(shot), full_page=True)

        rows = pg.evaluate("""() => [...document.querySelectorAll('#main-table tr')].filter(r => r.querySelector('td.name'))
            .map(r => ({name: r.querySelector('td.name').textContent.trim(),
                        submissions: r.querySelector('td.num-submissions').textContent.trim(),
                        status: r.querySelector('td.status').textContent.trim()}))""")
        listed = {r["name"]: r for r in rows}
        assert sorted(listed) == SOLUTION_LABS, (
            f"the formgrader lists {sorted(listed)}, expected the labs {SOLUTION_LABS} — did it find the course's "
            f"nbgrader_config.py? (screenshot: {shot})\n{server.log_tail()}")
        for lab in SOLUTION_LABS:
            expected = sum(1 for d in samples.iterdir() if (d / lab).is_dir())
            assert listed[lab]["submissions"] == str(expected), (
                f"{lab}: the formgrader shows {listed[lab]['submissions']!r} submissions, {expected} expected "
                f"(screenshot: {shot})")
        # COURSE_EXCHANGE is the exchange: found, so release/collect are offered.
        assert not pg.locator("#warning-exchange").count(), f"the formgrader says the exchange is missing ({shot})"
        assert str(exchange) in (pg.locator("#collapseConfig").text_content() or ""), (
            "the formgrader's configuration does not take its exchange root from COURSE_EXCHANGE")

        # A lab's submissions: every graded sample, with the score `course grade` wrote to grades.csv.
        lab = SOLUTION_LABS[0]
        pg.locator("#main-table tr", has=pg.locator("td.name", has_text=lab)).locator("td.num-submissions a").click()
        pg.wait_for_url(re.compile(rf"/formgrader/manage_submissions/{lab}"), timeout=60_000)
        pg.wait_for_function("() => window.models && window.models.loaded === true", timeout=120_000, polling=500)
        pg.wait_for_timeout(500)
        shot = artifacts / f"formgrader-{lab}-submissions.png"
        pg.screenshot(path=str(shot), full_page=True)
        shown = {r["student"]: r for r in pg.evaluate("""() => [...document.querySelectorAll('#main-table tr')]
            .filter(r => r.querySelector('td.student-id'))
            .map(r => ({student: r.querySelector('td.student-id').textContent.trim(),
                        status: r.querySelector('td.status').textContent.trim(),
                        score: r.querySelector('td.score').textContent.trim()}))""")}
        graded = {student: score for (student, graded_lab), score in grades.items() if graded_lab == lab}
        assert sorted(shown) == sorted(graded), (
            f"{lab}: the submissions page lists {sorted(shown)}, grades.csv has {sorted(graded)} ({shot})")
        for student, (total, maximum) in graded.items():
            row = shown[student]
            assert row["status"] == "graded", f"{lab}/{student}: status {row['status']!r}, expected 'graded' ({shot})"
            assert re.fullmatch(r"([\d.]+) / ([\d.]+)", row["score"]) and \
                [float(x) for x in row["score"].split(" / ")] == [float(total), float(maximum)], (
                f"{lab}/{student}: the formgrader shows {row['score']!r}, grades.csv says {total} / {maximum} ({shot})")
    finally:
        (artifacts / "formgrader-console.log").write_text("\n".join(console) + "\n")
        context.close()
        server.stop()
