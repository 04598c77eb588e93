"""The emulator's own messages go to stderr; stdout belongs to the handlers' logs (and `invoke`'s result)."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    print(f"devserver: {message}", file=sys.stderr, flush=True)
