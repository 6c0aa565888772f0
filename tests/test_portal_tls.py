"""Over HTTPS every portal cookie is Secure (and HttpOnly, SameSite=Strict)."""

from __future__ import annotations

from typing import Any

import aiohttp
from test_tls_serve import Pki, https, pki  # noqa: F401

from factories import PASSWORD, Tenant
from portal_helpers import csrf_of


async def test_cookies_are_secure_over_https(https: Any, pki: Pki, tenant: Tenant  # noqa: F811
                                             ) -> None:
    url, _ = https
    connector = aiohttp.TCPConnector(ssl=pki.client())
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        front = await session.get(f"{url}/")
        assert front.status == 200
        pre = front.headers.getall("Set-Cookie")
        assert pre and all("Secure" in c and "HttpOnly" in c and "SameSite=Strict" in c
                           for c in pre)
        login = await session.post(f"{url}/login", data={
            "email": tenant.user_email, "password": PASSWORD, "csrf": csrf_of(await front.text())},
            headers={"Origin": url}, allow_redirects=False)
        assert login.status == 303
        (cookie,) = [c for c in login.headers.getall("Set-Cookie")
                     if c.startswith("recstore_session=")]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "strict-transport-security" in {k.lower() for k in login.headers}
