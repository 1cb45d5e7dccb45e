"""The parts of a chat request, typed with OpenAI's names: messages and their content parts,
tool calls sent back, tools and their function definitions, a named tool_choice, and
response_format. Each part's own rules are its validators; rules across parts are the
request's (request.py)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InvalidRequest

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names

Role = Literal["system", "developer", "user", "assistant", "tool"]


class _Model(BaseModel):
    # Strict values (no "0.5" for a number, no "true" for a boolean), lenient shape.
    model_config = ConfigDict(strict=True, extra="allow")


def check_schema(schema: Any, param: str) -> None:
    """A 400 naming `param` unless `schema` is a valid JSON schema object."""
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise InvalidRequest(f"{param} must be a JSON schema object.", param=param)
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise InvalidRequest(
            f"{param} is not a valid JSON schema: {exc.message}.", param=param
        ) from None


class ContentPart(_Model):
    """One part of a message's content; only "text" parts reach a text model (conversation)."""

    type: str
    text: str | None = None

    @model_validator(mode="after")
    def _text_has_text(self) -> ContentPart:
        if self.type == "text" and self.text is None:
            raise ValueError('a "text" content part needs a string "text"')
        return self


class FunctionCall(_Model):
    name: str
    arguments: str = ""  # JSON text, as the model wrote it


class ToolCallParam(_Model):
    """A call on an earlier assistant turn, as the client sends it back."""

    id: str | None = None
    type: str | None = None
    function: FunctionCall


class ChatCompletionMessage(_Model):
    role: Role
    content: list[ContentPart] | str | None = None
    name: str | None = None
    tool_calls: list[ToolCallParam] | None = None
    tool_call_id: str | None = None
    # an earlier turn's thinking, under either name (vLLM reads both; `reasoning` wins)
    reasoning: str | None = None
    reasoning_content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _content_shape(cls, value: Any) -> Any:
        # one message for a wrong kind of content, not one per member of the union
        if value is not None and not isinstance(value, str | list):
            raise ValueError("must be a string, null, or a list of content parts")
        return value


class FunctionDefinition(_Model):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema; absent: no arguments
    strict: bool | None = None

    @field_validator("name")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        if not FUNCTION_NAME.match(value):
            raise ValueError("must be 1 to 64 letters, digits, '_' or '-'")
        return value


class Tool(_Model):
    type: Literal["function"]  # the only tool type this endpoint runs
    function: FunctionDefinition


class NamedFunction(_Model):
    name: str


class NamedToolChoice(_Model):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Model):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Model):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type != "json_schema":
            return self
        if self.json_schema is None or self.json_schema.schema_ is None:
            raise InvalidRequest(
                "response_format.json_schema.schema must be a JSON schema object.",
                param="response_format.json_schema",
            )
        check_schema(self.json_schema.schema_, "response_format.json_schema.schema")
        return self

    @property
    def answer_schema(self) -> dict[str, Any] | None:
        """The JSON schema answers must match; None for text and json_object."""
        return self.json_schema.schema_ if self.json_schema and self.type == "json_schema" else None
