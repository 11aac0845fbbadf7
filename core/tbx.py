"""tensorboardX, imported without torch. Its writer imports torch when it is installed
(transformers' users have it, and so do our tests) only to accept torch tensors as values;
tpudeck hands it floats. torch cost a trainer 1.4 s of import and ~180 MB of its peak
memory (the demo, 20 steps on one CPU device: 697 -> 516 MB), for nothing."""

from __future__ import annotations

import importlib
import sys


def tensorboardx(module: str = "tensorboardX"):
    """`module` of tensorboardX, with torch hidden while tensorboardX first loads (a torch
    already imported stays; one imported later loads as usual)."""
    hide = "torch" not in sys.modules and "tensorboardX" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # `import torch` raises ImportError: numpy values only
    try:
        return importlib.import_module(module)
    finally:
        if hide:
            del sys.modules["torch"]
