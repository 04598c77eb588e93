"""Structured output: a pydantic model or a JSON Schema, checked before the call and enforced on the reply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiservice.llm.errors import InvalidLLMRequest
from aiservice.llm.types import JsonObject, Message, ProviderReply

RESPOND_TOOL = "respond"  # Claude gives a structured reply as the input of this forced tool


@dataclass(frozen=True)
class StructuredOutput:
    json_schema: JsonObject
    model: Any = None  # the pydantic model class, when one was given

    @classmethod
    def of(cls, schema: Any) -> StructuredOutput:
        if isinstance(schema, dict):
            from jsonschema import Draft202012Validator, SchemaError

            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                raise InvalidLLMRequest(f"invalid JSON schema: {error.message}") from None
            if schema.get("type") != "object":
                raise InvalidLLMRequest('a response schema describes a JSON object: "type": "object"')
            return cls(schema)
        model_json_schema = getattr(schema, "model_json_schema", None)
        if model_json_schema is None:
            raise InvalidLLMRequest("schema must be a pydantic model class or a JSON Schema dict")
        return cls(model_json_schema(), schema)

    def parse(self, reply: ProviderReply) -> tuple[Any, str | None]:
        """(the validated value, None) or (None, what is wrong with the reply)."""
        data, problem = self._payload(reply)
        if problem is not None:
            return None, problem
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate(data), None
            except ValidationError as error:
                return None, str(error).replace("\n", " ")[:500]
        from jsonschema import Draft202012Validator

        errors = sorted(Draft202012Validator(self.json_schema).iter_errors(data), key=str)
        if errors:
            where = "/".join(map(str, errors[0].absolute_path)) or "(root)"
            return None, f"{where}: {errors[0].message}"
        return data, None

    def repair_messages(self, reply: ProviderReply, instruction: str) -> tuple[Message, ...]:
        """The conversation continued so that the model can correct itself."""
        return (
            {"role": "assistant", "content": reply.content or json.dumps(self._respond_input(reply))},
            {"role": "user", "content": instruction},
        )

    @staticmethod
    def _respond_input(reply: ProviderReply) -> Any:
        return next((call.arguments for call in reply.tool_calls if call.name == RESPOND_TOOL), None)

    def _payload(self, reply: ProviderReply) -> tuple[Any, str | None]:
        forced = self._respond_input(reply)
        if forced is not None:  # Claude answers through the respond tool
            return forced, None
        text = reply.content.strip()
        if text.startswith("```"):  # a model that fenced its JSON anyway
            text = text.strip("`").removeprefix("json").strip()
        try:
            return json.loads(text), None
        except ValueError as error:
            return None, f"the reply is not JSON ({error})"
