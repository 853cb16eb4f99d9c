"""The runner's operations, in this process (``course.grader.runner``): requests are operations, never code, and
only plain data comes back."""
from __future__ import annotations

import pytest
import torch

from course.grader.protocol import NotPlainData, Ref, decode, encode
from course.grader.runner import Runner


@pytest.fixture
def runner() -> Runner:
    return Runner()


def test_a_cell_runs_and_its_names_stay_in_the_namespace(runner: Runner) -> None:
    assert runner.op_run_cell({"source": "x = 41\ndef f(a, b=1):\n    return a + b + x"}) == {"error": None}
    ref = runner.op_global({"name": "f"})
    assert ref["type"] == "function"
    out = runner.op_call({"ref": ref["ref"], "args": encode([1]), "kwargs": encode({"b": 2})})
    assert decode(runner.op_fetch({"ref": out["ref"]})["value"]) == 44


def test_a_failing_cell_reports_its_error_and_keeps_the_names_before_it(runner: Runner) -> None:
    answer = runner.op_run_cell({"source": "y = 1\nraise ValueError('bad\\nsecond line')"})
    assert answer == {"error": ["ValueError", "bad"]}
    assert runner.op_global({"name": "y"})["type"] == "int"
    with pytest.raises(NameError, match="'nothing' is not defined"):
        runner.op_global({"name": "nothing"})


def test_objects_stay_here_and_references_resolve(runner: Runner) -> None:
    runner.op_run_cell({"source": "import torch\nnet = torch.nn.Linear(3, 2)"})
    net = runner.op_global({"name": "net"})
    weight = runner.op_getattr({"ref": net["ref"], "name": "weight"})
    x = runner.op_value({"value": encode(torch.ones(4, 3))})
    y = runner.op_call({"ref": net["ref"], "args": encode([Ref(x["ref"])]), "kwargs": encode({})})
    out = decode(runner.op_fetch({"ref": y["ref"]})["value"])
    w = decode(runner.op_fetch({"ref": weight["ref"]})["value"])
    assert out.shape == (4, 2) and torch.allclose(out[0], w.sum(1) + runner.objects[net["ref"]].bias.detach())
    with pytest.raises(NotPlainData):
        runner.op_fetch({"ref": net["ref"]})            # a model never crosses: only plain data does
    runner.op_release({"refs": [y["ref"]]})
    assert y["ref"] not in runner.objects
    with pytest.raises(KeyError, match="no object"):
        runner.resolve(Ref(10_000))


def test_imports_are_modules_by_name(runner: Runner) -> None:
    ref = runner.op_import({"module": "math"})
    pi = runner.op_getattr({"ref": ref["ref"], "name": "pi"})
    assert decode(runner.op_fetch({"ref": pi["ref"]})["value"]) == pytest.approx(3.14159, rel=1e-5)
