"""The version of loopml (one place; ``loopml.__version__`` re-exports it)."""

__version__ = "0.1.0"
