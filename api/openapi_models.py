"""The shape of GET /api/openapi.json itself, so that route is checked like every other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
