"""Choosing where tensors live, describing the machine, and seeding for reproducibility.

``get_device()`` prefers CUDA, then Apple's MPS, then the CPU. The choice can be
forced with ``get_device("cpu")`` or the ``COURSE_DEVICE`` environment variable,
so the same notebook runs unchanged on a laptop, a lab machine and a GPU server.
"""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

__all__ = ["ENV_VAR", "get_device", "describe_device", "seed_everything", "autocast_dtype", "autocast"]

#: Environment variable that overrides the automatic choice, e.g. ``COURSE_DEVICE=cpu``.
ENV_VAR = "COURSE_DEVICE"

_KNOWN_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _available() -> list[str]:
    """Names of every device this process can use, e.g. ``['cpu', 'cuda:0']``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return names


def _cuda_summary(index: int) -> str:
    props = torch.cuda.get_device_properties(index)
    return f"{props.name}, {props.total_memory / 2**30:.0f} GiB"


def _parse(requested: str, source: str) -> torch.device:
    """Turn a user string into a concrete device, or raise saying why it can't be used."""
    text = requested.strip().lower()
    try:
        device = torch.device(text)
    except RuntimeError as exc:  # torch rejects malformed names like "gpu" or "cuda:x"
        raise ValueError(
            f"{source} asks for device {requested!r}, which is not a device name. "
            f"Use one of {', '.join(_KNOWN_TYPES)} (optionally with an index, e.g. 'cuda:1')."
        ) from exc
    if device.type not in _KNOWN_TYPES:
        raise ValueError(f"{source} asks for device {requested!r}; this course supports {', '.join(_KNOWN_TYPES)}.")

    available = _available()
    problem = None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = torch.backends.cuda.is_built()
            problem = "no CUDA GPU is visible" if built else "this PyTorch build has no CUDA support"
        else:
            # A bare "cuda" means the current GPU; pin the index so printed names are exact.
            index = torch.cuda.current_device() if device.index is None else device.index
            if index >= torch.cuda.device_count():
                problem = f"there are only {torch.cuda.device_count()} CUDA device(s)"
            device = torch.device("cuda", index)
    elif device.type == "mps" and not _mps_available():
        problem = "MPS (Apple GPU) is not available"
    if problem is not None:
        auto = f"unset {ENV_VAR}" if source.startswith(ENV_VAR) else "pass None"
        raise RuntimeError(
            f"{source} asks for {str(device)!r}, but {problem}. "
            f"Available here: {', '.join(available)}. "
            f"Ask for one of those, or {auto} to choose automatically."
        )
    return device


def get_device(prefer: str | torch.device | None = None, *, verbose: bool = True) -> torch.device:
    """Return the device to compute on: CUDA if present, else MPS, else the CPU.

    ``prefer`` (e.g. ``"cpu"``, ``"cuda:1"``, ``"mps"``) or, when it is None, the
    ``COURSE_DEVICE`` environment variable forces a device; ``"auto"`` or an
    empty value means choose automatically. A requested device that does not
    exist here raises ``RuntimeError`` naming what was asked and what is
    available; a malformed name raises ``ValueError``.

    With ``verbose`` one line says what was picked and why, e.g.
    ``course: using cpu (no CUDA or MPS available)``.
    """
    if isinstance(prefer, torch.device):
        prefer = str(prefer)
    if prefer is not None:
        requested, source = prefer, f"prefer={prefer!r}"
    else:
        requested = os.environ.get(ENV_VAR)
        source = f"{ENV_VAR}={requested}"
    if requested is not None and requested.strip().lower() in ("", "auto"):
        requested = None

    if requested is not None:
        device = _parse(requested, source)
        details = _cuda_summary(device.index) if device.type == "cuda" else None
        reason = source
    elif torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        details, reason = _cuda_summary(device.index), "CUDA available"
    elif _mps_available():
        device = torch.device("mps")
        details, reason = "Apple GPU", "MPS available, no CUDA"
    else:
        device = torch.device("cpu")
        details, reason = None, None

    if verbose:
        if reason is None:
            print("course: using cpu (no CUDA or MPS available)")
        else:
            shown = f" ({details})" if details else ""
            print(f"course: using {device}{shown} — {reason}")
    return device


def describe_device(device: torch.device | str | None = None) -> str:
    """One line about the machine: the device (name, memory for CUDA), CPU threads, torch version.

    With ``device=None`` it describes what ``get_device()`` would pick.
    """
    if device is None:
        device = get_device(verbose=False)
    elif isinstance(device, str):
        device = _parse(device, f"device={device!r}")
    parts: list[str] = []
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        props = torch.cuda.get_device_properties(index)
        parts.append(f"cuda:{index} {props.name} ({props.total_memory / 2**30:.1f} GiB)")
    elif device.type == "mps":
        parts.append("mps (Apple GPU)")
    else:
        parts.append("cpu")
    parts.append(f"{torch.get_num_threads()} CPU threads")
    parts.append(f"torch {torch.__version__}")
    return ", ".join(parts)


class SeededGenerator(torch.Generator):
    """A ``torch.Generator`` that a notebook does not echo when ``seed_everything(0)`` ends a cell."""

    def _ipython_display_(self) -> None:
        pass


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) with ``seed``.

    Returns a fresh ``torch.Generator`` seeded with ``seed``, handy for
    ``DataLoader(..., generator=g)`` or ``torch.randn(..., generator=g)`` so that
    one stream of randomness is independent of everything else.
    Note: some GPU kernels stay non-deterministic even when seeded.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        # NumPy's legacy seeding only accepts this range; fail the same way everywhere.
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    generator = SeededGenerator()
    generator.manual_seed(seed)
    return generator


def _cpu_bf16() -> bool:
    # oneDNN runs bfloat16 convolutions and matmuls natively only with AVX512-BF16 or AMX. On AVX-512 without
    # them (which torch's own `_is_mkldnn_bf16_supported` accepts) it emulates them: a ResNet-20 step measured
    # 2.0x slower than float32 on such a Xeon. Unknown CPUs (other architectures, other torch builds) get float32.
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(bool(check()) for check in checks if check is not None)
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The reduced precision worth training in on ``device``, or None for float32.

    bfloat16 on a CUDA GPU that supports it (Ampere and later) and on a CPU with AVX512-BF16 or AMX
    (about twice as fast for a ResNet there); None elsewhere. bfloat16 keeps float32's exponent range,
    so no loss scaling is needed. Older GPUs would need float16 and a ``GradScaler``: not done here.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        return torch.bfloat16 if _cpu_bf16() else None
    return None


def autocast(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """``with course.autocast(device): loss = ...`` — mixed precision where :func:`autocast_dtype` finds it
    worthwhile, plain float32 otherwise. Parameters and gradients stay float32."""
    device = torch.device(device)
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
