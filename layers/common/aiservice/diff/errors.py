"""The one error of the package: a patch that cannot be applied, worded to be shown to the model that wrote it."""

from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied, or a file it cannot be applied to.

    `path` is the file and `hunk` the V4A hunk or SEARCH/REPLACE block concerned ("hunk 2 (@@ def f)",
    "block 3"), when known; the message starts with both, so it can go into a repair prompt as it is.
    """

    def __init__(self, problem: str, *, path: str | None = None, hunk: str | None = None) -> None:
        super().__init__(": ".join(part for part in (path, hunk, problem) if part))
        self.problem = problem
        self.path = path
        self.hunk = hunk
