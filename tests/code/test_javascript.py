"""JavaScript and TypeScript through tree-sitter: syntax checks with positions, function lookup for every shape,
signatures, the normal form, partial-reply merges, the light clean-up of model-written tests, and lazy loading."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiservice.code import javascript as js
from aiservice.code.syntax import CodeSyntaxError
from aiservice.errors import InvalidRequest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"


def dedent(code: str) -> str:
    return textwrap.dedent(code).strip("\n") + "\n"


ESM = dedent("""
    import { swap } from "./swap.js";

    const LIMIT = 10;

    /** Bubble sort. */
    export function sortList(arr) {
      const out = [...arr];
      for (let i = 0; i < out.length; i++) {
        for (let j = 0; j < out.length - 1; j++) {
          if (out[j] > out[j + 1]) swap(out, j, j + 1);
        }
      }
      return out;
    }

    export default async function load(url, { retries = 3 } = {}) {
      return fetch(url);
    }

    export const double = async (x) => x * 2;
    let named = function inner(y) { return y; };
    const gen = function* (n) { yield n; };

    export class Sorter {
      static create(key) { return new Sorter(key); }
      async sort(items, ...rest) { return sortList(items); }
      get size() { return LIMIT; }
      handle = (event) => event;
    }

    const helpers = {
      clamp(x) { return Math.min(x, LIMIT); },
      "quoted": (a, b) => a + b,
    };
""")
COMMONJS = dedent("""
    'use strict';
    const { swap } = require('./swap');

    function sortList(arr) {
      return arr.slice().sort((a, b) => a - b);
    }

    exports.fast = function (arr) { return arr; };
    module.exports.slow = (arr) => sortList(arr);
    module.exports = { sortList };
""")
TS = dedent("""
    import type { Item } from "./types";

    export interface Keyed { key: string }

    export function sortList<T>(arr: T[], cmp?: (a: T, b: T) => number): T[] {
      return [...arr].sort(cmp);
    }

    function overloaded(a: string): string;
    function overloaded(a: number): number;
    function overloaded(a: any): any { return a; }

    export abstract class Store<T extends Keyed> {
      private items: T[] = [];
      public async add(this: Store<T>, item: T, index: number = 0): Promise<void> { this.items.splice(index, 0, item); }
      protected static empty(): number { return 0; }
      abstract name(): string;
    }

    const cast = <number>(<unknown>"1");
""")
TSX = dedent("""
    import React from "react";

    export const Row = ({ item }: { item: string }) => <li className="row">{item}</li>;

    export function List({ items }: { items: string[] }): JSX.Element {
      return <ul>{items.map((item) => <Row key={item} item={item} />)}</ul>;
    }
""")


def parse(code: str, language: str = "javascript", path: str | None = "src/sort.js") -> js.Source:
    return js.Source.parse(code, language, path)


def range_text(source: js.Source, name: str) -> str:
    function = source.find_function(name)
    assert function is not None, f"{name} not found in {sorted(source.functions)}"
    return source.data[function.start : function.end].decode()


# Syntax.


@pytest.mark.parametrize(
    ("code", "language", "path"),
    [
        (ESM, "javascript", "src/sort.mjs"),
        (COMMONJS, "javascript", "src/sort.cjs"),
        (TS, "typescript", "src/store.ts"),
        (TS, "typescript", None),  # a block without a path: TypeScript's grammar
        (TSX, "typescript", "src/list.tsx"),
        ("const el = <div>{x}</div>;\n", "javascript", "src/el.jsx"),  # JSX is JavaScript's grammar
        ("", "javascript", "src/empty.js"),
    ],
)
def test_valid_code_parses(code, language, path):
    js.check_syntax(code, language, path)


@pytest.mark.parametrize(
    ("code", "language", "path", "where", "message"),
    [
        ("function f() {\n  return 1;\n", "javascript", "a.js", (2, 12), "missing '}'"),
        ("const a = 1;\nconst b = ;\n", "javascript", "a.js", (2, 9), "unexpected '='"),
        ("let é = 1;\nlet y = 2 @ 3;\n", "javascript", "a.js", (2, 11), "unexpected '@ 3'"),  # columns in characters
        ("export function f(a: number) {}\n", "javascript", "a.js", (1, 19), "unexpected 'a:'"),  # types
        ("const x = <div/>;\n", "typescript", "a.ts", (1, 1), "unexpected 'const x = <div/>;'"),  # JSX needs .tsx
        (
            "const x = <number>y;\n",
            "typescript",
            "a.tsx",
            (1, 1),
            "unexpected 'const x = <number>y;'",
        ),  # and forbids this
    ],
)
def test_invalid_code_is_refused_with_its_line_and_column(code, language, path, where, message):
    with pytest.raises(CodeSyntaxError) as refused:
        js.check_syntax(code, language, path)
    assert (refused.value.line, refused.value.column) == where
    assert refused.value.message == message
    assert refused.value.path == path


def test_grammar_follows_the_language_and_the_file():
    assert js.grammar_for("javascript", "a.jsx") == js.grammar_for("javascript", None) == "javascript"
    assert js.grammar_for("typescript", "a.ts") == js.grammar_for("typescript", "a.mts") == "typescript"
    assert js.grammar_for("typescript", "a.TSX") == "tsx"
    assert js.grammar_for("typescript", None) == "typescript"
    with pytest.raises(ValueError, match="neither"):
        js.grammar_for("python", "a.py")


def test_windows_line_ends_are_normalised():
    assert parse("function f() {\r\n  return 1;\r\n}\r\n").text == "function f() {\n  return 1;\n}\n"


# Function lookup.


@pytest.mark.parametrize(
    ("source", "name", "text"),
    [
        (ESM, "sortList", "function sortList(arr) {\n  const out"),  # without `export` and the JSDoc
        (ESM, "load", "async function load(url, { retries = 3 } = {}) {"),
        (ESM, "double", "double = async (x) => x * 2"),  # the declarator
        (ESM, "named", "named = function inner(y) { return y; }"),
        (ESM, "gen", "gen = function* (n) { yield n; }"),
        (ESM, "Sorter.create", "static create(key) { return new Sorter(key); }"),
        (ESM, "Sorter.sort", "async sort(items, ...rest) { return sortList(items); }"),
        (ESM, "Sorter.size", "get size() { return LIMIT; }"),
        (ESM, "Sorter.handle", "handle = (event) => event"),
        (ESM, "helpers.clamp", "clamp(x) { return Math.min(x, LIMIT); }"),
        (ESM, "helpers.quoted", '"quoted": (a, b) => a + b'),
        (COMMONJS, "sortList", "function sortList(arr) {"),
        (COMMONJS, "fast", "exports.fast = function (arr) { return arr; }"),
        (COMMONJS, "slow", "module.exports.slow = (arr) => sortList(arr)"),
        (TS, "sortList", "function sortList<T>(arr: T[], cmp?: (a: T, b: T) => number): T[] {"),
        (TS, "overloaded", "function overloaded(a: any): any { return a; }"),  # the implementation, not a signature
        (TS, "Store.add", "public async add(this: Store<T>, item: T, index: number = 0): Promise<void> {"),
        (TS, "Store.empty", "protected static empty(): number { return 0; }"),
        (TSX, "Row", 'Row = ({ item }: { item: string }) => <li className="row">{item}</li>'),
        (TSX, "List", "function List({ items }: { items: string[] }): JSX.Element {"),
    ],
)
def test_every_function_shape_is_found_with_its_range(source, name, text):
    language, path = {TS: ("typescript", "src/store.ts"), TSX: ("typescript", "src/list.tsx")}.get(
        source, ("javascript", "src/sort.js")
    )
    assert range_text(parse(source, language, path), name).startswith(text)


def test_lookup_misses_and_lines():
    source = parse(ESM)
    assert source.find_function("missing") is None
    assert source.find_function("Sorter.missing") is None
    assert source.find_function("LIMIT") is None  # a constant is no function
    assert parse(TS, "typescript", "a.ts").find_function("Store.name") is None  # abstract: no body to optimize
    sort_list = source.find_function("sortList")
    assert sort_list is not None and (sort_list.first_line, sort_list.last_line) == (6, 14)


# Signatures.


def signature(code: str, name: str, language: str = "javascript") -> js.Signature:
    function = parse(code, language, "a.ts" if language == "typescript" else "a.js").find_function(name)
    assert function is not None
    return function.signature


def test_signatures_say_how_a_function_is_exported_and_called():
    source = parse(ESM)
    described = {name: function.signature.describe(name) for name, function in source.functions.items()}
    assert described == {
        "sortList": "export function sortList(arr)",
        "load": "export default async function load(url, { retries = 3 } = { })",
        "double": "export async function double(x)",
        "named": "function named(y)",
        "gen": "function* gen(n)",
        "Sorter.create": "static Sorter.create(key)",
        "Sorter.sort": "async Sorter.sort(items, ... rest)",
        "Sorter.size": "get Sorter.size()",
        "Sorter.handle": "Sorter.handle(event)",
        "helpers.clamp": "helpers.clamp(x)",
        "helpers.quoted": "helpers.quoted(a, b)",
    }
    assert signature(COMMONJS, "fast").describe("fast") == "exports function fast(arr)"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("function f(a) { return a; }", "async function f(a) { return a; }"),
        ("function f(a) { return a; }", "function f(a, b) { return a; }"),
        ("function f(a, b = 1) { return a; }", "function f(a, b = 2) { return a; }"),
        ("function f(...a) { return a; }", "function f(a) { return a; }"),
        ("export function f(a) { return a; }", "function f(a) { return a; }"),
        ("export function f(a) { return a; }", "export default function f(a) { return a; }"),
        ("function f(a) { return a; }", "function* f(a) { yield a; }"),
        ("class A { m(a) { return a; } }", "class A { static m(a) { return a; } }"),
        ("class A { get m() { return 1; } }", "class A { m() { return 1; } }"),
    ],
)
def test_signature_changes_are_detected(before, after):
    name = "A.m" if before.startswith("class") else "f"
    assert signature(before, name) != signature(after, name)


@pytest.mark.parametrize(
    ("before", "after", "language"),
    [
        ("function f(a) { return a; }", "function f( a ) {\n  // faster\n  return a | 0;\n}", "javascript"),
        ("const f = function (a) { return a; };", "const f = (a) => a;", "javascript"),  # same calls
        ("function f(a: number): number { return a; }", "function f(a: number): 0 | number { return a; }",
         "typescript"),  # the return type may change
    ],
)  # fmt: skip
def test_signature_ignores_the_body_layout_and_return_type(before, after, language):
    assert signature(before, "f", language) == signature(after, "f", language)


def test_typescript_parameter_types_are_part_of_the_signature():
    assert signature("function f(a: number) {}", "f", "typescript") != signature(
        "function f(a: string) {}", "f", "typescript"
    )


# Normal form.


def test_the_normal_form_ignores_comments_layout_semicolons_and_trailing_commas():
    a = "// header\nfunction f(a, b) {\n  return [a, b];\n}\n"
    b = "function f(a,b){ /* why */ return [a, b,] }"
    assert parse(a).normal_form == parse(b).normal_form == "function f ( a , b ) { return [ a , b ] }"


@pytest.mark.parametrize(
    "changed",
    [
        "function f(a, b) {\n  return [b, a];\n}\n",
        "function f(a, b) {\n  return ['a  b'];\n}\n",
        "function f(a, b) {\n  return [`${a}  ${b}`];\n}\n",
    ],
)
def test_the_normal_form_sees_code_and_literal_changes(changed):
    original = "function f(a, b) {\n  return [a, b];\n}\n"
    assert parse(changed).normal_form != parse(original).normal_form


def test_spaces_inside_a_string_count():
    assert parse("const a = 'x  y';").normal_form != parse("const a = 'x y';").normal_form


# Merging a partial reply.


def test_a_partial_reply_replaces_only_the_function_and_keeps_every_other_byte():
    original = parse(ESM)
    new = "function sortList(arr) {\n  return [...arr].sort((a, b) => a - b);\n}"
    merged = js.merge(original, parse(new), "sortList")
    assert merged == (ESM.replace(range_text(original, "sortList"), new), True)
    parse(merged.text)


def test_a_partial_reply_for_a_method_is_reindented_into_its_class():
    original = parse(ESM)
    reply = "class Sorter {\n    async sort(items, ...rest) {\n        return items.slice().sort();\n    }\n}"
    merged = js.merge(original, parse(reply), "Sorter.sort")
    new = "async sort(items, ...rest) {\n      return items.slice().sort();\n  }"  # moved as a block
    assert merged.text == ESM.replace(range_text(original, "Sorter.sort"), new)


def test_a_partial_reply_adds_helpers_before_the_target_imports_after_the_imports_and_methods_into_the_class():
    original = parse(ESM)
    reply = dedent("""
        import { fastSort } from "./fast.js";

        const cache = new Map();

        export function sortList(arr) {
          return fastSort(arr, cache);
        }

        class Sorter {
          peek() { return 1; }
        }

        console.log(sortList([2, 1]));
    """)
    text = js.merge(original, parse(reply), "sortList").text
    assert text.startswith('import { swap } from "./swap.js";\nimport { fastSort } from "./fast.js";\n\n')
    assert "const cache = new Map();\n\n/** Bubble sort. */\nexport function sortList(arr) {\n  return fastSort" in text
    assert "  handle = (event) => event;\n\n  peek() { return 1; }\n}\n" in text
    assert "console.log" not in text  # example calls are not part of the file
    parse(text)


def test_a_changed_constant_is_replaced_and_an_unchanged_one_kept():
    original = parse(ESM)
    text = js.merge(original, parse("const LIMIT = 20;\nexport function sortList(arr) { return arr; }"), None).text
    assert "const LIMIT = 20;" in text and "const LIMIT = 10;" not in text
    kept = js.merge(original, parse("const LIMIT   = 10\nexport function sortList(arr) { return arr; }"), None).text
    assert "const LIMIT = 10;" in kept  # the original's bytes, not the reply's


def test_a_complete_reply_is_the_file():
    reply = ESM.replace("return fetch(url);", "return fetch(url, { cache: 'force-cache' });")
    assert js.merge(parse(ESM), parse(reply), "load") == (reply, True)


def test_a_reply_for_another_file_matches_nothing():
    merged = js.merge(parse(ESM), parse("export function other(x) { return x; }"), "sortList")
    assert not merged.matched


def test_commonjs_and_typescript_merges():
    original = parse(COMMONJS)
    merged = js.merge(original, parse("exports.fast = (arr) => arr.slice();"), "fast")
    assert merged.text == COMMONJS.replace("function (arr) { return arr; }", "(arr) => arr.slice()")
    store = parse(TS, "typescript", "src/store.ts")
    reply = "class Store<T extends Keyed> {\n  protected static empty(): number { return +0; }\n}"
    merged = js.merge(store, parse(reply, "typescript", "src/store.ts"), "Store.empty")
    assert merged.text == TS.replace("return 0; }", "return +0; }")


# Model-written tests.

TARGET = js.TestsTarget("../src/sort.js", "sortList")
ESM_TESTS = dedent("""
    import { sortList } from '../src/sort.js';

    test('sorts', () => {
      expect(sortList([2, 1])).toEqual([1, 2]);
    });
""")
COMMONJS_TESTS = dedent("""
    const { sortList } = require('../src/sort');

    describe('sortList', () => {
      it.each([[[2, 1]]])('sorts %p', (input) => expect(sortList(input)).toEqual([1, 2]));
    });
""")


@pytest.mark.parametrize(
    ("source", "code", "changes"),
    [
        (ESM_TESTS, ESM_TESTS, ()),
        (f"Here are the tests:\n```javascript\n{ESM_TESTS}```\nThey cover sorting.", ESM_TESTS.rstrip("\n"),
         ("removed the markdown fence",)),
        (COMMONJS_TESTS, COMMONJS_TESTS, ()),  # require() without the extension ESM needs
    ],
)  # fmt: skip
def test_tests_are_checked_and_unfenced(source, code, changes):
    assert js.check_tests(source, "javascript", TARGET) == (code, changes)


def test_typescript_tests_may_hold_jsx():
    tests = "import { List } from '../src/list';\nit('renders', () => { render(<List items={[]} />); });\n"
    code, _ = js.check_tests(tests, "typescript", js.TestsTarget("../src/list", "List"))
    assert code == tests


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("import { sortList } from '../src/other.js';\ntest('x', () => {});\n", "do not import '../src/sort.js'"),
        ("import { sortList } from '../src/sort.js';\nsortList([]);\n", "no test in the file"),
    ],
)
def test_unusable_tests_are_rejected(source, error):
    with pytest.raises(js.TestsRejected, match=error):
        js.check_tests(source, "javascript", TARGET)


def test_tests_that_do_not_parse_raise_a_syntax_error():
    tests = "import { sortList } from '../src/sort.js';\ntest('x', () => { expect(sortList([])).toEqual([]]); });\n"
    with pytest.raises(CodeSyntaxError) as refused:
        js.check_tests(tests, "typescript", TARGET)  # neither TypeScript nor TSX
    assert (refused.value.line, refused.value.column, refused.value.message) == (2, 50, "unexpected ']'")


@pytest.mark.parametrize("module_path", ["", "a'b", "line\nbreak"])
def test_a_bad_module_path_is_an_invalid_request(module_path):
    with pytest.raises(InvalidRequest):
        js.TestsTarget(module_path, "f")


# tree-sitter loads on the first parse only.


def test_tree_sitter_is_imported_only_by_a_parse():
    probe = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(LAYER)!r}]\n"
        "import aiservice.code.candidates, aiservice.code.languages, aiservice.code.javascript as js\n"
        "before = 'tree_sitter' in sys.modules\n"
        "js.check_syntax('let a = 1;', 'javascript')\n"
        "print(json.dumps([before, 'tree_sitter' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == [False, True]
