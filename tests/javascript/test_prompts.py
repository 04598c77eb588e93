"""Per-language prompt templates (aiservice.pipelines.prompts): each language's own version where it has one,
TypeScript falling back to JavaScript, everything to the generic (Python) template; and every language version
fits the values its callers give the generic one."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiservice.pipelines import prompts

VARIANTS = sorted(path for path in prompts.FOLDER.glob("*/*.md"))


def test_a_language_gets_its_own_template_then_its_fallbacks_then_the_generic_one() -> None:
    generic = prompts.template("optimize_system")
    javascript = prompts.template("optimize_system", "javascript")
    typescript = prompts.template("optimize_system", "typescript")
    assert len({generic, javascript, typescript}) == 3
    assert "TypeScript" in typescript and "type-check" in typescript and "type-check" not in javascript
    # TypeScript has no refinement template of its own: JavaScript's
    assert prompts.template("refinement_system", "typescript") == prompts.template("refinement_system", "javascript")
    assert prompts.template("refinement_system", "javascript") != prompts.template("refinement_system")
    assert "```` ```typescript ````" in prompts.template("testgen_system", "typescript")
    # no JavaScript version of these: the generic one
    assert prompts.template("optimize_user", "typescript") == prompts.template("optimize_user")
    assert prompts.template("rank_system", "javascript") == prompts.template("rank_system")
    assert prompts.template("optimize_system", "python") == generic
    assert prompts.template("optimize_system", "JavaScript") == javascript  # the client's spelling varies


@pytest.mark.parametrize("language", ["java", "go", "", None, "../prompts", "javascript/../..", "a b"])
def test_other_or_odd_language_names_get_the_generic_template(language: str | None) -> None:
    assert prompts.template("optimize_system", language) == prompts.template("optimize_system")


def test_an_unknown_template_is_a_clear_error_in_any_language() -> None:
    with pytest.raises(prompts.PromptError, match="no prompt template 'nope'"):
        prompts.template("nope", "javascript")


@pytest.mark.parametrize("path", VARIANTS, ids=[f"{p.parent.name}/{p.stem}" for p in VARIANTS])
def test_each_language_version_fits_the_values_of_the_generic_one(path: Path) -> None:
    """A caller renders a name with the values the generic template names; a language's version may leave some
    out (Python's JIT rule) but may name no other, or rendering it would fail in production."""
    language, name = path.parent.name, path.stem
    assert (prompts.FOLDER / f"{name}.md").is_file(), f"{path} has no generic template to fall back to"
    generic = prompts.placeholders(name)
    assert prompts.placeholders(name, language) <= generic | {"language"}
    values = {value: f"<{value}>" for value in generic - {"language"}}
    text = prompts.render(name, language, **values)
    assert text.startswith(path.read_text(encoding="utf-8")[:40]) and "{{" not in text


def test_render_fills_the_language_and_still_refuses_typos() -> None:
    text = prompts.render("line_profiler_section", "typescript", profile="Line Profile Results:")
    assert "`Time (ms)`" in text and "Line Profile Results:" in text
    assert "`Time (ms)`" not in prompts.render("line_profiler_section", profile="x")
    with pytest.raises(prompts.PromptError, match="no placeholder for \\['profil'\\]"):
        prompts.render("line_profiler_section", "javascript", profile="x", profil="typo")
    with pytest.raises(prompts.PromptError, match="needs \\['profile'\\]"):
        prompts.render("line_profiler_section", "javascript")
    values = {name: "v" for name in prompts.placeholders("refinement_system") - {"language"}}
    assert "colleague's optimization of typescript code" in prompts.render("refinement_system", "typescript", **values)
    with pytest.raises(prompts.PromptError, match="needs \\['language'\\]"):
        prompts.render("refinement_system", **values)


def test_the_warm_up_reads_every_language_version() -> None:
    from aiservice.pipelines.warmup import warm_up

    prompts.template.cache_clear()
    warm_up([])
    read = prompts.template.cache_info().misses
    for path in VARIANTS:
        prompts.template(path.stem, path.parent.name)
    assert prompts.template.cache_info().misses == read  # every one came from the cache
