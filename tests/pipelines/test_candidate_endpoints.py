"""The candidate endpoints through the deployed shape (authorizer -> handler) with scripted model replies, read
back the way the codeflash client reads them (contract §4, §8): the markdown regex, the accepted tags, the
request's paths, code that compiles, the keys it indexes."""

from __future__ import annotations

import ast
import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from aiservice.code.markdown import MARKDOWN_BLOCK
from devserver.fakellm import Fault, RecordedRequest, Reply
from devserver.fakellm.scripted import request_text
from tests.pipelines.harness import Api, read_as_client, sample

SORTED = "```python:mypkg/sorter.py\ndef sort_list(arr):\n    return sorted(arr)\n```"
ORIGINAL = sample("03_ai_optimize")["request_body"]["source_code"]
IN_PLACE = "```python:mypkg/sorter.py\ndef sort_list(arr):\n    arr = list(arr)\n    arr.sort()\n    return arr\n```"


def body_of(name: str, **changes: Any) -> Any:
    body = copy.deepcopy(sample(name)["request_body"])
    if isinstance(body, list):
        body[0].update(changes, trace_id=changes.get("trace_id", str(uuid.uuid4())))
    else:
        body.update(changes, trace_id=changes.get("trace_id", str(uuid.uuid4())))
    return body


def paths_of(markdown: str) -> set[str]:
    return {path.strip() for _, path, _ in MARKDOWN_BLOCK.findall(markdown)}


def by_candidate(replies: dict[int, str], default: str = "") -> Callable[[RecordedRequest], Reply]:
    """A model whose answer depends on the candidate number its prompt asks for."""

    def answer(request: RecordedRequest) -> Reply:
        match = re.search(r"Write candidate (\d+)", request_text(request.body))
        number = int(match.group(1)) if match else 0
        return Reply(text=replies.get(number, default))

    return answer


# ------------------------------------------------------------------------------------------ /ai/optimize


MALFORMED = {
    2: "Use sorted():\n\ndef sort_list(arr):\n    return sorted(arr)\n",  # no fence
    3: "```text:mypkg/sorter.py\ndef sort_list(arr):\n    return sorted(arr, reverse=False)\n```",  # a tag that crashes
    4: "```python:mypkg/sorter.py\ndef sort_list(arr:\n    return sorted(arr)\n```",  # a syntax error
    5: "I would replace the bubble sort with the built-in sorted(), which is O(n log n).",  # prose only
    6: "```python:mypkg/sorter.py\ndef sort_list(arr):\n    return sorted(",  # truncated
    7: "```python:other/place.py\ndef helper():\n    return 1\n```\n```python:mypkg/more.py\nx = 2\n```",  # wrong files
}


def test_optimize_returns_only_valid_distinct_candidates(api: Api, key: str, llm: Any, settings_env: Any) -> None:
    settings_env(MAX_CANDIDATES="9")
    replies = {
        1: f"<explanation>Bubble sort is quadratic; sorted() is O(n log n).</explanation>\n{SORTED}",
        8: f"Same idea again.\n{SORTED}",  # a duplicate of candidate 1
        9: IN_PLACE,
        **MALFORMED,
    }
    llm.default_reply = by_candidate(replies)
    body = body_of("03_ai_optimize", n_candidates=9)
    reply = api.call("OptimizeFunction", body, key)

    assert reply.status == 200, reply.body
    candidates = reply.body["optimizations"]
    codes = [read_as_client(candidate, {"mypkg/sorter.py"}) for candidate in candidates]
    assert [code for ((_, code),) in codes] == [
        "def sort_list(arr):\n    return sorted(arr)",
        # the ```text block named the request's file: salvaged, and sent under the python tag the client accepts
        "def sort_list(arr):\n    return sorted(arr, reverse=False)",
        "def sort_list(arr):\n    arr = list(arr)\n    arr.sort()\n    return arr",
    ]
    assert candidates[0]["explanation"] == "Bubble sort is quadratic; sorted() is O(n log n)."
    assert all(candidate["parent_id"] is None for candidate in candidates)
    assert {candidate["model"] for candidate in candidates} <= {"claude-sonnet-4-5", "azure/gpt-5"}
    assert len({candidate["optimization_id"] for candidate in candidates}) == 3
    assert len(llm.requests) == 9  # one call per candidate


def test_the_number_of_candidates_is_capped_by_the_setting(api: Api, key: str, llm: Any, settings_env: Any) -> None:
    settings_env(MAX_CANDIDATES="3")
    llm.default_reply = by_candidate({}, default=SORTED)
    assert api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=7), key).status == 200
    assert len(llm.requests) == 3
    llm.reset()
    assert api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=None), key).status == 200
    assert len(llm.requests) == 3  # the default of 5, capped


def test_each_candidate_gets_its_own_angle_and_the_models_take_turns(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_candidate({}, default=SORTED)
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=4, is_numerical_code=True), key)
    assert reply.status == 200
    user_prompts = [request_text(r.body).rsplit("Write candidate", 1)[1] for r in llm.requests]
    assert len(set(user_prompts)) == 4
    assert any("vectorise" in prompt for prompt in user_prompts)  # numerical code gets the vectorisation angle
    protocols = sorted(r.protocol for r in llm.requests)
    assert protocols == ["azure", "azure", "bedrock", "bedrock"]


def test_claude_candidates_read_the_cached_prompt_written_by_the_first(api: Api, key: str, llm: Any) -> None:
    """The system prompt (instructions and code) is marked for caching; the first Claude call streams, and the
    other Claude calls go out only once it has begun to answer, when the prompt is in the cache."""
    long_module = "\n\n".join(f"def helper_{i}(values):\n    return [v * {i} for v in values]" for i in range(150))
    body = body_of("03_ai_optimize", n_candidates=6)
    body["source_code"] = body["source_code"].replace("def sort_list", long_module + "\n\n\ndef sort_list")
    llm.default_reply = by_candidate({}, default=SORTED)
    llm.latency_s = 0.2
    assert api.call("OptimizeFunction", body, key).status == 200

    claude = sorted((r for r in llm.requests if r.protocol == "bedrock"), key=lambda r: r.received_at)
    assert len(claude) == 3
    primer, *others = claude
    assert primer.stream and not any(r.stream for r in others)
    assert all(r.received_at >= primer.received_at + 0.15 for r in others)  # after the primer's answer began
    for request in claude:
        (system,) = request.body["system"]
        assert system["cache_control"]["type"] == "ephemeral"
        assert "def helper_149" in system["text"]  # the code is in the cached prefix
    gpt = [r for r in llm.requests if r.protocol == "azure"]
    assert all(r.received_at < primer.received_at + 0.15 for r in gpt)  # GPT candidates do not wait


def test_multifile_candidates_keep_the_request_paths_and_leave_read_only_code_alone(
    api: Api, key: str, llm: Any
) -> None:
    helper_edit = "```python:mypkg/util.py\nSCALE = 1\n\n\ndef greater(a, b):\n    return a > b\n```"
    llm.default_reply = by_candidate({1: SORTED, 2: helper_edit, 3: f"{SORTED}\n{helper_edit}"})
    reply = api.call("OptimizeFunction", body_of("17_ai_optimize_multifile", n_candidates=3), key)
    assert reply.status == 200
    paths = [paths_of(c["source_code"]) for c in reply.body["optimizations"]]
    assert paths == [{"mypkg/sorter.py"}, {"mypkg/util.py"}, {"mypkg/sorter.py", "mypkg/util.py"}]
    for candidate in reply.body["optimizations"]:
        read_as_client(candidate, {"mypkg/sorter.py", "mypkg/util.py"})


def test_a_partial_reply_is_merged_into_the_whole_file(api: Api, key: str, llm: Any) -> None:
    body = body_of("03_ai_optimize", n_candidates=1)
    body["source_code"] = body["source_code"].replace(
        "def sort_list", "import math\n\nLIMIT = 10\n\n\ndef other(x):\n    return math.sqrt(x)\n\n\ndef sort_list"
    )
    llm.default_reply = lambda request: Reply(text=SORTED)
    reply = api.call("OptimizeFunction", body, key)
    ((_, code),) = read_as_client(reply.body["optimizations"][0], {"mypkg/sorter.py"})
    assert "def other(x):\n    return math.sqrt(x)" in code and "LIMIT = 10" in code
    assert "return sorted(arr)" in code


def test_line_profiler_candidates_are_guided_by_the_profile(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_candidate({1: SORTED, 2: IN_PLACE})
    body = body_of("05_ai_optimize_line_profiler", n_candidates=2)
    reply = api.call("OptimizeLineProfilerFunction", body, key)
    assert reply.status == 200 and len(reply.body["optimizations"]) == 2
    prompt = request_text(llm.requests[0].body)
    assert "5.54131e+07" in prompt and "Measured line profile of the original" in prompt
    empty = api.call(
        "OptimizeLineProfilerFunction", body_of("05_ai_optimize_line_profiler", line_profiler_results=""), key
    )
    assert empty.status == 400 and "line_profiler_results" in empty.error


def test_rewrite_jit_answers_an_empty_list_when_nothing_fits(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Reply(text="<explanation>No JIT fit: sorting is not numerical.</explanation>")
    reply = api.call("RewriteJitFunction", body_of("03_ai_optimize", n_candidates=3), key)
    assert (reply.status, reply.body) == (200, {"optimizations": []})
    angles = [request_text(request.body).rsplit("Write candidate", 1)[1] for request in llm.requests]
    assert sorted("numba" in a for a in angles) == [False, False, True]  # each candidate its own JIT


# ------------------------------------------------------------------------------------------ follow-ups


def test_refinement_takes_a_list_and_answers_children_of_the_refined_candidate(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Reply(text=f"<explanation>Return sorted() directly.</explanation>\n{IN_PLACE}")
    reply = api.call("RefinementFunction", body_of("06_ai_refinement"), key)
    assert reply.status == 200, reply.body
    (refinement,) = reply.body["refinements"]
    assert refinement["parent_id"] == "opt-A"
    read_as_client(refinement, {"mypkg/sorter.py"})
    prompt = request_text(llm.requests[0].body)
    assert "12.0 microseconds" in prompt and "A: sorted()" in prompt


@pytest.mark.parametrize("reply_text", [SORTED, ORIGINAL], ids=["unchanged", "reverted"])
def test_a_refinement_that_changes_nothing_or_reverts_is_dropped(api: Api, key: str, llm: Any, reply_text: str) -> None:
    llm.default_reply = lambda request: Reply(text=reply_text)
    reply = api.call("RefinementFunction", body_of("06_ai_refinement"), key)
    assert (reply.status, reply.body) == (200, {"refinements": []})


def test_refinement_of_an_empty_list_is_a_clear_error(api: Api, key: str, llm: Any) -> None:
    reply = api.call("RefinementFunction", [], key)
    assert reply.status == 400 and "empty list" in reply.error


SR_FIX = (
    "<explanation>sorted() of an empty list is [], not None.</explanation>\n"
    "mypkg/sorter.py\n```python\n<<<<<<< SEARCH\n    return sorted(arr) if arr else None\n=======\n"
    "    return sorted(arr)\n>>>>>>> REPLACE\n```"
)


def test_code_repair_applies_search_replace_and_answers_one_bare_candidate(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Reply(text=SR_FIX)
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key)
    assert reply.status == 200, reply.body
    assert reply.body["parent_id"] == "opt-B"
    assert read_as_client(reply.body, {"mypkg/sorter.py"}) == [
        ("mypkg/sorter.py", "def sort_list(arr):\n    return sorted(arr)")
    ]
    assert reply.body["explanation"] == "sorted() of an empty list is [], not None."
    prompt = request_text(llm.requests[0].body)
    assert "AssertionError: assert None == []" in prompt  # the failing test's evidence reaches the model


def test_a_repair_whose_edits_do_not_apply_gets_one_retry_with_the_error(api: Api, key: str, llm: Any) -> None:
    wrong = SR_FIX.replace("    return sorted(arr) if arr else None", "    return sorted(arr) if arr else False")
    llm.enqueue(Reply(text=wrong), Reply(text=SR_FIX))
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key)
    assert reply.status == 200 and reply.body["parent_id"] == "opt-B"
    retry = request_text(llm.requests[1].body)
    assert "could not be applied" in retry and "mypkg/sorter.py" in retry


def test_a_repair_that_never_applies_is_a_json_502(api: Api, key: str, llm: Any) -> None:
    wrong = SR_FIX.replace("    return sorted(arr) if arr else None", "    return nothing_like_it")
    llm.default_reply = lambda request: Reply(text=wrong)
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key)
    assert reply.status == 502 and "did not apply after a retry" in reply.error
    assert len(llm.requests) == 2


def test_adaptive_learns_from_the_path_best_first_and_answers_a_child_of_the_last(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Reply(text=IN_PLACE)
    body = body_of("08_ai_adaptive_optimize")
    body["candidates"].append(
        {
            "optimization_id": "bad-1",
            "source_code": SORTED.replace("sorted(arr)", "arr"),
            "explanation": "dropped the sort",
            "source": "REPAIR",
            "speedup": "Candidate didn't match the behavior of the original code",
        }
    )
    body["candidates"][0], body["candidates"][1] = body["candidates"][1], body["candidates"][0]
    reply = api.call("AdaptiveOptimizeFunction", body, key)
    assert reply.status == 200, reply.body
    assert reply.body["parent_id"] == "bad-1"
    read_as_client(reply.body, {"mypkg/sorter.py"})
    prompt = request_text(llm.requests[0].body)
    order = [prompt.index(text) for text in ("91103%", "88216%", "didn't match")]
    assert order == sorted(order)  # the best measured attempt first, the failure last


# ------------------------------------------------------------------------------------------ reruns


def test_a_rerun_answers_from_the_stored_results_without_a_model_call(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_candidate({1: SORTED, 2: IN_PLACE})
    trace = str(uuid.uuid4())
    first = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2, trace_id=trace), key)
    calls = len(llm.requests)
    rerun = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2, rerun_trace_id=trace), key)
    assert rerun.status == 200 and rerun.body == first.body
    assert len(llm.requests) == calls


def test_another_users_trace_is_never_replayed(api: Api, key: str, llm: Any) -> None:
    from aiservice.admin import create_key
    from aiservice.store.keys import KeyStore

    llm.default_reply = by_candidate({1: SORTED})
    trace = str(uuid.uuid4())
    first = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, trace_id=trace), key)
    other, _ = create_key(
        KeyStore(), user_id=f"u-{uuid.uuid4().hex[:8]}", org_id=None, plan="pro", privacy_mode=False, label=None
    )
    llm.default_reply = by_candidate({1: IN_PLACE})
    rerun = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, rerun_trace_id=trace), other)
    assert rerun.status == 200 and rerun.body != first.body  # answered live, from the model


def test_nothing_is_stored_in_privacy_mode(api: Api, llm: Any, user_id: str) -> None:
    from aiservice.admin import create_key
    from aiservice.store.keys import KeyStore

    private, _ = create_key(KeyStore(), user_id=user_id, org_id=None, plan="pro", privacy_mode=True, label=None)
    llm.default_reply = by_candidate({1: SORTED})
    trace = str(uuid.uuid4())
    api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, trace_id=trace), private)
    calls = len(llm.requests)
    api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, rerun_trace_id=trace), private)
    assert len(llm.requests) == calls + 1  # nothing stored: the rerun went to the model


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("function_id", "body", "status", "message"),
    [
        ("OptimizeFunction", "{not json", 400, "not valid JSON"),
        ("OptimizeFunction", {"trace_id": "t"}, 422, "field 'source_code' is required"),
        ("OptimizeFunction", {"trace_id": "t", "source_code": "no fences here"}, 400, "no fenced code block"),
        ("OptimizeFunction", {"trace_id": "t", "source_code": "```python:a.py\ndef f(:\n```"}, 400, "a.py:1"),
        (
            "OptimizeFunction",
            {"trace_id": "t", "source_code": "```java:A.java\nclass A {}\n```", "language": "java"},
            422,
            "java is not supported yet",
        ),
        ("RefinementFunction", {"not": "a list"}, 422, "field"),
        ("CodeRepairFunction", {"trace_id": "t", "optimization_id": "x"}, 422, "is required"),
        (
            "AdaptiveOptimizeFunction",
            {"trace_id": "t", "original_source_code": SORTED, "candidates": []},
            422,
            "candidates",
        ),
    ],
)
def test_bad_input_is_a_clear_json_4xx(
    api: Api, key: str, llm: Any, function_id: str, body: Any, status: int, message: str
) -> None:
    reply = api.call(function_id, body, key)
    assert reply.status == status, reply.body
    assert message in reply.error
    assert llm.requests == []  # refused before any model call


def test_unknown_fields_and_the_clients_nulls_are_accepted(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_candidate({1: SORTED})
    body = body_of(
        "03_ai_optimize",
        n_candidates=None,
        dependency_code=None,
        is_numerical_code=None,
        language_version=None,
        a_field_from_a_newer_client={"x": 1},
    )
    assert api.call("OptimizeFunction", body, key).status == 200


# ------------------------------------------------------------------------------------------ failures


def test_a_fault_in_one_candidate_leaves_the_others(api: Api, key: str, llm: Any) -> None:
    llm.enqueue(Fault.status(400, message="bad request"))  # not retryable: that call moves to its fallback
    llm.default_reply = by_candidate({}, default=SORTED)
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key)
    assert reply.status == 200 and len(reply.body["optimizations"]) == 1


def test_when_every_call_fails_the_answer_is_a_json_502(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Fault.status(500)
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key)
    assert reply.status == 502 and "every attempt failed" in reply.error


def test_at_the_deadline_the_finished_candidates_are_returned(api: Api, key: str, llm: Any) -> None:
    def slow_second(request: RecordedRequest) -> Reply | Fault:
        if "Write candidate 2" in request_text(request.body):
            return Fault.timeout(30)
        return Reply(text=SORTED)

    llm.default_reply = slow_second
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key, remaining_ms=3_000)
    assert reply.status == 200 and len(reply.body["optimizations"]) == 1


def test_when_nothing_finishes_by_the_deadline_the_answer_is_a_json_504(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Fault.timeout(30)
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key, remaining_ms=2_500)
    assert reply.status == 504 and reply.error


def test_prompts_never_leak_placeholders(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_candidate({}, default=SORTED)
    api.call("OptimizeFunction", body_of("17_ai_optimize_multifile", n_candidates=3), key)
    for request in llm.requests:
        text = request_text(request.body)
        assert "{{" not in text and "}}" not in text
        assert "```python:mypkg/util.py\nSCALE = 1\n```" in text  # the read-only context
        ast.parse(text.split("```python:mypkg/sorter.py\n", 1)[1].split("\n```", 1)[0])


def test_only_optimize_counts_toward_the_plan_quota_once_per_trace(api: Api, key: str, llm: Any, user_id: str) -> None:
    from datetime import UTC, datetime

    from aiservice.store.usage import UsageStore, month_of

    llm.default_reply = by_candidate({1: SORTED}, default=SORTED)
    trace = str(uuid.uuid4())
    for _ in range(2):  # the client's optimize and line-profiler calls of one function share a trace
        assert (
            api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, trace_id=trace), key).status == 200
        )
    assert (
        api.call("OptimizeLineProfilerFunction", body_of("05_ai_optimize_line_profiler", n_candidates=1), key).status
        == 200
    )
    assert api.call("RefinementFunction", body_of("06_ai_refinement"), key).status == 200
    assert UsageStore().quota_used(user_id, month_of(datetime.now(UTC))) == 1


def test_every_call_is_billed_to_the_users_daily_usage(api: Api, key: str, llm: Any, user_id: str) -> None:
    from datetime import UTC, datetime

    from aiservice.store.usage import UsageStore

    llm.default_reply = by_candidate({}, default=SORTED)
    assert api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=4), key).status == 200
    rows = UsageStore().daily_usage_of_user(user_id, datetime.now(UTC).date())
    assert {(row["model"], row["call_type"], row["calls"]) for row in rows} == {
        ("claude-sonnet-4-5", "optimize", 2),
        ("azure/gpt-5", "optimize", 2),
    }
    assert all(row["cost_usd"] > 0 for row in rows)


def test_another_users_trace_id_is_refused_before_any_model_call(api: Api, key: str, llm: Any) -> None:
    from aiservice.store.features import FeaturesStore

    trace = str(uuid.uuid4())
    FeaturesStore().record_run(trace, "somebody-else", None)
    llm.default_reply = by_candidate({1: SORTED})
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1, trace_id=trace), key)
    assert reply.status == 403 and "another user" in reply.error
    assert llm.requests == []
