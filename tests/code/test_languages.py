"""Language dispatch: lookup, the client's fence tags, Python's hooks, and a clear 422 for the rest."""

import pytest

from aiservice.code import languages, markdown, testgen
from aiservice.code.languages import language_support
from aiservice.code.syntax import CodeSyntaxError
from aiservice.errors import NotSupported
from aiservice.http import service_error_response

NOT_YET = ["javascript", "typescript", "java", "go"]


@pytest.mark.parametrize("name", ["python", "Python", "PYTHON", "javascript", "TypeScript", "java", "go"])
def test_a_language_is_found_by_name_in_any_case(name):
    assert language_support(name).name == name.lower()


def test_an_unknown_language_is_refused_naming_the_languages_there_are():
    with pytest.raises(NotSupported) as refused:
        language_support("rust")
    assert str(refused.value) == (
        "language 'rust' is not supported; supported: python (not yet: go, java, javascript, typescript)"
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


@pytest.mark.parametrize("name", NOT_YET)
def test_languages_not_handled_yet_answer_422_from_every_hook(name):
    language = language_support(name)
    assert not language.supported
    target = testgen.CodeUnderTest(module_path="src.utils", qualified_name="sortList")
    for call in (lambda: language.validate("let x = 1;"), lambda: language.postprocess_tests("test()", target)):
        with pytest.raises(NotSupported) as refused:
            call()
        assert str(refused.value) == f"{name} is not supported yet"
        assert service_error_response(refused.value).status_code == 422


def test_a_language_cannot_be_registered_twice():
    python = language_support("python")
    with pytest.raises(ValueError, match="registered already"):
        languages._register("python", python.validate, python.postprocess_tests)
    assert language_support("python") is python
