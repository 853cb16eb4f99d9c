"""The wire between the judge and the sandboxed runner: length-prefixed JSON, and only plain data.

What crosses is never a pickle: numbers, strings, lists, dicts (as key/value pairs, so float keys such as
learning rates survive), and tensors as dtype + shape + raw bytes in base64. Decoding checks every tensor's
dtype against an allow-list and its byte count against its shape, and caps the message size.
"""
from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np
import torch

__all__ = ["ProtocolError", "NotPlainData", "Ref", "encode", "decode", "send", "receive", "MAX_MESSAGE"]

MAX_MESSAGE = 512 * 2**20  # bytes: a 10,000 x 3,072 float32 tensor is 123 MB, 164 MB in base64
_HEADER = struct.Struct(">Q")
_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool)}


class ProtocolError(RuntimeError):
    """A message that is not what the protocol allows (too large, malformed, a forbidden dtype)."""


class NotPlainData(TypeError):
    """A value that cannot cross as plain data (a model, a function, an open file...)."""


class Ref(int):
    """A handle to an object that stays on the runner's side."""


def _float(x: float) -> Any:
    # JSON has no NaN or infinities: they travel as tagged strings.
    return x if math.isfinite(x) else {"__float__": repr(x)}


def encode(value: Any, *, depth: int = 0) -> Any:
    """``value`` as JSON-able plain data; raises NotPlainData for anything else."""
    if depth > 64:
        raise NotPlainData("nested more than 64 levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Ref):
        return {"__ref__": int(value)}
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _float(float(value))
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        name = str(t.dtype).removeprefix("torch.")
        if name not in _DTYPES:
            raise NotPlainData(f"tensors of dtype {t.dtype} do not cross")
        # A fresh dense buffer: a view with odd strides or an offset cannot always be reinterpreted as bytes.
        flat = torch.empty(t.numel(), dtype=t.dtype).copy_(t.reshape(-1))
        raw = flat.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        return {"__tensor__": [name, list(t.shape), base64.b64encode(raw).decode("ascii")]}
    if isinstance(value, (torch.Size,)):
        return [int(s) for s in value]
    if isinstance(value, (torch.device, torch.dtype)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [encode(v, depth=depth + 1) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, depth=depth + 1), encode(v, depth=depth + 1)] for k, v in value.items()]}
    raise NotPlainData(f"a {type(value).__module__}.{type(value).__qualname__} is not plain data")


def decode(obj: Any, *, depth: int = 0) -> Any:
    """The inverse of :func:`encode`, checking what it builds."""
    if depth > 66:
        raise ProtocolError("message nested too deep")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth=depth + 1) for v in obj]
    if isinstance(obj, dict) and len(obj) == 1:
        (tag, body), = obj.items()
        if tag == "__ref__" and isinstance(body, int):
            return Ref(body)
        if tag == "__float__" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "__dict__" and isinstance(body, list):
            out = {}
            for pair in body:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ProtocolError("malformed dict entry")
                key = decode(pair[0], depth=depth + 1)
                out[tuple(key) if isinstance(key, list) else key] = decode(pair[1], depth=depth + 1)
            return out
        if tag == "__tensor__" and isinstance(body, list) and len(body) == 3:
            name, shape, data = body
            dtype = _DTYPES.get(name)
            if dtype is None or not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
                raise ProtocolError(f"malformed tensor ({name!r}, {shape!r})")
            raw = base64.b64decode(data, validate=True)
            n = math.prod(shape)
            if len(raw) != n * torch.empty((), dtype=dtype).element_size():
                raise ProtocolError(f"tensor of shape {shape} and dtype {name} with {len(raw)} bytes")
            if n == 0:
                return torch.empty(shape, dtype=dtype)
            return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()
    if isinstance(obj, dict):
        return {str(k): decode(v, depth=depth + 1) for k, v in obj.items()}
    raise ProtocolError(f"unexpected {type(obj).__name__} in a message")


def send(stream: BinaryIO, message: dict) -> None:
    """Write one message (an already-encoded dict) and flush."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(f"a message of {len(body) / 2**20:.0f} MB is over the {MAX_MESSAGE / 2**20:.0f} MB cap")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(stream: BinaryIO) -> dict:
    """Read one message; EOFError when the other side is gone."""
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    if size > MAX_MESSAGE:
        raise ProtocolError(f"a message of {size / 2**20:.0f} MB is over the {MAX_MESSAGE / 2**20:.0f} MB cap")
    message = json.loads(_read_exactly(stream, size))
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message
