"""fwstart: ask a few questions, get a recommended deep-learning starter project."""

__version__ = "0.1.0"
