"""``python -m skpoison``: the command line (see :mod:`skpoison.experiments`)."""

import sys

from .experiments._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
