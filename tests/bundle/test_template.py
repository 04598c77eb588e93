"""template.yaml: sam validate --lint, cfn-lint with the serverless rules, the offline SAM transform linted by
cfn-lint (with a proof that this catches what the source-level lints miss), design guards and `sam build`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import _sam

# ---------------------------------------------------------------- accepted warnings
# Errors are never accepted. A warning is accepted only by a predicate that re-checks, on the template itself,
# why the warning does not apply; anything else fails the test.


def _logs_to_own_log_group(template: dict[str, Any], finding: _sam.Finding) -> bool:
    """WS1004 (cfn-lint-serverless: "Lambda function X does not have a corresponding log group with a Retention
    property") only recognises the classic pattern, a LogGroup named `/aws/lambda/${Function}` created *after* the
    function. This bundle uses the newer one: each function's LoggingConfig.LogGroup is a `!Ref` to its own
    AWS::Logs::LogGroup with RetentionInDays, created *before* the function (no window in which Lambda creates an
    unmanaged, never-expiring group) and named from the stack. The rule ignores LoggingConfig, so it is accepted
    exactly for functions whose LoggingConfig.LogGroup is such a group."""
    if finding.rule != "WS1004" or finding.path[:1] != ("Resources",) or len(finding.path) != 2:
        return False
    return log_group_of(template, finding.path[1]) is not None


def _inlined_by_the_transform(source: dict[str, Any]) -> Callable[[dict[str, Any], _sam.Finding], bool]:
    def accept(_transformed: dict[str, Any], finding: _sam.Finding) -> bool:
        """W2001 "Parameter X not used" on the *transformed* template, for a parameter the source template does
        reference: the SAM translator substitutes some parameter values while transforming (the authorizer's
        ReauthorizeEvery <- AuthorizerCacheTtlSeconds), offline with the default, in CloudFormation with the
        deploy-time value. test_authorizer_cache_ttl_follows_its_parameter proves the value still flows.
        A parameter unused in the source is not accepted."""
        if finding.rule != "W2001" or finding.path[:1] != ("Parameters",):
            return False
        return _refers_to(source.get("Resources", {}), finding.path[1]) or _refers_to(
            source.get("Globals", {}), finding.path[1]
        )

    return accept


def unaccepted(
    findings: list[_sam.Finding],
    template: dict[str, Any],
    accepted: tuple[Callable[[dict[str, Any], _sam.Finding], bool], ...],
) -> list[str]:
    return [str(f) for f in findings if f.is_error or not any(accept(template, f) for accept in accepted)]


# ---------------------------------------------------------------- template helpers


def _refers_to(node: Any, name: str) -> bool:
    """Whether `node` has a Ref to `name` or a ${name} in an Fn::Sub."""
    if isinstance(node, dict):
        if node.get("Ref") == name:
            return True
        sub = node.get("Fn::Sub")
        if sub is not None and "${" + name + "}" in (sub if isinstance(sub, str) else sub[0]):
            return True
        return any(_refers_to(value, name) for value in node.values())
    if isinstance(node, list):
        return any(_refers_to(value, name) for value in node)
    return False


def resources_of_type(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") in types}


def log_group_of(template: dict[str, Any], function_id: str) -> dict[str, Any] | None:
    """The function's LoggingConfig.LogGroup when it is a `!Ref` to a LogGroup of this template with a retention."""
    properties = template["Resources"].get(function_id, {}).get("Properties", {})
    target = (properties.get("LoggingConfig") or {}).get("LogGroup")
    if not (isinstance(target, dict) and list(target) == ["Ref"]):
        return None
    log_group = template["Resources"].get(target["Ref"], {})
    if log_group.get("Type") != "AWS::Logs::LogGroup" or "RetentionInDays" not in log_group.get("Properties", {}):
        return None
    return log_group


# ---------------------------------------------------------------- lints


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    proc = _sam.run([_sam.tool("sam"), "validate", "--lint", "--template", str(_sam.TEMPLATE)], timeout=180)
    assert proc.returncode == 0, _sam.describe(proc)


@pytest.mark.slow
def test_cfn_lint_with_serverless_rules(source_template: dict[str, Any]) -> None:
    findings = _sam.cfn_lint(_sam.TEMPLATE)
    assert unaccepted(findings, source_template, (_logs_to_own_log_group,)) == []


@pytest.mark.slow
def test_transformed_template_lints_clean(
    source_template: dict[str, Any], transformed_template: dict[str, Any], transformed_template_file: Path
) -> None:
    findings = _sam.cfn_lint(transformed_template_file)
    accepted = (_logs_to_own_log_group, _inlined_by_the_transform(source_template))
    assert unaccepted(findings, transformed_template, accepted) == []


def test_accepted_warnings_stay_narrow(source_template: dict[str, Any], transformed_template: dict[str, Any]) -> None:
    """The acceptances above re-check the template; they do not wave a rule through."""

    def warning(rule: str, *path: str) -> _sam.Finding:
        return _sam.Finding(rule, "Warning", "", path, 1)

    function_id = next(iter(resources_of_type(source_template, "AWS::Serverless::Function")))
    assert _logs_to_own_log_group(source_template, warning("WS1004", "Resources", function_id))
    no_retention = copy.deepcopy(source_template)
    log_group_id = no_retention["Resources"][function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    del no_retention["Resources"][log_group_id]["Properties"]["RetentionInDays"]
    assert not _logs_to_own_log_group(no_retention, warning("WS1004", "Resources", function_id))

    unused = copy.deepcopy(source_template)
    unused["Parameters"]["NeverUsed"] = {"Type": "String", "Default": "x"}
    assert not _inlined_by_the_transform(unused)(transformed_template, warning("W2001", "Parameters", "NeverUsed"))
    assert _inlined_by_the_transform(source_template)(
        transformed_template, warning("W2001", "Parameters", "AuthorizerCacheTtlSeconds")
    )

    error = _sam.Finding("WS1004", "Error", "", ("Resources", function_id), 1)
    assert unaccepted([error], source_template, (_logs_to_own_log_group,)) == [str(error)]


@pytest.mark.slow
def test_transformed_lint_catches_what_source_lints_miss(source_template: dict[str, Any], tmp_path: Path) -> None:
    """Teeth: a dangling `!Ref` and a Lambda Timeout of 1000 s pass `sam validate --lint` and cfn-lint on the SAM
    source (serverless-notes.md), but fail the transformed check. A function with tracing switched off proves the
    cfn-lint-serverless rules are really loaded."""
    broken = copy.deepcopy(source_template)
    function_id, function = next(iter(resources_of_type(broken, "AWS::Serverless::Function").items()))
    properties = function["Properties"]
    properties["Timeout"] = 1000
    properties["Tracing"] = "PassThrough"
    properties.setdefault("Environment", {}).setdefault("Variables", {})["DANGLING"] = {"Ref": "NoSuchResource"}
    broken_file = _sam.write_json(broken, tmp_path / "broken.json")  # JSON is YAML: this is a template file too

    transformed = _sam.transform(_sam.load_template(broken_file))
    findings = _sam.cfn_lint(_sam.write_json(transformed, tmp_path / "broken-transformed.json"))
    errors = [f for f in findings if f.is_error]
    where = [("Resources", function_id, "Properties", "Timeout")]
    assert any(f.path in where and "1000" in f.message for f in errors), "\n".join(map(str, findings))
    assert any("NoSuchResource" in f.message for f in errors), "\n".join(map(str, findings))
    assert any(f.rule == "WS1000" and function_id in f.path for f in findings), "\n".join(map(str, findings))


# ---------------------------------------------------------------- design guards (offline transform, fast)


@pytest.mark.parametrize("ttl", [0, 3600])
def test_authorizer_cache_ttl_follows_its_parameter(source_template: dict[str, Any], ttl: int) -> None:
    out = _sam.transform(source_template, {"AuthorizerCacheTtlSeconds": ttl})
    (api,) = resources_of_type(out, "AWS::ApiGateway::RestApi").values()
    authorizers = [
        scheme["x-amazon-apigateway-authorizer"]
        for scheme in api["Properties"]["Body"]["securityDefinitions"].values()
        if "x-amazon-apigateway-authorizer" in scheme
    ]
    assert [(a["type"], a["identitySource"], a["authorizerResultTtlInSeconds"]) for a in authorizers] == [
        ("request", "method.request.header.Authorization", ttl)
    ]


def test_routes_get_the_integration_timeout(transformed_template: dict[str, Any]) -> None:
    (api,) = resources_of_type(transformed_template, "AWS::ApiGateway::RestApi").values()
    integrations = {
        f"{method.upper()} {path}": operation["x-amazon-apigateway-integration"]
        for path, operations in api["Properties"]["Body"]["paths"].items()
        for method, operation in operations.items()
        if "x-amazon-apigateway-integration" in operation
    }
    assert integrations
    assert {route: i.get("timeoutInMillis") for route, i in integrations.items()} == {
        route: {"Ref": "ApiIntegrationTimeoutMs"} for route in integrations
    }


def test_functions_get_the_deadline_and_their_own_log_group(transformed_template: dict[str, Any]) -> None:
    functions = resources_of_type(transformed_template, "AWS::Lambda::Function")
    assert functions
    for function_id, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["API_TIMEOUT_MS"] == {"Ref": "ApiIntegrationTimeoutMs"}, function_id
        log_group = log_group_of(transformed_template, function_id)
        assert log_group is not None, f"{function_id}: LoggingConfig.LogGroup is not a LogGroup with retention"
        assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function_id


def test_tables_are_on_demand_with_ttl_pitr_and_retained(source_template: dict[str, Any]) -> None:
    tables = resources_of_type(source_template, "AWS::DynamoDB::Table")
    assert tables
    for table_id, table in tables.items():
        properties = table["Properties"]
        assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain"), table_id
        assert properties["BillingMode"] == "PAY_PER_REQUEST", table_id
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, table_id
        assert properties["TimeToLiveSpecification"]["Enabled"] is True, table_id


# ---------------------------------------------------------------- sam build


AARCH64 = 183  # ELF e_machine of AArch64


def elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    return int.from_bytes(header[18:20], "little") if header[:4] == b"\x7fELF" else None


@pytest.mark.slow
def test_sam_build_layer_has_the_package_and_arm64_cp312_wheels(sam_build: Path) -> None:
    python = sam_build / "CommonLayer" / "python"
    assert (python / "aiservice" / "__init__.py").is_file()
    assert list(python.glob("pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
    assert list(python.glob("libcst/native.cpython-312-aarch64-linux-gnu.so"))
    extensions = sorted(python.rglob("*.so"))
    wrong = [
        p.relative_to(python).as_posix()
        for p in extensions
        if elf_machine(p) != AARCH64 or (".cpython-" in p.name and ".cpython-312-aarch64-linux-gnu." not in p.name)
    ]
    assert extensions and not wrong, f"extension modules not built for Lambda arm64 / CPython 3.12: {wrong}"
    # Bytecode only for Lambda's interpreter (the Makefile compiles with a python3.12 when there is one).
    stray_bytecode = [p for p in python.rglob("*.pyc") if ".cpython-312." not in p.name]
    assert not stray_bytecode, stray_bytecode[:5]


@pytest.mark.slow
def test_sam_build_functions_are_their_sources(sam_build: Path, source_template: dict[str, Any]) -> None:
    built = _sam.load_template(sam_build / "template.yaml")
    for function_id, function in resources_of_type(source_template, "AWS::Serverless::Function").items():
        artifact = sam_build / built["Resources"][function_id]["Properties"]["CodeUri"]
        source = _sam.ROOT / function["Properties"]["CodeUri"]
        expected = {p.relative_to(source) for p in source.rglob("*.py") if "__pycache__" not in p.parts}
        shipped = {p.relative_to(artifact) for p in artifact.rglob("*.py")}
        assert expected and expected <= shipped, function_id
