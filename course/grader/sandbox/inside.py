"""What the runner does first inside the sandbox, before any student code: ``prepare()``.

The launcher passes ``COURSE_SANDBOX`` (JSON) in the runner's environment:

* ``rlimits``: resource limits to set, soft = hard, so nothing started later can raise them. ``NPROC`` set here,
  inside the sandbox's own user namespace, counts only the sandbox's processes and threads (Linux ≥ 5.14 counts
  per user namespace); ``DATA`` caps each process's private memory (heap, arrays, mmap) without breaking
  ``import torch``, as ``AS`` would;
* ``seed``: the read-only folder holding the submission's files, copied into ``work`` (the writable tmpfs);
* ``work`` and ``tmp``: made, the first one becomes the working folder.

The variable is then removed from the environment the student's code sees. Standard library only.
"""
from __future__ import annotations

import json
import os
import resource
import shutil

__all__ = ["prepare", "ENV"]

ENV = "COURSE_SANDBOX"


def prepare() -> None:
    spec = os.environ.pop(ENV, None)
    if not spec:
        return
    setup = json.loads(spec)
    for name, value in setup.get("rlimits", {}).items():
        kind = getattr(resource, f"RLIMIT_{name}")
        resource.setrlimit(kind, (int(value), int(value)))
    tmp = setup.get("tmp")
    if tmp:
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, 0o1777)
    work = setup.get("work")
    if work:
        seed = setup.get("seed")
        if seed and os.path.isdir(seed):
            shutil.copytree(seed, work, symlinks=True, dirs_exist_ok=True)
        os.makedirs(work, exist_ok=True)
        os.chdir(work)
        os.environ["PWD"] = work
