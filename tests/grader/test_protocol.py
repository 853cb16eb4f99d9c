"""The runner channel's plain data: what crosses, exactly, and what does not."""
from __future__ import annotations

import pytest
import torch

from course.grader.protocol import NotPlainData, decode, encode


@pytest.mark.parametrize("tensor", [
    torch.arange(6.0).reshape(2, 3)[1:, 1:2],          # a one-element view with strides (3, 1)
    torch.arange(10)[3:4],                            # an offset into a larger storage
    torch.rand(3).expand(2, 3),                       # stride 0
    torch.arange(8, dtype=torch.bfloat16)[::3],       # a dtype numpy does not have
    torch.tensor(3.5, dtype=torch.float64),           # 0-dim
    torch.zeros(2, 0),                                # empty
    torch.tensor([True, False]),
], ids=["strided-one-element", "offset", "expanded", "bfloat16-strided", "0-dim", "empty", "bool"])
def test_tensors_cross_exactly_whatever_their_layout(tensor: torch.Tensor) -> None:
    back = decode(encode(tensor))
    assert back.dtype == tensor.dtype and back.shape == tensor.shape and torch.equal(back, tensor)


def test_nested_plain_data_and_tuple_keys_cross() -> None:
    value = {("sgd", 0.1): [1, 2.5, "x", None, {"t": torch.ones(2)}]}
    back = decode(encode(value))
    assert list(back) == [("sgd", 0.1)] and back[("sgd", 0.1)][:4] == [1, 2.5, "x", None]
    assert torch.equal(back[("sgd", 0.1)][4]["t"], torch.ones(2))


def test_objects_do_not_cross() -> None:
    with pytest.raises(NotPlainData):
        encode(object())
