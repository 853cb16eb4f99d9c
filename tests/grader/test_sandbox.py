"""The sandboxed launcher (``course.grader.sandbox``): what student code can and cannot do in there.

The real-sandbox tests (marked ``slow``) need root, bubblewrap and the memory/pids cgroups: they start
``python -c <code>`` through :meth:`Sandbox.popen` in a scratch folder laid out like a grading run

    <tmp>/alice/          the submission's scratch folder (read-write)
    <tmp>/bob/            another submission
    <tmp>/autograder/     a planted gradebook, reference and hidden judge
    <tmp>/data/           a read-only data folder

and check the user, torch, the network, the filesystem view, the environment, the memory and process caps and
that :meth:`Sandbox.kill` leaves nothing behind. Without root or bubblewrap they skip, unless ``CI`` is set:
then they fail, so that CI cannot pass without running them. The degraded modes (nothing available, unshare
without bubblewrap) and :func:`describe` are tested without root where possible.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ci_support import skip_or_fail

from course.grader.launch import PlainLauncher, Protection
from course.grader.sandbox import GiB, NOBODY, PROTECTIONS, Sandbox, default_launcher, describe

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
NOTHING = dict(use_bwrap=False, use_unshare=False, use_cgroups=False, use_setpriv=False)


def _require_sandbox() -> None:
    if not sys.platform.startswith("linux"):
        skip_or_fail(f"the sandbox needs Linux (this is {sys.platform})")
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the user switch and the cgroups need it)")
    if not shutil.which("bwrap"):
        missing.append("bubblewrap (apt-get install bubblewrap)")
    if missing:
        skip_or_fail("the real sandbox needs " + " and ".join(missing))
    off = [p for p in Sandbox([]).protections() if not p.active]
    if off:
        skip_or_fail("sandbox protections off here: " + "; ".join(f"{p.name}: {p.detail}" for p in off))


def _env(scratch: Path, **extra: str) -> dict[str, str]:
    """What the engine passes: nothing of the grader's environment."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of the process's stdout, or "" at EOF or after ``timeout`` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _with_marker(marker: str) -> list[int]:
    """Host pids of the processes whose command line holds ``marker`` (a unique `sleep` duration)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:       # a zombie is dead, only not yet reaped
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _marker() -> str:
    return f"3599.{os.getpid()}{time.monotonic_ns() % 10**9:09d}"


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("grading")
    paths = {name: base / name for name in ("alice", "bob", "autograder", "data")}
    for folder in paths.values():
        folder.mkdir()
    (paths["alice"] / "lab.ipynb").write_text("{}")
    (paths["bob"] / "lab.ipynb").write_text('{"bob": "his answers"}')
    (paths["autograder"] / "gradebook.db").write_text("grades")
    (paths["autograder"] / "references").mkdir()
    (paths["autograder"] / "references" / "answers.pt").write_text("reference")
    (paths["data"] / "MNIST").mkdir()
    (paths["data"] / "MNIST" / "train.bin").write_bytes(b"\0" * 16)
    paths["base"] = base
    return paths


# ---------------------------------------------------------------------------------------------------------
# Without any mechanism (any machine, any user)
# ---------------------------------------------------------------------------------------------------------
def test_nothing_available_degrades_to_a_plain_child(tmp_path):
    sandbox = Sandbox([], **NOTHING)
    prot = sandbox.protections()
    assert [p.name for p in prot] == list(PROTECTIONS)
    assert not any(p.active for p in prot)
    assert all(p.detail for p in prot), "every protection that is off says why"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MARK": "1"}
    proc = sandbox.popen([PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))"], cwd=tmp_path, env=env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert json.loads(out) == env
    sandbox.kill()
    assert sandbox.post_mortem() is None
    assert isinstance(default_launcher([], **NOTHING), PlainLauncher)


def test_describe():
    text = describe([Protection("network", True, "own namespace"), Protection("memory cap", False, "not root")])
    assert text.splitlines() == ["sandbox: 1 of 2 protections OFF", "  [on ] network: own namespace",
                                 "  [OFF] memory cap: not root"]
    assert describe([Protection("network", True, "x")]).startswith("sandbox: all protections in force")
    assert describe([Protection("sandbox", False, "plain")]).startswith("sandbox: no isolation")
    assert "network" in describe(Sandbox([]).protections())


# ---------------------------------------------------------------------------------------------------------
# unshare without bubblewrap (root)
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_unshare_fallback(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        skip_or_fail("the unshare fallback needs root and unshare (util-linux)")
    sandbox = Sandbox([], use_bwrap=False, memory_limit=GiB, pids_limit=64)
    prot = {p.name: p for p in sandbox.protections()}
    assert prot["network"].active and prot["pid namespace"].active
    assert not prot["filesystem view"].active and "bubblewrap" in prot["filesystem view"].detail
    code = ("import os, socket\n"
            "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=2); print('connected')\n"
            "except OSError as e:\n    print('no network', e.errno)\n"
            "print(os.getpid(), os.getuid())")
    proc = sandbox.popen([PY, "-c", code], cwd=tmp_path, env=_env(tmp_path))
    out, err = proc.communicate(timeout=60)
    sandbox.kill()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("no network"), lines
    assert lines[1].split()[0] == "1", "the runner is pid 1 of a pid namespace of its own"
    assert sandbox.cgroup_dirs() == [] or not any(d.exists() for d in sandbox.cgroup_dirs())


# ---------------------------------------------------------------------------------------------------------
# The real sandbox: root + bubblewrap + cgroups
# ---------------------------------------------------------------------------------------------------------
PROBE = r'''
import errno, json, os, socket, sys, time
paths = json.loads(sys.argv[1])
r = {"pid": os.getpid(), "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
     "env": dict(os.environ), "cwd": os.getcwd()}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
r["caps"] = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}

def outcome(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def read(p):
    return outcome(lambda: open(p, "rb").read(1) if os.path.isfile(p) else os.listdir(p) if os.path.isdir(p)
                   else open(p, "rb"))

def write(p):
    return outcome(lambda: open(p, "w").write("x"))

r["read"] = {k: read(p) for k, p in paths["read"].items()}
r["write"] = {k: write(p) for k, p in paths["write"].items()}
r["listdir"] = {k: sorted(os.listdir(p)) if os.path.isdir(p) else None for k, p in paths["listdir"].items()}

t = time.time()
import torch
r["torch"] = {"import_s": round(time.time() - t, 2), "threads": torch.get_num_threads(),
              "matmul": float((torch.ones(64, 64) @ torch.ones(64, 64)).sum())}
r["tasks"] = len(os.listdir("/proc/self/task"))

def connect(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
    finally:
        s.close()

r["net"] = {"host_listener": outcome(lambda: connect(("127.0.0.1", paths["port"]))),
            "outside": outcome(lambda: connect(("1.1.1.1", 443))),
            "interfaces": [name for _, name in socket.if_nameindex()]}
try:
    socket.getaddrinfo("pypi.org", 443)
    r["net"]["dns"] = "resolved"
except OSError as e:
    r["net"]["dns"] = type(e).__name__
print(json.dumps(r))
'''


@pytest.fixture(scope="module")
def probe(layout, repo_root):
    """One sandboxed run that tries everything at once (importing torch costs seconds)."""
    _require_sandbox()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    root_file = next((p for p in sorted(Path("/root").iterdir()) if p.is_file()), None)
    paths = {
        "port": listener.getsockname()[1],
        "read": {
            "gradebook": str(layout["autograder"] / "gradebook.db"),
            "reference": str(layout["autograder"] / "references" / "answers.pt"),
            "other submission": str(layout["bob"] / "lab.ipynb"),
            "own notebook": str(layout["alice"] / "lab.ipynb"),
            "data": str(layout["data"] / "MNIST" / "train.bin"),
            "repo README": str(repo_root / "README.md"),
            "repo autograder": str(repo_root / "autograder"),
            "repo pyproject": str(repo_root / "pyproject.toml"),
            "course package": str(repo_root / "course" / "__init__.py"),
            "root file": str(root_file or "/root/.bashrc"),
            "shadow": "/etc/shadow",
        },
        "write": {
            "scratch": str(layout["alice"] / "written.txt"),
            "data": str(layout["data"] / "MNIST" / "new.bin"),
            "course package": str(repo_root / "course" / "planted.py"),
            "venv": str(Path(sys.prefix) / "planted.txt"),
            "tmp": "/tmp/x.txt",
        },
        "listdir": {"base": str(layout["base"]), "root": "/root", "root cache": "/root/.cache",
                    "repo": str(repo_root), "slash": "/"},
    }
    sandbox = Sandbox([layout["data"]])
    env = _env(layout["alice"])
    os.environ["COURSE_SECRET"] = "the grader's secret"
    try:
        start = time.monotonic()
        proc = sandbox.popen([PY, "-c", PROBE, json.dumps(paths)], cwd=layout["alice"], env=env)
        out, err = proc.communicate(timeout=120)
        elapsed = time.monotonic() - start
    finally:
        del os.environ["COURSE_SECRET"]
        sandbox.kill()
    try:
        accepted = listener.accept()
    except BlockingIOError:
        accepted = None
    listener.close()
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out)
    result.update(elapsed=elapsed, stderr=err.decode(), env_passed=env, accepted=accepted, layout=layout,
                  cgroups_left=[d for d in sandbox.cgroup_dirs() if d.exists()])
    return result


@pytest.mark.slow
def test_runs_as_nobody_without_capabilities(probe):
    assert probe["ids"] == [NOBODY, NOBODY, NOBODY, NOBODY, []]
    assert probe["caps"] == {"CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16, "NoNewPrivs": "1"}
    assert probe["pid"] == 2, "pid 1 of the namespace is bubblewrap's reaper, the runner is pid 2"


@pytest.mark.slow
def test_torch_runs_within_the_caps(probe):
    assert probe["torch"]["matmul"] == 64.0 * 64 * 64
    assert probe["torch"]["threads"] == 1
    assert probe["stderr"] == "", "nothing printed to stderr: no warning from a missing file or folder"


@pytest.mark.slow
def test_no_network(probe):
    net = probe["net"]
    assert net["host_listener"] in ("ECONNREFUSED", "ENETUNREACH"), net
    assert probe["accepted"] is None, "the host's listener must never see a connection"
    assert net["outside"] in ("ENETUNREACH", "EHOSTUNREACH"), net
    assert net["dns"] == "gaierror"
    assert set(net["interfaces"]) <= {"lo"}


@pytest.mark.slow
def test_filesystem_view(probe, repo_root):
    read, write, listdir = probe["read"], probe["write"], probe["listdir"]
    for secret in ("gradebook", "reference", "other submission", "repo README", "repo autograder",
                   "repo pyproject", "root file", "shadow"):
        assert read[secret] == "ENOENT", (secret, read[secret])
    assert read["own notebook"] == "ok" and read["data"] == "ok" and read["course package"] == "ok"
    assert write["scratch"] == "ok" and write["tmp"] == "ok"
    for readonly in ("data", "course package", "venv"):
        assert write[readonly] == "EROFS", (readonly, write[readonly])
    assert listdir["base"] == ["alice", "data"], "the scratch and the data folder: no other submission, no autograder/"
    # Only the package folder of the checkout; and the venv, when it lives there (the README's `.venv`).
    venv = Path(sys.prefix).resolve()
    inside = [venv.relative_to(repo_root.resolve()).parts[0]] if venv.is_relative_to(repo_root.resolve()) else []
    assert sorted(listdir["repo"]) == sorted(["course", *inside]), "only the package folder of the checkout"
    assert set(listdir["root"] or []) <= {".cache", ".pyenv"} and set(listdir["root cache"] or []) <= {"course-ci"}
    assert {"usr", "tmp", "proc", "dev"} <= set(listdir["slash"])
    written = probe["layout"]["alice"] / "written.txt"
    assert written.read_text() == "x" and written.stat().st_uid == NOBODY
    assert not (repo_root / "course" / "planted.py").exists()
    assert not (probe["layout"]["data"] / "MNIST" / "new.bin").exists()
    assert probe["cwd"] == str(probe["layout"]["alice"])


@pytest.mark.slow
def test_environment_is_exactly_what_the_caller_passed(probe):
    assert "COURSE_SECRET" not in probe["env"]
    assert probe["env"] == probe["env_passed"]


@pytest.mark.slow
def test_kill_removes_the_cgroups(probe):
    assert probe["cgroups_left"] == []


@pytest.mark.slow
def test_memory_bomb_dies_and_post_mortem_says_memory(tmp_path):
    _require_sandbox()
    sandbox = Sandbox([], memory_limit=GiB)
    code = ("chunks = []\n"
            "for _ in range(96):\n    chunks.append(b'\\1' * (64 << 20))\n"     # 6 GiB, touched
            "print('survived 6 GiB')")
    proc = sandbox.popen([PY, "-c", code], cwd=tmp_path, env=_env(tmp_path))
    try:
        out, _ = proc.communicate(timeout=60)
        assert b"survived" not in out
        assert proc.returncode in (137, -signal.SIGKILL)
        assert sandbox.post_mortem() == "killed: memory limit of 1 GiB reached"
    finally:
        sandbox.kill()
    assert sandbox.post_mortem() == "killed: memory limit of 1 GiB reached", "still known after kill()"
    assert not any(d.exists() for d in sandbox.cgroup_dirs())


@pytest.mark.slow
def test_normal_exit_has_no_post_mortem(tmp_path):
    _require_sandbox()
    sandbox = Sandbox([], memory_limit=GiB)
    proc = sandbox.popen([PY, "-c", "import sys; sys.exit(3)"], cwd=tmp_path, env=_env(tmp_path))
    proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert sandbox.post_mortem() is None
    sandbox.kill()
    proc = sandbox.popen([PY, "-c", "import time; print('up', flush=True); time.sleep(60)"], cwd=tmp_path,
                         env=_env(tmp_path))
    assert _read_line(proc, 30) == "up"
    knobs = {f.name: f.read_text().strip() for d in sandbox.cgroup_dirs() for f in d.iterdir()
             if f.name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max", "pids.max")}
    assert knobs.get("memory.limit_in_bytes", knobs.get("memory.max")) == str(GiB)
    if "memory.memsw.limit_in_bytes" in knobs:
        assert knobs["memory.memsw.limit_in_bytes"] == str(GiB), "swap cannot stretch the cap"
    assert knobs["pids.max"] == "256"
    assert proc.pid in sandbox.pids()
    sandbox.kill()                     # the caller's time limit: not a memory death
    assert proc.returncode is not None
    assert sandbox.post_mortem() is None


@pytest.mark.slow
def test_fork_bomb_is_capped_and_kill_leaves_nothing(tmp_path):
    _require_sandbox()
    limit = 64
    marker = _marker()
    sandbox = Sandbox([], pids_limit=limit)
    code = f"""
import os, sys, time
n = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        print("fork failed after", n, e.strerror, flush=True)
        break
    if pid == 0:
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    n += 1
else:
    print("forked all", n, flush=True)
time.sleep(600)
"""
    proc = sandbox.popen([PY, "-c", code], cwd=tmp_path, env=_env(tmp_path))
    try:
        line = _read_line(proc, 60)
        assert line.startswith("fork failed after"), line
        assert int(line.split()[3]) < limit
        tasks = sandbox.pids()
        assert 0 < len(tasks) <= limit
        children = _with_marker(marker)
        assert 0 < len(children) < limit and set(children) <= tasks
        assert subprocess.run(["true"]).returncode == 0, "the host can still start processes"
    finally:
        sandbox.kill()
    assert proc.returncode is not None
    assert not any(_alive(pid) for pid in children), "no child of the bomb survives kill()"
    assert _with_marker(marker) == []
    assert not any(d.exists() for d in sandbox.cgroup_dirs())


@pytest.mark.slow
def test_threads_count_against_the_cap(tmp_path):
    _require_sandbox()
    sandbox = Sandbox([], pids_limit=32)
    code = """
import threading, time
stop = threading.Event()
n = 0
try:
    for _ in range(1000):
        threading.Thread(target=stop.wait, daemon=True).start()
        n += 1
except RuntimeError as e:
    print("thread failed after", n, flush=True)
else:
    print("started all", n, flush=True)
stop.set()
"""
    proc = sandbox.popen([PY, "-c", code], cwd=tmp_path, env=_env(tmp_path))
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        sandbox.kill()
    line = out.decode().strip()
    assert line.startswith("thread failed after"), (line, err.decode()[-500:])
    assert int(line.split()[3]) < 32


DAEMON = """
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)          # ignored signals stay ignored across exec
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    os._exit(0)
os.wait()
print("daemon started", flush=True)
if {leave}:
    os._exit(0)
time.sleep(600)
"""


@pytest.mark.slow
def test_setsid_double_forked_daemon_ignoring_sigterm_is_gone_after_kill(tmp_path):
    _require_sandbox()
    marker = _marker()
    sandbox = Sandbox([])
    proc = sandbox.popen([PY, "-c", DAEMON.format(marker=marker, leave=False)], cwd=tmp_path, env=_env(tmp_path))
    try:
        assert _read_line(proc, 30) == "daemon started"
        deadline = time.monotonic() + 5
        while not (daemons := _with_marker(marker)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(daemons) == 1
        os.kill(daemons[0], signal.SIGTERM)
        time.sleep(0.2)
        assert _alive(daemons[0]), "the daemon ignores SIGTERM"
        assert Path(f"/proc/{daemons[0]}/stat").read_text().split()[5] != str(proc.pid), "a session of its own"
    finally:
        sandbox.kill()
    assert not _alive(daemons[0])
    assert _with_marker(marker) == []
    assert not any(d.exists() for d in sandbox.cgroup_dirs())


@pytest.mark.slow
def test_daemon_dies_with_the_runner(tmp_path):
    """The runner exits on its own, leaving a daemon: the pid namespace takes it down at once."""
    _require_sandbox()
    marker = _marker()
    sandbox = Sandbox([])
    proc = sandbox.popen([PY, "-c", DAEMON.format(marker=marker, leave=True)], cwd=tmp_path, env=_env(tmp_path))
    try:
        assert _read_line(proc, 30) == "daemon started"
        proc.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _with_marker(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _with_marker(marker) == []
    finally:
        sandbox.kill()
    assert not any(d.exists() for d in sandbox.cgroup_dirs())


@pytest.mark.slow
def test_command_line(tmp_path, repo_root):
    _require_sandbox()
    sandbox = Sandbox([tmp_path / "data"])
    (tmp_path / "data").mkdir()
    cmd = sandbox.command([PY, "-c", "1"], tmp_path / "work")
    joined = " ".join(cmd)
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                 "--new-session", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs"):
        assert flag in cmd, flag
    assert f"--ro-bind {repo_root / 'course'} {repo_root / 'course'}" in joined
    assert f"--ro-bind {tmp_path / 'data'} {tmp_path / 'data'}" in joined
    assert f"--bind {tmp_path / 'work'} {tmp_path / 'work'}" in joined
    binds = [cmd[i + 2] for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")]
    assert str(repo_root) not in binds and "/root" not in binds and "/" not in binds
    assert cmd[-3:] == [PY, "-c", "1"]
