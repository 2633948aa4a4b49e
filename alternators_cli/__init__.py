"""alternators: train, sample, evaluate and animate alternator generative models."""

__version__ = "0.1.0"
