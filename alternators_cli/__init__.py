"""alternators: train, sample, evaluate and animate alternators.

The Python API (`alternators_cli.api`): `train(data, **settings)`, `load(spec)`, and the
`Model` they return (`sample`, `forecast`, `impute`, `evaluate`, `save`). It is imported
on first use, so the command line starts without torch.
"""

from alternators_cli.version import __version__

__all__ = ["Model", "load", "train", "__version__"]


def __getattr__(name: str):
    if name in ("Model", "load", "train"):
        from alternators_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'alternators_cli' has no attribute {name!r}")
