"""Language dispatch: lookup, the client's fence tags, Python's and JS/TS's hooks, and a clear 422 for the rest."""

import pytest

from aiservice.code import languages, markdown, testgen
from aiservice.code.languages import language_support
from aiservice.code.syntax import CodeSyntaxError
from aiservice.errors import InvalidRequest, NotSupported
from aiservice.http import service_error_response

NOT_YET = ["java", "go"]


@pytest.mark.parametrize("name", ["python", "Python", "PYTHON", "javascript", "TypeScript", "java", "go"])
def test_a_language_is_found_by_name_in_any_case(name):
    assert language_support(name).name == name.lower()


def test_an_unknown_language_is_refused_naming_the_languages_there_are():
    with pytest.raises(NotSupported) as refused:
        language_support("rust")
    assert str(refused.value) == (
        "language 'rust' is not supported; supported: javascript, python, typescript (not yet: go, java)"
    )


@pytest.mark.parametrize(
    ("name", "tags", "extensions"),
    [
        ("python", ("python", "py", "pyw"), (".py", ".pyw")),
        ("javascript", ("javascript", "js", "jsx", "mjs", "cjs"), (".js", ".jsx", ".mjs", ".cjs")),
        ("typescript", ("typescript", "ts", "tsx", "mts"), (".ts", ".tsx", ".mts")),
        ("java", ("java",), (".java",)),
        ("go", ("go",), (".go",)),
    ],
)
def test_tags_and_extensions_are_those_the_client_accepts(name, tags, extensions):
    language = language_support(name)
    assert (language.tags, language.file_extensions) == (tags, extensions)
    assert all(markdown.language_of_tag(tag) == markdown.language_of_tag(tag.upper()) == name for tag in tags)


def test_the_registry_and_the_markdown_table_know_the_same_languages():
    assert sorted(languages._LANGUAGES) == sorted(markdown.LANGUAGES)


def test_python_hooks_are_the_syntax_check_and_the_test_postprocessor():
    python = language_support("python")
    assert python.supported
    python.validate("def f():\n    return 1\n", "mypkg/f.py")
    with pytest.raises(CodeSyntaxError) as refused:
        python.validate("def f(:\n", "mypkg/f.py")
    assert (refused.value.path, refused.value.line) == ("mypkg/f.py", 1)
    processed = python.postprocess_tests(
        "def test_it():\n    assert f() == 1\n",
        testgen.CodeUnderTest(module_path="mypkg.f", qualified_name="f"),
        behavior_capture=True,
    )
    assert processed.code == "from mypkg.f import f\ndef test_it():\n    f()\n"
    assert python.tests_target("mypkg.f", "f") == testgen.CodeUnderTest(module_path="mypkg.f", qualified_name="f")
    with pytest.raises(InvalidRequest):
        python.tests_target("../src/f", "f")


@pytest.mark.parametrize(
    ("name", "valid", "invalid", "path"),
    [
        ("javascript", "export const f = (a) => a;\n", "export const f = (a) => {\n", "src/f.js"),
        ("typescript", "export const f = (a: number): number => a;\n", "const el = <div/>;\n", "src/f.ts"),
        ("typescript", "const el = <div/>;\n", "const el = <div>;\n", "src/f.tsx"),
    ],
)
def test_javascript_and_typescript_validate_with_tree_sitter(name, valid, invalid, path):
    language = language_support(name)
    assert language.supported
    language.validate(valid, path)
    with pytest.raises(CodeSyntaxError) as refused:
        language.validate(invalid, path)
    assert refused.value.path == path and refused.value.line == 1


@pytest.mark.parametrize("name", ["javascript", "typescript"])
def test_javascript_and_typescript_tests_are_unfenced_and_checked(name):
    language = language_support(name)
    target = language.tests_target("../src/utils.js", "sortList", ("src.utils.swap",))
    tests = "import { sortList } from '../src/utils.js';\ntest('sorts', () => expect(sortList([])).toEqual([]));"
    processed = language.postprocess_tests(f"```js\n{tests}\n```", target, behavior_capture=True)
    # behavior_capture changes nothing: the client instruments JS/TS tests itself
    assert processed == testgen.ProcessedTests(code=tests, changes=("removed the markdown fence",))
    with pytest.raises(ValueError, match="do not import '../src/utils.js'"):
        language.postprocess_tests("test('x', () => {});", target)
    with pytest.raises(InvalidRequest):
        language.tests_target("", "sortList")


@pytest.mark.parametrize("name", NOT_YET)
def test_languages_not_handled_yet_answer_422_from_every_hook(name):
    language = language_support(name)
    assert not language.supported
    target = testgen.CodeUnderTest(module_path="src.utils", qualified_name="sortList")
    for call in (
        lambda: language.validate("let x = 1;"),
        lambda: language.tests_target("src/utils", "sortList"),
        lambda: language.postprocess_tests("test()", target),
    ):
        with pytest.raises(NotSupported) as refused:
            call()
        assert str(refused.value) == f"{name} is not supported yet"
        assert service_error_response(refused.value).status_code == 422


def test_a_language_cannot_be_registered_twice():
    python = language_support("python")
    with pytest.raises(ValueError, match="registered already"):
        languages._register("python", python.validate, python.tests_target, python.postprocess_tests)
    assert language_support("python") is python
