"""The grading sandbox: student code runs only in here (see :mod:`.launcher` for what holds, as root and not).

* :mod:`.tools`: which bubblewrap and setpriv this machine has (the system's, or the one the install brings);
* :mod:`.view`: the filesystem view and the host → sandbox path map;
* :mod:`.seccomp`: the filter that refuses new user namespaces;
* :mod:`.cgroups` (root) and :mod:`.watchdog` (anyone): memory and process caps;
* :mod:`.inside`: what the runner does first, inside, before any student code;
* :mod:`.launcher`: :class:`Sandbox`, which puts them together;
* :mod:`.policy`: grading refuses to start unless every protection holds (or the instructor says
  ``--unsafe-no-sandbox``, and every report says so).
"""
from __future__ import annotations

from .launcher import NOBODY, PROTECTIONS, Sandbox
from .limits import GiB, MiB, limits_from_env, parse_size
from .policy import (
                     UNSAFE_ENV,
                     UNSAFE_OPTION,
                     SandboxRefused,
                     banner,
                     check_here,
                     describe,
                     launcher,
                     refusal,
                     unsafe,
                     unsafe_requested,
)

__all__ = ["Sandbox", "GiB", "MiB", "NOBODY", "PROTECTIONS", "limits_from_env", "parse_size", "SandboxRefused",
           "UNSAFE_ENV", "UNSAFE_OPTION", "banner", "check_here", "describe", "launcher", "refusal", "unsafe",
           "unsafe_requested"]
