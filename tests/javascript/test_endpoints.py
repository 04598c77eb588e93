"""Every endpoint with JavaScript and TypeScript requests, as the codeflash client sends them (contract §2, §4;
issue 12), through the deployed shape (authorizer -> handler) with scripted model replies, malformed ones
included. Candidates are read back as the client reads them: its markdown regex, the tags it accepts, the
request's paths, and tree-sitter's verdict on each block (a block that does not parse voids the candidate)."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devserver.fakellm import RecordedRequest, Reply
from devserver.fakellm.scripted import request_text
from tests.pipelines import harness
from tests.pipelines.harness import Api, sample

NODE_VERSION = "20.20.2"


@dataclass(frozen=True)
class Lang:
    """One language's version of the sorter the Python samples optimize."""

    name: str
    path: str
    original: str  # the bubble sort
    fast: str  # Array.prototype.sort with a numeric comparator
    typed: str  # through a typed array
    broken: str  # the fast version with a syntax error

    def block(self, code: str, path: str | None = None, tag: str | None = None) -> str:
        return f"```{tag or self.name}:{path or self.path}\n{code}\n```"


JS = Lang(
    name="javascript",
    path="src/sorter.js",
    original="""export function sortNumbers(values) {
  const result = values.slice();
  for (let i = 0; i < result.length; i++) {
    for (let j = 0; j < result.length - 1 - i; j++) {
      if (result[j] > result[j + 1]) {
        const swap = result[j];
        result[j] = result[j + 1];
        result[j + 1] = swap;
      }
    }
  }
  return result;
}""",
    fast="export function sortNumbers(values) {\n  return values.slice().sort((a, b) => a - b);\n}",
    typed="export function sortNumbers(values) {\n  return Array.from(Float64Array.from(values).sort());\n}",
    broken="export function sortNumbers(values {\n  return values.slice().sort((a, b) => a - b);\n}",
)
TS = Lang(
    name="typescript",
    path="src/sorter.ts",
    original=JS.original.replace("(values)", "(values: number[]): number[]").replace(
        "const swap =", "const swap: number ="
    ),
    fast="export function sortNumbers(values: number[]): number[] {\n  return values.slice().sort((a, b) => a - b);\n}",
    typed="export function sortNumbers(values: number[]): number[] {\n"
    "  return Array.from(Float64Array.from(values).sort());\n}",
    broken="export function sortNumbers(values: number[]: number[] {\n  return values.slice().sort();\n}",
)
LANGUAGES = [pytest.param(JS, id="javascript"), pytest.param(TS, id="typescript")]


def malformed(lang: Lang) -> dict[int, str]:
    """The replies a model gets wrong, by candidate number."""
    return {
        3: f"Use the built-in sort:\n\n{lang.fast.replace('a - b', 'b - a')}\n",  # no fence
        4: lang.block(lang.fast.replace("slice()", "concat()"), tag="text"),  # a tag that crashes the client
        5: lang.block(lang.broken),  # a syntax error
        6: "I would replace the bubble sort with Array.prototype.sort and a numeric comparator.",  # prose only
        7: f"```{lang.name}:{lang.path}\nexport function sortNumbers(values) {{\n  return values.slice().sort((",
        8: lang.block("export function helper() {\n  return 1;\n}", path="lib/other.js"),  # another file
    }


def with_language(body: dict[str, Any], lang: Lang, **changes: Any) -> dict[str, Any]:
    body.update({"language": lang.name, "language_version": NODE_VERSION, "trace_id": str(uuid.uuid4()), **changes})
    return body


def read_as_client(candidate: dict[str, Any], lang: Lang) -> list[tuple[str, str]]:
    return harness.read_as_client(candidate, {lang.path}, lang.name)


def by_prompt(replies: dict[int, str], default: str = "") -> Callable[[RecordedRequest], Reply]:
    def answer(request: RecordedRequest) -> Reply:
        match = re.search(r"Write candidate (\d+)", request_text(request.body))
        return Reply(text=replies.get(int(match.group(1)) if match else 0, default))

    return answer


def system_prompt(request: RecordedRequest) -> str:
    return request_text(request.body).split("\nWrite ", 1)[0]


def optimize_body(lang: Lang, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample("03_ai_optimize")["request_body"])
    defaults = {"source_code": lang.block(lang.original), "dependency_code": "const LIMIT = 10; // read-only context"}
    return with_language(body, lang, **{**defaults, **changes})


# ------------------------------------------------------------------------------------------ /ai/optimize


@pytest.mark.parametrize("lang", LANGUAGES)
def test_optimize_keeps_only_valid_distinct_candidates(api: Api, key: str, llm: Any, settings_env: Any,
                                                       lang: Lang) -> None:  # fmt: skip
    settings_env(MAX_CANDIDATES="10")
    replies = {
        1: f"<explanation>Bubble sort is quadratic; the built-in sort is O(n log n).</explanation>\n"
        f"{lang.block(lang.fast)}",
        2: lang.block(lang.typed),
        9: f"The same again, reformatted.\n{lang.block(lang.fast.replace('(a, b) => a - b', '(a,b)=>a-b'))}",
        10: lang.block(lang.original),  # the original: nothing to measure
        **malformed(lang),
    }
    llm.default_reply = by_prompt(replies)
    reply = api.call("OptimizeFunction", optimize_body(lang, n_candidates=10), key)

    assert reply.status == 200, reply.body
    candidates = reply.body["optimizations"]
    codes = [code for candidate in candidates for _, code in read_as_client(candidate, lang)]
    assert codes == [
        lang.fast,
        lang.typed,
        # the ```text block named the request's file: salvaged under the tag the client accepts
        lang.fast.replace("slice()", "concat()"),
    ]
    assert candidates[0]["explanation"] == "Bubble sort is quadratic; the built-in sort is O(n log n)."
    assert len({candidate["optimization_id"] for candidate in candidates}) == 3
    assert len(llm.requests) == 10


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_optimize_prompt_speaks_the_language(api: Api, key: str, llm: Any, lang: Lang) -> None:
    llm.default_reply = by_prompt({}, default=lang.block(lang.fast))
    assert api.call("OptimizeFunction", optimize_body(lang, n_candidates=6), key).status == 200
    system = system_prompt(llm.requests[0])
    assert f"Node.js\n{NODE_VERSION}" in system or f"Node.js {NODE_VERSION}" in system
    assert f"```{lang.name}:{lang.path}" in system  # the answer format names the request's tag and path
    assert "const LIMIT = 10; // read-only context" in system
    assert "CommonJS" in system and "Node's built-in modules" in system
    assert "standard library" not in system and "decorators" not in system  # no Python terms
    assert ("type-check" in system) == (lang is TS)  # typed vs untyped
    angles = [re.findall(r"Angle of attack for this one: (.*)", request_text(r.body))[0] for r in llm.requests]
    assert len(set(angles)) == 6 - 1  # the numerical-only angle is left out, the first one comes again
    assert any("Set or Map" in angle for angle in angles)
    assert not any("itertools" in angle or "dict" in angle for angle in angles)
    for request in llm.requests:
        assert "{{" not in request_text(request.body)


def test_a_numerical_js_function_gets_the_typed_array_angle(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = by_prompt({}, default=JS.block(JS.fast))
    assert api.call("OptimizeFunction", optimize_body(JS, n_candidates=6, is_numerical_code=True), key).status == 200
    angles = [request_text(request.body).rsplit("Write candidate", 1)[1] for request in llm.requests]
    assert any("typed arrays (Float64Array" in angle for angle in angles)


def test_a_js_candidate_is_merged_into_the_whole_file(api: Api, key: str, llm: Any) -> None:
    helper = "export function largest(values) {\n  return Math.max(...values);\n}"
    body = optimize_body(JS, n_candidates=1, source_code=JS.block(f"{JS.original}\n\n{helper}"))
    llm.default_reply = lambda request: Reply(text=JS.block(JS.fast))
    reply = api.call("OptimizeFunction", body, key)
    ((_, code),) = read_as_client(reply.body["optimizations"][0], JS)
    assert code == f"{JS.fast}\n\n{helper}"


def test_commonjs_code_is_optimized_in_commonjs(api: Api, key: str, llm: Any) -> None:
    original = JS.original.replace("export function", "function") + "\n\nmodule.exports = { sortNumbers };"
    fast = JS.fast.replace("export function", "function")
    llm.default_reply = lambda request: Reply(text=JS.block(fast))
    reply = api.call("OptimizeFunction", optimize_body(JS, n_candidates=1, source_code=JS.block(original)), key)
    ((_, code),) = read_as_client(reply.body["optimizations"][0], JS)
    assert code == f"{fast}\n\nmodule.exports = {{ sortNumbers }};"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_js_line_profiler_candidates_get_the_js_profile_explained(api: Api, key: str, llm: Any, lang: Lang) -> None:
    profile = (
        "Line Profile Results:\n"
        "Line | Hits | Time (ms) | % Time\n"
        "   4 |  1001 |    0.210 |   0.4\n"
        "   5 | 500500 |   31.700 |  58.9\n"
        "   6 | 500500 |   21.900 |  40.7"
    )
    llm.default_reply = by_prompt({1: lang.block(lang.fast), 2: lang.block(lang.typed)})
    body = optimize_body(lang, n_candidates=2, line_profiler_results=profile)
    reply = api.call("OptimizeLineProfilerFunction", body, key)
    assert reply.status == 200 and len(reply.body["optimizations"]) == 2
    system = system_prompt(llm.requests[0])
    assert "Measured line profile of the original" in system
    assert "`Time (ms)` (total time spent on it)" in system and "31.700" in system


# ------------------------------------------------------------------------------------------ follow-ups


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refinement_of_a_js_candidate(api: Api, key: str, llm: Any, lang: Lang) -> None:
    refined = lang.fast.replace("values.slice()", "[...values]")
    llm.default_reply = lambda request: Reply(text=f"<explanation>Spread copy.</explanation>\n{lang.block(refined)}")
    (item,) = copy.deepcopy(sample("06_ai_refinement")["request_body"])
    item["trace_id"] = str(uuid.uuid4())  # a trace belongs to the user who started it
    item.update(language=lang.name, language_version=NODE_VERSION, original_source_code=lang.block(lang.original),
                optimized_source_code=lang.block(lang.fast), original_line_profiler_results="",
                optimized_line_profiler_results="")  # fmt: skip
    reply = api.call("RefinementFunction", [item], key)
    assert reply.status == 200, reply.body
    (refinement,) = reply.body["refinements"]
    assert refinement["parent_id"] == "opt-A"
    assert read_as_client(refinement, lang) == [(lang.path, refined)]
    system = system_prompt(llm.requests[0])
    assert "runs on\nNode.js" in system and f"```{lang.name}:{lang.path}" in system


@pytest.mark.parametrize("reply_text", ["prose only, no code", JS.block(JS.fast), JS.block(JS.original)])
def test_a_js_refinement_without_a_new_version_is_dropped(api: Api, key: str, llm: Any, reply_text: str) -> None:
    llm.default_reply = lambda request: Reply(text=reply_text)
    (item,) = copy.deepcopy(sample("06_ai_refinement")["request_body"])
    item["trace_id"] = str(uuid.uuid4())  # a trace belongs to the user who started it
    item.update(language="javascript", original_source_code=JS.block(JS.original),
                optimized_source_code=JS.block(JS.fast))  # fmt: skip
    reply = api.call("RefinementFunction", [item], key)
    assert (reply.status, reply.body) == (200, {"refinements": []})


def _repair_body(lang: Lang) -> dict[str, Any]:
    body = copy.deepcopy(sample("07_ai_code_repair")["request_body"])
    wrong = lang.fast.replace(".sort((a, b) => a - b)", ".sort()")  # sorts as strings: [10, 9] stays
    body.update(language=lang.name, original_source_code=lang.block(lang.original),
                modified_source_code=lang.block(wrong), trace_id=str(uuid.uuid4()))  # fmt: skip
    body["test_diffs"][0]["candidate_pytest_error"] = "AssertionError: expected [ 10, 9 ] to deeply equal [ 9, 10 ]"
    return body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_code_repair_of_a_js_candidate(api: Api, key: str, llm: Any, lang: Lang) -> None:
    fix = (
        "<explanation>sort() without a comparator compares strings.</explanation>\n"
        f"{lang.path}\n```{lang.name}\n<<<<<<< SEARCH\n  return values.slice().sort();\n=======\n"
        "  return values.slice().sort((a, b) => a - b);\n>>>>>>> REPLACE\n```"
    )
    llm.default_reply = lambda request: Reply(text=fix)
    reply = api.call("CodeRepairFunction", _repair_body(lang), key)
    assert reply.status == 200, reply.body
    assert reply.body["parent_id"] == "opt-B"
    assert read_as_client(reply.body, lang) == [(lang.path, lang.fast)]
    system = system_prompt(llm.requests[0])
    assert "without a comparator" in system and "deeply equal" in system and f"```{lang.name}\n<<<<<<<" in system


def test_a_js_repair_reply_with_a_syntax_error_is_a_json_502(api: Api, key: str, llm: Any) -> None:
    broken = (
        f"{JS.path}\n```javascript\n<<<<<<< SEARCH\n  return values.slice().sort();\n=======\n"
        "  return values.slice().sort((a, b) => a - b;\n>>>>>>> REPLACE\n```"
    )
    llm.default_reply = lambda request: Reply(text=broken)
    reply = api.call("CodeRepairFunction", _repair_body(JS), key)
    assert reply.status == 502 and reply.error


@pytest.mark.parametrize("lang", LANGUAGES)
def test_adaptive_on_js_code_uses_the_js_prompt_though_the_client_sends_no_language(
    api: Api, key: str, llm: Any, lang: Lang
) -> None:
    llm.default_reply = lambda request: Reply(text=lang.block(lang.typed))
    body = copy.deepcopy(sample("08_ai_adaptive_optimize")["request_body"])
    assert "language" not in body
    body["original_source_code"] = lang.block(lang.original)
    body["trace_id"] = str(uuid.uuid4())
    body["candidates"][0]["source_code"] = lang.block(lang.fast)
    body["candidates"][1]["source_code"] = lang.block(lang.fast.replace("values.slice()", "[...values]"))
    reply = api.call("AdaptiveOptimizeFunction", body, key)
    assert reply.status == 200, reply.body
    assert reply.body["parent_id"] == "ref-opt-A"
    assert read_as_client(reply.body, lang) == [(lang.path, lang.typed)]
    prompt = request_text(llm.requests[0].body)
    assert "runs\non Node.js" in prompt and f"```{lang.name}:{lang.path}" in prompt
    assert "python" not in prompt.lower()


# ------------------------------------------------------------------------------------------ /ai/testgen


@dataclass(frozen=True)
class Setup:
    framework: str
    module_system: str
    module_path: str
    import_line: str


SETUPS = [
    Setup("vitest", "esm", "../src/sorter.js", "import { sortNumbers } from '../src/sorter.js';"),
    Setup("jest", "commonjs", "../src/sorter", "const { sortNumbers } = require('../src/sorter');"),
    Setup("mocha", "esm", "../src/sorter.js", "import { sortNumbers } from '../src/sorter.js';"),
    Setup("mocha", "commonjs", "../src/sorter", "const { sortNumbers } = require('../src/sorter');"),
]
SETUP_IDS = [f"{setup.framework}-{setup.module_system}" for setup in SETUPS]


def written_tests(setup: Setup, module_path: str | None = None) -> str:
    imports = setup.import_line.replace(setup.module_path, module_path or setup.module_path)
    esm = setup.module_system == "esm"
    if setup.framework == "vitest":
        header = f"import {{ describe, test, expect }} from 'vitest';\n{imports}"
    elif setup.framework == "mocha":
        assert_import = "import assert from 'node:assert';" if esm else "const assert = require('node:assert');"
        header = f"{assert_import}\n{imports}"
    else:
        header = imports
    check = "assert.strictEqual(result.length, n);" if setup.framework == "mocha" else "expect(result).toHaveLength(n);"
    test = "it" if setup.framework == "mocha" else "test"
    return f"""{header}

describe('sortNumbers', () => {{
  {test}('sorts inputs of three sizes', () => {{
    for (const n of [10, 100, 1000]) {{
      const values = Array.from({{ length: n }}, (_, i) => (i * 7919) % n);
      const result = sortNumbers(values);
      {check}
    }}
  }});
}});
"""


def body_for_testgen(lang: Lang, setup: Setup, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample("04_ai_testgen")["request_body"])
    body["function_to_optimize"].update(function_name="sortNumbers", file_path=f"/home/user/proj/{lang.path}",
                                        language=lang.name)  # fmt: skip
    defaults = {
        "source_code_being_tested": lang.block(lang.original), "module_path": setup.module_path,
        "test_module_path": f"tests/test_sortNumbers__unit_test_{body['test_index']}.test.js",
        "test_framework": setup.framework, "module_system": setup.module_system, "qualified_name": "sortNumbers",
    }  # fmt: skip
    return with_language(body, lang, **{**defaults, **changes})


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("setup", SETUPS, ids=SETUP_IDS)
def test_testgen_answers_the_three_keys_with_the_plain_tests(api: Api, key: str, llm: Any, lang: Lang,
                                                             setup: Setup) -> None:  # fmt: skip
    written = written_tests(setup)
    llm.default_reply = lambda request: Reply(text=f"```javascript\n{written}```")
    reply = api.call("TestgenFunction", body_for_testgen(lang, setup), key)

    assert reply.status == 200, reply.body
    # The client instruments generated_tests itself and ignores the other two, which must still be there.
    assert reply.body["generated_tests"] == written
    assert reply.body["instrumented_behavior_tests"] == written
    assert reply.body["instrumented_perf_tests"] == written
    system = system_prompt(llm.requests[0])
    assert f"`{setup.import_line}`" in system
    assert f"imported from `{setup.module_path}`" in system
    assert "Array.from({ length: n }" in system and "random.Random" not in system
    framework_terms = {"vitest": "from 'vitest'", "jest": "jest's globals", "mocha": "node's `assert`"}
    assert framework_terms[setup.framework] in system
    assert ("write ES modules only" in system) and ("write CommonJS only" in system)
    assert f"One fenced block ```` ```{'typescript' if lang is TS else 'javascript'} ````" in system
    assert ("type-checks under a strict compiler" in system) == (lang is TS)
    assert len(llm.requests) == 1


@pytest.mark.parametrize(
    ("name", "reply_text"),
    [
        ("no fence", "{tests}"),
        ("a text fence", "Here are the tests:\n\n```text\n{tests}```\nThey cover three sizes."),
        ("prose after the file", "```js\n{tests}```\n\nThese tests cover the empty case too."),
        ("cut off after a complete test", "```javascript\n{tests}\ndescribe('more', () => {{\n  test('x', () => {{\n"),
    ],
)  # fmt: skip
def test_testgen_reads_the_file_out_of_untidy_replies(api: Api, key: str, llm: Any, name: str, reply_text: str) -> None:
    setup = SETUPS[0]
    written = written_tests(setup)
    llm.default_reply = lambda request: Reply(text=reply_text.format(tests=written))
    reply = api.call("TestgenFunction", body_for_testgen(JS, setup), key)
    assert reply.status == 200, reply.body
    assert reply.body["generated_tests"].strip() == written.strip()
    assert len(llm.requests) == 1  # no retry needed


@pytest.mark.parametrize(
    ("name", "first", "problem"),
    [
        ("a syntax error", "```javascript\nimport { sortNumbers from '../src/sorter.js';\n\ntest('x', () => {\n"
                           "  sortNumbers([1, 2]);\n});\n```", "no javascript test file that parses"),
        ("prose only", "I would test the empty array, one element and three sizes.", "no javascript test file"),
        ("another file's import", f"```javascript\n{written_tests(SETUPS[0], '../src/other.js')}```",
         "do not import '../src/sorter.js'"),
        ("no test at all", "```javascript\nimport { sortNumbers } from '../src/sorter.js';\n"
                           "sortNumbers([3, 1, 2]);\n```", "no test in the file"),
    ],
)  # fmt: skip
def test_an_unusable_test_file_gets_one_retry_with_the_problem(api: Api, key: str, llm: Any, name: str, first: str,
                                                               problem: str) -> None:  # fmt: skip
    setup = SETUPS[0]
    good = written_tests(setup)
    llm.enqueue(Reply(text=first), Reply(text=f"```javascript\n{good}```"))
    reply = api.call("TestgenFunction", body_for_testgen(JS, setup), key)
    assert reply.status == 200, reply.body
    assert reply.body["generated_tests"] == good
    assert len(llm.requests) == 2
    assert problem in request_text(llm.requests[1].body)


def test_a_test_file_that_stays_unusable_is_a_json_502(api: Api, key: str, llm: Any) -> None:
    llm.default_reply = lambda request: Reply(text="```javascript\ntest('x', () => {});\n```")
    reply = api.call("TestgenFunction", body_for_testgen(JS, SETUPS[0]), key)
    assert reply.status == 502 and "unusable after a retry" in reply.error


def test_testgen_for_a_method_says_how_to_call_it(api: Api, key: str, llm: Any) -> None:
    code = "export class Sorter {\n  sort(values) {\n    return values.slice().sort((a, b) => a - b);\n  }\n}"
    tests = ("import { Sorter } from '../src/sorter.js';\n\ndescribe('Sorter', () => {\n  test('sorts', () => {\n"
             "    const sorter = new Sorter();\n    sorter.sort([3, 1, 2]);\n  });\n});\n")  # fmt: skip
    llm.default_reply = lambda request: Reply(text=f"```javascript\n{tests}```")
    body = body_for_testgen(JS, SETUPS[0], source_code_being_tested=JS.block(code), qualified_name="Sorter.sort",
                        class_name="Sorter")  # fmt: skip
    body["function_to_optimize"].update(function_name="sort", parents=[{"name": "Sorter", "type": "ClassDef"}],
                                        is_method=True)  # fmt: skip
    reply = api.call("TestgenFunction", body, key)
    assert reply.status == 200, reply.body
    system = system_prompt(llm.requests[0])
    assert "`import { Sorter } from '../src/sorter.js';`" in system
    assert "by exactly that name (on an instance you create in that test)" in system


@pytest.mark.parametrize("lang", ["java", "go"])
def test_java_and_go_testgen_stay_a_clear_422(api: Api, key: str, llm: Any, lang: str) -> None:
    body = body_for_testgen(JS, SETUPS[0], language=lang)
    reply = api.call("TestgenFunction", body, key)
    assert reply.status == 422 and f"{lang} is not supported yet" in reply.error
    assert llm.requests == []


def test_testgen_review_and_repair_of_js_tests(api: Api, key: str, llm: Any) -> None:
    setup = SETUPS[0]
    written = written_tests(setup)
    review = copy.deepcopy(sample("14_ai_testgen_review")["request_body"])
    review.update(language="javascript", language_version=NODE_VERSION, function_name="sortNumbers",
                  function_source_code=JS.original, trace_id=str(uuid.uuid4()))  # fmt: skip
    for test in review["tests"]:
        test["test_source"] = written
    verdict = {"reviews": [{"test_index": 0, "functions": [
        {"function_name": "sorts inputs of three sizes", "reason": "the largest size is too small"},
        {"function_name": "test_sort_big", "reason": "not in this file"}]}]}  # fmt: skip
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict))
    reply = api.call("TestgenReviewFunction", review, key)
    assert reply.status == 200, reply.body
    assert reply.body["reviews"] == [{"test_index": 0, "functions": [
        {"function_name": "sorts inputs of three sizes", "reason": "the largest size is too small"}]}]  # fmt: skip
    assert "exactly as they are named in `test('...')`" in request_text(llm.requests[0].body)

    llm.reset()
    repaired = written.replace("[10, 100, 1000]", "[10, 100, 2000]")
    llm.default_reply = lambda request: Reply(text=f"```javascript\n{repaired}```")
    repair = copy.deepcopy(sample("15_ai_testgen_repair")["request_body"])
    repair.update(
        body_for_testgen(JS, setup),
        test_source=written,
        function_source_code=JS.original,
        module_source_code=JS.original,
        functions_to_repair=[{"function_name": "sorts inputs of three sizes", "reason": "too small"}],
    )
    reply = api.call("TestgenRepairFunction", repair, key)
    assert reply.status == 200, reply.body
    assert reply.body["generated_tests"] == repaired == reply.body["instrumented_perf_tests"]
    system = system_prompt(llm.requests[0])
    assert f"`{setup.import_line}`" in system and "same module system for the" in system


# ------------------------------------------------------------------------------------------ judgement


def test_rank_explain_review_and_log_features_take_js_requests(api: Api, key: str, llm: Any) -> None:
    flat_before = f"// file: {JS.path}\n{JS.original}\n"
    flat_after = f"// file: {JS.path}\n{JS.fast}\n"
    trace = str(uuid.uuid4())

    rank = copy.deepcopy(sample("09_ai_rank")["request_body"])
    rank.update(trace_id=trace, language="javascript")
    assert api.call("RankFunction", rank, key).status == 200

    explain = copy.deepcopy(sample("11_ai_explain")["request_body"])
    explain.update(trace_id=trace, source_code=flat_before, optimized_code=flat_after,
                   original_line_profiler_results="", optimized_line_profiler_results="",
                   annotated_tests=f"```javascript\n{written_tests(SETUPS[0])}```")  # fmt: skip
    llm.reset()
    llm.default_reply = lambda request: Reply(text="The bubble sort is replaced by `Array.prototype.sort`.")
    reply = api.call("ExplainFunction", explain, key)
    assert reply.status == 200 and "Array.prototype.sort" in reply.body["explanation"]
    system = request_text(llm.requests[0].body)
    assert "TypeScript function running on Node.js" in system and "sort stability" in system

    review = copy.deepcopy(sample("12_ai_optimization_review")["request_body"])
    review.update(trace_id=trace, language="javascript", language_version=NODE_VERSION, original_code=JS.original,
                  optimized_code=JS.fast, generated_tests=written_tests(SETUPS[0]))  # fmt: skip
    verdict = {"findings": {"speedup": "large", "semantics": "numeric comparator keeps number order",
                            "test_evidence": "generated only", "readability": "simpler"},
               "risks": [], "review": "high", "explanation": "A large, safe gain."}  # fmt: skip
    llm.reset()
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict))
    reply = api.call("OptimizationReviewFunction", review, key)
    assert reply.status == 200 and reply.body["review"] == "high", reply.body
    prompt = request_text(llm.requests[0].body)
    assert "sort` without a comparator" in prompt and "```javascript\nexport function sortNumbers" in prompt

    features = copy.deepcopy(sample("10_ai_log_features")["request_body"])
    features.update(trace_id=trace)
    assert api.call("LogFeaturesFunction", features, key).status == 200
