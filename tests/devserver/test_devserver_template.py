"""devserver.template: short tags, intrinsic functions, and the stack read from the real and fixture templates."""

from __future__ import annotations

import pytest
import yaml

from devserver.template import (
    LOCAL_ACCOUNT_ID,
    CloudFormationLoader,
    Intrinsics,
    Route,
    Stack,
    TemplateError,
    load_template,
    parameter_values,
)
from tests.devserver.devserver_harness import FIXTURE_TEMPLATE, REPO_ROOT


def _intrinsics(text: str, overrides: dict | None = None) -> tuple[Intrinsics, dict]:
    template = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506
    return Intrinsics(template, parameter_values(template, overrides or {}), "eu-west-1"), template


def test_short_tags_become_the_long_form():
    loaded = yaml.load(
        "a: !Ref X\nb: !GetAtt T.Arn\nc: !Sub [x, {}]\nd: !If [C, 1, 2]\ne: !Select [0, !Split [',', 'p,q']]\n",
        Loader=CloudFormationLoader,  # noqa: S506
    )
    assert loaded == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["T", "Arn"]},
        "c": {"Fn::Sub": ["x", {}]},
        "d": {"Fn::If": ["C", 1, 2]},
        "e": {"Fn::Select": [0, {"Fn::Split": [",", "p,q"]}]},
    }


RESOLVABLE = """
Parameters:
  Stage: {Type: String, Default: v1}
  Size: {Type: Number, Default: 30}
  Names: {Type: CommaDelimitedList, Default: "a, b"}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Sizes: {v1: {memory: 128}}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Fn: {Type: AWS::Serverless::Function}
  Group: {Type: AWS::Logs::LogGroup}
Values:
  ref_parameter: !Ref Size
  ref_table: !Ref Table
  table_arn: !GetAtt Table.Arn
  function_arn: !GetAtt Fn.Arn
  group_arn: !GetAtt [Group, Arn]
  sub: !Sub "${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${Stage}/${Table}/${Fn.Arn}/${!Kept}/${Extra}"
  sub_variables: !Sub ["${Extra}-${Stage}", {Extra: !Ref Size}]
  join: !Join ["-", [!Ref Stage, !Select [1, !Ref Names]]]
  if: !If [IsProd, big, small]
  not: !If [NotProd, yes-not-prod, no]
  mapping: !FindInMap [Sizes, !Ref Stage, memory]
  dropped: [!Ref "AWS::NoValue", kept]
"""


def test_intrinsics_resolve_to_local_stand_ins():
    intrinsics, template = _intrinsics(RESOLVABLE.replace("/${Extra}", ""))
    values = intrinsics.resolve(template["Values"])
    assert values == {
        "ref_parameter": 30,
        "ref_table": "Table",
        "table_arn": f"arn:aws:dynamodb:eu-west-1:{LOCAL_ACCOUNT_ID}:table/Table",
        "function_arn": f"arn:aws:lambda:eu-west-1:{LOCAL_ACCOUNT_ID}:function:Fn",
        "group_arn": f"arn:aws:logs:eu-west-1:{LOCAL_ACCOUNT_ID}:log-group:Group:*",
        "sub": f"aiservice-local/eu-west-1/{LOCAL_ACCOUNT_ID}/v1/Table/"
        f"arn:aws:lambda:eu-west-1:{LOCAL_ACCOUNT_ID}:function:Fn/${{Kept}}",
        "sub_variables": "30-v1",
        "join": "v1-b",
        "if": "small",
        "not": "yes-not-prod",
        "mapping": 128,
        "dropped": ["kept"],
    }


def test_parameter_overrides_win_over_defaults():
    intrinsics, template = _intrinsics(RESOLVABLE.replace("/${Extra}", ""), {"Stage": "prod"})
    assert intrinsics.resolve(template["Values"]["if"]) == "big"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources: {}\nV: !Ref Missing", "no such parameter or resource"),
        ("Resources: {}\nV: !Sub '${Missing}'", "no such parameter or resource"),
        ("Resources: {}\nV: !GetAtt Missing.Arn", "no such resource"),
        ("Resources: {}\nV: !ImportValue other-stack-output", "cannot be resolved locally"),
        ("Resources: {}\nV: !If [Undeclared, a, b]", "condition Undeclared is not defined"),
    ],
)
def test_unresolvable_intrinsics_are_clear_errors(text, message):
    intrinsics, template = _intrinsics(text)
    with pytest.raises(TemplateError, match=message):
        intrinsics.resolve(template["V"])


def test_parameters_without_default_or_unknown_overrides_are_refused():
    template = {"Parameters": {"Needed": {"Type": "String"}}}
    with pytest.raises(TemplateError, match="Needed has no Default"):
        parameter_values(template, {})
    with pytest.raises(TemplateError, match="undeclared"):
        parameter_values(template, {"Needed": "x", "Other": "y"})


# ----------------------------------------------------------------------------------------------- real template


@pytest.fixture(scope="module")
def real_stack() -> Stack:
    return Stack.load(REPO_ROOT / "template.yaml")


def test_real_template_healthcheck_route_has_no_authorizer(real_stack):
    assert Route("GET", "/healthcheck", None, 29000, "HealthcheckFunction") in real_stack.routes()
    healthcheck = real_stack.functions["HealthcheckFunction"]
    assert healthcheck.code_uri == REPO_ROOT / "functions" / "healthcheck"
    assert healthcheck.handler == "app.handler"
    assert (healthcheck.timeout_s, healthcheck.memory_mb) == (3, 128)
    assert healthcheck.layer_paths == [REPO_ROOT / "layers" / "common"]


def test_real_template_every_function_gets_the_global_environment(real_stack):
    raw_globals = load_template(REPO_ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert real_stack.global_environment.keys() == raw_globals.keys()
    assert real_stack.global_environment["API_KEYS_TABLE"] == "ApiKeysTable"
    assert real_stack.global_environment["API_TIMEOUT_MS"] == "29000"
    for spec in real_stack.functions.values():
        assert spec.environment.items() >= real_stack.global_environment.items()
        assert all(isinstance(value, str) for value in spec.environment.values())


def test_real_template_authorizer_and_gateway_responses(real_stack):
    authorizer = real_stack.authorizers["ApiKeyAuthorizer"]
    assert (authorizer.function_id, authorizer.identity_headers, authorizer.ttl_s) == (
        "AuthorizerFunction",
        ["Authorization"],
        300,
    )
    assert authorizer.function_id in real_stack.functions
    for route in real_stack.routes():
        assert route.authorizer is None or route.authorizer in real_stack.authorizers
        assert route.function_id in real_stack.functions
    responses = real_stack.gateway_responses
    assert responses["UNAUTHORIZED"].status == 401
    assert responses["ACCESS_DENIED"].template == '{"error": "$context.authorizer.error"}'
    assert responses["INTEGRATION_TIMEOUT"].status == 504
    assert real_stack.stage_name == "v1"


def test_real_template_tables(real_stack):
    keys = real_stack.tables["ApiKeysTable"]
    assert keys.create_table_kwargs["TableName"] == "ApiKeysTable"
    assert keys.create_table_kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in keys.create_table_kwargs["GlobalSecondaryIndexes"]] == ["by_user"]
    assert keys.ttl_attribute == "expires_at"
    # Only create_table arguments: CloudFormation-only properties are left out.
    for table in real_stack.tables.values():
        assert set(table.create_table_kwargs) <= {
            "TableName",
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "ProvisionedThroughput",
            "StreamSpecification",
        }


def test_parameter_overrides_reach_routes_and_authorizers():
    stack = Stack.load(REPO_ROOT / "template.yaml", {"ApiIntegrationTimeoutMs": "5000", "AuthorizerCacheTtlSeconds": 0})
    assert stack.authorizers["ApiKeyAuthorizer"].ttl_s == 0
    assert all(route.timeout_ms == 5000 for route in stack.routes())


# ----------------------------------------------------------------------------------------------- fixture template


@pytest.fixture(scope="module")
def fixture_stack() -> Stack:
    return Stack.load(FIXTURE_TEMPLATE)


def test_fixture_template_functions_routes_and_environment(fixture_stack):
    echo = fixture_stack.functions["EchoFunction"]
    assert echo.environment == {
        "GREETING": "hello from aiservice-local in us-east-1",
        "ITEMS_TABLE": "ItemsTable",
        "ITEMS_TABLE_ARN": f"arn:aws:dynamodb:us-east-1:{LOCAL_ACCOUNT_ID}:table/ItemsTable",
        "FLAVOUR": "mild",
        "ONLY_ECHO": "yes",
    }
    assert echo.handler == "app.handler"  # from Globals
    assert (echo.timeout_s, echo.memory_mb) == (5, 256)
    assert {(r.method, r.path, r.authorizer) for r in echo.routes} == {
        ("GET", "/public", None),
        ("POST", "/private", "KeyAuthorizer"),
        ("GET", "/private/{id}", "KeyAuthorizer"),
        ("GET", "/items/{id}", None),
        ("ANY", "/files/{proxy+}", None),
    }
    sleep = next(route for route in fixture_stack.routes() if route.path == "/sleep")
    assert sleep.timeout_ms == 1000
    assert fixture_stack.functions["ShortLivedFunction"].timeout_s == 1
    assert fixture_stack.stage_name == "test"


def test_fixture_template_provisioned_table_gets_integer_capacity(fixture_stack):
    kwargs = fixture_stack.tables["ItemsTable"].create_table_kwargs
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert kwargs["LocalSecondaryIndexes"][0]["IndexName"] == "by_owner_local"
    assert fixture_stack.tables["ItemsTable"].ttl_attribute is None


def test_region_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    stack = Stack.load(FIXTURE_TEMPLATE)
    assert stack.region == "eu-central-1"
    assert stack.functions["EchoFunction"].environment["GREETING"] == "hello from aiservice-local in eu-central-1"


def test_routes_must_name_a_declared_authorizer(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("""
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Events:
        Get: {Type: Api, Properties: {Path: /x, Method: GET, Auth: {Authorizer: Missing}}}
""")
    with pytest.raises(TemplateError, match="no Lambda authorizer named Missing"):
        Stack.load(template)


def test_resources_whose_condition_is_false_are_left_out():
    assert set(Stack.load(FIXTURE_TEMPLATE).tables) == {"ItemsTable"}
    spicy = Stack.load(FIXTURE_TEMPLATE, {"Flavour": "spicy"})
    assert set(spicy.tables) == {"ItemsTable", "SpicyTable"}
    assert spicy.functions["EchoFunction"].environment["FLAVOUR"] == "hot"
