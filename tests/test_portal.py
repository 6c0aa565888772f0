"""The portal over HTTP, as a browser's requests: sessions, CSRF, headers, pages, audio."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from factories import PASSWORD, audit_actions, make_staff
from portal_helpers import csrf_of, form_post, sign_in, store_voicemail
from recstore.services import Services

SESSION = "recstore_session"


async def test_front_page_is_the_sign_in_page_with_strict_headers(client: Any) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    assert 'type="password"' in html and "Log in" in html
    assert "http://" not in html.replace(str(client.make_url("/")), "")  # nothing off-site


async def test_swedish_for_browsers_that_prefer_it(client: Any) -> None:
    sv = await client.get("/", headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.8"})
    assert '<html lang="sv">' in await sv.text() and "Logga in" in await sv.text()
    en = await client.get("/", headers={"Accept-Language": "en-GB,sv;q=0.5"})
    assert '<html lang="en">' in await en.text()
    switched = await form_post(client, "/language", {"lang": "sv", "next": "/"})
    assert switched.status == 303
    again = await client.get("/", headers={"Accept-Language": "en"})
    assert "Logga in" in await again.text()


async def test_session_cookie_flags_and_list(client: Any, services: Services, tenant: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    response = await sign_in(client, tenant.user_email)
    cookie = response.cookies[SESSION]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    token = cookie.value
    assert token not in response.headers.get("Location", "")
    assert await services.pool.fetchval(  # only a hash is stored
        "SELECT count(*) FROM portal_sessions WHERE token_hash = $1", token.encode()) == 0
    html = await (await client.get("/")).text()
    assert f'data-recording-id="{rid}"' in html
    assert "+46701234567" in html and "Anna Svensson" in html
    assert "unread" in html
    assert token not in html


async def test_wrong_password_is_401_and_audited_like_the_api(client: Any, tenant: Any,
                                                              services: Services) -> None:
    response = await form_post(client, "/login", {"email": tenant.user_email,
                                                  "password": "not the password at all"})
    assert response.status == 401
    assert SESSION not in response.cookies
    actions = [e["action"] for e in await audit_actions(services, tenant.customer_id)]
    assert "login.failed" in actions


async def test_login_is_throttled_as_the_api_is(client: Any, tenant: Any) -> None:
    statuses = []
    for _ in range(8):
        response = await form_post(client, "/login", {"email": tenant.user_email,
                                                      "password": "wrong wrong wrong"})
        statuses.append(response.status)
    assert 429 in statuses
    assert "Retry-After" in response.headers


async def test_post_without_csrf_token_is_refused(client: Any, services: Services,
                                                  tenant: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.admin_email)
    forged = await client.post(f"/recordings/{rid}/delete", data={"csrf": "forged"},
                               allow_redirects=False)
    assert forged.status == 403
    other_site = await client.post(f"/recordings/{rid}/delete",
                                   data={"csrf": csrf_of(await (await client.get("/")).text())},
                                   headers={"Origin": "https://evil.example"},
                                   allow_redirects=False)
    assert other_site.status == 403
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 1


async def test_logout_ends_the_server_side_session(client: Any, tenant: Any) -> None:
    token = (await sign_in(client, tenant.user_email)).cookies[SESSION].value
    await form_post(client, "/logout", {})
    client.session.cookie_jar.update_cookies({SESSION: token})  # a copied cookie replayed
    response = await client.get("/settings", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/?next=/settings"


async def test_audio_plays_over_range_with_the_session(client: Any, services: Services,
                                                       tenant: Any) -> None:
    rid, audio = await store_voicemail(services, tenant.customer_id)
    anonymous = await client.get(f"/recordings/{rid}/audio")
    assert anonymous.status == 401
    await sign_in(client, tenant.user_email)
    whole = await client.get(f"/recordings/{rid}/audio?download=1")
    assert whole.status == 200 and await whole.read() == audio
    assert whole.headers["Cache-Control"].endswith("no-store")
    assert whole.headers["Content-Disposition"].startswith("attachment; filename=\"recstore-")
    part = await client.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == audio[100:200]


async def test_opening_a_recording_marks_it_read_for_that_user_only(
        client: Any, services: Services, tenant: Any, aiohttp_client: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.user_email)
    page = await client.get(f"/recordings/{rid}")
    assert page.status == 200 and 'preload="none"' in await page.text()
    listing = await (await client.get("/")).text()
    assert 'class="read"' in listing and 'class="unread"' not in listing
    other = await aiohttp_client(client.app)
    await sign_in(other, tenant.admin_email)
    assert 'class="unread"' in await (await other.get("/")).text()
    played = await other.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=0-99"})
    assert played.status == 206  # listening from the list counts as reading
    assert 'class="unread"' not in await (await other.get("/")).text()


async def test_another_customers_recording_is_404(client: Any, services: Services,
                                                  tenant: Any) -> None:
    from factories import make_tenant

    stranger = await make_tenant(services, "Other AB")
    rid, _ = await store_voicemail(services, stranger.customer_id)
    await sign_in(client, tenant.admin_email)
    assert (await client.get(f"/recordings/{rid}")).status == 404
    assert (await client.get(f"/recordings/{rid}/audio")).status == 404
    gone = await form_post(client, f"/recordings/{rid}/delete", {})
    assert gone.status == 404
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 1


async def test_delete_removes_row_and_object(client: Any, services: Services, tenant: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.user_email)
    response = await form_post(client, f"/recordings/{rid}/delete", {}, page=f"/recordings/{rid}")
    assert response.status == 303
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 0
    assert await services.store.list_keys() == []
    assert (await client.get(f"/recordings/{rid}")).status == 404


async def test_customer_user_cannot_reach_admin_pages(client: Any, tenant: Any) -> None:
    await sign_in(client, tenant.user_email)
    assert (await client.get("/users")).status == 403
    response = await form_post(client, "/users", {"email": "x@acme-ab.example",
                                                  "role": "customer_admin"})
    assert response.status == 403


async def test_invite_then_forced_password_change_ends_other_sessions(
        client: Any, services: Services, tenant: Any, aiohttp_client: Any) -> None:
    await sign_in(client, tenant.admin_email)
    page = await form_post(client, "/users", {"email": "colleague@acme-ab.example",
                                              "role": "customer_user"}, page="/users")
    html = await page.text()
    assert page.status == 200
    initial = html.split("<code>")[1].split("</code>")[0]
    colleague = await aiohttp_client(client.app)
    await sign_in(colleague, "colleague@acme-ab.example", initial)
    forced = await colleague.get("/", allow_redirects=False)
    assert forced.status == 303 and forced.headers["Location"] == "/account/password"
    second = await aiohttp_client(client.app)
    await sign_in(second, "colleague@acme-ab.example", initial)
    changed = await form_post(colleague, "/account/password", {
        "current_password": initial, "new_password": "a much better passphrase",
        "repeat_password": "a much better passphrase"}, page="/account/password")
    assert changed.status == 303
    assert (await colleague.get("/", allow_redirects=False)).status == 200
    assert (await second.get("/settings", allow_redirects=False)).status == 303  # ended
    login = await client.post("/api/v1/auth/login", json={
        "email": "colleague@acme-ab.example", "password": "a much better passphrase"})
    assert login.status == 200


async def test_removed_user_is_signed_out_everywhere(client: Any, services: Services,
                                                     tenant: Any, aiohttp_client: Any) -> None:
    user = await aiohttp_client(client.app)
    await sign_in(user, tenant.user_email)
    token = (await user.post("/api/v1/auth/login", json={"email": tenant.user_email,
                                                         "password": PASSWORD}))
    bearer = (await token.json())["access_token"]
    await sign_in(client, tenant.admin_email)
    removed = await form_post(client, f"/users/{tenant.user_id}/remove", {}, page="/users")
    assert removed.status == 303
    assert (await user.get("/settings", allow_redirects=False)).status == 303
    api = await user.get("/api/v1/recordings", headers={"Authorization": f"Bearer {bearer}"})
    assert api.status == 401
    assert await services.pool.fetchval("SELECT email FROM users WHERE id = $1",
                                        tenant.user_id) is None


async def test_staff_console_without_grant_says_why_and_refuses_audio(
        client: Any, services: Services, tenant: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    await make_staff(services)
    await sign_in(client, "support@recstore.example")
    listing = await (await client.get(f"/?customer={tenant.customer_id}")).text()
    assert f'data-recording-id="{rid}"' in listing
    assert "+46701234567" not in listing and "Anna Svensson" not in listing
    page = await (await client.get(f"/console/recordings/{rid}")).text()
    assert 'id="no-grant"' in page and "<audio" not in page
    assert (await client.get(f"/console/recordings/{rid}/audio")).status == 403
    assert (await client.get("/settings")).status == 403


async def test_staff_request_approved_then_listen_shows_in_log_by_name(
        client: Any, services: Services, tenant: Any, aiohttp_client: Any) -> None:
    rid, audio = await store_voicemail(services, tenant.customer_id)
    await make_staff(services)
    staff = await aiohttp_client(client.app)
    await sign_in(staff, "support@recstore.example")
    asked = await form_post(staff, "/console/access-requests", {
        "customer_id": str(tenant.customer_id), "recording_id": str(rid), "scope": "one",
        "reason": "Customer reports silence", "ticket": "SUP-42"},
        page=f"/console/recordings/{rid}")
    assert asked.status == 303
    await sign_in(client, tenant.admin_email)
    access = await (await client.get("/access")).text()
    assert "support@recstore.example" in access and "SUP-42" in access
    request_id = await services.pool.fetchval("SELECT id FROM access_requests")
    approved = await form_post(client, f"/access-requests/{request_id}/approve", {"days": "2"},
                               page="/access")
    assert approved.status == 303
    too_long = await form_post(client, f"/access-requests/{request_id}/approve", {"days": "8"},
                               page="/access")
    assert too_long.status == 422
    heard = await staff.get(f"/console/recordings/{rid}/audio")
    assert heard.status == 200 and await heard.read() == audio
    log = await (await client.get("/access-log")).text()
    assert "support@recstore.example" in log and "listened to" in log
    grant_id = await services.pool.fetchval("SELECT id FROM grants")
    revoked = await form_post(client, f"/grants/{grant_id}/revoke", {}, page="/access")
    assert revoked.status == 303
    assert (await staff.get(f"/console/recordings/{rid}/audio")).status == 403


async def test_settings_change_retention_and_notification_choices(
        client: Any, services: Services, tenant: Any) -> None:
    await sign_in(client, tenant.admin_email)
    bad = await form_post(client, "/settings", {"retention_days": "91"}, page="/settings")
    assert bad.status == 422
    ok = await form_post(client, "/settings", {"retention_days": "30",
                                               "notify_new_recordings": "on",
                                               "notify_include_caller": "on"}, page="/settings")
    assert ok.status == 303
    row = await services.pool.fetchrow("SELECT retention_days, notify_include_caller,"
                                       " delete_provider_copy FROM customers WHERE id = $1",
                                       tenant.customer_id)
    assert tuple(row) == (30, True, False)


async def test_export_page_and_download(client: Any, services: Services, tenant: Any) -> None:
    await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.user_email)
    page = await client.get("/export")
    assert "1 recordings" in await page.text()
    response = await client.get("/export/download")
    assert response.status == 200 and response.content_type == "application/zip"
    assert (await response.read())[:2] == b"PK"


async def test_unknown_values_are_pages_not_500s(client: Any, tenant: Any) -> None:
    await sign_in(client, tenant.user_email)
    assert (await client.get("/recordings/not-a-uuid")).status == 404
    assert (await client.get("/?from=yesterday")).status == 422
    assert (await client.get("/?caller=hello")).status == 422
    assert (await client.get("/?cursor=%%%")).status == 422
    assert (await client.get("/access-log?cursor=zz")).status in {200, 422}


async def test_a_notification_link_leads_back_to_the_recording_after_login(
        client: Any, services: Services, tenant: Any) -> None:
    rid, _ = await store_voicemail(services, tenant.customer_id)
    first = await client.get(f"/recordings/{rid}", allow_redirects=False)
    assert first.status == 303
    assert parse_qs(urlsplit(first.headers["Location"]).query) == {"next": [f"/recordings/{rid}"]}
    html = await (await client.get(first.headers["Location"])).text()
    assert f'name="next" value="/recordings/{rid}"' in html
    response = await client.post("/login", data={
        "email": tenant.user_email, "password": PASSWORD, "next": f"/recordings/{rid}",
        "csrf": csrf_of(html)}, headers={"Origin": str(client.make_url("/")).rstrip("/")},
        allow_redirects=False)
    assert response.headers["Location"] == f"/recordings/{rid}"


async def test_redirects_never_leave_the_site(client: Any, tenant: Any) -> None:
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "evil"):
        switched = await form_post(client, "/language", {"lang": "sv", "next": evil})
        assert switched.headers["Location"] == "/", evil
        page = await (await client.get("/", params={"next": evil})).text()
        signed = await client.post("/login", data={
            "email": tenant.user_email, "password": PASSWORD, "next": evil,
            "csrf": csrf_of(page)}, headers={"Origin": str(client.make_url("/")).rstrip("/")},
            allow_redirects=False)
        assert signed.headers["Location"] == "/", evil


async def test_caller_text_is_escaped_not_executed(client: Any, services: Services,
                                                  tenant: Any) -> None:
    await store_voicemail(services, tenant.customer_id, caller="<img src=x onerror=alert(1)>",
                          name="<script>alert('x')</script>")
    await sign_in(client, tenant.user_email)
    html = await (await client.get("/")).text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


async def test_a_planted_session_cookie_is_replaced_at_login(client: Any, tenant: Any) -> None:
    client.session.cookie_jar.update_cookies({SESSION: "planted-by-an-attacker-0123456789"})
    response = await sign_in(client, tenant.user_email)
    assert response.cookies[SESSION].value != "planted-by-an-attacker-0123456789"


async def test_admin_erases_the_account_after_password_and_confirmation(
        client: Any, services: Services, tenant: Any) -> None:
    await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.admin_email)
    unconfirmed = await form_post(client, "/account/erase", {"password": PASSWORD},
                                  page="/settings")
    assert unconfirmed.status == 422
    wrong = await form_post(client, "/account/erase", {"confirm": "on",
                                                       "password": "not my password!"},
                            page="/settings")
    assert wrong.status == 401
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 1
    erased = await form_post(client, "/account/erase", {"confirm": "on", "password": PASSWORD},
                             page="/settings")
    assert erased.status == 303 and erased.headers["Location"] == "/?erased=1"
    # The answer goes out once the account is unreadable; the deletion finishes just after.
    for _ in range(300):
        if await services.pool.fetchval("SELECT state FROM customer_erasures") == "done":
            break
        await asyncio.sleep(0.1)
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 0
    assert await services.store.list_keys() == []
    assert await services.pool.fetchval("SELECT count(*) FROM portal_sessions") == 0
    assert (await client.get("/settings", allow_redirects=False)).status == 303
    again = await form_post(client, "/login", {"email": tenant.user_email, "password": PASSWORD})
    assert again.status == 401


async def test_access_log_offers_the_signed_checkpoint_the_api_gives(
        client: Any, services: Services, tenant: Any) -> None:
    from recstore import audit_keys, checkpoints

    await store_voicemail(services, tenant.customer_id)
    await sign_in(client, tenant.user_email)
    html = await (await client.get("/access-log")).text()
    assert "checkpoint.json" in html
    response = await client.get("/access-log/checkpoint.json")
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    held = checkpoints.parse(await response.json())
    assert held.customer_id == tenant.customer_id and held.seq >= 1
    keys = audit_keys.current(services.settings.audit_keys_path())
    assert checkpoints.signature_holds(keys, held)


async def test_behind_a_trusted_tls_proxy_cookies_are_secure_and_its_origin_counts(
        make_settings: Any, aiohttp_client: Any, tenant: Any) -> None:
    from recstore.app import create_app
    from recstore.services import open_services

    async with open_services(make_settings(trusted_proxies="127.0.0.1/32"), pool_size=2) as svc:
        client = await aiohttp_client(create_app(services=svc))
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example.se"}
        front = await client.get("/", headers=proxied)
        assert "Secure" in front.headers["Set-Cookie"]
        # The client's jar keeps Secure cookies off plain HTTP; the proxy would pass it on.
        pre = front.cookies["recstore_csrf"].value
        response = await client.post("/login", data={
            "email": tenant.user_email, "password": PASSWORD, "csrf": csrf_of(await front.text())},
            headers={**proxied, "Origin": "https://portal.example.se",
                     "Cookie": f"recstore_csrf={pre}"}, allow_redirects=False)
        assert response.status == 303
        assert "Secure" in response.headers["Set-Cookie"]


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(client: Any,
                                                                    tenant: Any) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    front = await client.get("/", headers=proxied)
    assert "Secure" not in front.headers["Set-Cookie"]
    response = await client.post("/login", data={
        "email": tenant.user_email, "password": PASSWORD, "csrf": csrf_of(await front.text())},
        headers={**proxied, "Origin": "https://evil.example"}, allow_redirects=False)
    assert response.status == 403


async def test_every_main_page_has_a_plain_text_title(client: Any, services: Services,
                                                     tenant: Any) -> None:
    """A page's <title> is its name alone: no markup pasted into the title block."""
    await sign_in(client, tenant.admin_email)
    for path in ("/", "/access", "/access-log", "/export", "/settings", "/users", "/account/password"):
        answer = await client.get(path)
        html = await answer.text()
        assert answer.status == 200, path
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        assert title is not None, path
        assert "<" not in title.group(1) and title.group(1).endswith(" · recstore"), (path, title)


async def test_static_files_come_from_memory_with_etags(client: Any) -> None:
    css = await client.get("/static/portal.css")
    assert css.status == 200 and css.content_type == "text/css"
    body = await css.read()
    assert body == (Path(__file__).parents[1] / "api/portal/static/portal.css").read_bytes()
    again = await client.get("/static/portal.css", headers={"If-None-Match": css.headers["ETag"]})
    assert again.status == 304 and not await again.read()
    for missing in ("/static/nope.css", "/static/..%2Fsetup.py", "/static/"):
        assert (await client.get(missing)).status == 404
