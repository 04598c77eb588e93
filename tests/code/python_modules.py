"""Hypothesis strategies for the merge and post-processing properties: an original Python module built from
imports, constants, functions and classes, and a model-style reply to it.

A reply is either complete (the whole module, some definitions changed) or partial (some definitions, changed
or not, possibly in a different indentation; a class with only some of its methods; new helpers and imports;
the target method given bare). Bodies include a multi-line string, whose inner lines no re-indentation may
touch.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

IMPORTS = ["import os", "import math", "from typing import Any", "from collections import defaultdict"]
NEW_IMPORTS = ["import heapq", "from typing import Any, Iterable", "from functools import lru_cache"]

# Function bodies as (depth, line); depth None marks a line inside a multi-line string, written as is.
Lines = list[tuple[int | None, str]]
BODIES: list[Lines] = [
    [(0, "return x + y")],
    [(0, "return x * y + SCALE")],
    [(0, "total = x"), (0, "for _ in range(y):"), (1, "total += 1"), (0, "return total")],
    [(0, 'text = """first'), (None, "  second"), (None, 'third"""'), (0, "return text + str(x)")],
    [(0, "if x > y:  # the larger"), (1, "return x"), (0, "return y")],
]


def render(lines: Lines, indent: str, depth: int) -> str:
    return "".join(text + "\n" if level is None else indent * (depth + level) + text + "\n" for level, text in lines)


def function(name: str, body: int, indent: str, depth: int = 0, docstring: bool = False, method: bool = False,
             comment: str | None = None) -> str:  # fmt: skip
    parameters = "self, x, y=2" if method else "x, y=2"
    lines: Lines = [(0, f"# {comment}")] if comment else []
    lines.append((0, f"def {name}({parameters}):"))
    lines += [(1, f'"""{name.title()} does its job."""')] if docstring else []
    lines += [(None if level is None else level + 1, text) for level, text in BODIES[body]]
    return render(lines, indent, depth)


@dataclass(frozen=True)
class Definition:
    """A function, or a class of methods (`methods` maps each name to its body)."""

    name: str
    body: int = 0
    methods: tuple[tuple[str, int], ...] = ()

    @property
    def is_class(self) -> bool:
        return bool(self.methods)

    def render(self, indent: str = "    ", docstrings: bool = True, only: set[str] | None = None) -> str:
        if not self.is_class:
            return function(self.name, self.body, indent, docstring=docstrings)
        parts = [f"class {self.name}:\n"]
        parts += [f'{indent}"""The {self.name} class."""\n\n'] if docstrings else []
        parts += [f"{indent}LIMIT = 10\n\n"] if only is None else []
        members = [
            function(name, body, indent, depth=1, docstring=docstrings, method=True)
            for name, body in self.methods if only is None or name in only
        ]  # fmt: skip
        return "".join(parts) + "\n".join(members)


names = st.sampled_from(["alpha", "beta", "gamma", "delta", "epsilon"])
method_names = st.lists(st.sampled_from(["run", "step", "reset", "size"]), min_size=1, max_size=3, unique=True)


@st.composite
def definitions(draw: st.DrawFn) -> list[Definition]:
    chosen = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    result = []
    for name in chosen:
        body = draw(st.integers(0, len(BODIES) - 1))
        if draw(st.booleans()):
            methods = tuple((method, draw(st.integers(0, len(BODIES) - 1))) for method in draw(method_names))
            result.append(Definition(name.title(), methods=methods))
        else:
            result.append(Definition(name, body))
    return result


def module(imports: list[str], defs: list[Definition], main_guard: bool) -> str:
    parts = ['"""A module."""\n']
    parts += ["\n".join(imports) + "\n"] if imports else []
    parts.append("SCALE = 3  # used by some bodies\n")
    parts += [definition.render() for definition in defs]
    parts += ['if __name__ == "__main__":\n    print(SCALE)\n'] if main_guard else []
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Case:
    original: str
    reply: str
    target: str  # qualified name of a function or method of the original
    complete: bool


@st.composite
def cases(draw: st.DrawFn) -> Case:
    imports = draw(st.lists(st.sampled_from(IMPORTS), unique=True, max_size=3))
    defs = draw(definitions())
    original = module(imports, defs, draw(st.booleans()))
    targets = [f"{d.name}.{m}" if d.is_class else d.name for d in defs for m in ([n for n, _ in d.methods] or [""])]
    target = draw(st.sampled_from(targets)).rstrip(".")

    def changed(definition: Definition) -> Definition:
        new_body = draw(st.integers(0, len(BODIES) - 1))
        methods = tuple((name, draw(st.integers(0, len(BODIES) - 1))) for name, _ in definition.methods)
        return Definition(definition.name, new_body, methods)

    if draw(st.booleans()):  # complete: the whole module, some definitions changed
        reply = module(imports, [changed(d) if draw(st.booleans()) else d for d in defs], main_guard=False)
        return Case(original, reply, target, complete=True)

    indent = draw(st.sampled_from(["    ", "  "]))
    parts = draw(st.lists(st.sampled_from(NEW_IMPORTS), unique=True, max_size=2))
    parts = ["\n".join(parts) + "\n"] if parts else []
    if draw(st.booleans()):
        parts.append('"""Optimized."""\n')  # a docstring: not code to merge
    if "." in target and draw(st.booleans()):  # the target method, bare
        parts.append(function(target.split(".")[1], draw(st.integers(0, len(BODIES) - 1)), indent, method=True))
    else:
        for definition in draw(st.lists(st.sampled_from(defs), min_size=1, unique=True)):
            definition = changed(definition) if draw(st.booleans()) else definition
            only = None
            if definition.is_class:
                only = set(draw(st.lists(st.sampled_from([n for n, _ in definition.methods]), min_size=1, unique=True)))
            parts.append(definition.render(indent, docstrings=draw(st.booleans()), only=only))
    if draw(st.booleans()):
        parts.append(function("new_helper", draw(st.integers(0, len(BODIES) - 1)), indent))
    if draw(st.booleans()):
        parts.append("_CACHE = {}\n")
    return Case(original, "\n\n".join(parts), target, complete=False)
