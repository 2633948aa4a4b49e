"""How a command-line process starts: no cyclic garbage collection while torch loads.

Importing torch (and typer, pydantic, rich) makes about a million long-lived objects and no
garbage, and the full collections that their number triggers cost 0.2-0.4 s of every start
of a command that loads a model. So `main` turns the collector off, and it is turned back
on, with everything then alive frozen (gc.freeze: later collections skip it), as soon as
the import of torch has run. A command that never imports torch runs without it (they are
short: listing or drawing a built-in set)."""

from __future__ import annotations

import gc
import importlib.abc
import importlib.util
import sys


class _CollectAfter(importlib.abc.MetaPathFinder):
    """On the import of `name`: take itself off the finders, find the module as usual,
    and turn the collector back on once the module's code has run (or failed)."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        resume_collection()
        gc.disable()  # until the module has run
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            resume_collection()
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            try:
                run(module)
            finally:
                resume_collection()

        spec.loader.exec_module = exec_module
        return spec


def collect_after_torch() -> None:
    """No cyclic garbage collection until torch has been imported (a no-op once it is)."""
    if "torch" in sys.modules or any(isinstance(f, _CollectAfter) for f in sys.meta_path):
        return
    gc.disable()
    sys.meta_path.insert(0, _CollectAfter("torch"))


def resume_collection() -> None:
    """Undo collect_after_torch: the hook gone, what is alive frozen, the collector on."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CollectAfter)]
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
