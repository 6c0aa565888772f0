"""Request parsing with pydantic; validation errors become 422 without echoing input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from recstore.errors import (
    BadRequest,
    Invalid,
    NotFound,
    PayloadTooLarge,
    RecstoreError,
    RequestTimeout,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_JSON_BYTES = 64 * 1024
BODY_SECONDS = 10.0  # a JSON body or provider callback is a few KB


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts[:5])


async def read_body(request: web.Request, limit: int, *,
                    too_large: Callable[[str], RecstoreError] = PayloadTooLarge,
                    seconds: float | None = None) -> bytes:
    """The whole body, however many TCP segments it arrives in (`content.read(n)` returns
    only what has arrived so far), at most `limit` bytes and within `seconds`."""
    seconds = BODY_SECONDS if seconds is None else seconds
    detail = f"request body is over {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        raise too_large(detail)
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            while piece := await request.content.read(limit + 1 - len(body)):
                body += piece
                if len(body) > limit:
                    raise too_large(detail)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {seconds:g} s") from None
    except (HttpProcessingError, ClientPayloadError):  # broken chunked or short body
        raise BadRequest("the request body is malformed") from None
    return bytes(body)


async def read_form(request: web.Request
                    ) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """aiohttp's form parsing (bounded by client_max_size), within the same time limit."""
    try:
        async with asyncio.timeout(BODY_SECONDS):
            return await request.post()
    except TimeoutError:
        raise RequestTimeout(f"the form did not arrive within {BODY_SECONDS:g} s") from None
    except (HttpProcessingError, ClientPayloadError, ValueError):
        raise BadRequest("the form is malformed") from None


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    raw = await read_body(request, MAX_JSON_BYTES)
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
