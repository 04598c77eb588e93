"""Merging a model's Python reply into the original module: every rule of aiservice.code.merge, byte for byte,
and the properties (the result parses, keeps what the reply does not redefine, takes what it does, and merging
it again changes nothing)."""

from __future__ import annotations

import ast
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from aiservice.code.merge import Module, merge_python, normal_form
from tests.code.python_modules import cases


def merge(original: str, reply: str, target: str | None = None) -> str:
    return merge_python(Module.parse(dedent(original)), Module.parse(dedent(reply)), target)


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


ORIGINAL = dedent('''
    """Sorting helpers."""
    import os
    from typing import List

    SCALE = 2


    class Sorter:
        """A sorter."""

        LIMIT = 10

        def __init__(self, key=None):
            self.key = key

        # the hot spot
        def sort(self, arr):
            arr = list(arr)
            for i in range(len(arr)):
                for j in range(len(arr) - 1):
                    if arr[j] > arr[j + 1]:
                        arr[j], arr[j + 1] = arr[j + 1], arr[j]
            return arr

        def name(self):
            return os.sep


    def helper(x):
        return x * SCALE  # scaled


    if __name__ == "__main__":
        print(helper(2))
''')
SORT_BODY = textwrap.indent(
    dedent("""
        def sort(self, arr):
            arr = list(arr)
            for i in range(len(arr)):
                for j in range(len(arr) - 1):
                    if arr[j] > arr[j + 1]:
                        arr[j], arr[j + 1] = arr[j + 1], arr[j]
            return arr
"""),
    "    ",
)
FAST_SORT = "    def sort(self, arr):\n        return sorted(arr, key=self.key)\n"


def test_a_complete_reply_replaces_the_file_as_written():
    reply = ORIGINAL.replace("return x * SCALE  # scaled", "return x << 1").replace('"""Sorting helpers."""\n', "")
    assert merge(ORIGINAL, reply) == reply


def test_a_reply_that_lacks_only_the_target_but_defines_a_new_function_is_complete():
    original = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    reply = "def f_fast():\n    return 1\n\n\ndef g():\n    return 2\n"
    assert merge(original, reply, "f") == reply  # the target is then found lost
    assert merge(original, reply, "g") == original + "\n\ndef f_fast():\n    return 1\n"  # not the target: merged


def test_a_reply_with_only_a_helper_keeps_the_target():
    original = "def f():\n    return g()\n\n\ndef g():\n    return 2\n"
    assert merge(original, "def g():\n    return 3\n", "f") == original.replace("return 2", "return 3")


def test_a_function_alone_replaces_its_definition_and_nothing_else():
    assert merge(ORIGINAL, "def helper(x):\n    return x << 1\n") == ORIGINAL.replace(
        "    return x * SCALE  # scaled\n", "    return x << 1\n"
    )


def test_a_redefinition_that_differs_only_in_comments_docstrings_and_layout_keeps_the_original_bytes():
    reply = 'def helper(x):\n    """Scales."""\n    return (x *\n            SCALE)\n'
    assert merge(ORIGINAL, reply) == ORIGINAL


def test_a_method_is_replaced_inside_its_class_the_rest_of_the_class_byte_identical():
    merged = merge(ORIGINAL, "class Sorter:\n" + FAST_SORT)
    assert merged == ORIGINAL.replace(SORT_BODY, FAST_SORT)


def test_a_class_the_reply_gives_whole_is_replaced_whole():
    reply = "class Sorter:\n    LIMIT = 5\n\n    def __init__(self, key=None):\n        self.key = key\n\n" + FAST_SORT
    reply += "\n    def name(self):\n        return os.sep\n"
    merged = merge(ORIGINAL, reply)
    assert reply in merged and '"""A sorter."""' not in merged


def test_a_new_method_goes_at_the_end_of_its_class():
    reply = "class Sorter:\n" + FAST_SORT + "\n    def _keyed(self, arr):\n        return arr\n"
    merged = merge(ORIGINAL, reply)
    assert "        return os.sep\n\n    def _keyed(self, arr):\n        return arr\n\n\ndef helper" in merged


def test_the_target_method_given_bare_goes_into_its_class():
    merged = merge(ORIGINAL, "def sort(self, arr):\n    return sorted(arr, key=self.key)\n", "Sorter.sort")
    assert merged == ORIGINAL.replace(SORT_BODY, FAST_SORT)


def test_a_bare_function_that_is_not_the_target_method_stays_top_level():
    merged = merge(ORIGINAL, "def sort(self, arr):\n    return sorted(arr)\n", "helper")
    assert SORT_BODY in merged and "\ndef sort(self, arr):\n    return sorted(arr)\n" in merged


def test_a_reply_in_another_indentation_is_reindented_but_lines_inside_strings_are_not():
    reply = 'class Sorter:\n  def sort(self, arr):\n    text = """a\n  b\n"""\n    return sorted(arr)\n'
    merged = merge(ORIGINAL, reply)
    assert '    def sort(self, arr):\n      text = """a\n  b\n"""\n      return sorted(arr)\n' in merged
    ast.parse(merged)


@pytest.mark.parametrize(
    ("reply_imports", "added"),
    [
        ("import heapq", "import heapq\n"),
        ("import os\nfrom typing import List", ""),  # already imported: nothing added
        ("from typing import List, Dict", "from typing import Dict\n"),  # only the new name
        ("import os as system", "import os as system\n"),  # another binding
        ("import heapq\nimport heapq", "import heapq\n"),  # repeated in the reply
        ("from . import sibling", "from . import sibling\n"),
    ],
)
def test_new_imports_are_hoisted_after_the_original_imports_without_duplicates(reply_imports, added):
    merged = merge(ORIGINAL, f"{reply_imports}\n\n\ndef helper(x):\n    return x << 1\n")
    assert merged.startswith(f'"""Sorting helpers."""\nimport os\nfrom typing import List\n{added}\nSCALE = 2\n')


def test_a_future_import_goes_before_every_other_statement_after_the_docstring():
    merged = merge(ORIGINAL, "from __future__ import annotations\n\ndef helper(x: int) -> int:\n    return x\n")
    assert merged.startswith('"""Sorting helpers."""\nfrom __future__ import annotations\nimport os\n')


def test_imports_for_a_module_without_any_go_at_the_top_below_its_leading_comments():
    original = "#!/usr/bin/env python\n\n# f\ndef f(x):\n    return x\n\n\ndef g():\n    return 1\n"
    merged = merge(original, "import math\n\ndef f(x):\n    return math.floor(x)\n")
    assert merged == original.replace("# f\n", "import math\n\n# f\n").replace("return x\n", "return math.floor(x)\n")


def test_a_new_statement_goes_before_its_first_user_so_a_default_argument_can_name_it():
    reply = "_CACHE = {}\n\n\ndef helper(x, _cache=_CACHE):\n    return _cache.setdefault(x, x * SCALE)\n"
    merged = merge(ORIGINAL, reply)
    assert merged.index("_CACHE = {}") < merged.index("def helper(x, _cache=_CACHE)")
    assert merged.index("SCALE = 2") < merged.index("_CACHE = {}")
    compile(merged, "merged", "exec")


def test_a_new_statement_comes_after_what_it_needs_at_import_time_even_past_its_first_user():
    original = "def first(x):\n    return TABLE[x]\n\n\ndef build():\n    return {1: 2}\n"
    merged = merge(original, "TABLE = build()\n")
    assert merged == original + "\n\nTABLE = build()\n"


def test_a_new_helper_no_one_uses_goes_after_the_last_definition_before_a_main_block():
    merged = merge(ORIGINAL, "# spare\ndef spare():\n    return 1\n")
    assert merged.endswith('    return x * SCALE  # scaled\n\n\n# spare\ndef spare():\n    return 1\n\n\n'
                           'if __name__ == "__main__":\n    print(helper(2))\n')  # fmt: skip


def test_a_new_helper_goes_before_the_first_definition_that_calls_it():
    reply = "def _double(x):\n    return x * 2\n\n\ndef helper(x):\n    return _double(x)\n"
    merged = merge(ORIGINAL, reply)
    assert "return os.sep\n\n\ndef _double(x):\n    return x * 2\n\n\ndef helper(x):\n    return _double(x)\n" in merged


def test_docstrings_placeholders_and_main_blocks_of_a_partial_reply_are_not_merged():
    reply = '"""Optimized."""\n...\n\n\ndef helper(x):\n    return x << 1\n\n\nif __name__ == "__main__":\n    pass\n'
    assert merge(ORIGINAL, reply) == ORIGINAL.replace("    return x * SCALE  # scaled\n", "    return x << 1\n")


def test_assignments_are_matched_by_their_names():
    assert merge(ORIGINAL, "SCALE = 4\n") == ORIGINAL.replace("SCALE = 2", "SCALE = 4")


def test_decorators_belong_to_their_definition():
    original = "import functools\n\n\n@functools.wraps(print)\ndef f(x):\n    return x\n\n\nY = 1\n"
    merged = merge(original, "@functools.cache\ndef f(x):\n    return x + 1\n")
    assert merged == "import functools\n\n\n@functools.cache\ndef f(x):\n    return x + 1\n\n\nY = 1\n"


def test_comments_indented_under_a_definition_go_with_it():
    original = "def f(x):\n    return x\n    # unreachable note\n\n\ndef g():\n    return 2\n"
    assert merge(original, "def f(x):\n    return -x\n") == original.replace(
        "    return x\n    # unreachable note\n", "    return -x\n"
    )


def test_statements_sharing_a_line_are_one_unit():
    original = "A = 1; B = 2\n\n\ndef f():\n    return A + B\n"
    assert merge(original, "def f():\n    return 3\n") == "A = 1; B = 2\n\n\ndef f():\n    return 3\n"


def test_a_class_whose_body_starts_on_its_header_line_is_replaced_whole():
    original = "class Point: x = 0; y = 0\n\n\ndef f():\n    return 1\n"
    merged = merge(original, "class Point:\n    x = 1\n")
    assert merged == "class Point:\n    x = 1\n\n\ndef f():\n    return 1\n"


def test_repeated_definitions_pair_up_from_the_last_one():
    original = dedent("""
        from typing import overload


        @overload
        def f(x: int) -> int: ...
        @overload
        def f(x: str) -> str: ...
        def f(x):
            return x


        Z = 0
    """)
    merged = merge(original, "def f(x):\n    return x * 2\n")
    assert merged == original.replace("    return x\n", "    return x * 2\n")


def test_line_ends_are_normalised():
    merged = merge(ORIGINAL.replace("\n", "\r\n"), "def helper(x):\r\n    return x << 1\r\n")
    assert merged == ORIGINAL.replace("    return x * SCALE  # scaled\n", "    return x << 1\n")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("def f(x):\n    return x\n", "def f(x):  # note\n    '''Doc.'''\n    return (x)\n"),
        ("class A:\n    '''Doc.'''\n    x = 1\n", "class A:\n    x = 1\n"),
        ('X = "a"\n', "X = 'a'\n"),
    ],
)
def test_normal_form_ignores_comments_docstrings_and_formatting(first, second):
    assert normal_form(ast.parse(first)) == normal_form(ast.parse(second))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("def f(x):\n    return x\n", "def f(y):\n    return y\n"),
        ("X = 'a'\n", "X = 'b'\n"),
        ("def f():\n    'only a docstring'\n", "def f():\n    pass\n"),
        ("f(1, 2)\n", "f([1, 2])\n"),
    ],
)
def test_normal_form_tells_different_code_apart(first, second):
    assert normal_form(ast.parse(first)) != normal_form(ast.parse(second))


def test_normal_form_leaves_the_tree_as_it_was():
    tree = ast.parse('"""Doc."""\ndef f():\n    """Doc."""\n    return 1\n')
    before = ast.dump(tree, include_attributes=True)
    normal_form(tree)
    assert ast.dump(tree, include_attributes=True) == before


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    """Every function by qualified name (`f`, `Class.method`)."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found.update({f"{node.name}.{m.name}": m for m in node.body if isinstance(m, ast.FunctionDef)})
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_merging_keeps_what_the_reply_does_not_redefine_takes_what_it_does_and_is_idempotent(case):
    original, reply = Module.parse(case.original), Module.parse(case.reply)
    merged = merge_python(original, reply, case.target)

    again = Module.parse(merged)  # it parses
    assert merge_python(original, again, case.target) == merged  # merging it again changes nothing
    if case.complete:
        assert merged == reply.text
        return
    merged_functions = _functions(again.tree)
    assert set(_functions(original.tree)) <= set(merged_functions)  # nothing lost
    for name, function in _functions(reply.tree).items():  # every function of the reply, as the reply has it
        if "." not in name and name in case.target.split(".")[-1:] and "." in case.target:
            name = case.target  # the target method, given bare
        assert normal_form(merged_functions[name]) == normal_form(function)
    for line in case.original.splitlines():  # the original's imports and constants stay, byte for byte
        if line.startswith(("import ", "from ", "SCALE")):
            assert line + "\n" in merged
