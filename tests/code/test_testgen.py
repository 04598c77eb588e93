"""Post-processing of model-written tests: one before/after case per rule on realistic pytest files, formatting
kept byte for byte elsewhere, idempotence as a property, and refusal of what does not parse."""

from textwrap import dedent

import libcst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiservice.code import testgen
from aiservice.code.syntax import CodeSyntaxError, check_python
from aiservice.code.testgen import CodeUnderTest, InputLimits, postprocess_tests
from aiservice.errors import InvalidRequest

SORT_LIST = CodeUnderTest("mypkg.sorter", "sort_list", helpers=("mypkg.util.greater", "mypkg.util.SCALE"))
BUBBLE_SORT = CodeUnderTest("mypkg.sorter", "BubbleSorter.sort", helpers=("mypkg.sorter.BubbleSorter._swap",))


def fixed(source: str, target: CodeUnderTest = SORT_LIST, **options) -> str:
    return postprocess_tests(dedent(source), target, **options).code


def changes(source: str, target: CodeUnderTest = SORT_LIST, **options) -> tuple[str, ...]:
    return postprocess_tests(dedent(source), target, **options).changes


# --- a file that needs nothing is returned as it came ------------------------------------------------------


def test_the_sample_from_the_wire_needs_nothing():
    tests = (
        "from mypkg.sorter import sort_list\n\n\ndef test_sort_basic():\n    assert sort_list([3, 1, 2]) == [1, 2, 3]\n"
        "\n\ndef test_sort_empty():\n    assert sort_list([]) == []\n\n\ndef test_sort_big():\n"
        "    data = list(range(300, 0, -1))\n    assert sort_list(data) == sorted(data)\n"
    )
    assert postprocess_tests(tests, SORT_LIST) == testgen.ProcessedTests(code=tests, changes=())


def test_formatting_is_kept_byte_for_byte_where_nothing_changes():
    tests = (
        "# -*- coding: utf-8 -*-\r\n"
        '"""Odd but valid formatting."""\r\n'
        "import pytest ;  from mypkg.sorter import (sort_list ,)\r\n"
        "\r\n"
        "@pytest.mark.parametrize( 'data' , [ [3,1] ,[ ] ] )  # comment\r\n"
        "def test_odd( data ) :\r\n"
        "\tassert sort_list( data )==sorted( data ) , 'message'\r\n"
        "\tx = [0]*10 ; y = range( 5 )\\\r\n"
        "\t\t.count(1)\r\n"
        "class TestIt :  pass"
    )
    assert postprocess_tests(tests, SORT_LIST).code == tests
    capped = postprocess_tests(tests.replace("range( 5 )", "range( 10**6 )"), SORT_LIST).code
    assert capped == tests.replace("range( 5 )", "range( 1000 )")


# --- 1. definitions that shadow the code under test --------------------------------------------------------


def test_the_models_copy_of_the_function_under_test_is_removed():
    before = """\
        import pytest
        from mypkg.sorter import sort_list


        # The function under test, for reference
        def sort_list(arr):
            return sorted(arr)


        def test_sort_basic():
            assert sort_list([3, 1, 2]) == [1, 2, 3]
        """
    after = """\
        import pytest
        from mypkg.sorter import sort_list


        def test_sort_basic():
            assert sort_list([3, 1, 2]) == [1, 2, 3]
        """
    assert fixed(before) == dedent(after)
    assert changes(before) == ("removed the file's own sort_list, which shadowed mypkg.sorter.sort_list",)


def test_the_models_copy_of_the_class_under_test_is_removed_and_the_real_one_imported():
    before = """\
        import pytest

        class BubbleSorter:
            def sort(self, arr):
                return sorted(arr)

        @pytest.fixture
        def sorter():
            return BubbleSorter()

        def test_sort(sorter):
            assert sorter.sort([2, 1]) == [1, 2]
        """
    after = """\
        import pytest
        from mypkg.sorter import BubbleSorter

        @pytest.fixture
        def sorter():
            return BubbleSorter()

        def test_sort(sorter):
            assert sorter.sort([2, 1]) == [1, 2]
        """
    assert fixed(before, BUBBLE_SORT) == dedent(after)


def test_a_helpers_copy_is_removed_and_the_real_one_imported_where_the_tests_use_it():
    before = """\
        from mypkg.sorter import sort_list

        SCALE = 10
        greater = lambda a, b: a > b

        def test_sorted_pairs():
            result = sort_list([3, 1, 2])
            assert not any(greater(a, b) for a, b in zip(result, result[1:]))
        """
    after = """\
        from mypkg.sorter import sort_list
        from mypkg.util import greater

        def test_sorted_pairs():
            result = sort_list([3, 1, 2])
            assert not any(greater(a, b) for a, b in zip(result, result[1:]))
        """
    assert fixed(before) == dedent(after)  # SCALE is not used: it is not imported


def test_only_top_level_definitions_of_those_names_go():
    kept = """\
        from mypkg.sorter import sort_list

        try:
            from mypkg.util import greater
        except ImportError:
            def greater(a, b):
                return a > b

        def sort(arr):
            return arr

        def test_local_copy():
            def sort_list(arr):
                return arr
            SCALE = 2
            assert sort_list([SCALE]) == [2]

        x = 1; total: int = 0
        """
    assert fixed(kept) == dedent(kept)
    assert fixed("x = 1; sort_list = sorted; y = 2\n") == "from mypkg.sorter import sort_list\nx = 1; y = 2\n"


@pytest.mark.parametrize(
    ("helper", "definition"),
    [
        ("mypkg.util.greater", ("mypkg.util", "greater")),
        ("mypkg.util.SCALE", ("mypkg.util", "SCALE")),
        ("mypkg.sorter.BubbleSorter._swap", ("mypkg.sorter", "BubbleSorter")),  # in the target's module
        ("mypkg.sorter.node.link", ("mypkg.sorter", "node")),  # ditto, whatever its case
        ("mypkg.shapes.Circle.area", ("mypkg.shapes", "Circle")),  # elsewhere: CapWords is a class
        ("mypkg.shapes.area", ("mypkg.shapes", "area")),
    ],
)
def test_a_helper_is_read_as_a_top_level_name_of_its_module(helper, definition):
    target = CodeUnderTest("mypkg.sorter", "BubbleSorter.sort", helpers=(helper,))
    module, name = definition
    assert target.real_definitions() == {"BubbleSorter": "mypkg.sorter", name: module}


# --- 2. duplicate imports ----------------------------------------------------------------------------------


def test_duplicate_imports_are_dropped_keeping_the_first():
    before = """\
        import os, sys
        import pytest
        from mypkg.sorter import sort_list
        from mypkg.util import (
            greater,
            SCALE,
        )
        import sys
        import pytest
        from mypkg.sorter import sort_list
        from mypkg.util import SCALE, greater, Limits

        def test_sort():
            assert sort_list([2, 1]) == [1, 2]
        """
    after = """\
        import os, sys
        import pytest
        from mypkg.sorter import sort_list
        from mypkg.util import (
            greater,
            SCALE,
        )
        from mypkg.util import Limits

        def test_sort():
            assert sort_list([2, 1]) == [1, 2]
        """
    assert fixed(before) == dedent(after)
    assert changes(before).count("dropped a duplicate import of pytest") == 1


def test_dropping_the_last_name_leaves_no_dangling_comma_or_semicolon():
    before = (
        "from mypkg.sorter import sort_list\n"
        "from m import (a,\n    b,\n)\n"
        "from m import b, a; import os; from m import a\n"
    )
    after = "from mypkg.sorter import sort_list\nfrom m import (a,\n    b,\n)\nimport os\n"
    assert fixed(before) == after


def test_an_import_that_may_bind_something_else_by_then_is_kept():
    kept = """\
        from mypkg.sorter import sort_list
        import numpy as np
        import numpy
        from math import pi
        pi = 3
        from math import pi
        from os.path import join
        from posixpath import *
        from os.path import join
        import json
        if True:
            json = None
        import json
        import os.path
        import os
        import os.path as osp
        from . import conftest
        import conftest
        """
    assert fixed(kept) == dedent(kept)


def test_imports_inside_functions_are_not_touched():
    kept = """\
        import json
        from mypkg.sorter import sort_list

        def test_roundtrip():
            import json
            import json
            assert json.loads(json.dumps(sort_list([1]))) == [1]
        """
    assert fixed(kept) == dedent(kept)


# --- 3. the import of the function under test --------------------------------------------------------------


def test_the_missing_import_goes_after_the_last_import_above_the_first_definition():
    before = """\
        import random
        import pytest

        CASES = [[3, 1, 2], []]

        def test_cases():
            for case in CASES:
                assert sort_list(case) == sorted(case)

        import itertools
        """
    after = """\
        import random
        import pytest
        from mypkg.sorter import sort_list

        CASES = [[3, 1, 2], []]

        def test_cases():
            for case in CASES:
                assert sort_list(case) == sorted(case)

        import itertools
        """
    assert fixed(before) == dedent(after)
    assert changes(before) == ("added from mypkg.sorter import sort_list",)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            '"""Doc."""\ndef test_it():\n    pass\n',
            '"""Doc."""\nfrom mypkg.sorter import sort_list\ndef test_it():\n    pass\n',
        ),
        (
            '"""Doc."""\nfrom __future__ import annotations\n\n\ndef test_it():\n    pass\n',
            '"""Doc."""\nfrom __future__ import annotations\nfrom mypkg.sorter import sort_list\n\n\ndef test_it():\n'
            "    pass\n",
        ),
        (
            "#!/usr/bin/env python\n# tests\n\nx = 1",
            "#!/usr/bin/env python\n# tests\n\nfrom mypkg.sorter import sort_list\nx = 1",
        ),
        ("", "from mypkg.sorter import sort_list"),  # no newline at the end in, none out
    ],
)
def test_with_no_import_above_the_tests_it_goes_at_the_top_after_a_docstring(before, after):
    assert postprocess_tests(before, SORT_LIST).code == after


@pytest.mark.parametrize(
    "imports",
    [
        "import mypkg.sorter\n",
        "from mypkg import sorter\n",
        "from mypkg.sorter import sort_list as sl\n",
        "from .sorter import sort_list\n",
        "from mypkg.other import sort_list\n",
        "from mypkg.sorter import *\n",
    ],
)
def test_an_import_of_the_function_under_another_name_or_from_elsewhere_gets_the_plain_one_added(imports):
    assert fixed(imports) == imports + "from mypkg.sorter import sort_list\n"


def test_a_method_imports_its_outermost_class():
    nested = CodeUnderTest("mypkg.sorter", "Outer.Inner.sort")
    assert fixed("import pytest\n", nested) == "import pytest\nfrom mypkg.sorter import Outer\n"
    assert fixed("from mypkg.sorter import Outer, sort_list\n", nested) == "from mypkg.sorter import Outer, sort_list\n"


# --- 4. oversized inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("for _ in range(10**7): pass", "for _ in range(1000): pass"),
        ("for _ in range(1_000_000): pass", "for _ in range(1000): pass"),
        ("for i in range(5, 10_000_000, 2): pass", "for i in range(5, 2005, 2): pass"),
        ("for i in range(10**6, 0, -1): pass", "for i in range(10**6, 999000, -1): pass"),
        ("for i in range(-10**7, 0): pass", "for i in range(-10**7, -9999000): pass"),
        ("for i in range(2 ** 10**9): pass", "for i in range(1000): pass"),
        ("data = [0] * 10**6", "data = [0] * 1000"),
        ("data = (10 ** 6) * [None, 1]", "data = 1000 * [None, 1]"),
        ('text = "ab" * 1_000_000 + "c" * 5', 'text = "ab" * 1000 + "c" * 5'),
        ("grid = [[0] * 10_000] * 10_000", "grid = [[0] * 1000] * 1000"),
        ("data = [i for i in range(3)] * (2 << 20)", "data = [i for i in range(3)] * 1000"),
        ("big = 2 ** 100_000", "big = 2 ** 10000"),
        ("big = 10 ** 10 ** 10", "big = 10 ** 3010"),
        ("big = (-3) ** 10**6", "big = (-3) ** 6309"),
    ],
)
def test_oversized_literal_inputs_are_capped(before, after):
    source = f"from mypkg.sorter import sort_list\n\ndef test_big():\n    {before}\n"
    assert fixed(source) == source.replace(before, after)


@pytest.mark.parametrize(
    "kept",
    [
        "data = list(range(300, 0, -1))",
        "data = list(range(1000))",
        "data = list(range(0, 10**6, 1000))",
        "data = list(range(n))",
        "data = list(range(10**7, 0))",
        "data = range(10**7, 0, 0)",
        "data = [0] * n",
        "data = [0] * 1000",
        "size = 10**7",
        "big = 2 ** 64 + 10 ** 18",
        "tiny = 2 ** -100_000",
        "one = 1 ** 10**100",
        "f = 2.0 ** 10**6",
        "x = 3 * 10**9",
        "r = rng.range(10**9)",
    ],
)
def test_inputs_within_limits_or_not_literal_are_left_alone(kept):
    source = f"from mypkg.sorter import sort_list\n\ndef test_it():\n    {kept}\n"
    assert fixed(source) == source


def test_limits_are_per_target():
    limits = InputLimits(max_range=10, max_repetition=3, max_power_bits=8)
    tight = CodeUnderTest("mypkg.sorter", "sort_list", limits=limits)
    source = "from mypkg.sorter import sort_list\nx = (range(100), [0] * 4, 2 ** 9)\n"
    assert fixed(source, tight) == "from mypkg.sorter import sort_list\nx = (range(10), [0] * 3, 2 ** 8)\n"
    assert changes(source, tight) == (
        "capped range(100) to range(10)",
        "capped [0] * 4 to [0] * 3",
        "capped 2 ** 9 to 2 ** 8",
    )


# --- 5. asserts, for behaviour capture ---------------------------------------------------------------------


def test_behaviour_capture_strips_asserts_and_keeps_the_calls_in_them():
    before = """\
        import pytest
        from mypkg.sorter import sort_list


        def test_sort_basic():
            assert sort_list([3, 1, 2]) == [1, 2, 3]  # the obvious case


        def test_sort_matches_sorted():
            data = [5, 3, 9]
            result = sort_list(data)
            assert result == [3, 5, 9], f"got {sort_list(data)}"
            assert len(result) == len(data)
            assert not sort_list([])
            assert (
                sort_list(data)
                == sorted(data)
            )
            assert result is None or result[0] < sort_list(result)[1]
            for value in result:
                assert value > 0
            if result: assert result[0] == 3; assert sort_list(result)


        def test_bad_input():
            with pytest.raises(TypeError):
                assert sort_list(None) == []
        """
    after = """\
        import pytest
        from mypkg.sorter import sort_list


        def test_sort_basic():
            sort_list([3, 1, 2])  # the obvious case


        def test_sort_matches_sorted():
            data = [5, 3, 9]
            result = sort_list(data)
            len(result)
            len(data)
            sort_list([])
            sort_list(data)
            sorted(data)
            result is None or result[0] < sort_list(result)[1]
            for value in result:
                pass
            if result: sort_list(result)


        def test_bad_input():
            with pytest.raises(TypeError):
                assert sort_list(None) == []
        """
    assert fixed(before, behavior_capture=True) == dedent(after)
    assert fixed(before) == dedent(before)  # the plain variant keeps its asserts
    assert "stripped 9 assertion(s), keeping the calls in them" in changes(before, behavior_capture=True)


def test_a_call_part_that_spans_lines_gets_parentheses_of_its_own():
    before = "from mypkg.sorter import sort_list\nassert (sort_list([2, 1]) +\n        [3] == [1, 2, 3])\n"
    after = "from mypkg.sorter import sort_list\n(sort_list([2, 1]) +\n        [3])\n"
    assert fixed(before, behavior_capture=True) == after


def test_unittest_assertions_are_stripped_too_but_assert_raises_stays():
    before = """\
        import unittest
        from mypkg.sorter import BubbleSorter


        class TestBubbleSorter(unittest.TestCase):
            def test_sort(self):
                self.assertEqual(BubbleSorter().sort([2, 1]), [1, 2])
                self.assertTrue(True)

            def test_none(self):
                with self.assertRaises(TypeError):
                    self.assertEqual(BubbleSorter().sort(None), [])
                self.assertRaises(TypeError, BubbleSorter().sort, None)
        """
    after = """\
        import unittest
        from mypkg.sorter import BubbleSorter


        class TestBubbleSorter(unittest.TestCase):
            def test_sort(self):
                BubbleSorter().sort([2, 1])

            def test_none(self):
                with self.assertRaises(TypeError):
                    self.assertEqual(BubbleSorter().sort(None), [])
                self.assertRaises(TypeError, BubbleSorter().sort, None)
        """
    assert fixed(before, BUBBLE_SORT, behavior_capture=True) == dedent(after)


# --- 6. unique test names ----------------------------------------------------------------------------------


def test_a_test_name_used_twice_in_a_scope_gets_a_suffix():
    before = """\
        from mypkg.sorter import sort_list

        def test_sort():
            assert sort_list([1]) == [1]

        def test_sort():
            assert sort_list([2, 1]) == [1, 2]

        def test_sort_2():
            assert sort_list([]) == []

        def test_sort():
            assert sort_list([3, 2, 1]) == [1, 2, 3]

        def helper():
            return 1

        def helper():
            return 2

        class TestSorter:
            def test_sort(self):
                assert sort_list([1]) == [1]

            def test_sort(self):
                assert sort_list([1, 1]) == [1, 1]

        class TestSorter:
            def test_sort(self):
                assert sort_list([0]) == [0]
        """
    after = """\
        from mypkg.sorter import sort_list

        def test_sort():
            assert sort_list([1]) == [1]

        def test_sort_3():
            assert sort_list([2, 1]) == [1, 2]

        def test_sort_2():
            assert sort_list([]) == []

        def test_sort_4():
            assert sort_list([3, 2, 1]) == [1, 2, 3]

        def helper():
            return 1

        def helper():
            return 2

        class TestSorter:
            def test_sort(self):
                assert sort_list([1]) == [1]

            def test_sort_2(self):
                assert sort_list([1, 1]) == [1, 1]

        class TestSorter_2:
            def test_sort(self):
                assert sort_list([0]) == [0]
        """
    assert fixed(before) == dedent(after)  # test_sort_2 was taken; helpers are not tests
    assert sorted(changes(before)) == [
        "renamed a repeated TestSorter to TestSorter_2",
        "renamed a repeated test_sort to test_sort_2",
        "renamed a repeated test_sort to test_sort_3",
        "renamed a repeated test_sort to test_sort_4",
    ]


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("def test_it(:\n    pass\n", 1, 13),
        ("import pytest\n\ndef test_it():\n    assert sort_list([1] == [1]\n", 4, 21),
        ("def test_it():\nassert True\n", 2, 1),
        ("x = 1\x00\n", None, None),
    ],
)
def test_source_that_does_not_parse_is_refused_with_where(source, line, column):
    with pytest.raises(CodeSyntaxError) as refused:
        postprocess_tests(source, SORT_LIST)
    assert (refused.value.line, refused.value.column) == (line, column)


def test_source_only_libcst_refuses_is_refused_the_same_way(monkeypatch):
    """No source the compiler takes is known to trip libcst 1.9; a newer Python's syntax might."""
    parse_module = libcst.parse_module
    monkeypatch.setattr(libcst, "parse_module", lambda source: parse_module("def f(:\n    pass\n"))  # testgen's cst
    with pytest.raises(CodeSyntaxError, match="parser error") as refused:
        postprocess_tests("x = 1\n", SORT_LIST)
    assert (refused.value.line, refused.value.column) == (2, 1)  # libcst's estimate of where


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"module_path": "", "qualified_name": "f"}, "module_path ''"),
        ({"module_path": "my-pkg.sorter", "qualified_name": "f"}, "module_path 'my-pkg.sorter'"),
        ({"module_path": "mypkg.sorter", "qualified_name": "Sorter..sort"}, "qualified_name 'Sorter..sort'"),
        ({"module_path": "mypkg.class", "qualified_name": "f"}, "module_path 'mypkg.class'"),
        ({"module_path": "mypkg.sorter", "qualified_name": "f", "helpers": ("greater",)}, "helper function name"),
    ],
)
def test_a_target_whose_names_python_cannot_import_is_an_invalid_request(fields, problem):
    with pytest.raises(InvalidRequest, match=problem):
        CodeUnderTest(**fields)


# --- idempotence -------------------------------------------------------------------------------------------


def indented(lines: str, depth: int = 1) -> str:
    return "\n".join("    " * depth + line if line else line for line in lines.split("\n"))


IMPORTS = [
    "import pytest",
    "import os, sys",
    "import numpy as np",
    "from mypkg.sorter import sort_list",
    "from mypkg.sorter import sort_list as sl",
    "from mypkg.sorter import sort_list as sort_list",
    "from mypkg.sorter import BubbleSorter",
    "from mypkg.util import greater, SCALE",
    "from mypkg.util import (\n    greater,\n    SCALE,\n)",
    "from math import *",
    "import mypkg.sorter",
]
DEFINITIONS = [
    "def sort_list(arr):\n    return sorted(arr)",
    "class BubbleSorter:\n    def sort(self, arr):\n        return sorted(arr)",
    "greater = lambda a, b: a > b",
    "SCALE = 3",
    "x = 1; SCALE = 2",
    "CASES = [[3, 1, 2], [0] * 10**6]",
    "def helper(x):\n    return x",
]
STATEMENTS = [
    "assert sort_list([3, 1, 2]) == [1, 2, 3]",
    "assert BubbleSorter().sort([2, 1]) == [1, 2]",
    "data = list(range(10**7))",
    "for _ in range(5, 10_000_000, 2):\n    pass",
    "big = [0] * 2**20 + ['x'] * (10**6)",
    "assert greater(2 ** 10**9, 1), f'{SCALE}'",
    "with pytest.raises(TypeError):\n    assert sort_list(None) == 1",
    "assert (sort_list([1])\n        == [1])",
    "assert (sort_list([2]) +\n        [1] == [2, 1])",
    "assert data is None or sort_list(data)[0] < 1",
    "assert not sort_list([])",
    "if data: assert len(data) > 0; assert sort_list(data)",
    "for x in [1, 2]:\n    assert x > 0",
    "x = 1; assert x == 1",
    "import random",
    "def greater(a, b):\n    return a > b",
]
names = st.sampled_from(["test_a", "test_b", "test_a_2"])
bodies = st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=4).map(lambda lines: indented("\n".join(lines)))
functions = st.builds(lambda name, body: f"def {name}():\n{body}", names, bodies)
methods = st.builds(
    lambda name, body: indented(f"def {name}(self):\n{body}\n    self.assertEqual(sort_list([1]), [1])"), names, bodies
)
classes = st.builds(
    lambda name, methods: f"class {name}:\n" + "\n\n".join(methods),
    st.sampled_from(["TestSorter", "TestOther"]),
    st.lists(methods, min_size=1, max_size=3),
)
parts = st.one_of(st.sampled_from(IMPORTS), st.sampled_from(DEFINITIONS), functions, classes)
test_files = st.builds(
    lambda docstring, parts, separator: docstring + separator.join(parts) + "\n",
    st.sampled_from(["", '"""Generated tests."""\n', '"""Doc."""\nfrom __future__ import annotations\n']),
    st.lists(parts, max_size=12),
    st.sampled_from(["\n", "\n\n\n", "\n# next\n"]),
)


@settings(max_examples=100, deadline=None)
@given(source=test_files, target=st.sampled_from([SORT_LIST, BUBBLE_SORT]), behavior_capture=st.booleans())
def test_postprocessing_is_idempotent_and_its_output_compiles(source, target, behavior_capture):
    once = postprocess_tests(source, target, behavior_capture=behavior_capture)
    check_python(once.code)
    twice = postprocess_tests(once.code, target, behavior_capture=behavior_capture)
    assert twice == testgen.ProcessedTests(code=once.code, changes=())
