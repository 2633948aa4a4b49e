"""The package's version: one string, importable without importing anything else."""

__version__ = "0.1.0"
