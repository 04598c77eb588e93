"""The SAM template as a local run needs it: functions, routes, authorizers, tables and gateway responses.

Intrinsic functions are resolved the way a deployed stack would resolve them, with local stand-ins: a table's
name is its logical id, ARNs are fake but well formed, and parameters take their Default unless overridden.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_STACK_NAME = "aiservice-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_INTEGRATION_TIMEOUT_MS = 29_000  # API Gateway REST default
LAMBDA_DEFAULT_TIMEOUT_S = 3
LAMBDA_DEFAULT_MEMORY_MB = 128
AUTHORIZER_DEFAULT_TTL_S = 300


def local_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class TemplateError(ValueError):
    """The template uses something a local run cannot emulate, or is inconsistent."""


# ----------------------------------------------------------------------------------------------- YAML

_SHORT_TAGS = (
    "Ref",
    "Condition",
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "Length",
    "ToJsonString",
)


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags as their long JSON form: !Ref X -> {"Ref": "X"}."""


def _long_form_constructor(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict]:
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":  # !GetAtt Resource.Attribute
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:  # the one other kind of node
            value = loader.construct_mapping(cast(yaml.MappingNode, node), deep=True)
        return {key: value}

    return construct


for _tag in _SHORT_TAGS:
    CloudFormationLoader.add_constructor(f"!{_tag}", _long_form_constructor(_tag))


def load_template(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


# ----------------------------------------------------------------------------------------------- intrinsics

NO_VALUE = object()  # AWS::NoValue: the property is dropped

_ARN_SUFFIXES = {
    "AWS::DynamoDB::Table": "dynamodb:{region}:{account}:table/{id}",
    "AWS::Serverless::Function": "lambda:{region}:{account}:function:{id}",
    "AWS::Lambda::Function": "lambda:{region}:{account}:function:{id}",
    "AWS::Logs::LogGroup": "logs:{region}:{account}:log-group:{id}:*",
    "AWS::SecretsManager::Secret": "secretsmanager:{region}:{account}:secret:{id}-AbCdEf",
    "AWS::SQS::Queue": "sqs:{region}:{account}:{id}",
    "AWS::SNS::Topic": "sns:{region}:{account}:{id}",
}


def as_string(value: Any) -> str:
    """A resolved value as CloudFormation stringifies it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Intrinsics:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::If and the other intrinsic functions against local values."""

    def __init__(self, template: dict, parameters: dict[str, Any], region: str):
        self.region = region
        self.resources: dict[str, dict] = template.get("Resources") or {}
        self.mappings: dict[str, dict] = template.get("Mappings") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
            **parameters,
        }
        self.functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self.ref,
            "Condition": self.condition,
            "Fn::GetAtt": self.get_att,
            "Fn::Sub": self.sub,
            "Fn::Join": lambda arg: as_string(arg[0]).join(as_string(v) for v in self.resolve(arg[1])),
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::Split": lambda arg: self.resolve(arg[1]).split(arg[0]),
            "Fn::If": lambda arg: self.resolve(arg[1] if self.condition(arg[0]) else arg[2]),
            "Fn::Equals": lambda arg: as_string(self.resolve(arg[0])) == as_string(self.resolve(arg[1])),
            "Fn::And": lambda arg: all(self.resolve(c) for c in arg),
            "Fn::Or": lambda arg: any(self.resolve(c) for c in arg),
            "Fn::Not": lambda arg: not self.resolve(arg[0]),
            "Fn::FindInMap": lambda arg: self.mappings[arg[0]][self.resolve(arg[1])][self.resolve(arg[2])],
            "Fn::Base64": lambda arg: base64.b64encode(as_string(self.resolve(arg)).encode()).decode(),
            "Fn::GetAZs": lambda arg: [f"{region}{zone}" for zone in "abc"],
            "Fn::ImportValue": self.unsupported("Fn::ImportValue (another stack's output)"),
            "Fn::Cidr": self.unsupported("Fn::Cidr"),
            "Fn::Transform": self.unsupported("Fn::Transform"),
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key in self.functions:
                    return self.functions[key](argument)
            return {key: item for key, item in ((k, self.resolve(v)) for k, v in value.items()) if item is not NO_VALUE}
        return value

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.resources:
            return name  # tables, functions, layers, APIs: the logical id stands in for the physical name/id
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id].get("Type", "")
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "cloudformation"
        suffix = _ARN_SUFFIXES.get(kind, service + ":{region}:{account}:{id}")
        return "arn:aws:" + suffix.format(region=self.region, account=LOCAL_ACCOUNT_ID, id=logical_id)

    def get_att(self, argument: list) -> str:
        logical_id, attribute = self.resolve(argument)
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        return self.arn(logical_id) if attribute == "Arn" else f"{logical_id}.{attribute}"

    def sub(self, argument: str | list) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return as_string(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return as_string(self.get_att(name.split(".", 1)))
            return as_string(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"condition {name} is not defined")
        return bool(self.resolve(self.conditions[name]))

    @staticmethod
    def unsupported(what: str) -> Callable[[Any], Any]:
        def refuse(_: Any) -> Any:
            raise TemplateError(f"{what} cannot be resolved locally")

        return refuse


def parameter_values(template: dict, overrides: dict[str, Any]) -> dict[str, Any]:
    declared: dict[str, dict] = template.get("Parameters") or {}
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {sorted(unknown)}")
    values = {}
    for name, declaration in declared.items():
        if name not in overrides and "Default" not in declaration:
            raise TemplateError(f"parameter {name} has no Default: pass it in parameter_overrides")
        value = overrides.get(name, declaration.get("Default"))
        kind = declaration.get("Type", "String")
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            value = [item.strip() for item in as_string(value).split(",")] if isinstance(value, str) else value
        values[name] = value
    return values


# ----------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Route:
    method: str  # upper case; ANY matches every method
    path: str  # API Gateway resource path, e.g. /ai/optimize or /items/{id}
    authorizer: str | None
    timeout_ms: int  # the integration timeout
    function_id: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    routes: list[Route]
    layer_paths: list[Path] = field(default_factory=list)  # ContentUri of each local layer, in template order


@dataclass(frozen=True)
class AuthorizerSpec:
    name: str
    function_id: str
    identity_headers: list[str]
    ttl_s: int  # 0 = no caching


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    create_table_kwargs: dict
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class GatewayResponse:
    status: int | None  # None: the response type's own status
    template: str | None  # the application/json template
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    root: Path  # the template's folder; CodeUri and ContentUri are relative to it
    region: str
    stage_name: str
    global_environment: dict[str, str]
    functions: dict[str, FunctionSpec]
    authorizers: dict[str, AuthorizerSpec]
    tables: dict[str, TableSpec]
    gateway_responses: dict[str, GatewayResponse]

    @classmethod
    def load(
        cls,
        path: str | Path = "template.yaml",
        parameter_overrides: dict[str, Any] | None = None,
        region: str | None = None,
    ) -> Stack:
        path = Path(path).resolve()
        template = load_template(path)
        region = region or local_region()
        intrinsics = Intrinsics(template, parameter_values(template, parameter_overrides or {}), region)
        return _StackReader(path.parent, template, intrinsics).read()

    def routes(self) -> list[Route]:
        return sorted(
            (route for spec in self.functions.values() for route in spec.routes),
            key=lambda route: (route.path, route.method),
        )


class _StackReader:
    """Builds a Stack from the raw template; SAM Globals are merged here."""

    def __init__(self, root: Path, template: dict, intrinsics: Intrinsics):
        self.root = root
        self.intrinsics = intrinsics
        self.resources: dict[str, dict] = {  # only what a deploy with these parameters would create
            logical_id: resource
            for logical_id, resource in (template.get("Resources") or {}).items()
            if "Condition" not in resource or intrinsics.condition(resource["Condition"])
        }
        globals_ = template.get("Globals") or {}
        self.function_globals: dict = globals_.get("Function") or {}
        self.api = self._api_properties(globals_.get("Api") or {})

    def read(self) -> Stack:
        resolve = self.intrinsics.resolve
        api_auth = resolve(self.api.get("Auth") or {})
        stack = Stack(
            root=self.root,
            region=self.intrinsics.region,
            stage_name=as_string(resolve(self.api.get("StageName", "Prod"))),
            global_environment=self._environment(self.function_globals),
            functions={
                logical_id: self._function(logical_id, resource.get("Properties") or {}, api_auth)
                for logical_id, resource in self.resources.items()
                if resource.get("Type") == "AWS::Serverless::Function"
            },
            authorizers={
                name: self._authorizer(name, properties)
                for name, properties in (api_auth.get("Authorizers") or {}).items()
            },
            tables={
                logical_id: _table(logical_id, resolve(resource.get("Properties") or {}))
                for logical_id, resource in self.resources.items()
                if resource.get("Type") == "AWS::DynamoDB::Table"
            },
            gateway_responses={
                kind: _gateway_response(response)
                for kind, response in resolve(self.api.get("GatewayResponses") or {}).items()
            },
        )
        for route in stack.routes():
            if route.authorizer and route.authorizer not in stack.authorizers:
                raise TemplateError(f"{route.method} {route.path}: no Lambda authorizer named {route.authorizer}")
        return stack

    def _api_properties(self, api_globals: dict) -> dict:
        """The one REST API the routes are served on: Globals.Api, overridden by the AWS::Serverless::Api."""
        apis = [r.get("Properties") or {} for r in self.resources.values() if r.get("Type") == "AWS::Serverless::Api"]
        if len(apis) > 1:
            raise TemplateError("the local run serves a single AWS::Serverless::Api; the template declares several")
        return {**api_globals, **(apis[0] if apis else {})}

    def _environment(self, properties: dict) -> dict[str, str]:
        variables = self.intrinsics.resolve((properties.get("Environment") or {}).get("Variables") or {})
        return {name: as_string(value) for name, value in variables.items()}

    def _function(self, logical_id: str, properties: dict, api_auth: dict) -> FunctionSpec:
        merged = {**self.function_globals, **properties}
        resolve = self.intrinsics.resolve
        code_uri = resolve(merged.get("CodeUri"))
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: only a local CodeUri folder can run locally")
        layers = resolve(self.function_globals.get("Layers") or []) + resolve(properties.get("Layers") or [])
        routes = [
            self._route(logical_id, resolve(event.get("Properties") or {}), api_auth)
            for event in (properties.get("Events") or {}).values()
            if event.get("Type") == "Api"
        ]
        return FunctionSpec(
            logical_id=logical_id,
            code_uri=(self.root / code_uri).resolve(),
            handler=as_string(resolve(merged["Handler"])),
            environment={**self._environment(self.function_globals), **self._environment(properties)},
            timeout_s=int(resolve(merged.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S))),
            memory_mb=int(resolve(merged.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB))),
            routes=routes,
            layer_paths=[self._layer_path(logical_id, layer) for layer in layers],
        )

    def _layer_path(self, function_id: str, layer: str) -> Path:
        resource = self.resources.get(layer) or {}
        content_uri = (resource.get("Properties") or {}).get("ContentUri")
        if resource.get("Type") != "AWS::Serverless::LayerVersion" or not isinstance(content_uri, str):
            raise TemplateError(f"{function_id}: layer {layer} is not a local AWS::Serverless::LayerVersion")
        return (self.root / content_uri).resolve()

    @staticmethod
    def _route(function_id: str, event: dict, api_auth: dict) -> Route:
        authorizer = (event.get("Auth") or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
        return Route(
            method=as_string(event["Method"]).upper(),
            path=as_string(event["Path"]),
            authorizer=None if authorizer in (None, "NONE") else authorizer,
            timeout_ms=int(event.get("TimeoutInMillis", DEFAULT_INTEGRATION_TIMEOUT_MS)),
            function_id=function_id,
        )

    def _authorizer(self, name: str, properties: dict) -> AuthorizerSpec:
        if properties.get("FunctionPayloadType") != "REQUEST":
            raise TemplateError(f"authorizer {name}: only Lambda REQUEST authorizers are emulated")
        arn = as_string(properties.get("FunctionArn"))
        function_id = next((fid for fid in self.resources if self.intrinsics.arn(fid) == arn), None)
        if function_id is None:
            raise TemplateError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn of this template")
        identity = properties.get("Identity") or {}
        return AuthorizerSpec(
            name=name,
            function_id=function_id,
            identity_headers=[as_string(header) for header in identity.get("Headers") or []],
            ttl_s=int(identity.get("ReauthorizeEvery", AUTHORIZER_DEFAULT_TTL_S)),
        )


_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


def _table(logical_id: str, properties: dict) -> TableSpec:
    """AWS::DynamoDB::Table properties -> boto3 create_table kwargs (the table is named after its logical id)."""
    kwargs: dict[str, Any] = {
        "TableName": logical_id,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(index_kind):
            kwargs[index_kind] = [
                _with_int_throughput({key: index[key] for key in _INDEX_KEYS if key in index})
                for index in properties[index_kind]
            ]
    if "ProvisionedThroughput" in properties:
        kwargs["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    if "StreamViewType" in (properties.get("StreamSpecification") or {}):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    ttl = properties.get("TimeToLiveSpecification") or {}
    enabled = ttl.get("Enabled") in (True, "true", "True")
    return TableSpec(logical_id, _with_int_throughput(kwargs), ttl.get("AttributeName") if enabled else None)


def _with_int_throughput(spec: dict) -> dict:
    """CloudFormation accepts "5" for capacity units; boto3 wants integers."""
    if "ProvisionedThroughput" in spec:
        spec["ProvisionedThroughput"] = {k: int(v) for k, v in spec["ProvisionedThroughput"].items()}
    return spec


def _gateway_response(response: dict) -> GatewayResponse:
    headers = (response.get("ResponseParameters") or {}).get("Headers") or {}
    return GatewayResponse(
        status=int(response["StatusCode"]) if "StatusCode" in response else None,
        template=(response.get("ResponseTemplates") or {}).get("application/json"),
        # SAM quotes static header values: "'*'" means the literal *
        headers={name: as_string(value).strip("'") for name, value in headers.items()},
    )
