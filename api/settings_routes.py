"""GET/PATCH /api/v1/settings: the customer's retention and provider-copy settings."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from api.parsing import parse_body
from api.rights_models import AccountSettings, SettingsPatch
from api.security import customer_of
from recstore.appkeys import services_key
from recstore.rights import settings as account_settings


def _render(found: account_settings.AccountSettings) -> web.Response:
    return web.json_response(AccountSettings.model_validate(asdict(found)).model_dump(mode="json"))


async def get_settings(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        found = await account_settings.get_settings(conn, who.customer_id)
    return _render(found)


async def patch_settings(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    body = await parse_body(request, SettingsPatch)
    updated = await account_settings.update_settings(
        svc.pool, svc.store, who.customer_id, who.user_id, retention_days=body.retention_days,
        delete_provider_copy=body.delete_provider_copy)
    return _render(updated)
