"""Instrumentation of generated Python tests, so that the codeflash client can measure them (contract §5).

The client runs the two files /ai/testgen returns verbatim, after replacing the literal
`{codeflash_run_tmp_dir_client_side}` with its run directory. Each call of the function under test inside a test
becomes `_codeflash_wrap(<callee>, <test class>, <test name>, <line id>)(<arguments>)`: the callee and the
arguments are evaluated as before, and a helper injected at the top of the file times the call alone
(`perf_counter_ns`, the cycle collector paused) and reports it:
- behavior: stdout markers `!$######{module}:{Class.}{test}:{function}:{loop}:{iteration_id}######$!` before and
  `!######…######!` after the call, and one row in `test_return_values_{CODEFLASH_TEST_ITERATION}.sqlite`
  holding `dill.dumps` of the return value or of the exception, which is then raised again (`pytest.raises`
  still sees it);
- perf: the same start marker, and the runtime in the end marker `!######…:{iteration_id}:{runtime_ns}######!`.

The names follow the client's parser: `{module}` is the request's `test_module_path`, `{function}` the qualified
name, the loop index comes from `CODEFLASH_LOOP_INDEX` at call time (the client's pytest plugin changes it between
loops), and the iteration id is `{line_id}_{n}`, n counting the calls of one test, line and loop in the process,
so parametrised cases get distinct ids (the client drops results whose ids repeat). The line id is the index of
the test's top-level statement, `{i}_{j}` for statement j in the body of a `with`/`for`/`while`/`if` at i: the
scheme the client uses to put runtime comments on the generated tests' lines.

Which calls: those in the body of a test (a `test*` function, or a `test*` method of a class; pytest only for
module-level functions), lambdas, comprehensions and nested functions included, whose callee names the target
through the file's imports: `f`, an alias `g` from `from m import f as g`, `s.f` from `import m as s`, `m.f`,
and for a method `C.meth`, `C(...).meth`. A method called on any other object (`obj.meth(...)`) is checked when
it runs: only a callee whose function has the target's `__qualname__` is measured, so `data.sort()` is not taken
for `Sorter.sort`. Calls in f-strings (assertion messages) and outside tests (fixtures, helpers) are left alone.

Why `ast` and text insertions rather than libcst: an instrumented call only gains text at two places whose
positions `ast` gives exactly (before and after the callee), so every other byte of the file is kept as it
came, which is all libcst would buy here; and `ast` parses a 300-line file in ~3 ms where libcst takes ~30 ms
plus ~10 ms to print it back. The statement indices are those of `ast`, the module the client's own mapper uses.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from aiservice.code.syntax import parse_python
from aiservice.errors import InvalidRequest

Mode = Literal["behavior", "perf"]


@dataclass(frozen=True)
class InstrumentTarget:
    """The function under test and the test file, with the names of the /ai/testgen request: `module_path`
    "mypkg.sorter", `qualified_name` "sort_list" or "Sorter.sort", `class_name` its innermost class (None for a
    function), `test_module_path` "tests.test_sort_list__unit_test_0"."""

    module_path: str
    qualified_name: str
    class_name: str | None
    is_async: bool
    test_module_path: str
    test_framework: Literal["pytest", "unittest"]

    def __post_init__(self) -> None:
        # These names are written into the generated code and the markers, whose fields are split at ":".
        for name, value in [
            ("module_path", self.module_path),
            ("qualified_name", self.qualified_name),
            ("test_module_path", self.test_module_path),
        ]:
            if not _is_dotted_name(value):
                raise InvalidRequest(f"{name} {value!r} is not a dotted Python name")
        classes = self.qualified_name.split(".")[:-1]
        if (self.class_name or None) != (classes[-1] if classes else None):
            raise InvalidRequest(f"class_name {self.class_name!r} does not match {self.qualified_name!r}")
        if self.test_framework not in ("pytest", "unittest"):
            raise InvalidRequest(f"test_framework {self.test_framework!r} is not pytest or unittest")


def instrument_tests(source: str, target: InstrumentTarget, mode: Mode) -> str:
    """The test file `source` instrumented for `mode`; `source` itself if no test calls the target.
    CodeSyntaxError if it does not parse."""
    if mode not in ("behavior", "perf"):
        raise ValueError(f"mode {mode!r} is not behavior or perf")
    tree = parse_python(source)
    finder = _CallFinder(target, _import_bindings(tree, target))
    insertions: list[tuple[int, int, int, str]] = []  # (line, UTF-8 column, order at that spot, text)
    for test_class, test in _tests(tree, target.test_framework):
        for line_id, node in _line_parts(test.body):
            for call, checked in finder.calls(node):
                callee = call.func
                assert callee.end_lineno is not None and callee.end_col_offset is not None
                wrap = "_codeflash_wrap_if_target(" if checked else "_codeflash_wrap("
                # Nested calls can open at one spot (`a.meth(x).meth(y)`): the outer call, with the longer
                # callee, opens first.
                span = (callee.end_lineno - callee.lineno, callee.end_col_offset - callee.col_offset)
                insertions.append((callee.lineno, callee.col_offset, -(span[0] * 1_000_000 + span[1]), wrap))
                close = f", {test_class!r}, {test.name!r}, {line_id!r})"
                insertions.append((callee.end_lineno, callee.end_col_offset, -(1 << 62), close))
    if not insertions:
        return source
    line, after_header = _helper_position(tree)
    insertions.append((line, 0, -(1 << 63), _helper(target, mode, after_header)))
    return _insert(source, insertions)


def _is_dotted_name(value: str) -> bool:
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in value.split("."))


def _import_bindings(tree: ast.Module, target: InstrumentTarget) -> dict[str, str]:
    """Local name -> the dotted name it stands for, from every import in the file (tests often import inside
    the test). The target's top-level name counts as imported from its module unless something else binds it:
    the file may rely on a conftest or a star import we cannot see into."""
    names: dict[str, str] = {}
    top_level = target.qualified_name.partition(".")[0]
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    package = alias.name.partition(".")[0]
                    names[package] = package
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    names.setdefault(top_level, f"{target.module_path}.{top_level}")
    return names


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement, nested ones included, without going into expressions (imports are statements)."""
    for statement in body:
        yield statement
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(statement, field, []))


class _CallFinder:
    def __init__(self, target: InstrumentTarget, bindings: dict[str, str]) -> None:
        self.bindings = bindings
        self.function = f"{target.module_path}.{target.qualified_name}"
        owner, _, self.method = self.function.rpartition(".")
        self.cls = owner if target.class_name else None

    def calls(self, node: ast.AST) -> Iterator[tuple[ast.Call, bool]]:
        """The target's calls under `node`, each with whether its callee must be checked when it runs."""
        pending = [node]
        while pending:
            node = pending.pop()
            if isinstance(node, ast.JoinedStr):
                continue
            if isinstance(node, ast.Call):
                kind = self._kind(node.func)
                if kind is not None:
                    yield node, kind
            pending.extend(ast.iter_child_nodes(node))

    def _kind(self, callee: ast.expr) -> bool | None:
        """False: certainly the target; True: a method of this name on some object; None: something else."""
        if self._dotted(callee) == self.function:
            return False
        if self.cls is None or not isinstance(callee, ast.Attribute) or callee.attr != self.method:
            return None
        receiver = callee.value.func if isinstance(callee.value, ast.Call) else callee.value  # C(...).meth
        return self._dotted(receiver) != self.cls

    def _dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.bindings.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None


def _tests(tree: ast.Module, framework: str) -> Iterator[tuple[str | None, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(class path or None, test) for each test the runner collects; unittest collects only methods."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if framework == "pytest" and node.name.startswith("test"):
                yield None, node
        elif isinstance(node, ast.ClassDef):
            yield from _class_tests(node, node.name)


def _class_tests(cls: ast.ClassDef, path: str) -> Iterator[tuple[str | None, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield path, node
        elif isinstance(node, ast.ClassDef):
            yield from _class_tests(node, f"{path}.{node.name}")


# The statements whose bodies the client's runtime-comment mapper looks into (not `async with/for`, which are
# other classes).
_BLOCKS = (ast.With, ast.For, ast.While, ast.If)


def _line_parts(body: list[ast.stmt]) -> Iterator[tuple[str, ast.AST]]:
    """(line id, node) covering a test's body: "i" for statement i, "i_j" for statement j of the block at i
    (its header and `else` keep "i")."""
    for i, statement in enumerate(body):
        if not isinstance(statement, _BLOCKS):
            yield str(i), statement
            continue
        inner = statement.body
        for j, child in enumerate(inner):
            yield f"{i}_{j}", child
        inside = {id(child) for child in inner}
        for part in ast.iter_child_nodes(statement):
            if id(part) not in inside:
                yield str(i), part


def _helper_position(tree: ast.Module) -> tuple[int, bool]:
    """The line the helper goes before, and whether that is after a header: after the module docstring and
    `from __future__` imports, which must come first, else before the first statement (comments above it, a
    shebang or coding line, stay on top)."""
    line = 0
    for i, statement in enumerate(tree.body):
        docstring = (
            i == 0
            and isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        )
        if not docstring and not (isinstance(statement, ast.ImportFrom) and statement.module == "__future__"):
            break
        line = statement.end_lineno or statement.lineno
    if line:
        return line + 1, True
    first = tree.body[0]
    decorators = getattr(first, "decorator_list", [])
    return min([first.lineno, *(decorator.lineno for decorator in decorators)]), False


_NEWLINE = re.compile(r"\r\n|\r|\n")  # what the tokenizer counts as a line end


def _insert(source: str, insertions: list[tuple[int, int, int, str]]) -> str:
    """`source` with each text inserted at its (1-based line, UTF-8 column): the columns `ast` reports."""
    starts = [0, *(match.end() for match in _NEWLINE.finditer(source))]
    pieces, done = [], 0
    for line, column, _, text in sorted(insertions, key=lambda insertion: insertion[:3]):
        if line > len(starts):  # after the last line, which has no line end
            offset, text = len(source), "\n" + text
        else:
            start = starts[line - 1]
            prefix = source[start : start + column]
            if not prefix.isascii():
                prefix = source[start:].encode()[:column].decode()
            offset = start + len(prefix)
        pieces += [source[done:offset], text]
        done = offset
    pieces.append(source[done:])
    return "".join(pieces)


# The helper, written into each instrumented file. Only `_codeflash_*` names, so it cannot clash with the
# test's own; __MODULE__ and __FUNCTION__ stand for dotted names, __ASYNC__ and __AWAIT__ for the keywords.
_COMMON = """
# codeflash instrumentation: times each call of __FUNCTION__ and reports it in the codeflash client's format.
import gc as _codeflash_gc
import os as _codeflash_os
import time as _codeflash_time

_codeflash_calls = {}


def _codeflash_tag(test_class, test_name, line_id):
    # The call's id "module:Class.test:function:loop:iteration", and its loop index and iteration id.
    loop_index = int(_codeflash_os.environ.get("CODEFLASH_LOOP_INDEX", "1"))
    key = (test_class, test_name, line_id, loop_index)
    _codeflash_calls[key] = count = _codeflash_calls.get(key, -1) + 1
    iteration_id = f"{line_id}_{count}"
    test = f"{test_class}.{test_name}" if test_class else test_name
    return f"__MODULE__:{test}:__FUNCTION__:{loop_index}:{iteration_id}", loop_index, iteration_id
"""

_CHECKED = """

def _codeflash_wrap_if_target(function, test_class, test_name, line_id):
    # A method called on an object of unknown type is measured only if it is __FUNCTION__ (not list.sort).
    if getattr(getattr(function, "__func__", function), "__qualname__", None) != "__FUNCTION__":
        return function
    return _codeflash_wrap(function, test_class, test_name, line_id)
"""

_PERF = """

def _codeflash_wrap(function, test_class, test_name, line_id):
    __ASYNC__def _codeflash_timed(*args, **kwargs):
        __tracebackhide__ = True
        tag = _codeflash_tag(test_class, test_name, line_id)[0]
        print(f"!$######{tag}######$!")
        gc_enabled = _codeflash_gc.isenabled()
        _codeflash_gc.disable()
        start = _codeflash_time.perf_counter_ns()
        try:
            return __AWAIT__function(*args, **kwargs)
        finally:
            runtime = _codeflash_time.perf_counter_ns() - start
            if gc_enabled:
                _codeflash_gc.enable()
            print(f"!######{tag}:{runtime}######!")

    return _codeflash_timed

"""

_BEHAVIOR = """import atexit as _codeflash_atexit
import sqlite3 as _codeflash_sqlite3

import dill as _codeflash_dill

_codeflash_databases = {}


def _codeflash_record(test_class, test_name, loop_index, iteration_id, runtime, result):
    iteration = _codeflash_os.environ.get("CODEFLASH_TEST_ITERATION", "0")
    database = _codeflash_databases.get(iteration)
    if database is None:
        path = r"{codeflash_run_tmp_dir_client_side}" + f"/test_return_values_{iteration}.sqlite"
        database = _codeflash_databases[iteration] = _codeflash_sqlite3.connect(path)
        _codeflash_atexit.register(database.close)
        # Each row is committed at once, so a test killed by a timeout keeps its rows; without an fsync each.
        database.execute("PRAGMA synchronous = OFF")
        database.execute(
            "CREATE TABLE IF NOT EXISTS test_results (test_module_path TEXT, test_class_name TEXT,"
            " test_function_name TEXT, function_getting_tested TEXT, loop_index INTEGER, iteration_id TEXT,"
            " runtime INTEGER, return_value BLOB, verification_type TEXT)"
        )
    database.execute(
        "INSERT INTO test_results (test_module_path, test_class_name, test_function_name, function_getting_tested,"
        " loop_index, iteration_id, runtime, return_value, verification_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("__MODULE__", test_class, test_name, "__FUNCTION__", loop_index, iteration_id, runtime,
         _codeflash_dill.dumps(result), "function_call"),
    )
    database.commit()


def _codeflash_wrap(function, test_class, test_name, line_id):
    __ASYNC__def _codeflash_recorded(*args, **kwargs):
        __tracebackhide__ = True
        tag, loop_index, iteration_id = _codeflash_tag(test_class, test_name, line_id)
        print(f"!$######{tag}######$!")
        gc_enabled = _codeflash_gc.isenabled()
        _codeflash_gc.disable()
        start = _codeflash_time.perf_counter_ns()
        try:
            result = __AWAIT__function(*args, **kwargs)
        except BaseException as error:
            result = error
            raise
        finally:
            runtime = _codeflash_time.perf_counter_ns() - start
            if gc_enabled:
                _codeflash_gc.enable()
            print(f"!######{tag}######!")
            _codeflash_record(test_class, test_name, loop_index, iteration_id, runtime, result)
        return result

    return _codeflash_recorded

"""


def _helper(target: InstrumentTarget, mode: Mode, after_header: bool) -> str:
    """The helper's code; after a docstring or `from __future__` import, it starts with a blank line."""
    code = _COMMON + (_CHECKED if target.class_name else "") + (_PERF if mode == "perf" else "\n" + _BEHAVIOR)
    for token, value in [
        ("__MODULE__", target.test_module_path),
        ("__FUNCTION__", target.qualified_name),
        ("__FUNCTION__", target.qualified_name),
        ("__ASYNC__", "async " if target.is_async else ""),
        ("__AWAIT__", "await " if target.is_async else ""),
    ]:
        code = code.replace(token, value)
    return code if after_header else code.lstrip("\n")
