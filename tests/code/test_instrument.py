"""Instrumentation of generated tests (contract §5), run for real: instrumented files of each shape go into a
throwaway project with a small module under test, pytest runs them in a subprocess with the client's environment
(CODEFLASH_LOOP_INDEX, CODEFLASH_TEST_ITERATION, the run directory in place of the placeholder), and the sqlite
rows and stdout markers are checked against the contract. Refusals and what must stay untouched are checked on
the text."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from textwrap import dedent
from typing import Any

import dill  # type: ignore[import-untyped]
import pytest

from aiservice.code.instrument import InstrumentTarget, instrument_tests
from aiservice.code.syntax import CodeSyntaxError, check_python
from aiservice.errors import InvalidRequest

PLACEHOLDER = "{codeflash_run_tmp_dir_client_side}"
COLUMNS = [
    ("test_module_path", "TEXT"),
    ("test_class_name", "TEXT"),
    ("test_function_name", "TEXT"),
    ("function_getting_tested", "TEXT"),
    ("loop_index", "INTEGER"),
    ("iteration_id", "TEXT"),
    ("runtime", "INTEGER"),
    ("return_value", "BLOB"),
    ("verification_type", "TEXT"),
]

MODULE_UNDER_TEST = """
import asyncio
import gc


def sort_list(arr):
    if arr is None:
        raise TypeError("arr must not be None")
    return sorted(arr)


def other(arr):
    return list(arr)


def collecting():
    return gc.isenabled()


class Sorter:
    def __init__(self, reverse=False):
        self.reverse = reverse

    def sort(self, arr):
        return sorted(arr, reverse=self.reverse)

    @classmethod
    def sort_cls(cls, arr):
        return sorted(arr)

    @staticmethod
    def sort_static(arr):
        if not arr:
            raise ValueError("empty")
        return sorted(arr)


async def sort_async(arr):
    await asyncio.sleep(0)
    if arr is None:
        raise ValueError("none")
    return sorted(arr)
"""

# pytest-asyncio's job, in six lines: run `async def` tests in an event loop.
CONFTEST = """
import asyncio
import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
        return True
"""


def target(
    qualified_name: str = "sort_list", test_module: str = "tests.test_gen", **changes: object
) -> InstrumentTarget:
    classes = qualified_name.split(".")[:-1]
    fields: dict[str, Any] = dict(
        module_path="mypkg.sorter",
        qualified_name=qualified_name,
        class_name=classes[-1] if classes else None,
        is_async=False,
        test_module_path=test_module,
        test_framework="pytest",
    )
    return InstrumentTarget(**{**fields, **changes})


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    rows: list[dict[str, object]]
    starts: list[tuple[str, ...]]
    ends: list[tuple[str, ...]]
    columns: list[tuple[str, str]]

    def rows_of(self, test: str) -> list[dict[str, object]]:
        return [row for row in self.rows if row["test_function_name"] == test]


START = re.compile(r"!\$######([^:]*):([^:]*):([^:]*):([^:]*):([^:#]*)######\$!\n")
END = re.compile(r"!######([^:$]*):([^:]*):([^:]*):([^:]*):([^:#]*)(?::(\d+))?######!")


def run_instrumented(
    project: Path, files: dict[str, tuple[str, InstrumentTarget]], mode: str, loop_index: int = 1, iteration: str = "0"
) -> Run:
    """Instruments each test file for `mode`, as the client gets it, and runs them all in one pytest process."""
    run_dir = project / "run"
    run_dir.mkdir(exist_ok=True)
    for name, (source, instrument_target) in files.items():
        code = instrument_tests(dedent(source), instrument_target, mode)  # type: ignore[arg-type]
        (project / "tests" / f"{name}.py").write_text(code.replace(PLACEHOLDER, str(run_dir)))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "CODEFLASH_"))}
    env.update(CODEFLASH_LOOP_INDEX=str(loop_index), CODEFLASH_TEST_ITERATION=iteration, PYTHONDONTWRITEBYTECODE="1")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the project venv has plugins a test run does not need
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *(f"tests/{name}.py" for name in files)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    database = run_dir / f"test_return_values_{iteration}.sqlite"
    rows: list[dict[str, object]] = []
    columns: list[tuple[str, str]] = []
    if database.exists():
        with sqlite3.connect(database) as connection:
            connection.row_factory = sqlite3.Row
            rows = [dict(row) for row in connection.execute("SELECT * FROM test_results")]
            columns = [(info[1], info[2]) for info in connection.execute("PRAGMA table_info(test_results)")]
        database.unlink()
    return Run(result, rows, START.findall(result.stdout), END.findall(result.stdout), columns)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "sorter.py").write_text(MODULE_UNDER_TEST)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def passed(run: Run, count: int) -> None:
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    assert f"{count} passed" in run.result.stdout


def check_markers_match_rows(run: Run, module: str, function: str, loop_index: int = 1) -> None:
    """One start and one end marker per row, start first, with the row's names, loop and iteration id."""
    expected = sorted(
        (
            module,
            f"{row['test_class_name']}.{row['test_function_name']}"
            if row["test_class_name"]
            else str(row["test_function_name"]),
            function,
            str(loop_index),
            str(row["iteration_id"]),
        )
        for row in run.rows
    )
    assert sorted(run.starts) == expected
    assert sorted(end[:5] for end in run.ends) == expected
    assert all(end[5] == "" for end in run.ends)  # no runtime in the behavior end marker
    stdout = run.result.stdout
    for start in run.starts:
        start_text = "!$######" + ":".join(start) + "######$!\n"
        end_text = "!######" + ":".join(start) + "######!"
        assert stdout.index(start_text) < stdout.index(end_text)


# --- a plain function: every shape of call, behavior ---------------------------------------------------------

FUNCTION_TESTS = """
    import pytest
    from mypkg.sorter import sort_list as sl, other
    import mypkg.sorter as s
    import mypkg.sorter


    @pytest.mark.parametrize("data", [[3, 1, 2], [], [5, 5, 1]])
    def test_param(data):
        assert sl(data) == sorted(data)


    def test_shapes():
        first = sl([2, 1]); second = s.sort_list([4, 3])
        for i in range(3):
            s.sort_list([i, 0])
        with pytest.raises(TypeError, match="must not be None"):
            mypkg.sorter.sort_list(None)
        key = lambda v: sl(v)[0]
        assert [key([c, 9]) for c in range(2)] == [0, 1]
        assert other([3, 1]) == [3, 1]
        assert sl(sl([9, 8])) == [8, 9], f"{sl([1])} is not called unless this fails"


    def test_no_call():
        assert other([1]) == [1]


    class TestGrouped:
        def test_in_class(self):
            assert sl([5, 4]) == [4, 5]
"""


def test_function_behavior_rows_and_markers(project: Path):
    module = "tests.test_gen__unit_test_0"
    run = run_instrumented(project, {"test_gen__unit_test_0": (FUNCTION_TESTS, target(test_module=module))}, "behavior")
    passed(run, 6)

    assert run.columns == COLUMNS
    ids = {(row["test_class_name"], row["test_function_name"], row["iteration_id"]) for row in run.rows}
    assert len(ids) == len(run.rows), "iteration ids repeat within a test"
    assert ids == {
        # parametrised: one test for the client, so the ids keep counting across the cases
        (None, "test_param", "0_0"),
        (None, "test_param", "0_1"),
        (None, "test_param", "0_2"),
        (None, "test_shapes", "0_0"),
        (None, "test_shapes", "1_0"),  # two statements on one line
        (None, "test_shapes", "2_0_0"),
        (None, "test_shapes", "2_0_1"),
        (None, "test_shapes", "2_0_2"),  # loop
        (None, "test_shapes", "3_0_0"),  # pytest.raises
        (None, "test_shapes", "4_0"),
        (None, "test_shapes", "4_1"),  # lambda called from a comprehension
        (None, "test_shapes", "7_0"),
        (None, "test_shapes", "7_1"),  # nested: the inner call runs first
        ("TestGrouped", "test_in_class", "0_0"),
    }
    returned = {(row["test_function_name"], row["iteration_id"]): dill.loads(row["return_value"]) for row in run.rows}
    assert [returned["test_param", f"0_{i}"] for i in range(3)] == [[1, 2, 3], [], [1, 5, 5]]
    assert [returned["test_shapes", f"2_0_{i}"] for i in range(3)] == [[0, 0], [0, 1], [0, 2]]
    assert returned["test_shapes", "7_0"] == returned["test_shapes", "7_1"] == [8, 9]
    raised = returned["test_shapes", "3_0_0"]
    assert isinstance(raised, TypeError) and raised.args == ("arr must not be None",)
    for row in run.rows:
        assert row["test_module_path"] == module
        assert row["function_getting_tested"] == "sort_list"
        assert row["loop_index"] == 1
        assert row["verification_type"] == "function_call"
        assert isinstance(row["runtime"], int) and row["runtime"] > 0
    check_markers_match_rows(run, module, "sort_list")


def test_function_perf_markers_carry_runtime_and_the_loop_index(project: Path):
    module = "tests.test_gen__perf_test_0"
    run = run_instrumented(
        project, {"test_gen__perf_test_0": (FUNCTION_TESTS, target(test_module=module))}, "perf", loop_index=7
    )
    passed(run, 6)
    assert run.rows == [] and not any((project / "run").iterdir()), "the perf file must not write results"
    assert len(run.starts) == len(run.ends) == 14
    assert sorted(run.starts) == sorted(end[:5] for end in run.ends)
    for end in run.ends:
        assert end[0] == module and end[2] == "sort_list" and end[3] == "7"
        assert int(end[5]) > 0
    assert ("tests.test_gen__perf_test_0", "TestGrouped.test_in_class", "sort_list", "7", "0_0") in run.starts


def test_the_iteration_file_is_named_by_codeflash_test_iteration(project: Path):
    tests = "from mypkg.sorter import sort_list\n\ndef test_one():\n    assert sort_list([2, 1]) == [1, 2]\n"
    run = run_instrumented(project, {"test_one": (tests, target())}, "behavior", iteration="3")
    passed(run, 1)
    assert [row["iteration_id"] for row in run.rows] == ["0_0"]


def test_the_cycle_collector_is_paused_for_the_call_only(project: Path):
    tests = dedent("""
        import gc
        from mypkg.sorter import collecting

        def test_gc():
            assert gc.isenabled() and collecting() is False and gc.isenabled()
    """)
    run = run_instrumented(project, {"test_gc": (tests, target("collecting"))}, "behavior")
    passed(run, 1)
    assert [dill.loads(row["return_value"]) for row in run.rows] == [False]


def test_a_failing_assertion_still_fails_and_the_call_is_recorded(project: Path):
    tests = "from mypkg.sorter import sort_list\n\ndef test_wrong():\n    assert sort_list([2, 1]) == [2, 1]\n"
    run = run_instrumented(project, {"test_wrong": (tests, target())}, "behavior")
    assert "1 failed" in run.result.stdout
    assert [dill.loads(row["return_value"]) for row in run.rows] == [[1, 2]]


# --- methods ---------------------------------------------------------------------------------------------

METHOD_TESTS = """
    from mypkg.sorter import Sorter
    import mypkg.sorter as s


    def test_instance_method():
        sorter = Sorter()
        data = [3, 1]
        data.sort()  # list.sort, not the method under test
        assert sorter.sort([2, 1]) == [1, 2]
        assert Sorter(reverse=True).sort([1, 2]) == [2, 1]
        assert s.Sorter.sort(sorter, [9, 8]) == [8, 9]
"""

CLASSMETHOD_TESTS = """
    from mypkg.sorter import Sorter


    def test_classmethod():
        assert Sorter.sort_cls([2, 1]) == [1, 2]
        assert Sorter().sort_cls([4, 3]) == [3, 4]
"""

STATICMETHOD_TESTS = """
    import pytest
    from mypkg.sorter import Sorter


    def test_staticmethod():
        assert Sorter.sort_static([2, 1]) == [1, 2]
        with pytest.raises(ValueError):
            Sorter().sort_static([])
"""


def test_methods_of_each_kind(project: Path):
    files = {
        "test_method": (METHOD_TESTS, target("Sorter.sort", "tests.test_method")),
        "test_classmethod": (CLASSMETHOD_TESTS, target("Sorter.sort_cls", "tests.test_classmethod")),
        "test_staticmethod": (STATICMETHOD_TESTS, target("Sorter.sort_static", "tests.test_staticmethod")),
    }
    run = run_instrumented(project, files, "behavior")
    passed(run, 3)
    recorded = [
        (row["test_module_path"], row["function_getting_tested"], row["iteration_id"], dill.loads(row["return_value"]))
        for row in run.rows
    ]
    assert recorded[:3] == [  # data.sort() on line 2 is not recorded
        ("tests.test_method", "Sorter.sort", "3_0", [1, 2]),
        ("tests.test_method", "Sorter.sort", "4_0", [2, 1]),
        ("tests.test_method", "Sorter.sort", "5_0", [8, 9]),
    ]
    assert recorded[3:5] == [
        ("tests.test_classmethod", "Sorter.sort_cls", "0_0", [1, 2]),
        ("tests.test_classmethod", "Sorter.sort_cls", "1_0", [3, 4]),
    ]
    assert recorded[5][:3] == ("tests.test_staticmethod", "Sorter.sort_static", "0_0")
    assert recorded[6][:3] == ("tests.test_staticmethod", "Sorter.sort_static", "1_0_0")
    assert isinstance(recorded[6][3], ValueError)
    assert len(run.starts) == len(run.ends) == len(run.rows) == 7


# --- unittest ---------------------------------------------------------------------------------------------

UNITTEST_TESTS = """
    import unittest

    from mypkg.sorter import sort_list


    def test_helper_not_a_unittest_test():
        return sort_list([1])


    class TestSort(unittest.TestCase):
        def setUp(self):
            self.data = sort_list([2, 1])  # not a test: not measured

        def test_basic(self):
            self.assertEqual(sort_list([2, 1]), [1, 2])

        def test_raises(self):
            with self.assertRaises(TypeError):
                sort_list(None)
"""


@pytest.mark.parametrize("mode", ["behavior", "perf"])
def test_unittest_classes_name_the_class(project: Path, mode: str):
    module = "tests.test_ut__unit_test_0"
    instrument_target = target(test_module=module, test_framework="unittest")
    run = run_instrumented(project, {"test_ut__unit_test_0": (UNITTEST_TESTS, instrument_target)}, mode)
    passed(run, 3)  # pytest also collects the module-level function; unittest would not
    expected = [
        (module, "TestSort.test_basic", "sort_list", "1", "0_0"),
        (module, "TestSort.test_raises", "sort_list", "1", "0_0_0"),
    ]
    assert sorted(run.starts) == expected
    if mode == "behavior":
        assert [(row["test_class_name"], row["test_function_name"]) for row in run.rows] == [
            ("TestSort", "test_basic"),
            ("TestSort", "test_raises"),
        ]
        check_markers_match_rows(run, module, "sort_list")


# --- async ------------------------------------------------------------------------------------------------

ASYNC_TESTS = """
    import asyncio

    import pytest

    from mypkg.sorter import sort_async


    async def test_awaited():
        assert await sort_async([2, 1]) == [1, 2]
        with pytest.raises(ValueError):
            await sort_async(None)


    def test_run_from_sync():
        assert asyncio.run(sort_async([3, 2])) == [2, 3]
"""


def test_async_functions(project: Path):
    module = "tests.test_async"
    instrument_target = target("sort_async", module, is_async=True)
    run = run_instrumented(project, {"test_async": (ASYNC_TESTS, instrument_target)}, "behavior")
    passed(run, 2)
    recorded = [(row["test_function_name"], row["iteration_id"], dill.loads(row["return_value"])) for row in run.rows]
    assert recorded[0] == ("test_awaited", "0_0", [1, 2])
    assert recorded[1][:2] == ("test_awaited", "1_0_0") and isinstance(recorded[1][2], ValueError)
    assert recorded[2] == ("test_run_from_sync", "0_0", [2, 3])
    # the coroutine is awaited inside the measurement: asyncio.sleep(0) and all
    assert all(row["runtime"] > 0 for row in run.rows)  # type: ignore[operator]
    check_markers_match_rows(run, module, "sort_async")

    perf = run_instrumented(project, {"test_async": (ASYNC_TESTS, instrument_target)}, "perf")
    passed(perf, 2)
    assert [end[4] for end in perf.ends] == ["0_0", "1_0_0", "0_0"] and all(int(end[5]) > 0 for end in perf.ends)


# --- on the text: what changes and what does not ----------------------------------------------------------


def test_only_the_target_calls_change():
    source = dedent('''\
        """Tests."""
        from __future__ import annotations

        import pytest
        from mypkg.sorter import sort_list


        @pytest.fixture
        def data():
            return sort_list([3, 2])  # a fixture, not a test


        def helper(x):
            return sort_list(x)


        def test_it(data):
            assert sorted([2, 1]) == [1, 2]
            assert sort_list( [2, 1] )==[1, 2]  # odd spacing kept
    ''')
    out = instrument_tests(source, target(), "perf")
    assert out.startswith('"""Tests."""\nfrom __future__ import annotations\n\n# codeflash instrumentation')
    helper_end = out.index("import pytest")
    assert out[helper_end:] == source[source.index("import pytest") :].replace(
        "    assert sort_list( [2, 1] )",
        "    assert _codeflash_wrap(sort_list, None, 'test_it', '1')( [2, 1] )",
    )
    check_python(out)


def test_a_file_without_target_calls_comes_back_unchanged():
    source = "from mypkg.sorter import other\n\n\ndef test_other():\n    assert other([1]) == [1]\n"
    assert instrument_tests(source, target(), "behavior") == source
    assert instrument_tests(source, target(), "perf") == source


def test_the_behavior_file_writes_to_the_placeholder_and_the_perf_file_imports_no_dill():
    source = "from mypkg.sorter import sort_list\n\n\ndef test_one():\n    sort_list([1])\n"
    behavior = instrument_tests(source, target(), "behavior")
    perf = instrument_tests(source, target(), "perf")
    assert behavior.count(PLACEHOLDER) == 1 and "import dill" in behavior
    assert PLACEHOLDER not in perf and "dill" not in perf and "sqlite3" not in perf


def test_columns_are_utf8_aware_and_calls_in_fstrings_are_left_alone():
    source = "from mypkg.sorter import sort_list\n\n\ndef test_é():\n"
    source += '    x = "é"; y = sort_list(["ü"]); print(f"{sort_list(x)}")\n'
    out = instrument_tests(source, target(), "perf")
    wrapped = "_codeflash_wrap(sort_list, None, 'test_é', '1')"
    assert f'x = "é"; y = {wrapped}(["ü"]); print(f"{{sort_list(x)}}")' in out
    check_python(out)


def test_the_helper_goes_below_a_leading_comment_and_above_decorators():
    source = "#!/usr/bin/env python\n# comment\n@decorate\ndef test_one():\n    sort_list([1])\n"
    out = instrument_tests(source, target(), "perf")
    assert out.startswith("#!/usr/bin/env python\n# comment\n# codeflash instrumentation")
    assert out.endswith("\n\n@decorate\ndef test_one():\n    _codeflash_wrap(sort_list, None, 'test_one', '0')([1])\n")


def test_calls_through_imports_of_something_else_are_left_alone():
    source = dedent("""\
        from other.place import sort_list
        import mypkg.sorter as s


        def test_one():
            sort_list([1])
            s.other([1])
            s.sorter.sort_list([1])
    """)
    assert instrument_tests(source, target(), "perf") == source


def test_a_method_on_an_unknown_object_is_checked_when_it_runs():
    source = "def test_one(make):\n    make().sort([1])\n    Sorter().sort([1])\n"
    out = instrument_tests(source, target("Sorter.sort"), "perf")
    assert "_codeflash_wrap_if_target(make().sort, None, 'test_one', '0')([1])" in out
    assert "_codeflash_wrap(Sorter().sort, None, 'test_one', '1')([1])" in out


def test_syntax_errors_are_refused():
    with pytest.raises(CodeSyntaxError) as error:
        instrument_tests("def test_one(:\n    pass\n", target(), "behavior")
    assert error.value.line == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"module_path": "mypkg/sorter.py"},
        {"qualified_name": "sort list"},
        {"test_module_path": "tests.test:x"},
        {"qualified_name": "Sorter.sort", "class_name": None},
        {"qualified_name": "sort_list", "class_name": "Sorter"},
        {"test_framework": "jest"},
    ],
)
def test_bad_targets_are_refused(changes: dict[str, Any]):
    with pytest.raises(InvalidRequest):
        replace(target(), **changes)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        instrument_tests("def test_one():\n    pass\n", target(), "timing")  # type: ignore[arg-type]
