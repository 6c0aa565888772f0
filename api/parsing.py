"""Request parsing with pydantic; validation errors become 422 without echoing input."""

from __future__ import annotations

import json
from typing import TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ValidationError

from recstore.errors import Invalid, NotFound

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_JSON_BYTES = 64 * 1024


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts[:5])


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise Invalid("request body is too large")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise Invalid("request body is too large")
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise Invalid("request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(_describe(exc)) from None


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise Invalid(_describe(exc)) from None


def path_uuid(request: web.Request, name: str) -> UUID:
    """Malformed ids are 404: to a caller they are simply ids that do not exist."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None
