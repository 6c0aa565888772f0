"""The portal's main pages as a reader of the README sees them. `make screenshots` writes the
PNGs into docs/screenshots/ (RECSTORE_SCREENSHOTS_DIR); otherwise they go to a temporary
directory and the test checks only that every page renders cleanly under its CSP."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_portal_browser import CHROMIUM, _page, _sign_in, browser, portal  # noqa: F401

from portal_seed import Seeded
from recstore.consent import access_requests, grants
from recstore.consent.grants import Scope
from recstore.services import Services

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


async def _staff_activity(services: Services, seeded: Seeded) -> None:
    """A pending request, an active grant that was used, so the access pages have content."""
    async with services.pool.acquire() as conn:
        await access_requests.create_request(
            conn, staff_id=seeded.staff_id, customer_id=seeded.customer_id,
            scope=Scope(False, (seeded.recordings[3][0],)),
            reason="The caller says the message cuts off after two seconds", ticket="SUP-2291")
        admin = await conn.fetchval("SELECT id FROM users WHERE email = $1", seeded.admin_email)
        await grants.create_grant(
            conn, seeded.customer_id, keys=services.keys, created_by=admin,
            scope=Scope(False, (seeded.recordings[1][0],)), staff_id=seeded.staff_id,
            purpose="Echo on the line (SUP-2280)",
            expires_at=datetime.now(UTC) + timedelta(days=2))


async def test_main_pages_render_for_the_screenshots(browser: Any, portal: Any,  # noqa: F811
                                                     services: Services,
                                                     tmp_path: Path) -> None:
    base, seeded = portal
    out = Path(os.environ.get("RECSTORE_SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    await _staff_activity(services, seeded)
    first = seeded.recordings[0][0]
    shots: list[tuple[str, Any, str]] = []

    page = await _page(browser, base, viewport={"width": 1200, "height": 760}, locale="en-GB")
    await page.goto("/")
    shots.append(("login", page, "/"))
    await page.screenshot(path=out / "portal-login.png")
    await _sign_in(page, seeded.admin_email, seeded.password)
    await page.goto(f"/recordings/{seeded.recordings[2][0]}")  # one read, the rest unread
    for name, path in (("recordings", "/"), ("recording", f"/recordings/{first}"),
                       ("access", "/access"), ("access-log", "/access-log"),
                       ("settings", "/settings"), ("users", "/users"), ("export", "/export")):
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        await page.screenshot(path=out / f"portal-{name}.png", full_page=True)
    await page.click("button[name=lang][value=sv]")
    await page.goto("/")
    await page.screenshot(path=out / "portal-recordings-sv.png", full_page=True)
    assert page.csp_errors == []
    await page.context.close()

    phone = await _page(browser, base, viewport={"width": 375, "height": 760},
                        is_mobile=True, has_touch=True, device_scale_factor=2)
    await _sign_in(phone, seeded.user_email, seeded.password)
    await phone.screenshot(path=out / "portal-phone.png")
    await phone.context.close()

    staff = await _page(browser, base, viewport={"width": 1200, "height": 760})
    await _sign_in(staff, seeded.staff_email, seeded.password)
    await staff.goto(f"/console/recordings/{seeded.recordings[0][0]}")
    await staff.screenshot(path=out / "console-no-grant.png", full_page=True)
    await staff.goto(f"/console/recordings/{seeded.recordings[1][0]}")
    await staff.screenshot(path=out / "console-grant.png", full_page=True)
    assert staff.csp_errors == []
    await staff.context.close()
    assert len(list(out.glob("*.png"))) >= 12
