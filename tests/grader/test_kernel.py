"""The judge's side of the channel (``course.grader.kernel``) against a real runner process (no sandbox: what
is tested here is the channel): calls and fetches, the student's errors, deadlines, a runner that dies, and the
cap on what its output may hold."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

from course.grader.kernel import Kernel, KernelDied, KernelTimeout, RemoteError
from course.grader.launch import PlainLauncher
from course.grader.session import runner_env


def _kernel(tmp_path: Path, **kw) -> Kernel:
    return Kernel(PlainLauncher(), tmp_path, runner_env(tmp_path, None), **kw)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = _kernel(tmp_path_factory.mktemp("runner"), output_cap=4096)
    yield k
    k.close()


def test_hello_names_the_runner(kernel: Kernel) -> None:
    assert kernel.info["ok"] and kernel.info["python"] == sys.version.split()[0]


def test_calls_stay_remote_until_fetched(kernel: Kernel) -> None:
    assert kernel.run_cell("import torch\ndef double(t, k=2):\n    return t * k", timeout=60) is None
    out = kernel.ns.double(torch.arange(3.0), k=3)
    assert repr(out).startswith("<Remote Tensor #")
    assert torch.equal(kernel.fetch(out), torch.tensor([0.0, 3.0, 6.0]))
    sent = kernel.value(torch.ones(2))
    assert torch.equal(kernel.fetch(kernel.ns.double(sent)), torch.full((2,), 2.0))
    assert "double" in kernel.ns and "nothing_here" not in kernel.ns


def test_the_students_errors_come_back_as_remote_errors(kernel: Kernel) -> None:
    assert kernel.run_cell("1 / 0", timeout=60) == ("ZeroDivisionError", "division by zero")
    kernel.run_cell("def boom():\n    raise KeyError('where')", timeout=60)
    with pytest.raises(RemoteError) as caught:
        kernel.fetch(kernel.ns.boom())
    assert caught.value.ename == "KeyError" and "where" in caught.value.evalue
    with pytest.raises(RemoteError, match="NameError"):
        kernel.ns.not_defined_anywhere


def test_output_keeps_only_its_tail(kernel: Kernel) -> None:
    kernel.run_cell("print('x' * 10000, flush=True)\nprint('THE END', flush=True)", timeout=60)
    deadline = time.monotonic() + 5
    while "THE END" not in kernel.output_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kernel.output_tail().rstrip().endswith("THE END") and kernel.output_bytes > 10000
    assert len(kernel.output_tail(10**7).encode()) <= 4096 + 10001


def test_a_hung_call_times_out_and_kills_the_runner(tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    k.run_cell("import time", timeout=60)
    t0 = time.monotonic()
    with pytest.raises(KernelTimeout):
        k.run_cell("time.sleep(60)", timeout=1)
    assert time.monotonic() - t0 < 15 and k.dead and k.proc.poll() is not None
    with pytest.raises(KernelDied):
        k.run_cell("1", timeout=5)


def test_a_runner_that_exits_is_reported_with_its_code(tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    with pytest.raises(KernelDied, match="exited with code 7"):
        k.run_cell("import os\nos._exit(7)", timeout=60)
