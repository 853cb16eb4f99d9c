"""A throw-away PostgreSQL server for tests: Debian's ``postgresql`` binaries, a temporary data folder, a free
port on 127.0.0.1, trust authentication, stopped and removed afterwards.

As root, ``initdb`` and ``postgres`` refuse to run: they run as the ``postgres`` user (made by Debian's package),
else as ``nobody``. :func:`find_binaries` says why when there is no server to start.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["find_binaries", "postgres_server"]


def find_binaries() -> tuple[Path | None, str]:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None and the reason."""
    for found in [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]:
        if found and (Path(found).resolve().parent / "pg_ctl").exists():
            return Path(found).resolve().parent, ""
    return None, ("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's `postgresql` package "
                  "(apt-get install postgresql), which .ci/run does")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user() -> tuple[list[str], int, int]:
    """How to run the server's programs: as ourselves, or (as root) as postgres / nobody."""
    if os.geteuid() != 0:
        return [], os.geteuid(), os.getegid()
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return (["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"],
                    user.pw_uid, user.pw_gid)
    raise RuntimeError("running as root, and there is no postgres or nobody user to run the server as")


@contextlib.contextmanager
def postgres_server(database: str = "gradebook") -> Iterator[str]:
    """Start a server, create ``database``, yield its URL (``postgresql://postgres@127.0.0.1:PORT/database``)."""
    bindir, why = find_binaries()
    if bindir is None:
        raise FileNotFoundError(why)
    prefix, uid, gid = _as_user()
    base = Path(tempfile.mkdtemp(prefix="course-pg-"))
    os.chown(base, uid, gid)
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    os.chown(sockets, uid, gid)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], env=env, check=True, capture_output=True, text=True,  # noqa: E731
                                      timeout=120, cwd=base)
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", "start")
    except subprocess.CalledProcessError as exc:
        text = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{text[-2000:]}") from exc
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        with contextlib.suppress(Exception):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
