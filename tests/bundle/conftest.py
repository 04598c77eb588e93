"""Session fixtures shared by the bundle checks: each expensive step (transform, sam build) runs once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import _sam


@pytest.fixture(scope="session")
def source_template() -> dict[str, Any]:
    """template.yaml parsed with CloudFormation's tags resolved to their long forms."""
    return _sam.load_template()


@pytest.fixture(scope="session")
def transformed_template(source_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml after the offline SAM transform (parameters at their defaults)."""
    return _sam.transform(source_template)


@pytest.fixture(scope="session")
def transformed_template_file(transformed_template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sam.write_json(transformed_template, tmp_path_factory.mktemp("transformed") / "template.json")


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` of the bundle, without Docker (no --use-container), into a fresh build dir; returns that dir.

    The common layer's Makefile cross-installs arm64/cp312 wheels, here from the wheelhouse `make install`
    fetched (build/wheelhouse) with the index switched off: the test run stays offline. Function folders hold
    no requirements.txt, so their python3.12 builds are a plain copy and need no local python3.12.
    """
    stamp = _sam.WHEELHOUSE / ".complete"
    if not stamp.exists() or stamp.stat().st_mtime < (_sam.COMMON_LAYER / "requirements.txt").stat().st_mtime:
        pytest.fail(f"no up-to-date Lambda wheelhouse at {_sam.WHEELHOUSE}: run `make install` (or `make test`)")
    build_dir = tmp_path_factory.mktemp("sam") / "build"  # sam writes build.toml next to the build dir
    proc = _sam.run(
        [_sam.tool("sam"), "build", "--template", str(_sam.TEMPLATE), "--build-dir", str(build_dir)],
        timeout=600,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(_sam.WHEELHOUSE),
    )
    assert proc.returncode == 0, _sam.describe(proc)
    return build_dir
