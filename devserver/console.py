"""The emulator's own messages go to stderr; stdout belongs to the handlers' logs (and `invoke`'s result).

The function workers write to the same stdout and stderr, so every line goes out in one write, its newline
included: print() writes the text and the newline apart, and unbuffered (PYTHONUNBUFFERED) another process's
line can land between the two, leaving two records on one line.
"""

from __future__ import annotations

import sys
from typing import TextIO


def line(text: str, stream: TextIO | None = None) -> None:
    target = stream or sys.stderr
    target.write(text + "\n")
    target.flush()


def log(message: str) -> None:
    line(f"devserver: {message}")
