"""Post-processing of model-written Python tests, so that what the client runs exercises the user's real code,
fast enough to loop for benchmarking.

The model writes a pytest file for one function. Before the file is instrumented (contract §5) it is fixed up:

1. a top-level definition that re-declares the code under test (the function, its class, a helper) is removed:
   it would shadow the real code, and the tests would test the model's copy;
2. duplicate imports are dropped;
3. the function under test (its class, for a method) is imported from its module if the file does not do so;
4. oversized literal inputs are capped: `range(10**7)`, `[0] * 10**6`, `2 ** 10**9`;
5. for the behaviour-capture variant, asserts are stripped and the calls in them kept: the run records the
   return values, which the client compares between the original and the optimized code, so an expectation the
   model got wrong must not fail it;
6. a test name defined twice in one scope gets a suffix (pytest would silently run only the last one).

Each step is a libcst transformation, so whatever it does not touch keeps its formatting byte for byte, and
running the whole on its own output changes nothing.
"""

from __future__ import annotations

import itertools
import keyword
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeGuard, TypeVar

import libcst as cst
from libcst.helpers import get_full_name_for_node, get_full_name_for_node_or_raise

from aiservice.code.syntax import CodeSyntaxError, parse_python
from aiservice.errors import InvalidRequest


@dataclass(frozen=True)
class InputLimits:
    """Caps on the literal sizes in generated tests. The client runs each test file under a 15 s timeout and
    loops it many times for benchmarking, and the code under test is often quadratic: 1,000 elements keep one
    O(n²) call near a million steps, a fraction of a second in CPython, with room for the loop."""

    max_range: int = 1_000  # iterations of a range() whose bounds are literals
    max_repetition: int = 1_000  # n in [x] * n, "ab" * n, (x,) * n
    # About 3,000 decimal digits: under CPython's 4,300-digit int-to-str limit, so repr() in assertion
    # messages and the return-value capture still work.
    max_power_bits: int = 10_000


@dataclass(frozen=True)
class CodeUnderTest:
    """What the tests are for. Names as the client sends them: `module_path` "mypkg.sorter", `qualified_name`
    "sort_list" or "BubbleSorter.sort", `helpers` fully qualified ("mypkg.util.greater")."""

    module_path: str
    qualified_name: str
    helpers: tuple[str, ...] = ()
    limits: InputLimits = field(default_factory=InputLimits)

    def __post_init__(self) -> None:
        for name, value in [("module_path", self.module_path), ("qualified_name", self.qualified_name)]:
            if not _is_dotted_name(value):
                raise InvalidRequest(f"{name} {value!r} is not a dotted Python name")
        for helper in self.helpers:
            if not _is_dotted_name(helper, min_parts=2):
                raise InvalidRequest(f"helper function name {helper!r} is not a fully qualified Python name")

    @property
    def top_level_name(self) -> str:
        """The name the tests import: the function, or the outermost class of a method."""
        return self.qualified_name.partition(".")[0]

    def real_definitions(self) -> dict[str, str]:
        """Top-level name -> module, for everything the tests must import rather than define: the function
        under test (its outermost class, for a method) first, then the helpers."""
        names = {self.top_level_name: self.module_path}
        for helper in self.helpers:
            module, name = self._top_level_binding(helper)
            names.setdefault(name, module)
        return names

    def _top_level_binding(self, helper: str) -> tuple[str, str]:
        if helper.startswith(self.module_path + "."):  # in the target's module: what follows is its qualified name
            return self.module_path, helper[len(self.module_path) + 1 :].partition(".")[0]
        parts = helper.split(".")
        # Elsewhere, PEP 8 naming tells pkg.mod.Class.method from pkg.mod.function: classes are CapWords,
        # modules lower case.
        if len(parts) >= 3 and parts[-2][:1].isupper():
            return ".".join(parts[:-2]), parts[-2]
        return ".".join(parts[:-1]), parts[-1]


@dataclass(frozen=True)
class ProcessedTests:
    code: str
    changes: tuple[str, ...]  # what was fixed, one short sentence each, for the logs


def postprocess_tests(source: str, target: CodeUnderTest, *, behavior_capture: bool = False) -> ProcessedTests:
    """The test file fixed up as the module docstring says. Source that does not parse is refused with
    CodeSyntaxError (line and column of the first error)."""
    module = _parse(source)
    changes: list[str] = []
    real = target.real_definitions()
    module, removed = _remove_shadowing_definitions(module, real, changes)
    module = _drop_duplicate_imports(module, changes)
    still_used = removed & _names_used(module)
    needed = [(target.module_path, target.top_level_name), *((real[name], name) for name in sorted(still_used))]
    module = _add_missing_imports(module, needed, changes)
    module = module.visit(_SizeCaps(target.limits, changes))
    if behavior_capture:
        module = module.visit(_AssertStripper(changes))
    module = module.visit(_TestRenamer(changes))
    return ProcessedTests(code=module.code, changes=tuple(changes))


def _parse(source: str) -> cst.Module:
    parse_python(source)  # the compiler's verdict, the one the client applies
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as error:  # newer syntax than this libcst knows
        raise CodeSyntaxError(error.message, error.editor_line, error.editor_column) from None


def _is_dotted_name(value: str, min_parts: int = 1) -> bool:
    parts = value.split(".")
    return len(parts) >= min_parts and all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


_Node = TypeVar("_Node", cst.ImportAlias, cst.BaseSmallStatement)


def _kept(items: Sequence[_Node], kept: list[_Node], separator: str) -> list[_Node]:
    """`kept`, a sub-list of `items`, ending on the separator (`comma` or `semicolon`) `items` ended on, so that
    dropping the last item leaves no dangling comma or semicolon behind."""
    if kept and kept[-1] is not items[-1]:
        kept[-1] = kept[-1].with_changes(**{separator: getattr(items[-1], separator)})
    return kept


# --- 1. definitions that shadow the code under test --------------------------------------------------------


def _remove_shadowing_definitions(
    module: cst.Module, real: dict[str, str], changes: list[str]
) -> tuple[cst.Module, set[str]]:
    removed: set[str] = set()
    body: list[cst.BaseStatement] = []
    for statement in module.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) and statement.name.value in real:
            removed.add(statement.name.value)
            continue
        if isinstance(statement, cst.SimpleStatementLine):
            small = []
            for s in statement.body:
                names = _assigned_names(s)
                if names and names <= real.keys():
                    removed |= names
                else:
                    small.append(s)
            if not small:
                continue
            if len(small) < len(statement.body):
                statement = statement.with_changes(body=_kept(statement.body, small, "semicolon"))
        body.append(statement)
    changes.extend(f"removed the file's own {name}, which shadowed {real[name]}.{name}" for name in sorted(removed))
    return module.with_changes(body=body), removed


def _assigned_names(statement: cst.BaseSmallStatement) -> set[str]:
    """The names a plain assignment `a = b = ...` or `a: T = ...` binds; empty for anything else."""
    if isinstance(statement, cst.Assign):
        names = [t.target.value for t in statement.targets if isinstance(t.target, cst.Name)]
        return set(names) if len(names) == len(statement.targets) else set()
    if isinstance(statement, cst.AnnAssign) and isinstance(statement.target, cst.Name):
        return {statement.target.value}
    return set()


# --- 2. duplicate imports ----------------------------------------------------------------------------------


class _Bindings(cst.CSTVisitor):
    """The names a statement binds in the scope it runs in; not those inside the functions, classes, lambdas
    and comprehensions it creates. `star` is set by `from m import *`, which may bind any name."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.star = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return False

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return False

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.names |= _target_names(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.names |= _target_names(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.names |= _target_names(node.target)

    def visit_For(self, node: cst.For) -> None:
        self.names |= _target_names(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.names |= _target_names(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self.names |= _target_names(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:  # import ... as, with ... as, except ... as
        self.names |= _target_names(node.name)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is None:
            self.names.add(_bound_name(node))

    def visit_ImportStar(self, node: cst.ImportStar) -> None:
        self.star = True


def _target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {name for element in target.elements for name in _target_names(element.value)}
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()  # attributes and subscripts bind no name


def _bound_name(alias: cst.ImportAlias) -> str:
    if alias.asname is not None:
        return cst.ensure_type(alias.asname.name, cst.Name).value
    return get_full_name_for_node_or_raise(alias.name).partition(".")[0]  # `import a.b` binds `a`


def _import_key(statement: cst.Import | cst.ImportFrom, alias: cst.ImportAlias) -> tuple[str, ...]:
    """What an import alias binds, and to what: equal keys bind the same name to the same object."""
    origin = "import"
    if isinstance(statement, cst.ImportFrom):
        module = "" if statement.module is None else get_full_name_for_node_or_raise(statement.module)
        origin = "." * len(statement.relative) + module
    return origin, get_full_name_for_node_or_raise(alias.name), _bound_name(alias)


def _drop_duplicate_imports(module: cst.Module, changes: list[str]) -> cst.Module:
    """Drops a top-level import alias when the name it binds still holds what the same import bound earlier;
    an import after anything that may rebind the name in between (an assignment, a def, a star import, a
    conditional) is kept, so no import something uses is ever dropped."""
    current: dict[str, tuple[str, ...]] = {}  # name -> key of the import that bound it, while unchanged
    body: list[cst.BaseStatement] = []
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            dropped_before = len(changes)
            small = [s for s in (_without_duplicates(s, current, changes) for s in statement.body) if s is not None]
            if not small:
                continue
            if len(changes) > dropped_before:
                statement = statement.with_changes(body=_kept(statement.body, small, "semicolon"))
        else:
            _forget_rebound(statement, current)
        body.append(statement)
    return module.with_changes(body=body)


def _without_duplicates(
    statement: cst.BaseSmallStatement, current: dict[str, tuple[str, ...]], changes: list[str]
) -> cst.BaseSmallStatement | None:
    if not isinstance(statement, (cst.Import, cst.ImportFrom)) or isinstance(statement.names, cst.ImportStar):
        _forget_rebound(statement, current)
        return statement
    kept = []
    for alias in statement.names:
        key, name = _import_key(statement, alias), _bound_name(alias)
        if current.get(name) == key:
            changes.append(f"dropped a duplicate import of {name}")
        else:
            current[name] = key
            kept.append(alias)
    if not kept:
        return None
    return statement.with_changes(names=_kept(statement.names, kept, "comma"))


def _forget_rebound(statement: cst.CSTNode, current: dict[str, tuple[str, ...]]) -> None:
    bindings = _Bindings()
    statement.visit(bindings)
    if bindings.star:
        current.clear()
    for name in bindings.names:
        current.pop(name, None)


# --- 3. the import of the function under test --------------------------------------------------------------


class _NameUses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # `x.greater` does not use a name `greater`
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False


def _names_used(module: cst.Module) -> set[str]:
    uses = _NameUses()
    module.visit(uses)
    return uses.names


def _add_missing_imports(module: cst.Module, needed: list[tuple[str, str]], changes: list[str]) -> cst.Module:
    """Adds `from <module> import <name>` for each needed name no top-level import takes from that module,
    after the last import above the first def or class (or at the top, after a docstring), so that
    module-level code such as parametrize decorators can use it."""
    imported = _plain_from_imports(module)
    missing = list(dict.fromkeys(pair for pair in needed if pair not in imported))
    if not missing:
        return module
    additions = [cst.parse_statement(f"from {origin} import {name}\n") for origin, name in missing]
    changes.extend(f"added {_code(line).strip()}" for line in additions)
    position = _import_position(module.body)
    return module.with_changes(body=[*module.body[:position], *additions, *module.body[position:]])


def _plain_from_imports(module: cst.Module) -> set[tuple[str, str]]:
    """(module, name) for each top-level `from module import name` that is not relative and binds `name`."""
    return {
        (get_full_name_for_node_or_raise(statement.module), _bound_name(alias))
        for line in module.body
        if isinstance(line, cst.SimpleStatementLine)
        for statement in line.body
        if isinstance(statement, cst.ImportFrom)
        and statement.module is not None  # `from . import x` is relative
        and not statement.relative
        and not isinstance(statement.names, cst.ImportStar)
        for alias in statement.names
        if _bound_name(alias) == get_full_name_for_node(alias.name)
    }


def _import_position(body: Sequence[cst.BaseStatement]) -> int:
    position = 1 if body and _is_docstring(body[0]) else 0
    for index, statement in enumerate(body):
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            break
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body
        ):
            position = index + 1
    return position


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


# --- 4. oversized inputs -----------------------------------------------------------------------------------

_ARITHMETIC: dict[type[cst.BaseBinaryOp], Callable[[int, int], int]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.FloorDivide: operator.floordiv,
    cst.Power: operator.pow,
    cst.LeftShift: operator.lshift,
}
# Constants beyond this many bits are not evaluated, so that evaluating never costs much; powers that large are
# capped before anything around them is looked at (the transformer works bottom-up).
_EVALUATION_BITS = 1 << 16
_SEQUENCE_LITERALS = (cst.List, cst.Tuple, cst.ListComp, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)


def _int_value(node: cst.BaseExpression) -> int | None:
    """The value of an integer expression made of literals (`1_000`, `-3`, `10**7`, `2 * 500`), else None."""
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        value = _int_value(node.expression)
        return -value if value is not None and isinstance(node.operator, cst.Minus) else value
    if isinstance(node, cst.BinaryOperation) and type(node.operator) in _ARITHMETIC:
        left, right = _int_value(node.left), _int_value(node.right)
        if left is None or right is None or not _cheap(node.operator, left, right):
            return None
        return _ARITHMETIC[type(node.operator)](left, right)
    return None


def _cheap(op: cst.BaseBinaryOp, left: int, right: int) -> bool:
    """Whether `left op right` is an int of at most _EVALUATION_BITS bits (and no error)."""
    if isinstance(op, cst.Power):
        return right >= 0 and _power_bits(left, right) <= _EVALUATION_BITS
    if isinstance(op, cst.LeftShift):
        return 0 <= right <= _EVALUATION_BITS - left.bit_length()
    if isinstance(op, cst.FloorDivide):
        return right != 0
    return left.bit_length() + right.bit_length() <= _EVALUATION_BITS


def _power_bits(base: int, exponent: int) -> float:
    """About how many bits base ** exponent (exponent >= 0) takes."""
    if abs(base) < 2:  # 0, 1 and -1 to any power stay that small
        return 0.0
    if exponent.bit_length() > 64:
        return math.inf
    return exponent * math.log2(abs(base))


def _int_literal(value: int) -> cst.BaseExpression:
    literal = cst.Integer(str(abs(value)))
    return cst.UnaryOperation(cst.Minus(), literal) if value < 0 else literal


class _SizeCaps(cst.CSTTransformer):
    def __init__(self, limits: InputLimits, changes: list[str]) -> None:
        super().__init__()
        self.limits = limits
        self.changes = changes

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """range() with literal bounds and more than max_range steps: the stop becomes the bound after
        max_range steps, keeping start and step."""
        if not (isinstance(updated.func, cst.Name) and updated.func.value == "range" and 1 <= len(updated.args) <= 3):
            return updated
        if any(arg.star or arg.keyword for arg in updated.args):
            return updated
        values = [value for arg in updated.args if (value := _int_value(arg.value)) is not None]
        if len(values) < len(updated.args) or values[2:] == [0]:
            return updated
        try:
            stop = range(*values)[self.limits.max_range]
        except IndexError:  # no more than max_range steps
            return updated
        position = 0 if len(values) == 1 else 1
        args = list(updated.args)
        args[position] = args[position].with_changes(value=_int_literal(stop))
        return self._capped(updated, updated.with_changes(args=args))

    def leave_BinaryOperation(self, original: cst.BinaryOperation, updated: cst.BinaryOperation) -> cst.BaseExpression:
        if isinstance(updated.operator, cst.Power):
            return self._capped_power(updated)
        if isinstance(updated.operator, cst.Multiply):
            return self._capped_repetition(updated)
        return updated

    def _capped_power(self, node: cst.BinaryOperation) -> cst.BaseExpression:
        base, exponent = _int_value(node.left), _int_value(node.right)
        if base is None or exponent is None or exponent < 0:
            return node
        if _power_bits(base, exponent) <= self.limits.max_power_bits:
            return node
        exponent = int(self.limits.max_power_bits / math.log2(abs(base)))
        while _power_bits(base, exponent) > self.limits.max_power_bits:  # float rounding
            exponent -= 1
        return self._capped(node, node.with_changes(right=_int_literal(exponent)))

    def _capped_repetition(self, node: cst.BinaryOperation) -> cst.BaseExpression:
        """`[x] * n`, `n * "ab"` and the like with n over max_repetition."""
        for sequence, count in (("left", "right"), ("right", "left")):
            if isinstance(getattr(node, sequence), _SEQUENCE_LITERALS):
                value = _int_value(getattr(node, count))
                if value is not None and value > self.limits.max_repetition:
                    return self._capped(node, node.with_changes(**{count: _int_literal(self.limits.max_repetition)}))
        return node

    def _capped(self, before: cst.CSTNode, after: cst.BaseExpression) -> cst.BaseExpression:
        self.changes.append(f"capped {_code(before)} to {_code(after)}")
        return after


# --- 5. asserts, for behaviour capture ---------------------------------------------------------------------

# What expects an exception, a warning or log records (pytest.raises, self.assertRaises, ...): the code in such
# a block is there to fail, so its asserts stay.
_EXPECTING = (
    "raises",
    "warns",
    "assertRaises",
    "assertRaisesRegex",
    "assertWarns",
    "assertWarnsRegex",
    "assertLogs",
    "assertNoLogs",
)


class _AssertStripper(cst.CSTTransformer):
    """Replaces each assert (and unittest `self.assertX(...)`) by the calls in it, in order, or by nothing if it
    calls nothing. Asserts inside a `with pytest.raises(...)` block stay as they are: the exception they
    expect is the behaviour under test."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__()
        self.changes = changes
        self.stripped = 0
        self.expecting_depth = 0  # how many `with pytest.raises(...)` blocks we are in

    def visit_With(self, node: cst.With) -> None:
        self.expecting_depth += _expects_exception(node)

    def leave_With(self, original: cst.With, updated: cst.With) -> cst.With:
        self.expecting_depth -= _expects_exception(original)
        return updated

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        if self.stripped:
            self.changes.append(f"stripped {self.stripped} assertion(s), keeping the calls in them")
        return updated

    def leave_SimpleStatementSuite(
        self, original: cst.SimpleStatementSuite, updated: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        body = self._stripped(updated.body)
        if body is None:
            return updated
        return updated.with_changes(body=_kept(updated.body, body, "semicolon") or [cst.Pass()])

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine] | cst.RemovalSentinel:
        body = self._stripped(updated.body)
        if body is None:
            return updated
        if not body:
            return cst.RemoveFromParent()  # libcst writes `pass` into a block left empty
        if len(updated.body) > 1:
            return updated.with_changes(body=_kept(updated.body, body, "semicolon"))
        # The assert had a line of its own: so has each call kept from it.
        lines = [cst.SimpleStatementLine(body=[statement]) for statement in body]
        lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
        lines[-1] = lines[-1].with_changes(trailing_whitespace=updated.trailing_whitespace)
        return cst.FlattenSentinel(lines)

    def _stripped(self, body: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseSmallStatement] | None:
        """The statements with the asserts replaced, or None if there was none (or we must keep them)."""
        if self.expecting_depth:
            return None
        result: list[cst.BaseSmallStatement] = []
        stripped = 0
        for statement in body:
            calls = _calls_in_assertion(statement)
            if calls is None:
                result.append(statement)
            else:
                stripped += 1
                result.extend(cst.Expr(_standalone(call)) for call in calls)
        self.stripped += stripped
        return result if stripped else None


def _expects_exception(node: cst.With) -> bool:
    return any(
        isinstance(item.item, cst.Call)
        and (get_full_name_for_node(item.item.func) or "").rpartition(".")[2] in _EXPECTING
        for item in node.items
    )


def _calls_in_assertion(statement: cst.BaseSmallStatement) -> list[cst.BaseExpression] | None:
    """For an assertion, the expressions to keep from it; None for any other statement."""
    if isinstance(statement, cst.Assert):
        return _calls_in(statement.test)
    if isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call):
        name = get_full_name_for_node(statement.value.func) or ""
        owner, _, method = name.rpartition(".")
        if owner == "self" and method.startswith("assert") and method not in _EXPECTING:
            return [call for arg in statement.value.args for call in _calls_in(arg.value)]
    return None


def _calls_in(expression: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The parts of an asserted expression that call something, in evaluation order. A single comparison and
    `not` are taken apart (both sides of `==` are always evaluated); anything else that calls something is
    kept whole, so that short-circuits (`x is None or f(x)`) keep guarding what they guard."""
    if not _calls_something(expression):
        return []
    if isinstance(expression, cst.Comparison) and len(expression.comparisons) == 1:
        return _calls_in(expression.left) + _calls_in(expression.comparisons[0].comparator)
    if isinstance(expression, cst.UnaryOperation) and isinstance(expression.operator, cst.Not):
        return _calls_in(expression.expression)
    return [expression]


class _CallFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        self.found = True
        return False

    def visit_Await(self, node: cst.Await) -> bool:
        self.found = True
        return False


def _calls_something(expression: cst.BaseExpression) -> bool:
    finder = _CallFinder()
    expression.visit(finder)
    return finder.found


def _standalone(expression: cst.BaseExpression) -> cst.BaseExpression:
    """The expression as a statement of its own: a part that spans lines inside the assert's parentheses
    needs parentheses of its own."""
    if expression.lpar or "\n" not in _code(expression):
        return expression
    return expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


# --- 6. unique test names ----------------------------------------------------------------------------------


class _TestRenamer(cst.CSTTransformer):
    """Gives the second `def test_x` in a scope (the module or a class) the name `test_x_2`, the third
    `test_x_3`, skipping names the scope already binds; likewise for `class TestX`."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__()
        self.changes = changes

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._renamed(updated.body))

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        return updated.with_changes(body=updated.body.with_changes(body=self._renamed(updated.body.body)))

    def _renamed(self, body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
        taken: set[str] = set()
        for statement in body:
            bindings = _Bindings()
            statement.visit(bindings)
            taken |= bindings.names
        seen: set[str] = set()
        result = []
        for statement in body:
            if _is_test(statement):
                name = statement.name.value
                if name in seen:
                    new = next(f"{name}_{n}" for n in itertools.count(2) if f"{name}_{n}" not in taken)
                    taken.add(new)
                    statement = statement.with_changes(name=cst.Name(new))
                    self.changes.append(f"renamed a repeated {name} to {new}")
                seen.add(name)
            result.append(statement)
        return result


def _is_test(statement: cst.BaseStatement) -> TypeGuard[cst.FunctionDef | cst.ClassDef]:
    """What pytest collects by default: functions named test*, classes named Test*."""
    if isinstance(statement, cst.FunctionDef):
        return statement.name.value.startswith("test")
    return isinstance(statement, cst.ClassDef) and statement.name.value.startswith("Test")
