"""Shared helpers for the offline bundle checks: the SAM/cfn-lint tools of this venv, the offline environment,
template parsing, the offline SAM transform and cfn-lint findings.

Nothing here talks to AWS: sam and cfn-lint run with dummy credentials, no telemetry and no EC2 metadata lookups;
the SAM transform runs in-process with a managed-policy loader that never calls IAM.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devserver.environ import overridden

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
COMMON_LAYER = ROOT / "layers" / "common"
WHEELHOUSE = ROOT / "build" / "wheelhouse"  # the layer's Lambda wheels, fetched by `make install`
REGION = "us-east-1"

# Rules cfn-lint loads on top of its own; the package's documented usage is
# `cfn-lint template.yaml -a cfn_lint_serverless.rules`.
SERVERLESS_RULES = "cfn_lint_serverless.rules"


def tool(name: str) -> str:
    """A console script of this venv (sam, cfn-lint): it sits next to the interpreter running the tests."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{name} not found next to {sys.executable}; install the dev extras")
    return str(path)


def offline_env(**extra: str) -> dict[str, str]:
    """os.environ plus what keeps sam, boto3 and cfn-lint off the network and away from real AWS accounts."""
    env = dict(os.environ)
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.pop("AWS_PROFILE", None)
    env.update(extra)
    return env


def run(args: list[str], *, timeout: float, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=offline_env(**env), capture_output=True, text=True, timeout=timeout, check=False
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed command's exit code and output, for assertion messages."""
    command = " ".join(map(str, proc.args))
    return f"$ {command}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


# ---------------------------------------------------------------- templates


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template the way sam does: short tags (!Ref, !Sub, !GetAtt ...) become
    their long forms ({"Ref": ...}, {"Fn::Sub": ...}, {"Fn::GetAtt": [...]}); JSON templates parse too."""
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


LOCAL_ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def with_s3_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of the template whose local CodeUri/ContentUri folders are replaced by s3:// URIs, as `sam package`
    would do: the SAM translator only accepts S3 locations (or inline code)."""
    template = copy.deepcopy(template)
    for logical_id, resource in template.get("Resources", {}).items():
        prop = LOCAL_ARTIFACT_PROPERTIES.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if prop and isinstance(properties.get(prop), str) and not properties[prop].startswith("s3://"):
            properties[prop] = f"s3://codeflash-bundle-artifacts/{logical_id}.zip"
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = "s3://codeflash-bundle-artifacts/globals.zip"
    return template


def transform(template: dict[str, Any], parameter_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the AWS::Serverless-2016-10-31 transform offline and return plain CloudFormation.

    Parameters not given take their defaults: the translator inlines some parameter values (an authorizer's
    ReauthorizeEvery, for one) exactly as CloudFormation's hosted transform does with the deploy-time values.
    """
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform as sam_transform

    class OfflinePolicyLoader(ManagedPolicyLoader):
        """Names of AWS managed policies resolve from the translator's bundled map; nothing falls back to IAM."""

        def __init__(self) -> None:
            super().__init__(iam_client=None)  # type: ignore[arg-type]
            self._policy_map = {}

    # The translator builds partition-specific ARNs from the boto3 session's region.
    with overridden(AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true"):
        output = sam_transform(with_s3_artifacts(template), dict(parameter_values or {}), OfflinePolicyLoader())
    # Back to plain JSON types (the translator returns its own dict/str subclasses).
    return json.loads(json.dumps(output))


def write_json(template: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(template, indent=1))
    return path


# ---------------------------------------------------------------- cfn-lint


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str  # Error | Warning | Informational
    message: str
    path: tuple[Any, ...]
    line: int

    @property
    def is_error(self) -> bool:
        return self.level == "Error"

    def __str__(self) -> str:
        return f"{self.rule} [{self.level}] line {self.line} {'/'.join(map(str, self.path))}: {self.message}"


def cfn_lint(path: Path, *, serverless_rules: bool = True, timeout: float = 120) -> list[Finding]:
    """cfn-lint's findings on one template file (all levels), with the cfn-lint-serverless rules by default."""
    args = [tool("cfn-lint"), "--format", "json", "--regions", REGION, "--", str(path)]
    if serverless_rules:
        args[1:1] = ["--append-rules", SERVERLESS_RULES]
    proc = run(args, timeout=timeout)
    # Exit code: bit flags of the levels found (2 errors, 4 warnings, 8 informational); 1 = cfn-lint itself failed.
    assert proc.returncode in (0, 2, 4, 6, 8, 10, 12, 14), describe(proc)
    return [
        Finding(
            rule=item["Rule"]["Id"],
            level=item["Level"],
            message=item["Message"],
            path=tuple(item["Location"].get("Path") or ()),
            line=item["Location"]["Start"]["LineNumber"],
        )
        for item in json.loads(proc.stdout or "[]")
    ]
