"""The candidate endpoints with the real codeflash client: its AiServiceClient (from the package index, in its
own venv) against `make run`'s stack with a scripted model; every method returns valid candidates, never its
failure value ([] or None)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.realclient import ROOT, client_env, client_python, running_stack

pytestmark = pytest.mark.slow
SCRIPT = ROOT / "tests/fixtures/scripted/candidates"
SAMPLES = ROOT / "tests/fixtures/reference/codeflash-samples"


def test_the_real_client_gets_valid_candidates_from_every_candidate_endpoint(tmp_path: Path) -> None:
    with running_stack(SCRIPT, tmp_path / "devserver.log") as log:
        run = subprocess.run(
            [str(client_python()), str(Path(__file__).with_name("client_calls.py")), str(SAMPLES)],
            env=client_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert run.returncode == 0, f"{run.stderr[-4000:]}\n--- devserver:\n{log.read_text()[-4000:]}"
    results = json.loads(run.stdout.strip().splitlines()[-1])

    first = results["optimize_code"]
    assert [c["files"]["mypkg/sorter.py"] for c in first] == [
        "def sort_list(arr):\n    return sorted(arr)",
        "def sort_list(arr):\n    arr = list(arr)\n    arr.sort()\n    return arr",
    ]
    assert all(c["parent_id"] is None and c["explanation"] for c in first)
    (profiled,) = results["optimize_python_code_line_profiler"]
    assert "out.sort()" in profiled["files"]["mypkg/sorter.py"]
    (refined,) = results["optimize_code_refinement"]
    assert refined["parent_id"] == first[1]["optimization_id"]
    assert refined["files"]["mypkg/sorter.py"] == "def sort_list(arr):\n    return sorted(arr, key=None)"
    repaired = results["code_repair"]
    assert repaired["parent_id"] == "opt-B"
    assert repaired["files"]["mypkg/sorter.py"] == "def sort_list(arr):\n    return sorted(arr)"
    adaptive = results["adaptive_optimize"]
    assert adaptive["parent_id"] == "ref-opt-A" and "sorted(iter(arr))" in adaptive["files"]["mypkg/sorter.py"]
    ids = [c["optimization_id"] for c in (*first, profiled, refined, repaired, adaptive)]
    assert len(set(ids)) == len(ids)  # unique per trace (contract §8.7)
