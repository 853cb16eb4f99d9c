"""What several test modules share: whether this is CI (where a missing tool fails instead of skipping), and
Debian's chromium under Playwright.

Importable by name from every test folder (``tests/`` is on ``sys.path`` through its ``conftest.py``).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["in_ci", "skip_or_fail", "CHROMIUM", "CHROMIUM_ARGS", "chromium", "watch_page"]

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
# As root and offline: no sandbox of chromium's own, and none of its background connections (refused here).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def in_ci() -> bool:
    """Whether ``CI`` is set (``.ci/run`` sets it): there, the tests that need a tool fail without it."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str, what: str = "these tests") -> None:
    """Skip with ``reason``, or fail with it under CI."""
    if in_ci():
        pytest.fail(f"{reason} — CI is set, so {what} fail instead of skipping", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's chromium under Playwright (a ``Browser``); skips (fails under CI) when either is missing."""
    problems = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problems.append("playwright is not installed (pip install playwright; do not run `playwright install`)")
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium, or set COURSE_CHROMIUM)")
    if problems:
        skip_or_fail("no browser for the browser tests: " + "; ".join(problems), "the browser tests")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


def watch_page(page, *, local: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Refuse and record every request ``page`` makes to the network (http, https, ws, wss) except to the hosts
    in ``local`` (e.g. ``"127.0.0.1"``), and record its console and page errors: (requests, log), filled as it runs."""
    requests: list[str] = []
    log: list[str] = []

    def route(r) -> None:
        url = r.request.url
        networked = url.startswith(("http:", "https:", "ws:", "wss:"))
        if networked and not (local and url.split("//", 1)[1].startswith(local)):
            requests.append(url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    return requests, log
