"""Routes are declared once, as Operations; the router and the OpenAPI 3.1 document are
both generated from that declaration, so the published spec cannot drift from the code."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"}},
}
_ERROR_TEXT = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
               408: "Request timeout", 409: "Conflict", 413: "Payload too large",
               415: "Unsupported media type", 416: "Range not satisfiable",
               422: "Unprocessable content",
               429: "Too many requests", 503: "Unavailable"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: frozenset[str] | None = None  # None: no bearer token (public or webhook-signed)
    body: type[BaseModel] | None = None
    body_content: str | None = None       # non-JSON request body (e.g. "audio/*")
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    response_content: str = "application/json"
    errors: Sequence[int] = ()
    extra_responses: dict[int, str] = field(default_factory=dict)
    # Runs before the body is read when the client sent `Expect` (aiohttp's hook).
    expect_handler: Callable[[web.Request], Awaitable[web.StreamResponse | None]] | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "format": "uuid"}}
            for name in re.findall(r"{(\w+)}", path)]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema["properties"].items()]


def build_openapi(operations: Sequence[Operation], *, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
            "parameters": _path_parameters(op.path) + _query_parameters(op.query),
            "responses": {},
        }
        if op.roles is not None:
            entry["security"] = [{"bearer": []}]
            entry["x-roles"] = sorted(op.roles)
        if op.body is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": ref(op.body)}}}
        elif op.body_content is not None:
            entry["requestBody"] = {"required": True, "content": {
                op.body_content: {"schema": {"type": "string", "format": "binary"}}}}
        success: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            success["content"] = {op.response_content: {"schema": ref(op.response)}}
        elif op.status != 204:
            success["content"] = {op.response_content: {"schema": {"type": "string",
                                                                   "format": "binary"}}}
        entry["responses"][str(op.status)] = success
        for status, text in op.extra_responses.items():
            entry["responses"][str(status)] = {"description": text}
        errors = set(op.errors) | ({401, 403} if op.roles is not None else set())
        if "requestBody" in entry:
            errors |= {408, 413}  # a body too slow or too large (api/parsing.read_body)
        for status in sorted(errors):
            entry["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "recstore", "version": version,
                 "description": "Encrypted store for call recordings and voicemail."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
