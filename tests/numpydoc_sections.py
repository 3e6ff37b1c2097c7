"""Reading numpydoc docstrings in the docstring tests (a helper module, not a test).

Importable from every test folder: ``tests/conftest.py`` puts this folder on
``sys.path`` (the suite runs with ``--import-mode=importlib``).
"""

import inspect
import re


def sections(doc):
    """numpydoc sections of ``doc``: title -> its lines (the title underlined by dashes).

    Examples
    --------
    >>> sections("Sum.\\n\\nParameters\\n----------\\na, b : int\\n    Terms.\\n")
    {'Parameters': ['a, b : int', '    Terms.']}
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    found, current = {}, None
    for line, below in zip(lines, lines[1:] + [""]):
        if re.fullmatch(r"-{3,}", below.strip()) and line.strip():
            current = line.strip()
            found[current] = []
        elif current is not None and not re.fullmatch(r"-{3,}", line.strip()):
            found[current].append(line)
    return found


def entries(lines):
    """``(names, description lines)`` of a Parameters or Attributes section
    (``a, b : int`` names two).

    Examples
    --------
    >>> entries(['a, b : int', '    Terms.', 'c : float'])
    [(['a', 'b'], ['Terms.']), (['c'], [])]
    """
    found = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            names = [name.strip() for name in line.split(" : ")[0].split(",")]
            found.append((names, []))
        elif line.strip() and found:
            found[-1][1].append(line.strip())
    return found


def names(lines):
    """The names a Parameters or Attributes section documents, in order."""
    return [name for names_, _ in entries(lines) for name in names_]
