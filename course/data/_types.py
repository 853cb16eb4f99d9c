"""Type aliases shared by the data modules."""
from __future__ import annotations

import os
from typing import Union

import torch

PathLike = Union[str, os.PathLike]
Device = Union[torch.device, str, None]
