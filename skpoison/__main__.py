"""``python -m skpoison``: the command line (see :mod:`skpoison.experiments`)."""

import sys

from .experiments._cli import console, main

__all__ = ["console", "main"]

if __name__ == "__main__":
    sys.exit(console())
