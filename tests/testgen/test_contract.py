"""/ai/testgen, /ai/testgen_review and /ai/testgen_repair through the deployed shape (the real authorizer, the
real handlers, DynamoDB in moto, the fake providers speaking the real wire protocols), with the recorded client
requests (samples 04, 14, 15) and scripted model replies, well-formed and not."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devserver.fakellm import Fault, RecordedRequest, Reply
from devserver.fakellm.scripted import request_text
from tests.pipelines.harness import sample

TESTGEN = sample("04_ai_testgen")["request_body"]
REVIEW = sample("14_ai_testgen_review")["request_body"]
REPAIR = sample("15_ai_testgen_repair")["request_body"]


@pytest.fixture(autouse=True)
def fresh_traces() -> None:
    """A trace belongs to the first user who uses it, and every test has its own user: a trace per test."""
    for body in (TESTGEN, REVIEW, REPAIR):
        body["trace_id"] = str(uuid.uuid4())


SORTER = """def sort_list(arr):
    arr = list(arr)
    n = len(arr)
    for i in range(n):
        for j in range(n - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
    return arr
"""

GOOD_TESTS = """import pytest

from mypkg.sorter import sort_list


def test_empty():
    assert sort_list([]) == []


def test_reversed():
    data = list(range(50, 0, -1))
    assert sort_list(data) == sorted(data)


@pytest.mark.parametrize("n", [10, 100])
def test_sizes(n):
    result = sort_list(range(n))
    assert len(result) == n
"""


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}```"


def texts(requests: list[RecordedRequest]) -> list[str]:
    return [request_text(request.body) for request in requests]


def assert_usable(body: dict[str, Any], test_module_path: str = TESTGEN["test_module_path"]) -> None:
    """The three keys the client indexes, the Python ones instrumented for this request (contract §5)."""
    assert {"generated_tests", "instrumented_behavior_tests", "instrumented_perf_tests"} <= body.keys(), body
    behavior, perf = body["instrumented_behavior_tests"], body["instrumented_perf_tests"]
    for source in (body["generated_tests"], behavior, perf):
        compile(source, "test.py", "exec")
        assert "from mypkg.sorter import sort_list" in source
    assert "{codeflash_run_tmp_dir_client_side}" in behavior and "test_return_values_" in behavior
    assert f'"{test_module_path}:' in behavior and f'"{test_module_path}:' in perf
    assert "_codeflash_wrap(sort_list" in behavior and "_codeflash_wrap(sort_list" in perf
    assert ":{runtime}######!" in perf and "sqlite" not in perf


# ------------------------------------------------------------------------------------------ /ai/testgen


def test_a_well_formed_reply_becomes_tests_the_client_can_run_and_measure(api, key, llm, tmp_path):
    llm.enqueue(Reply(text="Here are the tests.\n\n" + fenced(GOOD_TESTS) + "\n\nThey cover the edges."))
    reply = api.call("TestgenFunction", TESTGEN, key)

    assert reply.status == 200, reply.body
    assert_usable(reply.body)
    assert reply.body["raw_generated_tests"] == GOOD_TESTS
    assert reply.body["generated_tests"] == GOOD_TESTS  # nothing to fix: kept byte for byte, asserts included
    assert "assert" not in reply.body["instrumented_behavior_tests"].split("def test_empty")[1]  # outcomes recorded
    (request,) = llm.requests
    prompt = request_text(request.body)
    for fact in ("`sort_list`", "mypkg.sorter", "from mypkg.sorter import sort_list", "pytest", "15 seconds",
                 "def sort_list(arr):"):  # fmt: skip
        assert fact in prompt, fact

    # The client's run, in miniature: the module, the behaviour file with its placeholder replaced, pytest.
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg/__init__.py").write_text("")
    (tmp_path / "mypkg/sorter.py").write_text(SORTER)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/__init__.py").write_text("")
    behavior = reply.body["instrumented_behavior_tests"].replace("{codeflash_run_tmp_dir_client_side}", str(tmp_path))
    (tmp_path / "tests/test_sort_list__unit_test_1.py").write_text(behavior)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_sort_list__unit_test_1.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"CODEFLASH_TEST_ITERATION": "0", "CODEFLASH_LOOP_INDEX": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = (
        sqlite3.connect(tmp_path / "test_return_values_0.sqlite")
        .execute("SELECT test_module_path, test_function_name, function_getting_tested FROM test_results")
        .fetchall()
    )
    assert len(rows) == 4  # test_empty, test_reversed, test_sizes[10], test_sizes[100]
    assert {row[0] for row in rows} == {"tests.test_sort_list__unit_test_1"}
    assert {row[2] for row in rows} == {"sort_list"}


TRUNCATED = GOOD_TESTS + "\n\ndef test_cut_off():\n    data = [3, 1,"


@pytest.mark.parametrize(
    "model_reply",
    [
        pytest.param(GOOD_TESTS, id="no fence"),
        pytest.param("Sure! Here is the file:\n\n" + GOOD_TESTS + "\nLet me know if you need more.", id="prose around"),
        pytest.param(fenced(GOOD_TESTS, "text"), id="text fence"),
        pytest.param(fenced("x = 1\n") + "\n\n" + fenced(GOOD_TESTS, "py"), id="a snippet before the file"),
        pytest.param("```python\n" + TRUNCATED, id="truncated"),
    ],
)
def test_malformed_replies_still_give_the_file_they_hold(api, key, llm, model_reply):
    llm.enqueue(Reply(text=model_reply, stop_reason="max_tokens" if "cut_off" in model_reply else None))
    reply = api.call("TestgenFunction", TESTGEN, key)

    assert reply.status == 200, reply.body
    assert_usable(reply.body)
    assert "def test_sizes" in reply.body["generated_tests"]
    assert "test_cut_off" not in reply.body["generated_tests"]
    assert len(llm.requests) == 1  # no retry needed


WRONG_MODULE = GOOD_TESTS.replace("from mypkg.sorter import", "from sorter import")
WRONG_FUNCTION = "from mypkg.sorter import other\n\n\ndef test_other():\n    assert other(1) == 1\n"


@pytest.mark.parametrize(
    ("first", "problem"),
    [
        pytest.param(fenced("def test_broken(:\n    pass\n"), "parses", id="syntax error"),
        pytest.param("I would test the empty list, a reversed list and duplicates.", "parses", id="prose only"),
        pytest.param(fenced(WRONG_MODULE), "import it from mypkg.sorter", id="wrong module"),
        pytest.param(fenced(WRONG_FUNCTION), "no test calls mypkg.sorter.sort_list", id="wrong function"),
    ],
)
def test_an_unusable_reply_gets_one_retry_that_names_the_problem(api, key, llm, first, problem):
    llm.enqueue(Reply(text=first), Reply(text=fenced(GOOD_TESTS)))
    reply = api.call("TestgenFunction", TESTGEN, key)

    assert reply.status == 200, reply.body
    assert_usable(reply.body)
    assert len(llm.requests) == 2
    retry = texts(llm.requests)[1]
    assert first.strip() in retry and problem in retry  # the conversation goes on from the bad reply


@pytest.mark.parametrize("bad", [fenced("def test_broken(:\n    pass\n"), fenced(WRONG_FUNCTION)])
def test_two_unusable_replies_are_a_502_the_client_reads_as_no_tests(api, key, llm, bad):
    llm.enqueue(Reply(text=bad), Reply(text=bad))
    reply = api.call("TestgenFunction", TESTGEN, key)

    assert reply.status == 502
    assert "unusable" in reply.error
    assert len(llm.requests) == 2


def test_a_method_is_tested_on_an_instance_and_instrumented_under_its_qualified_name(api, key, llm):
    method = {**TESTGEN["function_to_optimize"], "function_name": "sort", "is_method": True,
              "parents": [{"name": "BubbleSorter", "type": "ClassDef"}]}  # fmt: skip
    body = {**TESTGEN, "qualified_name": "BubbleSorter.sort", "class_name": "BubbleSorter",
            "function_to_optimize": method}  # fmt: skip
    tests = "from mypkg.sorter import BubbleSorter\n\n\ndef test_sort():\n    BubbleSorter().sort([2, 1])\n"
    llm.enqueue(Reply(text=fenced(tests)))
    reply = api.call("TestgenFunction", body, key)

    assert reply.status == 200, reply.body
    assert ":BubbleSorter.sort:" in reply.body["instrumented_perf_tests"]
    assert "_codeflash_wrap(BubbleSorter().sort" in reply.body["instrumented_behavior_tests"]
    assert "on an instance you create" in request_text(llm.requests[0].body)


def test_the_two_test_files_come_from_different_models_with_different_emphasis(api, key, llm):
    llm.default_reply = lambda request: Reply(text=fenced(GOOD_TESTS))
    for index in (0, 1):
        assert api.call("TestgenFunction", {**TESTGEN, "test_index": index}, key).status == 200
    first, second = llm.requests
    assert first.protocol != second.protocol  # Claude (Bedrock) for one, GPT (Azure) for the other
    assert "Write test file 1" in request_text(first.body) and "Write test file 2" in request_text(second.body)


def test_unittest_requests_get_unittest_instructions(api, key, llm):
    tests = ("import unittest\n\nfrom mypkg.sorter import sort_list\n\n\nclass TestSort(unittest.TestCase):\n"
             "    def test_empty(self):\n        self.assertEqual(sort_list([]), [])\n")  # fmt: skip
    llm.enqueue(Reply(text=fenced(tests)))
    reply = api.call("TestgenFunction", {**TESTGEN, "test_framework": "unittest"}, key)

    assert reply.status == 200, reply.body
    assert "'TestSort', 'test_empty'" in reply.body["instrumented_behavior_tests"]
    assert "unittest.TestCase" in request_text(llm.requests[0].body)


@pytest.mark.parametrize("language", ["java", "go", "cobol"])
def test_a_language_without_test_generation_is_a_422_before_any_model_call(api, key, llm, language):
    reply = api.call("TestgenFunction", {**TESTGEN, "language": language}, key)

    assert reply.status == 422
    assert language in reply.error and "not supported" in reply.error
    assert llm.requests == []


def test_javascript_tests_are_checked_and_left_for_the_client_to_instrument(api, key, llm):
    body = {**TESTGEN, "language": "javascript", "module_path": "../src/sorter", "module_system": "commonjs",
            "test_framework": "jest", "test_module_path": "tests/sorter.test.js",
            "qualified_name": "sortList", "source_code_being_tested": "```javascript:src/sorter.js\n"
            "function sortList(a) { return [...a].sort(); }\nmodule.exports = { sortList };\n```"}  # fmt: skip
    tests = ("const { sortList } = require('../src/sorter');\n\ndescribe('sortList', () => {\n"
             "  test('empty', () => {\n    expect(sortList([])).toEqual([]);\n  });\n});\n")  # fmt: skip
    llm.enqueue(Reply(text="Here you go:\n" + fenced(tests, "javascript")))
    reply = api.call("TestgenFunction", body, key)

    assert reply.status == 200, reply.body
    assert reply.body["generated_tests"] == tests
    assert reply.body["instrumented_behavior_tests"] == reply.body["instrumented_perf_tests"] == tests
    prompt = request_text(llm.requests[0].body)
    assert "require('../src/sorter')" in prompt and "jest" in prompt


def test_a_rerun_answers_from_the_stored_tests_without_a_model_call(api, key, llm):
    llm.enqueue(Reply(text=fenced(GOOD_TESTS)))
    first = api.call("TestgenFunction", TESTGEN, key)
    rerun = api.call("TestgenFunction", {**TESTGEN, "trace_id": "a-new-trace", "rerun_trace_id": TESTGEN["trace_id"]},
                     key)  # fmt: skip

    assert first.status == rerun.status == 200
    assert rerun.body == first.body
    assert len(llm.requests) == 1


# ------------------------------------------------------------------------------------------ money


def _usage(user_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    from aiservice.store.usage import UsageStore, month_of

    store, now = UsageStore(), datetime.now(UTC)
    allowance = store.allowance("USER", user_id, month_of(now)) or {}
    return allowance, store.daily_usage_of_user(user_id, now.date()), store.quota_used(user_id, month_of(now))


def test_a_failed_testgen_call_settles_to_nothing_and_the_next_one_bills_exactly(api, key, llm, user_id):
    llm.default_reply = lambda request: Fault.status(500)
    failed = api.call("TestgenFunction", {**TESTGEN, "test_index": 0}, key)
    assert failed.status == 502, failed.body
    allowance, rows, quota = _usage(user_id)
    assert Decimal(allowance["reserved_usd"]) == 0 and Decimal(allowance["spent_usd"]) == 0
    assert rows == [] and quota == 0
    assert len(llm.requests) >= 2  # retried, then the fallback model

    llm.default_reply = lambda request: Reply(text=fenced(GOOD_TESTS), input_tokens=2000, output_tokens=300)
    answered = api.call("TestgenFunction", {**TESTGEN, "test_index": 1}, key)
    assert answered.status == 200, answered.body
    allowance, rows, quota = _usage(user_id)
    assert Decimal(allowance["reserved_usd"]) == 0  # every hold released
    assert Decimal(allowance["spent_usd"]) == sum(Decimal(row["cost_usd"]) for row in rows) > 0
    assert [(row["call_type"], row["calls"]) for row in rows] == [("testgen", 1)]
    assert quota == 0  # test generation is not an optimization: the plan's quota is untouched


# ------------------------------------------------------------------------------------------ /ai/testgen_review


def test_review_passes_on_only_the_indices_and_test_functions_the_request_has(api, key, llm):
    verdict = {"reviews": [
        {"test_index": 0, "functions": [{"function_name": "test_sort_big", "reason": "the input is too small"},
                                        {"function_name": "test_invented", "reason": "does not exist"},
                                        {"function_name": "sort_list", "reason": "the function, not a test"}]},
        {"test_index": 7, "functions": [{"function_name": "test_sort_big", "reason": "no such file"}]},
        {"test_index": 1, "functions": [{"function_name": "test_nope", "reason": "no such test"}]},
    ]}  # fmt: skip
    llm.enqueue(Reply(text=json.dumps(verdict)))
    reply = api.call("TestgenReviewFunction", REVIEW, key)

    assert reply.status == 200, reply.body
    assert reply.body == {"reviews": [{"test_index": 0, "functions": [
        {"function_name": "test_sort_big", "reason": "the input is too small"}]}]}  # fmt: skip
    prompt = request_text(llm.requests[0].body)
    assert "### Test file 0" in prompt and "### Test file 1" in prompt and "100.0%" in prompt


def test_review_with_nothing_to_flag_is_an_empty_list(api, key, llm):
    llm.enqueue(Reply(text='```json\n{"reviews": []}\n```'))
    reply = api.call("TestgenReviewFunction", REVIEW, key)
    assert reply.status == 200 and reply.body == {"reviews": []}


def test_review_of_an_unsupported_language_is_a_422(api, key, llm):
    reply = api.call("TestgenReviewFunction", {**REVIEW, "language": "java"}, key)
    assert reply.status == 422 and "java" in reply.error
    assert llm.requests == []


# ------------------------------------------------------------------------------------------ /ai/testgen_repair


def test_repair_returns_the_repaired_file_instrumented_for_the_request(api, key, llm):
    repaired = GOOD_TESTS.replace("range(50, 0, -1)", "range(500, 0, -1)")
    llm.enqueue(Reply(text="The input was too small.\n" + fenced(repaired)))
    reply = api.call("TestgenRepairFunction", REPAIR, key)

    assert reply.status == 200, reply.body
    assert_usable(reply.body, test_module_path=REPAIR["test_module_path"])
    assert "range(500, 0, -1)" in reply.body["generated_tests"]
    prompt = request_text(llm.requests[0].body)
    assert "`test_sort_big`: stub: input too small" in prompt and REPAIR["test_source"].strip() in prompt


def test_repair_that_stays_unusable_is_a_502(api, key, llm):
    llm.enqueue(Reply(text="I cannot repair this."), Reply(text="Still no."))
    reply = api.call("TestgenRepairFunction", REPAIR, key)
    assert reply.status == 502 and len(llm.requests) == 2


def test_the_events_are_the_recorded_requests():
    root = Path(__file__).resolve().parents[2]
    for event, body in [("testgen", TESTGEN), ("testgen_review", REVIEW), ("testgen_repair", REPAIR)]:
        recorded = json.loads((root / "events" / f"{event}.json").read_text())
        assert recorded["path"] == f"/ai/{event}"
        assert {**json.loads(recorded["body"]), "trace_id": body["trace_id"]} == body  # but for the fresh trace
