"""charlm-tui: train a character-level language model live in the terminal."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("charlm-tui")
except PackageNotFoundError:  # a checkout run without installing it
    __version__ = "unknown (not installed)"
