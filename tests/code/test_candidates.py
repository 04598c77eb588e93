"""Candidate post-processing: the contract's samples, every drop reason, how blocks map to files, extraction from
markdown and XML replies, the merge as the pipeline applies it, and idempotence."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from aiservice.code.candidates import Candidate, Dropped, Target, postprocess
from aiservice.code.markdown import CodeString, CodeStringsMarkdown
from aiservice.code.syntax import CodeSyntaxError
from tests.code.python_modules import cases

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "codeflash-samples"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def md(*blocks: tuple[str | None, str], language: str = "python") -> str:
    return CodeStringsMarkdown(tuple(CodeString(path, code, language) for path, code in blocks)).emit()


def dedent(code: str) -> str:
    return textwrap.dedent(code).strip("\n")


SORTER = dedent('''
    """Sorting."""
    from mypkg.util import greater


    def sort_list(arr):
        """Bubble sort."""
        arr = list(arr)
        for i in range(len(arr)):
            for j in range(len(arr) - 1):
                if greater(arr[j], arr[j + 1]):
                    arr[j], arr[j + 1] = arr[j + 1], arr[j]
        return arr


    def unrelated(x):
        return x
''')
UTIL = "SCALE = 1\n\n\ndef greater(a, b):\n    return a * SCALE > b * SCALE"
ORIGINAL = CodeStringsMarkdown.parse(md(("mypkg/sorter.py", SORTER), ("mypkg/util.py", UTIL)))
TARGET = Target("sort_list", "mypkg/sorter.py")
FAST = "def sort_list(arr):\n    return sorted(arr)"
FAST_SORTER = SORTER.replace(SORTER[SORTER.index("def sort_list") : SORTER.index("\n\n\ndef unrelated")], FAST)


def run(*replies: str, original: CodeStringsMarkdown = ORIGINAL, target: Target | None = TARGET, **options):
    return postprocess(original, list(replies), target, **options)


def kept_files(*replies: str, **options) -> list[dict]:
    outcome = run(*replies, **options)
    assert not outcome.dropped, outcome.dropped
    return [candidate.files for candidate in outcome.kept]


def reason(reply: str, **options) -> str:
    outcome = run(reply, **options)
    assert not outcome.kept
    [(_, why)] = outcome.dropped
    return why


# The contract's samples.


@pytest.mark.parametrize("name", ["03_ai_optimize.json", "17_ai_optimize_multifile.json"])
def test_the_optimize_samples_keep_the_two_valid_candidates_and_drop_the_invalid_one(name):
    data = sample(name)
    original = CodeStringsMarkdown.parse(data["request_body"]["source_code"])
    replies = [candidate["source_code"] for candidate in data["response_body"]["optimizations"]]
    outcome = postprocess(original, replies, Target("sort_list"))
    assert [candidate.index for candidate in outcome.kept] == [0, 1]
    assert outcome.dropped == [(2, "does not parse: mypkg/sorter.py:1:14: '(' was never closed")]
    for candidate in outcome.kept:  # the client reads exactly what we say it holds
        assert CodeStringsMarkdown.parse(candidate.markdown).by_path() == candidate.files
        assert candidate.markdown.startswith("```python:mypkg/sorter.py\n") and candidate.markdown.endswith("\n```")


def test_in_the_multifile_sample_the_function_alone_is_merged_and_the_import_it_had_stays():
    data = sample("17_ai_optimize_multifile.json")
    original = CodeStringsMarkdown.parse(data["request_body"]["source_code"])
    outcome = postprocess(original, [data["response_body"]["optimizations"][0]["source_code"]], Target("sort_list"))
    assert outcome.kept[0].files == {
        "mypkg/sorter.py": "from mypkg.util import greater\n\n\ndef sort_list(arr):\n    return sorted(arr)"
    }


def test_the_refinement_sample():
    item = sample("06_ai_refinement.json")["request_body"][0]
    reply = sample("06_ai_refinement.json")["response_body"]["refinements"][0]["source_code"]
    outcome = postprocess(CodeStringsMarkdown.parse(item["original_source_code"]), [reply], Target("sort_list"),
                          previous=[item["optimized_source_code"]])  # fmt: skip
    assert outcome.kept[0].markdown == reply


# Every drop reason.


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("I could not find anything to improve.", "no code"),
        ("```\ndef sort_list(arr):\n    return sorted(arr)\n```", "no code"),  # no tag: the client sees nothing
        ("```text\nsorted\n```", "unknown language tag 'text'"),
        (md(("other/thing.py", FAST)) + "\n" + md(("more.py", "x = 1")),
         "no block for the request's files (got other/thing.py, more.py)"),
        (md(("mypkg/sorter.py", "def sort_list(arr):\n    return sorted(arr")),
         "does not parse: mypkg/sorter.py:2:18: '(' was never closed"),
        (md(("mypkg/sorter.py", FAST), ("mypkg/util.py", "def greater(a, b):\n  return a >\n")),
         "does not parse: mypkg/util.py:2:13: invalid syntax"),
        (md(("mypkg/sorter.py", SORTER.replace("Bubble sort.", "Sorts.").replace("(arr)\n", "(arr)  # a copy\n"))),
         "same as the original"),
        (md(("mypkg/sorter.py", "def sort_list(arr):\n    arr = list(arr)\n    for i in range(len(arr)):\n"
             "        for j in range(len(arr) - 1):\n            if greater(arr[j], arr[j + 1]):\n"
             "                arr[j], arr[j + 1] = (arr[j + 1], arr[j])\n    return arr")),
         "same as the original"),  # the function alone, reformatted
        (md(("mypkg/sorter.py", FAST_SORTER.replace("def sort_list(arr)", "def sort_fast(arr)"))), "loses sort_list"),
        (md(("mypkg/sorter.py", "def sort_fast(arr):\n    return sorted(arr)")), "adds only code nothing uses"),
        (md(("mypkg/sorter.py", "def sort_list(arr, key=None):\n    return sorted(arr, key=key)")),
         "changes the signature of sort_list: def sort_list(arr) -> def sort_list(arr, key=None)"),
        (md(("mypkg/sorter.py", "async def sort_list(arr):\n    return sorted(arr)")),
         "changes the signature of sort_list: def sort_list(arr) -> async def sort_list(arr)"),
        (md(("mypkg/sorter.py", "@staticmethod\ndef sort_list(arr):\n    return sorted(arr)")),
         "changes the signature of sort_list: def sort_list(arr) -> @staticmethod def sort_list(arr)"),
        ('```python:mypkg/sorter.py\ndef sort_list(arr):\n    """Like:\n```\nsorted(arr)\n```\n"""\n    return 1\n```',
         "does not parse: mypkg/sorter.py:2:5: unterminated triple-quoted string literal (detected at line 2)"),
        # ^ a fence inside the code cuts the block short, for the client as for us
    ],
)  # fmt: skip
def test_drop_reasons(reply, why):
    assert reason(reply) == why


def test_the_same_code_as_an_earlier_candidate_is_dropped_after_normalisation():
    outcome = run(md(("mypkg/sorter.py", FAST)), md(("mypkg/sorter.py", FAST + "  # sorted is Timsort")),
                  md(("mypkg/sorter.py", FAST_SORTER)))  # fmt: skip
    assert [candidate.index for candidate in outcome.kept] == [0]
    assert outcome.dropped == [(1, "same as candidate 0"), (2, "same as candidate 0")]


def test_the_same_code_as_a_candidate_the_client_has_is_dropped():
    previous = md(("mypkg/sorter.py", FAST_SORTER))
    assert reason(md(("mypkg/sorter.py", FAST)), previous=["garbage", previous]) == "same as previous candidate 1"


def test_code_that_cannot_be_sent_as_markdown_is_dropped():
    # Inside <code> the reply's fence does not cut the block short; the client's regex would.
    reply = '<code>\ndef sort_list(arr):\n    """Like:\n```\nsorted(arr)\n```\n"""\n    return sorted(arr)\n</code>'
    assert reason(reply).startswith("cannot be sent as markdown: mypkg/sorter.py would not read back as written")


@pytest.mark.parametrize(
    "new",
    [
        "def sort_list(arr: list) -> list:\n    return sorted(arr)",  # annotations may change
        "import functools\n\n\n@functools.cache\ndef sort_list(arr):\n    return sorted(arr)",  # so may a cache
    ],
)
def test_signature_changes_that_callers_cannot_see_are_allowed(new):
    assert len(kept_files(md(("mypkg/sorter.py", new)))) == 1


def test_a_method_target_and_its_signature_rule():
    code = "class A:\n    def m(self, x):\n        return x\n\n    def n(self):\n        return 1"
    original = CodeStringsMarkdown.parse(md(("a.py", code)))
    target = Target("A.m", "a.py")
    assert run(md(("a.py", "class A:\n    def m(self, x):\n        return +x")), original=original, target=target).kept
    outcome = run(md(("a.py", "class A:\n    @classmethod\n    def m(cls, x):\n        return x")),
                  md(("a.py", "class B:\n    pass")), original=original, target=target)  # fmt: skip
    assert outcome.dropped == [
        (0, "changes the signature of A.m: def m(self, x) -> @classmethod def m(cls, x)"),
        (1, "adds only code nothing uses"),  # class B is new, and a partial reply never removes class A
    ]


def test_a_new_definition_that_shadows_a_name_the_original_uses_is_not_unused():
    [candidate] = run(md(("mypkg/sorter.py", "def greater(a, b):\n    return a > b"))).kept
    assert candidate.files["mypkg/sorter.py"].startswith(
        '"""Sorting."""\nfrom mypkg.util import greater\n\n\ndef greater(a, b):\n    return a > b\n\n\ndef sort_list'
    )


def test_a_target_the_request_does_not_hold_is_not_checked():
    assert kept_files(md(("mypkg/sorter.py", FAST)), target=Target("not_there", "mypkg/sorter.py"))


# How blocks map to the request's files.


@pytest.mark.parametrize(
    "reply",
    [
        md(("mypkg/sorter.py", FAST)),  # the exact path
        f"```python:./mypkg//sorter.py\n{FAST}\n```",  # the same once normalised
        md((None, FAST)),  # a lone block without a path: the target's file
        md(("src/elsewhere/sorter.py", FAST)),  # a unique basename
        md(("solution.py", FAST)),  # a lone block with any other path: the target's file
        "```python3:mypkg/sorter.py\n" + FAST + "\n```",  # an unknown tag, but the path is the request's
        md(("mypkg/sorter.py", FAST)) + "\n```bash\npython -m pytest\n```",  # other blocks are ignored
        md(("mypkg/sorter.py", FAST)) + "\n" + md(("mypkg/readonly.py", "def x(:")),  # even if they do not parse
    ],
)
def test_blocks_map_to_the_request_files(reply):
    assert kept_files(reply) == [{"mypkg/sorter.py": FAST_SORTER}]


def test_the_target_file_defaults_to_the_request_first_block():
    assert kept_files(md((None, FAST)), target=Target("sort_list")) == [{"mypkg/sorter.py": FAST_SORTER}]
    assert kept_files(md((None, FAST)), target=None) == [{"mypkg/sorter.py": FAST_SORTER}]


def test_a_basename_shared_by_two_request_files_maps_nowhere():
    files = [("a/util.py", "def f():\n    return 1"), ("b/util.py", "def g():\n    return 2"),
             ("c/main.py", "def h():\n    return 3")]  # fmt: skip
    original = CodeStringsMarkdown.parse(md(*files))
    reply = md(("x/util.py", "def f():\n    return 0")) + "\n" + md(("c/main.py", "def h():\n    return 0"))
    assert kept_files(reply, original=original, target=None) == [{"c/main.py": "def h():\n    return 0"}]


def test_several_pathless_blocks_map_nowhere():
    why = reason(md((None, FAST), (None, "print(sort_list([2, 1]))")))
    assert why == "no block for the request's files (got None, None)"


def test_a_reply_may_change_several_files_each_merged_and_emitted_in_the_request_order():
    reply = md(("mypkg/util.py", "def greater(a, b):\n    return a > b"), ("mypkg/sorter.py", FAST))
    [candidate] = run(reply).kept
    assert candidate.files == {"mypkg/sorter.py": FAST_SORTER,
                               "mypkg/util.py": "SCALE = 1\n\n\ndef greater(a, b):\n    return a > b"}  # fmt: skip
    assert candidate.markdown == md(*candidate.files.items())


def test_only_changed_files_are_emitted():
    reply = md(("mypkg/util.py", UTIL), ("mypkg/sorter.py", FAST))
    assert run(reply).kept[0].markdown == md(("mypkg/sorter.py", FAST_SORTER))


def test_a_py_tagged_request_is_answered_with_the_canonical_tag():
    original = CodeStringsMarkdown.parse("```py:a.py\ndef f():\n    return 1\n```")
    assert run(md(("a.py", "def f():\n    return 2")), original=original, target=None).kept[0].markdown == (
        "```python:a.py\ndef f():\n    return 2\n```"
    )


def test_other_languages_are_replaced_whole_and_compared_without_blank_lines_and_trailing_spaces():
    code = "export function f(a) {\n  return a;\n}"
    original = CodeStringsMarkdown.parse(md(("src/f.ts", code), language="typescript"))
    faster = "export function f(a) {\n  return a | 0;\n}"
    reformatted = code.replace("\n", "  \n\n")
    outcome = run(md(("src/f.ts", faster), language="typescript"), md((None, reformatted), language="typescript"),
                  original=original, target=Target("f"))  # fmt: skip
    assert [candidate.files for candidate in outcome.kept] == [{"src/f.ts": faster}]
    assert outcome.dropped == [(1, "same as the original")]


# JavaScript and TypeScript: tree-sitter checks, per-function merges, dedup by the tree's normal form.

SORT_JS = dedent("""
    import { swap } from "./swap.js";

    // Bubble sort.
    export function sortList(arr) {
      const out = [...arr];
      for (let i = 0; i < out.length; i++) {
        for (let j = 0; j < out.length - 1; j++) {
          if (out[j] > out[j + 1]) swap(out, j, j + 1);
        }
      }
      return out;
    }

    export function unrelated(x) {
      return x;
    }
""")
JS_ORIGINAL = CodeStringsMarkdown.parse(md(("src/sort.js", SORT_JS), language="javascript"))
JS_TARGET = Target("sortList", "src/sort.js")
FAST_JS = "export function sortList(arr) {\n  return [...arr].sort((a, b) => a - b);\n}"
FAST_SORT_JS = (
    SORT_JS[: SORT_JS.index("export function sortList")]
    + FAST_JS
    + SORT_JS[SORT_JS.index("\n\nexport function unrelated") :]
)


def js_md(code: str, path: str | None = "src/sort.js") -> str:
    return md((path, code), language="javascript")


def js_run(*replies: str, **options):
    return run(*replies, original=JS_ORIGINAL, target=JS_TARGET, **options)


def test_a_partial_javascript_reply_is_merged_into_the_whole_file_under_the_request_path():
    [candidate] = js_run(js_md(FAST_JS)).kept
    assert candidate.files == {"src/sort.js": FAST_SORT_JS.strip()}
    assert candidate.markdown == f"```javascript:src/sort.js\n{FAST_SORT_JS.strip()}\n```"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("I would use Array.prototype.sort.", "no code"),  # prose only
        (f"```\n{FAST_JS}\n```", "no code"),  # no tag: the client sees nothing
        ("```text\nsorted\n```", "unknown language tag 'text'"),
        (js_md(FAST_JS.replace("a - b);", "a - b;")), "does not parse: src/sort.js:2:39: missing ')'"),
        (js_md(FAST_JS[:-2]), "does not parse: src/sort.js:2:41: missing '}'"),  # truncated, fence closed
        (f"```javascript:src/sort.js\n{FAST_JS[:30]}", "no code"),  # truncated before the closing fence
        (js_md("export function other(x) {\n  return x;\n}", "src/other.js"), "redefines nothing of src/sort.js"),
        (js_md(FAST_JS.replace("(arr)", "(arr, cmp)")),
         "changes the signature of sortList: export function sortList(arr) -> export function sortList(arr, cmp)"),
        (js_md(FAST_JS.replace("export function", "export async function")),
         "changes the signature of sortList: export function sortList(arr) -> export async function sortList(arr)"),
        (js_md(FAST_SORT_JS.replace("sortList", "sortFast")), "loses sortList"),
        (js_md(SORT_JS.replace("// Bubble sort.\n", "").replace(";\n", "\n")), "same as the original"),
        (js_md(FAST_JS, "src/a.js") + "\n" + js_md(FAST_JS, "src/b.js"),
         "no block for the request's files (got src/a.js, src/b.js)"),
    ],
)  # fmt: skip
def test_javascript_drop_reasons(reply, why):
    outcome = js_run(reply)
    assert not outcome.kept
    assert outcome.dropped == [(0, why)]


def test_a_python_block_for_a_javascript_file_does_not_parse():
    [(_, why)] = js_run(md(("src/sort.js", "def sortList(arr):\n    return sorted(arr)"))).dropped
    assert why.startswith("does not parse: src/sort.js:1:")


def test_javascript_candidates_are_deduplicated_by_the_tree_normal_form():
    outcome = js_run(js_md(FAST_JS), js_md(FAST_JS.replace(";\n", "  // Timsort\n")), js_md(FAST_SORT_JS),
                     js_md(FAST_JS.replace("a - b", "b - a")))  # fmt: skip
    assert [candidate.index for candidate in outcome.kept] == [0, 3]
    assert outcome.dropped == [(1, "same as candidate 0"), (2, "same as candidate 0")]
    assert js_run(js_md(FAST_JS), previous=[js_md(FAST_SORT_JS)]).dropped == [(0, "same as previous candidate 0")]


def test_a_javascript_method_target_is_merged_into_its_class():
    code = "export class Sorter {\n  sort(items) {\n    return items;\n  }\n\n  other() {\n    return 1;\n  }\n}"
    original = CodeStringsMarkdown.parse(md(("src/sorter.ts", code), language="typescript"))
    reply = md((None, "class Sorter {\n  sort(items) {\n    return items.slice();\n  }\n}"), language="typescript")
    static = md((None, "class Sorter {\n  static sort(items) {\n    return items;\n  }\n}"), language="typescript")
    outcome = run(reply, static, original=original, target=Target("Sorter.sort", "src/sorter.ts"))
    assert [candidate.files for candidate in outcome.kept] == [
        {"src/sorter.ts": code.replace("items;", "items.slice();", 1)}
    ]
    assert outcome.dropped == [
        (1, "changes the signature of Sorter.sort: Sorter.sort(items) -> static Sorter.sort(items)")
    ]


def test_a_tsx_file_is_checked_with_the_tsx_grammar():
    code = "export const Row = ({ item }: { item: string }) => <li>{item}</li>;"
    original = CodeStringsMarkdown.parse(md(("src/row.tsx", code), language="typescript"))
    faster = code.replace("<li>", '<li className="row">')
    [candidate] = run(md(("src/row.tsx", faster), language="typescript"), original=original, target=Target("Row")).kept
    assert candidate.markdown == f"```typescript:src/row.tsx\n{faster}\n```"


def test_the_request_own_javascript_must_parse():
    with pytest.raises(CodeSyntaxError):
        postprocess(CodeStringsMarkdown.parse(js_md("function f( {")), [], None)


def test_a_kept_javascript_candidate_postprocessed_again_gives_the_same_code():
    first = js_run(js_md("function helper(a) {\n  return a;\n}\n\n" + FAST_JS)).kept[0]
    [again] = js_run(first.markdown).kept
    assert again.files == first.files and again.markdown == first.markdown


# Extraction: markdown and XML replies, explanations.


def test_an_xml_reply():
    reply = (
        "<thinking>Draft:\n```python:mypkg/sorter.py\ndef sort_list(arr):\n    return arr\n```\n</thinking>\n"
        f"<code>\n{md(('mypkg/sorter.py', FAST))}\n</code>\n<explanation>\nsorted() is O(n log n).\n</explanation>"
    )
    [candidate] = run(reply).kept
    assert candidate.files == {"mypkg/sorter.py": FAST_SORTER}  # not the draft in <thinking>
    assert candidate.explanation == "sorted() is O(n log n)."


@pytest.mark.parametrize(
    "reply",
    [
        f"<code>\n{FAST}\n</code>",  # bare code
        f"<code>\n```\n{FAST}\n```\n</code>",  # a fence without a tag
        f"<code>\n```python\n{FAST}\n```",  # no closing tag
        f'<code file="mypkg/sorter.py">\n{FAST}\n</code>',
        f"<code>\n    {FAST.replace(chr(10), chr(10) + '    ')}\n</code>",  # indented as a whole
    ],
)
def test_code_in_xml_sections(reply):
    assert kept_files(reply) == [{"mypkg/sorter.py": FAST_SORTER}]


def test_the_explanation_is_the_prose_outside_code_and_scratch_sections():
    reply = f"<thinking>private</thinking>\nUse sorted().\n\n\n\n{md(('mypkg/sorter.py', FAST))}\nIt is O(n log n)."
    assert run(reply).kept[0].explanation == "Use sorted().\n\nIt is O(n log n)."


def test_windows_line_ends_in_a_reply():
    assert kept_files(md(("mypkg/sorter.py", FAST)).replace("\n", "\r\n")) == [{"mypkg/sorter.py": FAST_SORTER}]


def test_the_request_own_code_must_parse():
    with pytest.raises(CodeSyntaxError):
        postprocess(CodeStringsMarkdown.parse(md(("a.py", "def f(:"))), [], None)


def test_outcome_shapes():
    outcome = run(md(("mypkg/sorter.py", FAST)), "nothing")
    assert outcome.kept == [Candidate(0, md(("mypkg/sorter.py", FAST_SORTER)), {"mypkg/sorter.py": FAST_SORTER}, "")]
    assert outcome.dropped == [Dropped(1, "no code")]
    assert outcome.dropped[0].index == 1 and outcome.dropped[0].reason == "no code"


# Idempotence: a kept candidate, sent back as a reply against the same original, gives the same code.


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_postprocessing_a_kept_candidate_again_gives_the_same_code(case):
    original = CodeStringsMarkdown.parse(md(("pkg/mod.py", case.original), ("pkg/other.py", UTIL)))
    target = Target(case.target, "pkg/mod.py")
    first = postprocess(original, [md(("pkg/mod.py", case.reply))], target)
    for candidate in first.kept:
        second = postprocess(original, [candidate.markdown], target)
        assert [again.files for again in second.kept] == [candidate.files]
        assert second.kept[0].markdown == candidate.markdown
