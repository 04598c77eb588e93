"""The real codeflash client (build/codeflash-venv, codeflash 0.20.6) against `make run` on its fixed addresses
(localhost:8000 and :3001): each judgement call returns a parsed result, not its failure value."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.judgement.local_stack import ROOT, port_is_free, running_stack

CLIENT_PYTHON = ROOT / "build/codeflash-venv/bin/python"
SAMPLES = ROOT / "tests/fixtures/reference/codeflash-samples"
WORKFLOW_REQUEST = Path(__file__).parent / "fixtures/workflow_gen_request.json"

pytestmark = pytest.mark.slow


def wait_for_ports(*ports: int, timeout_s: float = 120) -> None:
    """The client's addresses are fixed; another suite's local stack may hold them for a while."""
    deadline = time.monotonic() + timeout_s
    while not all(map(port_is_free, ports)):
        if time.monotonic() > deadline:
            pytest.fail(f"ports {ports} stayed busy for {timeout_s:g} s: another local stack is running")
        time.sleep(1)


@pytest.mark.skipif(not CLIENT_PYTHON.exists(), reason="no codeflash venv: make install")
def test_the_real_client_gets_parsed_results(tmp_path: Path) -> None:
    wait_for_ports(8000, 3001)
    with running_stack(tmp_path, command=["make", "--no-print-directory", "run"], port=8000) as stack:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),  # the client appends its key to ~/.bashrc
            "CODEFLASH_AIS_SERVER": "local",
            "CODEFLASH_CFAPI_SERVER": "local",
            "CODEFLASH_API_KEY": "cf-local-demo-key",
            "HTTPS_PROXY": "http://127.0.0.1:9",  # the version check must not leave the host
            "NO_PROXY": "localhost,127.0.0.1",
        }
        done = subprocess.run(
            [str(CLIENT_PYTHON), str(Path(__file__).with_name("client_calls.py")), str(SAMPLES), str(WORKFLOW_REQUEST)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        results = json.loads(done.stdout.strip().splitlines()[-1])
        stored = stored_features(stack.dynamodb_url, results_trace_id())

    assert results["ranking"] == [1, 2, 0, 3, 4]  # measured: 1184 is beyond noise of the rest
    assert sorted(results["tie_ranking"]) == [0, 1, 2]  # a tie: the model, in two orders (disagreeing: fastest)
    assert results["tie_ranking"][0] == 1
    explanation = results["explanation"]
    assert "sorted()" in explanation and "45.3%" in explanation and "5000x" not in explanation
    assert results["review"]["review"] == "high" and results["review"]["explanation"]
    assert results["log_results"] is None  # the client returns nothing; the stored item is checked below
    steps = results["workflow_steps"]
    import yaml

    parsed = yaml.safe_load(steps)["steps"]
    assert parsed[0]["uses"] == "actions/checkout@v4" and "uv pip install codeflash" in parsed[2]["run"]
    assert stored["user_id"] == "local-demo-user" and stored["original_runtime"] == 10937107
    assert stored["optimization_found"] is True  # mark-as-success, through :3001
    assert results["cfapi"] == {"user_id": "local-demo-user", "app_installed": False, "mark_as_success": 200}


def results_trace_id() -> str:
    return json.loads((SAMPLES / "10_ai_log_features.json").read_text())["request_body"]["trace_id"]


def stored_features(endpoint: str | None, trace_id: str) -> dict:
    """The trace's features item in the local stack's own DynamoDB (read while it runs)."""
    import boto3

    assert endpoint, "the local stack did not say where its DynamoDB is"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    tables = [name for name in client.list_tables()["TableNames"] if "Features" in name]
    item = client.get_item(TableName=tables[0], Key={"trace_id": {"S": trace_id}}, ConsistentRead=True).get("Item")
    assert item, f"no features item for {trace_id}"
    from aiservice.store.features import plain_item

    return plain_item(item)
