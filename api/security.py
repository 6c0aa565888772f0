"""Bearer-token authentication and role checks, applied per route from its declaration."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from api.spec import Handler
from recstore.appkeys import principal_key, services_key
from recstore.auth.login import Principal, principal_for, record_denial
from recstore.auth.tokens import Claims
from recstore.errors import Forbidden, Unauthorized

CUSTOMER_ROLES = frozenset({"customer_admin", "customer_user"})
CUSTOMER_ADMIN = frozenset({"customer_admin"})
STAFF_ROLES = frozenset({"staff"})


def bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    return token.strip()


EarlyWork = Callable[[web.Request, Claims], Callable[[], Awaitable[None]] | None]
_EARLY_WORK = "_recstore_early_work"


def starts_early(work: EarlyWork) -> Callable[[Handler], Handler]:
    """Lets `work` begin a handler's I/O once the token's signature verified, while the
    database confirms the token's user. It may only prepare what the handler uses after
    those checks (nothing reaches the client before them); it returns the clean-up run
    when the request ends, however it ends."""
    def mark(handler: Handler) -> Handler:
        setattr(handler, _EARLY_WORK, work)
        return handler

    return mark


def requires(roles: frozenset[str], handler: Handler) -> Handler:
    early: EarlyWork | None = getattr(handler, _EARLY_WORK, None)

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        svc = request.app[services_key]
        try:
            claims = await svc.tokens.authenticate(bearer_token(request))
        except Unauthorized:
            svc.metrics.access_denied.labels("unauthenticated").inc()
            raise
        cleanup = early(request, claims) if early is not None else None
        try:
            try:
                async with svc.pool.acquire() as conn:
                    principal = await principal_for(conn, claims)
            except Unauthorized:
                svc.metrics.access_denied.labels("unauthenticated").inc()
                raise
            if principal.role not in roles:
                svc.metrics.access_denied.labels("role").inc()
                async with svc.pool.acquire() as conn:
                    await record_denial(conn, principal, "role")
                raise Forbidden("this role may not use this route")
            request[principal_key] = principal
            return await handler(request)
        finally:
            if cleanup is not None:
                await cleanup()

    return guarded


def principal(request: web.Request) -> Principal:
    found: Principal = request[principal_key]
    return found


def customer_of(request: web.Request) -> Principal:
    """The principal, known to belong to a customer (customer routes only)."""
    found = principal(request)
    assert found.customer_id is not None
    return found
