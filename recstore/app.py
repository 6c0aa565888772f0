"""The aiohttp application factory: resources live in cleanup contexts, routes come from
api.routes, and one middleware renders errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from api import hardening
from api.portal import setup as portal
from api.problem import problem_middleware
from api.routes import OPERATIONS, PORTAL
from api.security import requires
from api.spec import Operation, build_openapi
from recstore import __version__
from recstore.appkeys import metrics_open_key, openapi_key, services_key
from recstore.services import Services, open_services
from recstore.settings import Settings

# Twice the chunk size aiohttp reads by default, enough for JSON; uploads are streamed.
CLIENT_MAX_SIZE = 1024 * 1024


OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_EVERY_ROLE = OPS_PATHS | {"/api/openapi.json"}


def serves(role: str, path: str) -> bool:
    """Whether a `serve --role` process serves this route; the others answer 404. Login
    and the portal (both sign tokens) are the customer role's."""
    if role == "all" or path in _EVERY_ROLE:
        return True
    if path.startswith("/webhooks/"):
        return role == "webhooks"
    if path.startswith("/staff/"):
        return role == "staff"
    if path.startswith("/api/"):
        return role == "customer"
    return role == "customer"


def _add_routes(app: web.Application, operations: list[Operation]) -> None:
    for op in operations:
        handler = op.handler if op.roles is None else requires(op.roles, op.handler)
        app.router.add_route(op.method, op.path, handler, name=op.operation_id,
                             expect_handler=op.expect_handler)
    app[openapi_key] = build_openapi(operations, version=__version__)


def create_ops_app(services: Services) -> web.Application:
    """Health and metrics only: what a worker process exposes (RECSTORE_METRICS_PORT)."""
    app = create_app(services=services, only=OPS_PATHS)
    app[metrics_open_key] = True
    return app


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               only: frozenset[str] | None = None, role: str = "all") -> web.Application:
    """Either `settings` (the app opens its own pool etc.) or ready `services` (tests, `up`);
    `only` limits the routes to those paths, `role` to what that serve role serves."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=CLIENT_MAX_SIZE)
    if services is not None:
        app[services_key] = services
    else:
        assert settings is not None

        async def resources(app: web.Application) -> AsyncIterator[None]:
            async with open_services(settings) as svc:
                app[services_key] = svc
                yield

        app.cleanup_ctx.append(resources)
    _add_routes(app, [op for op in OPERATIONS
                      if (only is None or op.path in only) and serves(role, op.path)])
    if only is None and role in ("customer", "all"):  # its sign-in issues tokens
        portal.install(app, PORTAL)
    hardening.install(app)
    return app
