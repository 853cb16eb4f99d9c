"""What student code can and cannot do in the sandbox, tried from the inside: ``python sandbox_probe.py OUT.json``.

Run by ``test_sandbox.py`` twice, with the same code: as root (the grader's own venv) and as an ordinary user from
that user's own clone and venv (the README's install). Each scenario starts ``python -c <code>`` through
:class:`course.grader.sandbox.Sandbox` exactly as the engine starts its runner, in a scratch folder laid out like a
grading run, and records what happened; the test asserts on the JSON. Nothing here asserts: a probe only reports.

    <tmp>/alice/          the submission's scratch copy (what the runner gets, read-only, copied into its tmpfs)
    <tmp>/bob/            another submission
    <tmp>/autograder/     a planted gradebook, reference and hidden judge
    <tmp>/data/           a read-only data folder
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course.grader.sandbox import GiB, MiB, Sandbox

MARKER = "course-probe-marker"

PRELUDE = r'''
import errno, json, os, sys
from course.grader.sandbox.inside import prepare
prepare()
def outcome(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    except MemoryError:
        return "MemoryError"
'''

MAIN = PRELUDE + r'''
import socket, time, ctypes
paths = json.loads(sys.argv[1])
r = {"pid": os.getpid(), "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
     "env": dict(os.environ), "cwd": os.getcwd(), "cwd_files": sorted(os.listdir("."))}
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
r["caps"] = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}

def read(p):
    return outcome(lambda: open(p, "rb").read(1) if os.path.isfile(p) else os.listdir(p) if os.path.isdir(p)
                   else open(p, "rb"))

def write(p):
    return outcome(lambda: open(p, "w").write("x"))

r["read"] = {k: read(p) for k, p in paths["read"].items()}
r["write"] = {k: write(p) for k, p in paths["write"].items()}
r["listdir"] = {k: sorted(os.listdir(p)) if os.path.isdir(p) else None for k, p in paths["listdir"].items()}

def fill(folder, chunk=4 << 20, most=1 << 30):
    written, err = 0, "ok"
    try:
        with open(os.path.join(folder, "filler.bin"), "wb") as f:
            while written < most:
                f.write(b"\1" * chunk)
                f.flush()
                written += chunk
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    try:
        os.remove(os.path.join(folder, "filler.bin"))
    except OSError:
        pass
    return [written, err]

r["fill"] = {"cwd": fill("."), "tmp": fill("/tmp"), "shm": fill("/dev/shm")}

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
rc = libc.unshare(CLONE_NEWUSER)
r["unshare_user"] = "ok" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
import subprocess
r["unshare_cmd"] = subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode

t = time.time()
import torch
r["torch"] = {"import_s": round(time.time() - t, 2), "threads": torch.get_num_threads(),
              "matmul": float((torch.ones(64, 64) @ torch.ones(64, 64)).sum())}

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

MEMORY_ONE = PRELUDE + r'''
hoard = []
try:
    for _ in range(int(sys.argv[1])):
        hoard.append(b"\1" * (64 << 20))
    print(json.dumps({"survived": len(hoard) * 64}))
except MemoryError:
    print(json.dumps({"MemoryError_at_mib": len(hoard) * 64}))
'''

MEMORY_TREE = PRELUDE + r'''
import time
n, mib = int(sys.argv[1]), int(sys.argv[2])
children = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        try:
            block = b"\1" * (mib << 20)
            time.sleep(5)
        except MemoryError:
            os._exit(3)
        os._exit(0)
    children.append(pid)
codes = [os.waitpid(p, 0)[1] for p in children]
print(json.dumps({"codes": codes}))
'''

MEMORY_SHARED = PRELUDE + r'''
import mmap
size = int(sys.argv[1]) << 20
m = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
for i in range(0, size, 1 << 20):
    m[i:i + (1 << 20)] = b"\1" * (1 << 20)
print(json.dumps({"survived_mib": size >> 20}))
'''

FORK = PRELUDE + r'''
import time
n = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        print(json.dumps({"fork_failed_after": n, "error": e.strerror}), flush=True)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
else:
    print(json.dumps({"forked_all": n}), flush=True)
'''

THREADS = PRELUDE + r'''
import threading
stop = threading.Event()
n = 0
try:
    for _ in range(1000):
        threading.Thread(target=stop.wait, daemon=True).start()
        n += 1
    print(json.dumps({"started_all": n}))
except RuntimeError:
    print(json.dumps({"thread_failed_after": n}))
stop.set()
'''

DAEMON = PRELUDE + r'''
import signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        os.execv("/bin/sleep", ["sleep", sys.argv[1]])
    os._exit(0)
os.wait()
print(json.dumps({"daemon": "started"}), flush=True)
time.sleep(600)
'''


def _env(scratch: Path, checkout: Path) -> dict[str, str]:
    """What the engine passes (``runner_env``): nothing of the grader's environment."""
    import course

    return {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(Path(course.__file__).resolve().parent.parent),
            "MPLCONFIGDIR": str(scratch / ".config" / "matplotlib")}


def _run(sandbox: Sandbox, code: str, args: list[str], cwd: Path, checkout: Path, timeout: float = 120,
         after_first_line=None) -> dict:
    t0 = time.monotonic()
    proc = sandbox.popen([sys.executable, "-c", code, *args], cwd=cwd, env=_env(cwd, checkout))
    try:
        if after_first_line is None:
            out, err = proc.communicate(timeout=timeout)
        else:
            line = proc.stdout.readline()
            extra = after_first_line()
            sandbox.kill()
            out, err = line + proc.stdout.read(), proc.stderr.read()
    except subprocess.TimeoutExpired:
        sandbox.kill()
        out, err = proc.communicate()
    post = sandbox.post_mortem()
    sandbox.kill()
    answer = {"code": proc.returncode, "post_mortem": sandbox.post_mortem() or post,
              "stderr": err.decode(errors="replace")[-2000:], "seconds": round(time.monotonic() - t0, 1)}
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
    if lines:
        answer["result"] = json.loads(lines[-1])
    if after_first_line is not None:
        answer["after"] = extra
    return answer


def _alive_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def probe(checkout: Path) -> dict:
    base = Path(tempfile.mkdtemp(prefix="course-probe-"))
    paths = {name: base / name for name in ("alice", "bob", "autograder", "data")}
    for folder in paths.values():
        folder.mkdir()
    (paths["alice"] / "lab.ipynb").write_text("{}")
    (paths["bob"] / "lab.ipynb").write_text('{"bob": "his answers"}')
    (paths["autograder"] / "gradebook.db").write_text("grades")
    (paths["data"] / "MNIST").mkdir()
    (paths["data"] / "MNIST" / "train.bin").write_bytes(b"\0" * 16)
    host_tmp = Path(tempfile.gettempdir()) / f"{MARKER}-{os.getpid()}"
    host_tmp.write_text("the host's /tmp")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    home = Path.home()
    import course

    package = Path(course.__file__).resolve().parent
    spec = {
        "port": listener.getsockname()[1],
        "read": {
            "gradebook": str(paths["autograder"] / "gradebook.db"), "other submission": str(paths["bob"] / "lab.ipynb"),
            "solutions": str(checkout / "solutions"), "judges": str(checkout / "autograder" / "judges"),
            "checkout README": str(checkout / "README.md"), "home": str(home), "/home": "/home", "/root": "/root",
            "shadow": "/etc/shadow", "host tmp file": str(host_tmp), "seed notebook": "/sandbox/in/lab.ipynb",
            "own notebook": "lab.ipynb", "data": "/sandbox/data/0/MNIST/train.bin",
            "course package": "/sandbox/lib/course/__init__.py", "host course package": str(package / "__init__.py"),
        },
        "write": {"scratch": "written.txt", "tmp": "/tmp/x.txt", "data": "/sandbox/data/0/MNIST/new.bin",
                  "course package": "/sandbox/lib/course/planted.py", "venv": f"{sys.prefix}/planted.txt",
                  "sandbox venv": "/sandbox/venv/planted.txt", "slash": "/planted.txt", "dev": "/dev/planted",
                  "seed": "/sandbox/in/planted.txt", "checkout": str(checkout / "planted.txt")},
        "listdir": {"slash": "/", "sandbox": "/sandbox", "home": "/home", "root": "/root",
                    "data": "/sandbox/data/0"},
    }
    out: dict = {"root": os.geteuid() == 0, "user": os.getuid(), "home": str(home), "checkout": str(checkout),
                 "prefix": sys.prefix, "base": str(base)}
    box = Sandbox([paths["data"]], scratch_limit=64 * MiB, shm_limit=16 * MiB)
    out["summary"] = box.summary()
    out["protections"] = {p.name: [p.active, p.detail] for p in box.protections()}
    out["main"] = _run(box, MAIN, [json.dumps(spec)], paths["alice"], checkout)
    try:
        accepted = listener.accept()
        out["accepted"] = str(accepted[1])
    except BlockingIOError:
        out["accepted"] = None
    listener.close()
    host_tmp.unlink()
    out["scratch_after"] = sorted(p.name for p in paths["alice"].iterdir())
    out["written_on_host"] = [str(p) for p in (paths["data"] / "MNIST" / "new.bin", package / "planted.py",
                                                 checkout / "planted.txt", Path(sys.prefix) / "planted.txt")
                              if p.exists()]

    out["memory_one"] = _run(Sandbox([], memory_limit=GiB), MEMORY_ONE, ["48"], paths["alice"], checkout)
    # Each child stays under the per-process cap (torch's own ~0.8 GiB included); together they pass the cap.
    out["memory_tree"] = _run(Sandbox([], memory_limit=2 * GiB), MEMORY_TREE, ["4", "700"], paths["alice"], checkout)
    out["memory_shared"] = _run(Sandbox([], memory_limit=GiB), MEMORY_SHARED, ["3072"], paths["alice"], checkout)
    out["fork"] = _run(Sandbox([], pids_limit=64), FORK, [], paths["alice"], checkout)
    out["threads"] = _run(Sandbox([], pids_limit=32), THREADS, [], paths["alice"], checkout)
    marker = f"3599.{os.getpid()}{time.monotonic_ns() % 10**9:09d}"
    box = Sandbox([])

    def daemons() -> list[int]:
        deadline = time.monotonic() + 5
        while not (found := _alive_with(marker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found
    out["daemon"] = _run(box, DAEMON, [marker], paths["alice"], checkout, after_first_line=daemons)
    time.sleep(0.5)
    out["daemon"]["left"] = _alive_with(marker)
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[0])
    checkout = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2]
    target.write_text(json.dumps(probe(checkout), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
