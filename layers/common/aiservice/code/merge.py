"""Merging a model's Python reply into the original module, leaving every byte it does not change.

Models often answer with only what they changed: the optimized function, a new helper, the imports these need,
or one method inside its class. The client needs whole files, so a partial reply is merged into the original:

- A reply that redefines every named statement of the original (functions, classes, assignments and, at module
  level, every import) is complete: it replaces the original as written. So is one that lacks only the target
  function but defines a new one (the model renamed it): the caller's check then finds the target lost.
- Otherwise statements are matched by key: a def or class by its name, an assignment by its target names,
  anything else by its normal form. A matched statement whose normal form changed replaces the original's lines
  (re-indented to them); an unchanged one keeps the original's bytes, comments and all. A class that the reply
  redefines in part is merged member by member, the same way, under the original's class line.
- A new statement goes just before the first statement that uses its names (so that a default argument or a
  decorator may name it), unless something it needs at import time, or an earlier binding of its own names
  (an import it shadows), comes later: then right after that; else after the last definition.
- New imports (only the names the original does not import already) go after the original's import block.
- In a partial reply, docstrings, `...`/`pass` placeholders and `if __name__ == "__main__":` blocks are not code
  to merge.
- The target method (`Class.method`) given as a bare top-level function goes into its class.

Technique: ast line ranges and text splicing. libcst would splice a CST exactly too, but it parses about ten
times slower (~55 ms per 1,000 lines here, against ~6 ms for ast), and each candidate needs the original and
the reply parsed. Lines are whole: statements sharing a line (`a = 1; b = 2`) form one unit, and a class whose
body starts on its header line is only ever replaced whole.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from aiservice.code.syntax import parse_python

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DOCSTRING_HOLDERS = (ast.Module, *_DEFINITIONS)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_MAIN_GUARD = ast.dump(ast.parse('__name__ == "__main__"', mode="eval").body)

NormalForms = dict[tuple[str, int, int | None], str]  # statement normal forms by (exact text, first and last column)
_Key = tuple[object, ...]  # what pairs a reply's statement with the original's: ("def", name), ("import", ...), ...


@dataclass(frozen=True)
class Module:
    """Python source ready to merge: text with "\\n" line ends and a final newline, and its tree."""

    text: str
    tree: ast.Module

    @classmethod
    def parse(cls, text: str, path: str | None = None) -> Module:
        """Normalises line ends, then parses; CodeSyntaxError (with the line and column) if it does not."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.endswith("\n"):
            text += "\n"
        return cls(text, parse_python(text, path))

    @cached_property
    def lines(self) -> list[str]:
        return [line + "\n" for line in self.text[:-1].split("\n")]

    @cached_property
    def units(self) -> list[_Unit]:
        """The top-level statements as merge units, kept with the module: an original is merged with many
        replies, and what a unit uses is worked out once."""
        return _units(self.tree.body, self.lines, len(self.lines))

    def normal_form(self, cache: NormalForms) -> str:
        """`normal_form(self.tree)`, through `cache` (see statement_forms)."""
        return "\n".join(form for _, form in self.statement_forms(cache))

    def statement_forms(self, cache: NormalForms) -> list[tuple[ast.stmt, str]]:
        """Each top-level statement but the module's docstring, with its normal form, through `cache` (keyed by
        the statement's exact text): modules sharing most of their code (an original and its candidates) share
        the work."""
        body = self.tree.body[1:] if self.tree.body and _is_docstring(self.tree.body[0]) else self.tree.body
        forms = []
        for node in body:
            key = ("".join(self.lines[_first_line(node) : _end_line(node)]), node.col_offset, node.end_col_offset)
            if key not in cache:
                cache[key] = normal_form(node)
            forms.append((node, cache[key]))
        return forms


def normal_form(node: ast.AST) -> str:
    """The node's syntax tree without docstrings, positions or formatting, as text: equal for code that differs
    only in comments, docstrings and formatting. Written out here rather than with `ast.dump` (and a walk to drop
    docstrings) because it is four times faster, and candidates are compared whole."""
    out: list[str] = []
    _write_tree(node, out)
    return "\0".join(out)  # no repr() holds a raw NUL, so the pieces cannot run together


def _write_tree(node: ast.AST, out: list[str]) -> None:
    out.append(type(node).__name__)
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            _write_tree(value, out)
        elif isinstance(value, list):
            if name == "body" and isinstance(node, _DOCSTRING_HOLDERS) and value and _is_docstring(value[0]):
                value = value[1:]
            out.append("[")
            for item in value:
                if isinstance(item, ast.AST):
                    _write_tree(item, out)
                else:  # names in Global, Nonlocal
                    out.append(repr(item))
            out.append("]")
        else:
            out.append(repr(value))


def adds_only_unused(original: Module, changed: Module, cache: NormalForms) -> bool:
    """Whether `changed` is the original plus top-level definitions, assignments or imports that no statement of
    the original uses (a renamed copy of the target, say): code that cannot change what the original does."""
    remaining = Counter(form for _, form in original.statement_forms(cache))
    added = []
    for node, form in changed.statement_forms(cache):
        if remaining[form]:
            remaining[form] -= 1
        else:
            added.append(node)
    inert = (*_DEFINITIONS, ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)
    if +remaining or not added or not all(isinstance(node, inert) for node in added):
        return False
    names = _bound_names(added)
    return not any(unit.uses & names for unit in original.units)


def merge_python(original: Module, reply: Module, target: str | None = None) -> str:
    """The original with the reply merged in (the rules are in the module's docstring). `target` is the
    qualified name of the function being optimized."""
    return _Merge(original, reply, target).run()


@dataclass(eq=False)
class _Unit:
    """Top-level statements of one body that own whole lines: usually one statement, several if they share a
    line. Line indexes are 0-based; `lead` is where the comments directly above it start."""

    nodes: list[ast.stmt]
    source: str  # its lines
    first: int
    last: int  # one past its last line, trailing comments indented under it included
    lead: int
    kind: str  # "import", "def", "class", "name" (an assignment) or "other"
    key: _Key

    @property
    def node(self) -> ast.stmt:
        return self.nodes[0]

    @cached_property
    def binds(self) -> set[str]:
        return _bound_names(self.nodes)

    @cached_property
    def uses(self) -> set[str]:
        """Every identifier in its text, strings and comments included: more than it uses, which only ever
        places a new statement earlier than needed, and much cheaper than walking its tree."""
        return set(_IDENTIFIER.findall(self.source))

    @cached_property
    def needs(self) -> set[str]:
        """The names it reads while the module is being imported (decorators, defaults, class bodies, ...)."""
        return _import_time_names(self.nodes)

    @cached_property
    def normal(self) -> str:
        return "\n".join(normal_form(node) for node in self.nodes)


@dataclass(eq=False)
class _Entry:
    """A statement of the merged body: the original's, the reply's version of it, or both."""

    original: _Unit | None
    reply: _Unit | None = None

    @property
    def units(self) -> list[_Unit]:
        return [unit for unit in (self.original, self.reply) if unit]


@dataclass
class _Merge:
    original: Module
    reply: Module
    target: str | None
    edits: list[tuple[int, int, int, str]] = field(default_factory=list)  # lines [start, end) become text

    def run(self) -> str:
        originals, replies = self.original.units, self.reply.units
        if _replaces(_named(originals, with_imports=True), _named(replies, with_imports=True), self._target_key(None)):
            return self.reply.text
        self._hoist_imports(originals, [unit for unit in replies if unit.kind == "import"])
        # The original's imports stay in the body (a new statement may need them); the reply's were hoisted.
        statements = [unit for unit in replies if unit.kind != "import"]
        self._merge_body(originals, statements, "", 2, self._loose_method(originals, statements))
        return self._apply()

    def _target_key(self, owner: str | None) -> set[_Key]:
        """The target's key if it is defined right in `owner`'s body (None: the module's), else nothing."""
        *parents, name = (self.target or "").split(".")
        return {("def", name)} if self.target and parents == ([owner] if owner else []) else set()

    def _merge_body(
        self, originals: list[_Unit], replies: list[_Unit], indent: str, separation: int, paired: dict[int, _Unit]
    ) -> None:
        by_key: dict[_Key, list[_Unit]] = defaultdict(list)
        for unit in originals:
            by_key[unit.key].append(unit)
        counterpart = dict(paired)  # id(reply unit) -> original unit
        unpaired = [unit for unit in replies if id(unit) not in paired]
        for key, units in _group(unpaired).items():
            # Repeated keys (@overload stubs, redefinitions) pair up from the last: the one that takes effect;
            # the extra ones of the longer side stay unpaired.
            for original, reply in zip(reversed(by_key.get(key, [])), reversed(units), strict=False):
                counterpart[id(reply)] = original
        entries = {id(unit): _Entry(unit) for unit in originals}
        for reply in replies:
            if (paired_original := counterpart.get(id(reply))) is not None:
                entries[id(paired_original)].reply = reply
                self._redefine(paired_original, reply)
        order = list(entries.values())
        for reply in replies:
            if id(reply) not in counterpart and not _is_filler(reply.node):
                order.insert(_position(order, reply), _Entry(None, reply))
        self._insert_new(order, indent, separation)

    def _redefine(self, original: _Unit, reply: _Unit) -> None:
        # A unit of kind "class" is one ClassDef: the isinstance checks are those kind checks, for the types.
        original_node, reply_node = original.node, reply.node
        if isinstance(original_node, ast.ClassDef) and reply.kind == "def":  # the target method, given bare
            members = self._members(original, self.original)
            self._merge_body(members, [reply], _indent(self.original.lines[members[0].first]), 1, {})
            return
        if isinstance(original_node, ast.ClassDef) and isinstance(reply_node, ast.ClassDef):
            if all(_is_filler(node) for node in reply_node.body):  # `class A: ...`: a placeholder
                return
            members = self._members(original, self.original)
            reply_members = self._members(reply, self.reply)
            target = self._target_key(original_node.name)
            if members and reply_members and not _replaces(_named(members), _named(reply_members), target):
                self._merge_body(members, reply_members, _indent(self.original.lines[members[0].first]), 1, {})
                return
        if original.normal != reply.normal:
            text = self._reply_text(reply, reply.first, _indent(self.original.lines[original.first]))
            self.edits.append((original.first, original.last, len(self.edits), text))

    def _insert_new(self, order: list[_Entry], indent: str, separation: int) -> None:
        anchor = None  # the original statement the next new one follows
        for index, entry in enumerate(order):
            if entry.original:
                anchor = entry.original
                continue
            new = entry.reply
            assert new is not None  # an entry without an original is a new statement of the reply
            text = self._reply_text(new, new.lead, indent)
            if anchor:
                gap = "\n" * _gap(anchor, new, separation)
                self.edits.append((anchor.last, anchor.last, len(self.edits), gap + text))
            else:  # before every original statement (a body merged in part is never empty)
                following = next(later.original for later in order[index:] if later.original is not None)
                gap = "\n" * _gap(new, following, separation)
                self.edits.append((following.lead, following.lead, len(self.edits), text + gap))

    def _hoist_imports(self, originals: list[_Unit], replies: list[_Unit]) -> None:
        known = {key for unit in originals if unit.kind == "import" for key in _import_keys(unit.node)}
        future: list[str] = []
        regular: list[str] = []
        for unit in replies:
            node = unit.node
            if not isinstance(node, ast.Import | ast.ImportFrom):  # an import unit is one import statement
                continue
            fresh = [alias for alias, key in zip(node.names, _import_keys(node), strict=True) if key not in known]
            known.update(_import_keys(node))
            if fresh:
                statement: ast.stmt
                if isinstance(node, ast.Import):
                    statement = ast.Import(fresh)
                else:
                    statement = ast.ImportFrom(node.module, fresh, node.level)
                (future if _is_future_import(node) else regular).append(ast.unparse(statement) + "\n")
        leading = originals[: next((i for i, u in enumerate(originals) if u.kind in ("def", "class")), len(originals))]
        prelude = [unit for unit in leading if _is_docstring(unit.node) or _is_future_import(unit.node)]
        imports = [unit for unit in leading if unit.kind == "import"]
        for lines, after in ((future, prelude[-1:]), (regular, imports[-1:] or prelude[-1:])):
            if not lines:
                continue
            if after:
                self.edits.append((after[0].last, after[0].last, -1, "".join(lines)))
            else:  # at the top, below leading comments such as a licence or a shebang
                self.edits.append((originals[0].lead, originals[0].lead, -1, "".join(lines) + "\n"))

    def _loose_method(self, originals: list[_Unit], replies: list[_Unit]) -> dict[int, _Unit]:
        """The target method `Class.method` given as a top-level function, paired with its class."""
        owner, _, method = (self.target or "").rpartition(".")
        if not owner or "." in owner or ("def", owner) in _named(replies) or ("def", method) in _named(originals):
            return {}
        loose = [unit for unit in replies if unit.kind == "def" and unit.key == ("def", method)]
        classes = [unit for unit in originals if unit.kind == "class" and unit.key == ("def", owner)]
        if not loose or not classes or not self._members(classes[-1], self.original):
            return {}
        return {id(loose[-1]): classes[-1]}

    def _members(self, unit: _Unit, module: Module) -> list[_Unit]:
        """The class's members as units, or [] if its body starts on its header line (then it is kept whole)."""
        node = unit.node
        if not isinstance(node, ast.ClassDef):  # units of kind "class" only
            return []
        parts = [*node.bases, *(keyword.value for keyword in node.keywords)]
        header_end = max([node.lineno] + [_end_line(part) for part in parts])
        if _first_line(node.body[0]) < header_end:
            return []
        return _units(node.body, module.lines, unit.last)

    def _reply_text(self, unit: _Unit, start: int, indent: str) -> str:
        """The reply's lines [start, unit.last), re-indented to `indent` (lines inside strings left as written)."""
        lines = self.reply.lines[start : unit.last]
        own = _indent(self.reply.lines[unit.first])
        if own == indent:
            return "".join(lines)
        inside_strings = {
            line - 1 - start
            for node in unit.nodes
            for value in ast.walk(node)
            if isinstance(value, (ast.Constant, ast.JoinedStr)) and _end_line(value) > value.lineno
            for line in range(value.lineno + 1, _end_line(value) + 1)
        }
        return "".join(
            line if index in inside_strings or not line.strip()
            else indent + (line[len(own):] if line.startswith(own) else line.lstrip())
            for index, line in enumerate(lines)
        )  # fmt: skip

    def _apply(self) -> str:
        lines = self.original.lines
        pieces: list[str] = []
        position = 0
        # Insertions (end == start) before a replacement at the same line, each kind in the order made.
        for start, end, _, text in sorted(self.edits, key=lambda edit: (edit[0], edit[1] > edit[0], edit[2])):
            pieces.append("".join(lines[position:start]))
            pieces.append(text)
            position = max(position, end)
        pieces.append("".join(lines[position:]))
        return "".join(pieces)


def _units(body: list[ast.stmt], lines: list[str], limit: int) -> list[_Unit]:
    """The body's statements as units; `limit` is where the body's lines end."""
    groups: list[list[ast.stmt]] = []
    for node in body:
        if groups and _first_line(node) < _end_line(groups[-1][-1]):  # shares the line the last one ends on
            groups[-1].append(node)
        else:
            groups.append([node])
    units: list[_Unit] = []
    for index, nodes in enumerate(groups):
        first = _first_line(nodes[0])
        stop = _first_line(groups[index + 1][0]) if index + 1 < len(groups) else limit
        column = len(_indent(lines[first]))
        last = cursor = max(_end_line(node) for node in nodes)
        while cursor < stop:  # comments indented under it belong to it
            text = lines[cursor].strip()
            if text and not (text.startswith("#") and len(_indent(lines[cursor])) > column):
                break
            cursor += 1
            last = cursor if text else last
        lead = first
        floor = units[-1].last if units else 0
        while lead > floor and lines[lead - 1].strip().startswith("#") and len(_indent(lines[lead - 1])) == column:
            lead -= 1
        units.append(_Unit(nodes, "".join(lines[first:last]), first, last, lead, *_kind_and_key(nodes)))
    return units


def _kind_and_key(nodes: list[ast.stmt]) -> tuple[str, _Key]:
    node = nodes[0]
    if len(nodes) == 1 and isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import", ("import", *_import_keys(node))
    if len(nodes) == 1 and isinstance(node, _DEFINITIONS):
        return ("class" if isinstance(node, ast.ClassDef) else "def"), ("def", node.name)
    names = [_assigned_names(statement) for statement in nodes]
    if all(names):  # `X = 1`, or `A = 1; B = 2` on one line
        return "name", ("name", *sorted(set().union(*names)))
    return "other", ("other", "\n".join(normal_form(statement) for statement in nodes))


def _assigned_names(node: ast.stmt) -> set[str]:
    """The names a plain assignment binds (`X = ...`, `X: int = ...`, `a, b = ...`); empty for anything else."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    else:
        return set()
    names: set[str] = set()
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        identifiers = [element.id for element in elements if isinstance(element, ast.Name)]
        if len(identifiers) < len(elements):
            return set()
        names.update(identifiers)
    return names


def _import_keys(node: ast.stmt) -> list[_Key]:
    """One key per name an import statement binds; none for another statement."""
    if isinstance(node, ast.Import):
        return [("import", alias.name, alias.asname) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [("from", node.level, node.module, alias.name, alias.asname) for alias in node.names]
    return []


def _named(units: list[_Unit], with_imports: bool = False) -> set[_Key]:
    """The keys of the named statements, which a complete reply redefines all of."""
    named = {unit.key for unit in units if unit.kind in ("def", "class", "name")}
    if with_imports:
        named.update(key for unit in units if unit.kind == "import" for key in _import_keys(unit.node))
    return named


def _replaces(required: set[_Key], offered: set[_Key], target: set[_Key]) -> bool:
    """Whether a reply body offering `offered` keys is complete for an original body with `required` keys."""
    missing = required - offered
    return not missing or (missing == target and any(key[0] == "def" for key in offered - required))


def _group(units: list[_Unit]) -> dict[_Key, list[_Unit]]:
    grouped: dict[_Key, list[_Unit]] = defaultdict(list)
    for unit in units:
        grouped[unit.key].append(unit)
    return grouped


def _gap(before: _Unit, after: _Unit, separation: int) -> int:
    """Blank lines between two statements: `separation` (PEP 8's) around a definition, else none."""
    return separation if {"def", "class"} & {before.kind, after.kind} else 0


def _position(order: list[_Entry], new: _Unit) -> int:
    """Where a new statement goes in the merged body (see the module's docstring). What binds the same names
    counts as needed: the new statement must come after it to take effect. "The end" is after the last
    definition, so ahead of trailing statements such as a `__main__` block."""
    needs = new.needs | new.binds
    users: list[int] = []
    needed: list[int] = []
    for index, entry in enumerate(order):
        if any(unit.binds & needs for unit in entry.units):
            needed.append(index)
        elif any(unit.uses & new.binds for unit in entry.units):
            users.append(index)
    if users and (not needed or users[0] > needed[-1]):
        return users[0]
    if needed:
        return needed[-1] + 1
    definitions = [i for i, entry in enumerate(order) if entry.units[0].kind in ("def", "class", "name")]
    return definitions[-1] + 1 if definitions else len(order)


def _bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """The names the statements bind in their own scope (not inside the functions or classes they define)."""
    names: set[str] = set()
    pending: list[ast.AST] = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, _DEFINITIONS):
            names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def _import_time_names(nodes: Iterable[ast.AST]) -> set[str]:
    """The names and attribute names the statements read while the module is imported: function bodies are left
    out, their decorators, defaults and annotations are not."""
    names: set[str] = set()
    pending: list[ast.AST] = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(_import_time_parts(node))
        else:
            pending.extend(ast.iter_child_nodes(node))
    return names


def _import_time_parts(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.AST]:
    arguments = node.args
    parts: list[ast.AST] = [*arguments.defaults, *(default for default in arguments.kw_defaults if default)]
    if not isinstance(node, ast.Lambda):
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        parts += [*node.decorator_list, *(arg.annotation for arg in parameters if arg and arg.annotation)]
        parts += [node.returns] if node.returns else []
    return parts


def _is_filler(node: ast.stmt) -> bool:
    """Docstrings, `...`, `pass` and `if __name__ == "__main__":` in a partial reply: nothing to merge."""
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return True
    return isinstance(node, ast.If) and ast.dump(node.test) == _MAIN_GUARD


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_future_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _first_line(node: ast.stmt) -> int:
    """0-based index of the statement's first line, its decorators included."""
    decorators = node.decorator_list if isinstance(node, _DEFINITIONS) else []
    return min([node.lineno, *(decorator.lineno for decorator in decorators)]) - 1


def _end_line(node: ast.stmt | ast.expr) -> int:
    """1-based line the node ends on (ast.parse sets it on every statement and expression)."""
    return node.lineno if node.end_lineno is None else node.end_lineno


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]
