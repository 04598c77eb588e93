"""The model registry: lookups, configuration (extra models, application inference profiles), limits, token
estimates, and the price table's own hygiene. Talks to nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aiservice.llm import models
from aiservice.llm.models import (
    ContextLengthError,
    ModelConfigError,
    ModelSpec,
    UnknownModelError,
    check_context,
    estimate_tokens,
    get_model,
    list_models,
    reset_registry,
)

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = {  # our base id -> Bedrock model id
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
}
GEOGRAPHIES = ("us", "eu", "apac", "jp", "au")
OPENAI = ("gpt-5", "gpt-5-mini", "gpt-4.1")
APP_PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"

GEMINI: dict[str, Any] = {  # a registry entry, as LLM_EXTRA_MODELS holds it
    "id": "gemini/gemini-2.5-pro",
    "provider": "openai_compatible",
    "family": "openai",
    "provider_model_id": "gemini-2.5-pro",
    "base_url": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "api_key_env": "GEMINI_API_KEY",
    "context_window": 1048576,
    "max_output_tokens": 65536,
    "capabilities": ["tools", "vision", "reasoning"],
    "token_param": "max_completion_tokens",
    "reasoning_effort": True,
    "prices": {"input": "1.25", "output": "10.00", "effective_date": "2026-02-01", "source": "ai.google.dev/pricing"},
}


pytestmark = pytest.mark.usefixtures("clean_registry")


def configure(monkeypatch, name: str, value: object) -> None:
    monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))
    reset_registry()


# ------------------------------------------------------------------------------------------ lookups


def test_the_registry_has_every_required_model():
    ids = {spec.id for spec in list_models()}
    for base in CLAUDE:
        assert {base, f"{base}@in-region", *(f"{base}@{geo}" for geo in GEOGRAPHIES)} <= ids
    for name in OPENAI:
        assert {f"azure/{name}", f"azure-dz/{name}"} <= ids


@pytest.mark.parametrize("base", CLAUDE)
def test_bedrock_ids_resolve_with_and_without_their_geography(base):
    bare = CLAUDE[base]
    assert get_model(base).provider_model_id == f"global.{bare}"
    assert get_model(f"global.{bare}").id == base
    for geo in GEOGRAPHIES:
        assert get_model(f"{geo}.{bare}").id == f"{base}@{geo}"
        assert get_model(f"{base}@{geo}").provider_model_id == f"{geo}.{bare}"
    in_region = get_model(bare)  # no profile: in-region inference, at the regional price
    assert in_region.id == f"{base}@in-region"
    assert in_region.price_multiplier == Decimal("1.1")
    assert get_model(f"  {bare.upper()} ").id == f"{base}@in-region"  # case and spaces do not matter


def test_system_inference_profile_and_foundation_model_arns_resolve_through_their_ids():
    profile = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert get_model(profile).id == "claude-haiku-4-5@eu"
    foundation = "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"
    assert get_model(foundation).id == "claude-opus-4-5@in-region"


def test_application_inference_profile_arns_map_through_configuration(monkeypatch):
    with pytest.raises(UnknownModelError, match=models.APPLICATION_PROFILES_ENV):
        get_model(APP_PROFILE)
    configure(monkeypatch, models.APPLICATION_PROFILES_ENV, {APP_PROFILE: "claude-sonnet-4-5@us"})
    spec = get_model(APP_PROFILE)
    assert spec.id == "claude-sonnet-4-5@us"  # priced and recorded as the profile it copies
    assert spec.price_multiplier == Decimal("1.1")
    assert spec.provider_model_id == APP_PROFILE  # what to send to Bedrock
    other = APP_PROFILE.replace("a1b2c3d4e5f6", "ffffffffffff")
    with pytest.raises(UnknownModelError, match="not mapped"):
        get_model(other)


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["arn"]', "JSON object"),
        ({"not-an-arn": "claude-sonnet-4-5"}, "not a Bedrock inference profile ARN"),
        ({APP_PROFILE: "claude-sonnet-9"}, "no model id"),
        ({APP_PROFILE: "azure/gpt-5"}, "not a Bedrock model"),
        ({APP_PROFILE: 7}, "no model id"),
    ],
)
def test_malformed_application_profiles_are_loud(monkeypatch, mapping, problem):
    configure(monkeypatch, models.APPLICATION_PROFILES_ENV, mapping)
    with pytest.raises(ModelConfigError, match=problem):
        get_model(APP_PROFILE)
    assert get_model("claude-sonnet-4-5").id == "claude-sonnet-4-5"  # read only when an ARN needs it


def test_application_profiles_are_read_once_until_reset(monkeypatch):
    configure(monkeypatch, models.APPLICATION_PROFILES_ENV, {APP_PROFILE: "claude-haiku-4-5"})
    assert get_model(APP_PROFILE).id == "claude-haiku-4-5"
    monkeypatch.setenv(models.APPLICATION_PROFILES_ENV, json.dumps({APP_PROFILE: "claude-opus-4-5"}))
    assert get_model(APP_PROFILE).id == "claude-haiku-4-5"  # cached
    reset_registry()
    assert get_model(APP_PROFILE).id == "claude-opus-4-5"


@pytest.mark.parametrize(
    "name",
    [
        "claude-sonnet-5",
        "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v2:0",
        "gpt-5",  # ours are azure/gpt-5 and azure-dz/gpt-5: a bare name is ambiguous
        "",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-v1:0",
        "arn:aws:s3:::bucket",
        None,
    ],
)
def test_unknown_names_are_an_error_listing_known_ids(name):
    with pytest.raises(UnknownModelError) as raised:
        get_model(name)
    assert isinstance(raised.value, LookupError)
    assert "known: azure-dz/gpt-4.1, " in str(raised.value)  # a few known ids, sorted


def test_get_model_passes_a_spec_through():
    spec = get_model("azure/gpt-5")
    assert get_model(spec) is spec


def test_nothing_is_read_at_import_and_no_sdk_is_imported(tmp_path):
    probe = (
        "import sys\n"
        "import aiservice.llm.models as m, aiservice.llm.cost\n"
        "assert m._registry.cache_info().currsize == 0, 'models.json read at import'\n"
        "assert m._application_profiles.cache_info().currsize == 0\n"
        "m.get_model('claude-sonnet-4-5')\n"
        "heavy = [name for name in ('anthropic', 'openai', 'libcst', 'boto3', 'botocore') if name in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {"PYTHONPATH": str(ROOT / "layers" / "common"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", probe], check=True, env=env, cwd=tmp_path, timeout=60)


# ------------------------------------------------------------------------------------------ extra models


def test_extra_models_add_an_openai_compatible_provider(monkeypatch):
    configure(monkeypatch, models.EXTRA_MODELS_ENV, [GEMINI])
    spec = get_model("gemini/gemini-2.5-pro")
    assert spec.provider == "openai_compatible"
    assert spec.base_url == GEMINI["base_url"]
    assert spec.api_key_env == "GEMINI_API_KEY"
    assert spec.prices.input == Decimal("1.25")
    assert spec.prices.cache_read is None
    assert spec.price_multiplier == 1
    assert [s.id for s in list_models()][-1] == "gemini/gemini-2.5-pro"


def test_extra_model_prices_may_be_json_numbers_and_stay_exact(monkeypatch):
    entry = {**GEMINI, "prices": {**GEMINI["prices"], "input": 0.1}}
    text = json.dumps([entry])
    configure(monkeypatch, models.EXTRA_MODELS_ENV, text)
    assert get_model("gemini/gemini-2.5-pro").prices.input == Decimal("0.1")  # not 0.1000000000000000055...


def _without(entry: dict, key: str) -> dict:
    return {k: v for k, v in entry.items() if k != key}


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ([_without(GEMINI, "context_window")], ["gemini/gemini-2.5-pro", "context_window"]),
        ([{**GEMINI, "provider": "vertex"}], ["gemini/gemini-2.5-pro", "provider"]),
        ([{**GEMINI, "prices": {**GEMINI["prices"], "input": "-1"}}], ["gemini/gemini-2.5-pro", "prices.input"]),
        ([{**GEMINI, "prices": {**GEMINI["prices"], "output": "free"}}], ["prices.output"]),
        ([{**GEMINI, "prices": _without(GEMINI["prices"], "source")}], ["prices.source"]),
        ([{**GEMINI, "prices": _without(GEMINI["prices"], "effective_date")}], ["prices.effective_date"]),
        ([{**GEMINI, "prices": {**GEMINI["prices"], "inferred": ["input"]}}], ["note"]),
        ([{**GEMINI, "family": "anthropic"}], ["gemini/gemini-2.5-pro", "family"]),
        ([_without(GEMINI, "base_url")], ["base_url"]),
        ([{**GEMINI, "api_key_env": "not a name"}], ["api_key_env"]),
        ([{**GEMINI, "provider": "azure"}], ["base_url"]),
        ([{**GEMINI, "capabilities": ["tools", "telepathy"]}], ["capabilities"]),
        ([{**GEMINI, "capabilities": ["reasoning", "caching"]}], ["cache_read"]),
        ([{**GEMINI, "capabilities": ["tools"]}], ["reasoning_effort"]),
        ([{**GEMINI, "max_output_tokens": 2_000_000}], ["max_output_tokens"]),
        ([{**GEMINI, "context_window": "1M"}], ["context_window"]),
        ([{**GEMINI, "reasoning_effort": "yes"}], ["reasoning_effort"]),
        ([{**GEMINI, "surprise": 1}], ["surprise"]),
        ([{**GEMINI, "price_multiplier": "0"}], ["price_multiplier"]),
        ([{**GEMINI, "id": "claude-sonnet-4-5"}], ["claude-sonnet-4-5", "twice"]),
        ([GEMINI, GEMINI], ["gemini/gemini-2.5-pro", "twice"]),
        (
            [
                {
                    **GEMINI,
                    "id": "x",
                    "provider": "bedrock",
                    "family": "anthropic",
                    "base_url": None,
                    "api_key_env": None,
                    "token_param": "max_tokens",
                    "reasoning_effort": False,
                }
            ],
            ["provider_model_id"],
        ),
        ({"id": "x"}, ["JSON list"]),
        (["gemini"], ["entry 0", "JSON object"]),
        ("[{", ["not valid JSON"]),
    ],
)
def test_malformed_extra_models_are_loud_and_name_the_model_and_field(monkeypatch, entries, named):
    configure(monkeypatch, models.EXTRA_MODELS_ENV, entries)
    with pytest.raises(ModelConfigError) as raised:
        list_models()
    for word in named:
        assert word in str(raised.value)


def test_a_float_price_is_refused():
    raw = {**GEMINI, "prices": {**GEMINI["prices"], "input": 1.25}}  # a Python float, never from our JSON parsing
    with pytest.raises(ValueError, match="float"):
        ModelSpec.model_validate(raw)


# ------------------------------------------------------------------------------------------ limits


def test_check_context_fits_exactly_and_refuses_one_more():
    check_context("claude-sonnet-4-5", 136_000, 64_000)  # 200,000: exactly the window
    with pytest.raises(ContextLengthError) as raised:
        check_context("claude-sonnet-4-5", 136_001, 64_000)
    message = str(raised.value)
    assert "136001" in message and "64000" in message and "200000" in message
    assert isinstance(raised.value, ValueError)


def test_check_context_knows_separate_input_and_output_limits():
    check_context("azure/gpt-5", 272_000, 128_000)
    with pytest.raises(ContextLengthError, match="272001"):
        check_context("azure/gpt-5", 272_001, 1_000)  # GPT-5 takes 272K of input in its 400K window
    with pytest.raises(ContextLengthError, match="64001"):
        check_context("claude-haiku-4-5", 1_000, 64_001)
    check_context(get_model("azure/gpt-4.1"), 1_000_000, 32_768)


@pytest.mark.parametrize(("tokens", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("9", TypeError)])
def test_check_context_refuses_nonsense_counts(tokens, error):
    with pytest.raises(error):
        check_context("claude-sonnet-4-5", tokens, 100)


# Real token counts of each sample, measured offline with tiktoken's cl100k_base and the Claude BPE of
# anthropic-tokenizer 0.1.0 (neither is a dependency): (cl100k, claude). The estimate must not be under either.
SAMPLES = {
    "prose": "The quick brown fox jumps over the lazy dog. Optimization is the art of doing less work while "
    "producing the same result; profilers tell you where to look.",
    "python": 'def fibonacci(n: int) -> list[int]:\n    """Return the first n Fibonacci numbers."""\n'
    "    result = [0, 1]\n    while len(result) < n:\n        result.append(result[-1] + result[-2])\n"
    "    return result[:n]\n",
    "dense_code": "x[i][j]=y[j][i]+1;a[b[c[d]]]^=~e&f|g<<2;" * 4,
    "json": json.dumps({f"k{i}": [i, i * 2.5, None, True, f"v{i}"] for i in range(12)}, separators=(",", ":")),
    "cjk": "機械学習モデルの最適化は難しい問題です。中文测试文本，"
    "包含一些罕见的字：龘靐齉爩。한국어 텍스트도 포함됩니다.",
    "emoji": "🚀🔥💯🎉👩‍👩‍👧‍👦🏳️‍🌈🇯🇵 ok 😀😃😄😁",
    "arabic_cyrillic": "مرحبا بالعالم، هذا نص تجريبي. Привет, мир! Ελληνικά κείμενα.",
    "hex": hashlib.sha256(b"codeflash").hexdigest() * 4,
    "base64": base64.b64encode(hashlib.sha512(b"codeflash").digest() * 3).decode(),
    "numbers": " ".join(str(7**i) for i in range(40)),
    "german": "Die Donaudampfschifffahrtsgesellschaftskapitänsmütze liegt neben der "
    "Kraftfahrzeughaftpflichtversicherung.",
    "random_letters": " ".join(
        "".join(chr(97 + byte % 26) for byte in hashlib.sha256(str(i).encode()).digest()[: 3 + i % 12])
        for i in range(40)
    ),
    "uuids": " ".join(str(uuid.UUID(bytes=hashlib.md5(str(i).encode()).digest())) for i in range(10)),
}
SAMPLES["random_upper"] = SAMPLES["random_letters"].upper()
MEASURED = {
    "prose": (32, 33),
    "python": (54, 61),
    "dense_code": (101, 132),
    "json": (169, 193),
    "cjk": (68, 66),
    "emoji": (52, 47),
    "arabic_cyrillic": (47, 58),
    "hex": (156, 160),
    "base64": (182, 179),
    "numbers": (279, 291),
    "german": (34, 40),
    "random_letters": (179, 181),
    "random_upper": (189, 193),
    "uuids": (239, 248),
}


@pytest.mark.parametrize("kind", MEASURED)
def test_estimate_tokens_never_undercounts(kind):
    text = SAMPLES[kind]
    estimate = estimate_tokens(text)
    assert estimate >= max(MEASURED[kind])
    assert estimate <= 2.5 * max(MEASURED[kind])  # conservative, not absurd


def test_estimate_tokens_beats_the_bytes_over_three_rule_where_it_fails():
    for kind in ("dense_code", "json", "cjk", "emoji", "hex", "base64"):
        bytes_over_three = -(-len(SAMPLES[kind].encode()) // 3)
        assert bytes_over_three < max(MEASURED[kind]) <= estimate_tokens(SAMPLES[kind])


def test_estimate_tokens_edges():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") >= 1
    assert estimate_tokens("x" * 1000) >= 500  # a run of one letter repeated is no word
    with pytest.raises(TypeError):
        estimate_tokens(b"bytes")  # type: ignore[arg-type]
    long = SAMPLES["python"] * 50
    assert estimate_tokens(long) >= 50 * max(MEASURED["python"]) - 50


# ------------------------------------------------------------------------------------------ the table itself


def test_every_price_table_has_an_effective_date_and_a_source():
    for spec in list_models():
        tables = [spec.prices] + ([spec.long_context.prices] if spec.long_context else [])
        for table in tables:
            assert isinstance(table.effective_date, date), spec.id
            assert table.effective_date >= date(2025, 1, 1), spec.id
            assert len(table.source) > 20, spec.id
            for kind in table.inferred:
                assert table.price(kind) is not None and table.note, spec.id


def test_inferred_prices_are_flagged():
    for spec in list_models():
        if spec.provider == "bedrock":
            assert "cache_write_1h" in spec.prices.inferred, spec.id  # Bedrock 1 h write = 2 x input
            assert spec.prices.cache_write_1h == 2 * spec.prices.input
        else:
            assert spec.prices.inferred == ("cache_write_5m",), spec.id  # OpenAI cache_write_tokens = 1.25 x input
            assert spec.prices.cache_write_5m == Decimal("1.25") * spec.prices.input


def test_regional_rows_are_the_global_row_times_one_point_one():
    for base in CLAUDE:
        origin = get_model(base)
        assert origin.price_multiplier == 1
        for suffix in (*GEOGRAPHIES, "in-region"):
            regional = get_model(f"{base}@{suffix}")
            assert regional.price_multiplier == Decimal("1.1")
            assert regional.prices.model_dump(exclude={"source"}) == origin.prices.model_dump(exclude={"source"})
            if origin.long_context is None:
                assert regional.long_context is None
            else:
                lc = {"prices": {"source"}}
                assert regional.long_context is not None
                assert regional.long_context.model_dump(exclude=lc) == origin.long_context.model_dump(exclude=lc)
    for name in OPENAI:
        assert get_model(f"azure/{name}").price_multiplier == 1
        assert get_model(f"azure-dz/{name}").price_multiplier == Decimal("1.1")
        assert get_model(f"azure-dz/{name}").prices.input == get_model(f"azure/{name}").prices.input


def test_request_shapes():
    for spec in list_models():
        if spec.family == "anthropic":
            assert spec.token_param == "max_tokens" and not spec.reasoning_effort
            assert spec.capabilities == {"tools", "vision", "reasoning", "caching"}
    for prefix in ("azure", "azure-dz"):
        for name in ("gpt-5", "gpt-5-mini"):
            spec = get_model(f"{prefix}/{name}")
            assert spec.token_param == "max_completion_tokens" and spec.reasoning_effort
            assert spec.provider_model_id == name  # the deployment name defaults to the model name
        gpt41 = get_model(f"{prefix}/gpt-4.1")
        assert gpt41.token_param == "max_tokens" and not gpt41.reasoning_effort
        assert "reasoning" not in gpt41.capabilities


def test_only_sonnet_has_a_long_context_tier():
    for spec in list_models():
        if spec.id.startswith("claude-sonnet-4-5"):
            assert spec.long_context is not None and spec.long_context.threshold_input_tokens == 200_000
        else:
            assert spec.long_context is None, spec.id


def test_specs_are_frozen():
    spec = get_model("claude-sonnet-4-5")
    with pytest.raises(ValidationError):
        spec.context_window = 1  # type: ignore[misc]
    assert hash(spec) == hash(get_model("claude-sonnet-4-5"))
