"""JavaScript and TypeScript through tree-sitter, the parser the codeflash client checks their blocks with (a block
whose tree has an ERROR or MISSING node voids the candidate, contract §4).

One module for both languages; the grammar follows the language and the file: `javascript` (JSX included) for
JavaScript, `typescript` for .ts/.mts files and blocks without a path, `tsx` for .tsx files.

- `check_syntax` / `Source.parse`: the client's verdict, with the line and column of the first error.
- `Source.functions`: the definitions a target can name, by qualified name: top-level functions (declarations,
  `export` and `export default`, `const f = (...) => ...` and function expressions, `exports.f = ...`), class
  methods (`Class.method`, static, async, accessors, arrow-valued fields) and object-literal methods
  (`obj.method`). Each with its range (what per-function replacement replaces) and its `Signature`.
- `Source.normal_form`: the tree's tokens without comments, joined by one space, statement-ending semicolons and
  trailing commas left out: what de-duplication compares.
- `merge`: a partial reply (only the changed function, maybe a helper or an import) spliced into the original,
  every other byte kept.
- `check_tests`: the light clean-up of model-written JS/TS tests (the client re-instruments them itself).

tree-sitter is imported on the first parse, never at import time: the health and authorizer paths must not load it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal, NamedTuple

from aiservice.code.syntax import CodeSyntaxError
from aiservice.errors import InvalidRequest

if TYPE_CHECKING:
    from tree_sitter import Language, Node, Tree

Grammar = Literal["javascript", "typescript", "tsx"]

_FUNCTION_VALUES = {"arrow_function", "function_expression", "generator_function"}
_FUNCTION_DECLARATIONS = {"function_declaration", "generator_function_declaration"}
_CLASSES = {"class_declaration", "abstract_class_declaration", "class"}
_VARIABLE_DECLARATIONS = {"lexical_declaration", "variable_declaration"}
_FIELDS = {"field_definition", "public_field_definition"}  # JS, TS: `handle = (e) => {...}` in a class body
_COMMENTS = {"comment", "html_comment"}
# Tokens whose text is the token: their insides (a template's spaces, a regex) are not layout.
_ATOMIC = {"string", "template_string", "regex", "jsx_text"}
_CLOSERS = {")", "]", "}"}
_METHOD_MODIFIERS = {"static", "get", "set", "accessibility_modifier", "override_modifier", "abstract", "readonly"}


class Signature(NamedTuple):
    """What callers depend on: how the function is exported, how it is called (a plain function, a method, a
    static one, an accessor), whether it is async or a generator, and its parameter list (names, defaults,
    destructuring, rest, and TypeScript's parameter types), normalised. The return type may change."""

    export: str  # "", "export", "export default", "exports" (CommonJS `exports.f = ...`)
    kind: str  # "function", "method", or the method's modifiers: "static method", "get", "private method", ...
    is_async: bool
    is_generator: bool
    parameters: str

    def describe(self, name: str) -> str:
        """`export async function f(a, b = 1)`, `static async *A.m(a)`: for a drop reason."""
        star = "*" if self.is_generator else ""
        if self.kind == "function":
            words = [self.export, "async" if self.is_async else "", f"function{star}", name]
        else:
            modifiers = self.kind.removesuffix("method").strip()
            words = [modifiers, "async" if self.is_async else "", f"{star}{name}"]
        return " ".join(word for word in words if word) + f"({self.parameters})"


@dataclass(frozen=True)
class Function:
    """A definition `Source.functions` found. `start`/`end` are byte offsets into the UTF-8 text of what
    per-function replacement replaces: the declaration (without `export`), the `f = ...` declarator, the method
    (with its modifiers), the object's `key: value` pair or the `exports.f = ...` assignment. Lines are 1-based."""

    qualified_name: str
    start: int
    end: int
    first_line: int
    last_line: int
    signature: Signature


def grammar_for(language: str, path: str | None = None) -> Grammar:
    """The grammar the client parses `language` code in `path` with."""
    if language == "javascript":
        return "javascript"
    if language != "typescript":
        raise ValueError(f"{language!r} is neither javascript nor typescript")
    return "tsx" if path is not None and PurePosixPath(path).suffix.lower() == ".tsx" else "typescript"


def check_syntax(code: str, language: str, path: str | None = None) -> None:
    """Returns if the code parses as the client would parse it; raises CodeSyntaxError (line and column) if not."""
    Source.parse(code, language, path)


@dataclass(frozen=True, eq=False)
class Source:
    """Code that parses, with its tree."""

    text: str
    data: bytes  # the UTF-8 text tree-sitter parsed: its offsets index this
    tree: Tree
    grammar: Grammar
    path: str | None

    @classmethod
    def parse(cls, code: str, language: str, path: str | None = None) -> Source:
        """Line ends normalised to "\\n" (the merge splices lines); CodeSyntaxError at the first ERROR or MISSING
        node of the tree."""
        text = code.replace("\r\n", "\n").replace("\r", "\n")
        grammar = grammar_for(language, path)
        data = text.encode("utf-8", "surrogatepass")
        tree = _parse(data, grammar)
        if tree.root_node.has_error:
            raise _syntax_error(data, tree.root_node, path)
        return cls(text, data, tree, grammar, path)

    @cached_property
    def normal_form(self) -> str:
        return _normal_form(self.data, self.tree.root_node)

    @cached_property
    def _definitions(self) -> dict[str, tuple[Node, Node, Signature]]:
        """Qualified name -> (range node, function node, signature); the last definition of a name wins (an
        overload's implementation comes after its signatures)."""
        found = {}
        for item in self.items:
            for name, range_node, function in item.functions:
                found[name] = (range_node, function, _signature(self.data, range_node, function, item.export))
        return found

    @cached_property
    def functions(self) -> dict[str, Function]:
        return {
            name: Function(name, node.start_byte, node.end_byte, node.start_point[0] + 1, node.end_point[0] + 1,
                           signature)
            for name, (node, _, signature) in self._definitions.items()
        }  # fmt: skip

    def find_function(self, qualified_name: str) -> Function | None:
        return self.functions.get(qualified_name)

    @cached_property
    def items(self) -> list[_Item]:
        """The top-level statements, as the merge sees them."""
        return [_item(self.data, node) for node in self.tree.root_node.named_children if node.type not in _COMMENTS]


# Parsing and syntax errors.


@cache
def _language(grammar: Grammar) -> Language:
    from tree_sitter import Language  # here, not at import time (see the module docstring)

    if grammar == "javascript":
        import tree_sitter_javascript

        return Language(tree_sitter_javascript.language())
    import tree_sitter_typescript

    return Language(
        tree_sitter_typescript.language_tsx() if grammar == "tsx" else tree_sitter_typescript.language_typescript()
    )


def _parse(data: bytes, grammar: Grammar) -> Tree:
    from tree_sitter import Parser

    return Parser(_language(grammar)).parse(data)  # a parser per parse: cheap, and never shared across threads


def _syntax_error(data: bytes, root: Node, path: str | None) -> CodeSyntaxError:
    node = _first_error(root) or root
    line, byte_column = node.start_point
    line_start = node.start_byte - byte_column
    column = len(data[line_start : node.start_byte].decode("utf-8", "replace")) + 1
    if node.is_missing:
        message = f"missing {node.type!r}"
    else:
        snippet = data[node.start_byte : node.end_byte].decode("utf-8", "replace").strip().split("\n")[0]
        message = f"unexpected {snippet[:30]!r}" if snippet else "unexpected end of input"
    return CodeSyntaxError(message, line + 1, column, path)


def _first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node in source order (has_error marks the subtrees that hold one)."""
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing:
            found = _first_error(child)
            if found is not None:
                return found
    return None


# Normal form: from the tree, so that comments, layout, optional semicolons and trailing commas do not count.


def _normal_form(data: bytes, node: Node) -> str:
    tokens: list[bytes] = []
    _tokens(data, node, tokens)
    return b" ".join(tokens).decode("utf-8", "surrogatepass")


def _tokens(data: bytes, node: Node, out: list[bytes]) -> None:
    if node.type in _ATOMIC or node.child_count == 0:
        out.append(data[node.start_byte : node.end_byte])
        return
    children = [child for child in node.children if child.type not in _COMMENTS]
    for index, child in enumerate(children):
        following = children[index + 1].type if index + 1 < len(children) else None
        if (child.type == ";" and following is None) or (child.type == "," and following in _CLOSERS):
            continue
        _tokens(data, child, out)


# What a statement defines.


@dataclass(frozen=True)
class _Item:
    """A top-level statement. `keys` name what it defines, for matching a reply's statements with the original's:
    ("import", source) for an import or a `require`, ("def", name) for a declaration; `functions` are the
    definitions inside it: (qualified name, range node, function node)."""

    node: Node
    export: str
    kind: Literal["import", "def", "other"]
    keys: frozenset[tuple[str, str]]
    functions: tuple[tuple[str, Node, Node], ...]
    classes: tuple[tuple[str, Node], ...]  # (name, class_body): where a new method goes


def _item(data: bytes, node: Node) -> _Item:
    export, declaration = "", node
    if node.type == "export_statement":
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("value")
        if inner is not None:
            export = "export default" if any(child.type == "default" for child in node.children) else "export"
            declaration = inner
    kind: Literal["import", "def", "other"] = "other"
    keys: set[tuple[str, str]] = set()
    functions: list[tuple[str, Node, Node]] = []
    classes: list[tuple[str, Node]] = []

    def text(part: Node) -> str:
        return data[part.start_byte : part.end_byte].decode("utf-8", "surrogatepass")

    def add_class(name: str, class_node: Node) -> None:
        body = class_node.child_by_field_name("body")
        if body is not None:
            classes.append((name, body))
            functions.extend(_members(data, name, body))

    name_node = declaration.child_by_field_name("name")
    if declaration.type == "import_statement":
        source = declaration.child_by_field_name("source")
        kind, keys = "import", {("import", text(source) if source is not None else text(declaration))}
    elif declaration.type in _FUNCTION_DECLARATIONS and name_node is not None:
        kind, keys = "def", {("def", text(name_node))}
        functions.append((text(name_node), declaration, declaration))
    elif declaration.type in _CLASSES and name_node is not None:
        kind, keys = "def", {("def", text(name_node))}
        add_class(text(name_node), declaration)
    elif declaration.type in _VARIABLE_DECLARATIONS:
        kind = "def"
        for declarator in declaration.named_children:
            pattern, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
            if declarator.type != "variable_declarator" or pattern is None:
                continue
            name = text(pattern)
            if value is not None and _is_require(data, value):
                kind = "import"
                keys.add(("import", text(value)))
                continue
            keys.add(("def", name))
            if value is None:
                continue
            if value.type in _FUNCTION_VALUES:
                functions.append((name, declarator, value))
            elif value.type in _CLASSES:
                add_class(name, value)
            elif value.type == "object":
                functions.extend(_members(data, name, value))
    elif declaration.type == "expression_statement":
        functions.extend(_commonjs_export(data, declaration))
        if functions:
            kind, keys, export = "def", {("def", f"exports.{functions[0][0]}")}, "exports"
        elif (exported := _commonjs_export_target(data, declaration)) is not None:
            # `module.exports = {...}`: what the module offers; a reply without it is not the whole file
            keys = {("exports", exported)}
    elif name_node is not None:  # TypeScript's interfaces, type aliases, enums, namespaces
        kind, keys = "def", {("def", text(name_node))}
    return _Item(node, export, kind, frozenset(keys), tuple(functions), tuple(classes))


def _members(data: bytes, owner: str, body: Node) -> Iterator[tuple[str, Node, Node]]:
    """The methods of a class body or an object literal: (`Owner.name`, range node, function node)."""
    for member in body.named_children:
        key = member.child_by_field_name("name") or member.child_by_field_name("property")
        if member.type == "pair":
            key, value = member.child_by_field_name("key"), member.child_by_field_name("value")
        elif member.type in _FIELDS:
            value = member.child_by_field_name("value")
        else:
            value = member if member.type == "method_definition" else None
        if key is None or value is None or (value is not member and value.type not in _FUNCTION_VALUES):
            continue
        name = data[key.start_byte : key.end_byte].decode("utf-8", "surrogatepass")
        yield f"{owner}.{name.strip(chr(34) + chr(39))}", member, value


def _commonjs_export(data: bytes, statement: Node) -> Iterator[tuple[str, Node, Node]]:
    """`exports.f = function ...` / `module.exports.f = (...) => ...`."""
    assignment = statement.named_children[0] if statement.named_children else None
    if assignment is None or assignment.type != "assignment_expression":
        return
    left, right = assignment.child_by_field_name("left"), assignment.child_by_field_name("right")
    if left is None or right is None or left.type != "member_expression" or right.type not in _FUNCTION_VALUES:
        return
    owner = data[left.start_byte : left.end_byte].decode("utf-8", "surrogatepass").rpartition(".")[0]
    prop = left.child_by_field_name("property")
    if owner in ("exports", "module.exports") and prop is not None:
        yield data[prop.start_byte : prop.end_byte].decode("utf-8", "surrogatepass"), assignment, right


def _commonjs_export_target(data: bytes, statement: Node) -> str | None:
    """`module.exports` / `exports.x` for an assignment to them, else None."""
    assignment = statement.named_children[0] if statement.named_children else None
    left = assignment.child_by_field_name("left") if assignment and assignment.type == "assignment_expression" else None
    if left is None:
        return None
    name = data[left.start_byte : left.end_byte].decode("utf-8", "surrogatepass")
    return name if name == "module.exports" or name.startswith(("exports.", "module.exports.")) else None


def _is_require(data: bytes, value: Node) -> bool:
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    return function is not None and data[function.start_byte : function.end_byte] == b"require"


def _signature(data: bytes, range_node: Node, function: Node, export: str) -> Signature:
    holder = range_node if range_node.type in ("method_definition", *_FIELDS) else function
    modifiers = [
        data[child.start_byte : child.end_byte].decode() for child in holder.children if child.type in _METHOD_MODIFIERS
    ]  # fmt: skip
    is_member = range_node.type in ("method_definition", "pair", *_FIELDS)
    kind = " ".join(modifiers) if modifiers and modifiers[-1] in ("get", "set") else " ".join([*modifiers, "method"])
    if range_node.type == "assignment_expression":
        export = "exports"
    parameters = function.child_by_field_name("parameters")
    if parameters is None:  # `x => ...`
        single = function.child_by_field_name("parameter")
        listed = _normal_form(data, single) if single is not None else ""
    else:
        listed = ", ".join(_normal_form(data, parameter) for parameter in parameters.named_children
                           if parameter.type not in _COMMENTS)  # fmt: skip
    return Signature(
        export=export if not is_member else "",
        kind=kind if is_member else "function",
        is_async=any(child.type == "async" for child in function.children),
        is_generator="generator" in function.type or any(child.type == "*" for child in function.children),
        parameters=listed,
    )


# Merging a partial reply.


class Merged(NamedTuple):
    text: str
    matched: bool  # the reply redefined something of the original's (else it may be for another file)


def merge(original: Source, reply: Source, target: str | None = None) -> Merged:
    """The reply as the whole file if it is one: it defines every name, function, method and import of the
    original (or all but the target, and something new: a renamed target, which the caller's check then finds
    lost). Otherwise a partial
    reply, spliced into the original:
    - a function (or method) both define replaces the original's range when its normal form changed, re-indented
      to the original's column; a changed declaration without functions (a constant) replaces the statement;
    - a new method of a class the original has goes at the end of that class's body;
    - a new top-level definition goes before the target's statement (else at the end), a new import after the
      original's last import (else first);
    - anything else in the reply (example calls, `module.exports` lists) is left out.
    Every byte the reply does not change stays as it was."""
    required, offered = _defined(original), _defined(reply)
    missing = required - offered
    target_keys = {("def", target.partition(".")[0]), ("function", target)} if target else set()
    if not missing or (missing <= target_keys and offered - required):
        return Merged(reply.text, True)
    return _Splice(original, reply, target).run()


def _defined(source: Source) -> set[tuple[str, str]]:
    return {key for item in source.items for key in item.keys} | {("function", name) for name in source.functions}


class _Edit(NamedTuple):
    start: int
    end: int
    text: bytes


class _Splice:
    def __init__(self, original: Source, reply: Source, target: str | None) -> None:
        self.original, self.reply = original, reply
        self.edits: dict[tuple[int, int], _Edit] = {}  # by original range: the last redefinition wins
        self.new_definitions: list[bytes] = []
        self.new_imports: list[bytes] = []
        self.matched = False
        top = target.partition(".")[0] if target else None
        self.anchor = next((item for item in original.items if ("def", top) in item.keys), None)

    def run(self) -> Merged:
        by_key = {key: item for item in self.original.items for key in item.keys}
        original_functions = self.original._definitions
        classes = {name: body for item in self.original.items for name, body in item.classes}
        for item in self.reply.items:
            matches = [by_key[key] for key in item.keys if key in by_key]
            if item.kind == "import":
                if not matches:
                    self.new_imports.append(self._text(item.node))
                continue
            if item.kind != "def":
                continue
            if not matches:
                self.new_definitions.append(self._text(item.node))
                continue
            self.matched = True
            if not item.functions and not any(match.functions for match in matches):
                self._replace_if_changed(matches[0].node, item.node)
            for name, range_node, _ in item.functions:
                if name in original_functions:
                    self._replace_if_changed(original_functions[name][0], range_node)
                elif name.rpartition(".")[0] in classes:
                    self._add_member(classes[name.rpartition(".")[0]], range_node)
        return Merged(self._apply(), self.matched)

    def _text(self, node: Node) -> bytes:
        return self.reply.data[node.start_byte : node.end_byte]

    def _replace_if_changed(self, old: Node, new: Node) -> None:
        if _normal_form(self.original.data, old) != _normal_form(self.reply.data, new):
            text = _reindent(self._text(new), new.start_point[1], _indent_of(self.original.data, old.start_byte))
            self.edits[(old.start_byte, old.end_byte)] = _Edit(old.start_byte, old.end_byte, text)

    def _add_member(self, body: Node, new: Node) -> None:
        closing = body.children[-1]
        members = [member for member in body.named_children if member.type not in _COMMENTS]
        indent = _indent_of(self.original.data, members[0].start_byte) if members else b"  "
        text = _reindent(self._text(new), new.start_point[1], indent)
        at = closing.start_byte - closing.start_point[1]  # the closing brace's line, so the brace keeps its indent
        previous = self.edits.get((at, at))
        self.edits[(at, at)] = _Edit(at, at, (previous.text if previous else b"") + b"\n" + indent + text + b"\n")

    def _apply(self) -> str:
        data, edits = self.original.data, list(self.edits.values())
        if self.new_imports:
            imports = [item for item in self.original.items if item.kind == "import"]
            if imports:
                at = imports[-1].node.end_byte
                edits.append(_Edit(at, at, b"".join(b"\n" + text for text in self.new_imports)))
            else:
                at = self.original.items[0].node.start_byte if self.original.items else 0
                edits.append(_Edit(at, at, b"".join(text + b"\n" for text in self.new_imports) + b"\n"))
        if self.new_definitions:
            if self.anchor is not None:
                at = _with_leading_comments(self.anchor.node).start_byte
                edits.append(_Edit(at, at, b"".join(text + b"\n\n" for text in self.new_definitions)))
            else:
                at = len(data.rstrip())
                edits.append(_Edit(at, at, b"".join(b"\n\n" + text for text in self.new_definitions)))
        for edit in sorted(edits, key=lambda edit: (edit.start, edit.end), reverse=True):
            data = data[: edit.start] + edit.text + data[edit.end :]
        return data.decode("utf-8", "surrogatepass")


def _with_leading_comments(node: Node) -> Node:
    """The first of the comments right above `node` (its JSDoc), or the node: what goes after a new helper."""
    first = node
    while (
        (above := first.prev_sibling) is not None
        and above.type in _COMMENTS
        and above.end_point[0] + 1 >= first.start_point[0]
    ):
        first = above
    return first


def _indent_of(data: bytes, offset: int) -> bytes:
    line_start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[line_start:offset]
    return prefix[: len(prefix) - len(prefix.lstrip(b" \t"))]


def _reindent(text: bytes, column: int, indent: bytes) -> bytes:
    """The lines after the first moved from `column` to `indent`, as a block (the first line lands where the
    original's node started). Lines indented less than `column` (inside a template literal) stay as they are."""
    if column == len(indent):
        return text
    lines = text.split(b"\n")
    moved = [indent + line[column:] if line[:column].strip() == b"" and line.strip() else line for line in lines[1:]]
    return b"\n".join([lines[0], *moved])


# Model-written tests.


class TestsRejected(ValueError):
    """Tests that cannot be used: no test in them, or they do not import the code under test."""


@dataclass(frozen=True)
class TestsTarget:
    """What JS/TS tests are for: `module_path` as the client sends it, the import specifier from the test
    directory ("../src/utils", with ".js" for ESM), and the function's qualified name."""

    module_path: str
    qualified_name: str
    helpers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.module_path.strip() or any(char in self.module_path for char in "\n'\"`"):
            raise InvalidRequest(f"module_path {self.module_path!r} is not an import specifier")
        if not self.qualified_name.strip():
            raise InvalidRequest("qualified_name is empty")


_FENCED = re.compile(r"```[\w+-]*[^\n]*\n(.*?)\n```", re.DOTALL)
_TEST_CALLS = {"test", "it", "describe"}
_SCRIPT_EXTENSION = re.compile(r"\.(?:[cm]?[jt]s|[jt]sx)$")


def check_tests(source: str, language: str, target: TestsTarget) -> tuple[str, tuple[str, ...]]:
    """The test file and what was changed in it: a markdown fence around it is removed. Raises CodeSyntaxError
    if it does not parse (in the TypeScript grammar, then TSX, for TypeScript), TestsRejected if it holds no
    `test`/`it`/`describe` call or never imports (or requires) `target.module_path`."""
    changes: list[str] = []
    fenced = _FENCED.search(source)
    if fenced:
        source = fenced.group(1)
        changes.append("removed the markdown fence")
    try:
        parsed = Source.parse(source, language)
    except CodeSyntaxError as error:
        if language != "typescript":
            raise
        try:
            parsed = Source.parse(source, language, "tests.tsx")  # a React test with JSX
        except CodeSyntaxError:
            raise error from None
    specifiers = set(_specifiers(parsed.data, parsed.tree.root_node))
    wanted = _SCRIPT_EXTENSION.sub("", target.module_path)
    if not any(_SCRIPT_EXTENSION.sub("", specifier) == wanted for specifier in specifiers):
        raise TestsRejected(f"the tests do not import {target.module_path!r}")
    if not _calls_any(parsed.data, parsed.tree.root_node, _TEST_CALLS):
        raise TestsRejected("no test in the file (no test, it or describe call)")
    return parsed.text, tuple(changes)


def _specifiers(data: bytes, root: Node) -> Iterator[str]:
    """The module specifiers the file imports: `import ... from`, `export ... from`, `require(...)`, `import(...)`."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        source: Node | None = None
        if node.type in ("import_statement", "export_statement"):
            source = node.child_by_field_name("source")
        elif node.type == "call_expression":
            function, arguments = node.child_by_field_name("function"), node.child_by_field_name("arguments")
            called = data[function.start_byte : function.end_byte] if function is not None else b""
            if called in (b"require", b"import") and arguments is not None and arguments.named_children:
                source = arguments.named_children[0]
        if source is not None and source.type == "string":
            yield data[source.start_byte + 1 : source.end_byte - 1].decode("utf-8", "surrogatepass")


def _calls_any(data: bytes, root: Node, names: set[str]) -> bool:
    """Whether the file calls one of `names`, directly or through a member (`it.each(...)`, `describe.skip`)."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        function = node.child_by_field_name("function") if node.type == "call_expression" else None
        while function is not None and function.type in ("member_expression", "call_expression"):
            function = function.child_by_field_name("object") or function.child_by_field_name("function")
        if function is not None and data[function.start_byte : function.end_byte].decode() in names:
            return True
    return False
