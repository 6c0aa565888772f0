"""Typed application keys: the one place handlers find shared resources."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from recstore.auth.login import Principal
from recstore.services import Services

services_key = web.AppKey("services", Services)
openapi_key = web.AppKey("openapi", dict[str, Any])
metrics_open_key = web.AppKey("metrics_open", bool)  # the metrics port: /metrics needs no token
principal_key = web.RequestKey("principal", Principal)
streaming_started_key = web.RequestKey("streaming_started", bool)
