"""Every conformance vector in tests/fixtures/reference/diff-vectors (see the README there), against apply_patch.

A vector that expects a reference's behaviour we deliberately do better than is a deviation: it is listed in
DEVIATIONS (and in aiservice.diff's docstring) with the reason, and the test asserts our behaviour instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiservice.diff import PatchError, apply_patch

# Inside the repository, so that a clone anywhere runs the same tests; a missing folder fails, never skips.
VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "diff-vectors"
VECTOR_COUNT = 62


@dataclass(frozen=True)
class Deviation:
    reason: str
    ours: str | None | type[PatchError]  # the file's text we produce, or PatchError


DEVIATIONS = {
    "v4a_42_markdown_fenced_patch_errors": Deviation(
        "models often fence their patch; the fence says nothing about the edit, so we strip it", ours="two\n"
    ),
    "sr_36_falls_back_to_other_chat_file": Deviation(
        "quirk: a block that edits a file it does not name is a silent wrong edit; we report the miss", ours=PatchError
    ),
}


def _vectors() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


def test_the_vectors_are_there() -> None:
    assert VECTORS.is_dir(), f"no conformance vectors at {VECTORS}"
    names = {path.stem for path in _vectors()}
    assert len(names) == VECTOR_COUNT
    assert DEVIATIONS.keys() <= names, "a deviation names a vector that is gone"


def test_every_quirk_is_a_listed_deviation() -> None:
    quirks = {path.stem for path in _vectors() if json.loads(path.read_text()).get("quirk")}
    assert quirks <= DEVIATIONS.keys()


@pytest.mark.parametrize("vector_file", _vectors(), ids=lambda path: path.stem)
def test_vector(vector_file: Path) -> None:
    vector = json.loads(vector_file.read_text())
    files = {vector["path"]: vector["original"], **vector.get("other_files", {})}
    untouched = dict(files)
    deviation = DEVIATIONS.get(vector["name"])
    expected = deviation.ours if deviation else (PatchError if vector.get("error") else vector["expected"])

    if expected is PatchError:
        with pytest.raises(PatchError) as raised:
            apply_patch(files, vector["patch"], vector["format"])
        assert files == untouched
        if not vector.get("envelope_level"):
            assert any(path in str(raised.value) for path in files), "the message names the file"
        return

    result = apply_patch(files, vector["patch"], vector["format"])
    assert result[vector["path"]] == expected
    if not deviation:
        for path, text in vector.get("expected_other_files", {}).items():
            assert result[path] == text
    assert files == untouched
