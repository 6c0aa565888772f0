"""The portal in headless Chromium (Debian's, driven by Playwright) against the real stack:
what a customer and a support engineer do, the accessibility scan, a phone-sized screen."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from portal_seed import Seeded, seed
from recstore.app import create_app
from recstore.services import Services

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"
                                " (.ci/run installs it)")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def portal(services: Services, aiohttp_server: Any) -> tuple[str, Seeded]:
    server = await aiohttp_server(create_app(services=services))
    return str(server.make_url("/")).rstrip("/"), await seed(services)


async def _page(browser: Any, base: str, **context: Any) -> Any:
    ctx = await browser.new_context(base_url=base, accept_downloads=True, **context)
    page = await ctx.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: "Content Security Policy" in m.text
            and page.csp_errors.append(m.text))
    return page


async def _sign_in(page: Any, email: str, password: str) -> None:
    await page.goto("/")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_load_state()


async def _audio_state(page: Any) -> dict[str, float]:
    state: dict[str, float] = await page.evaluate(
        "() => { const a = document.querySelector('audio');"
        " return {ready: a.readyState, duration: a.duration, time: a.currentTime}; }")
    return state


async def test_customer_listens_seeks_downloads_and_deletes(browser: Any, portal: Any) -> None:
    base, seeded = portal
    rid, audio, seconds = seeded.recordings[0]
    page = await _page(browser, base)
    await _sign_in(page, seeded.user_email, seeded.password)
    row = page.locator(f"[data-recording-id='{rid}']")
    await row.wait_for()
    assert "Anna Svensson" in await row.inner_text()
    assert await page.locator("tr.unread").count() == len(seeded.recordings)
    assert await page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert "recstore_session" not in await page.evaluate("() => document.cookie")

    await row.locator("a").click()
    await page.wait_for_url(f"**/recordings/{rid}")
    await page.evaluate("() => document.querySelector('audio').play()")
    await page.wait_for_function("() => document.querySelector('audio').readyState >= 2")
    state = await _audio_state(page)
    assert abs(state["duration"] - seconds) < 0.1
    await page.evaluate(
        "() => new Promise(done => { const a = document.querySelector('audio');"
        f" a.addEventListener('seeked', done, {{once: true}}); a.currentTime = {seconds - 2}; }})")
    assert (await _audio_state(page))["time"] >= seconds - 2.01

    async with page.expect_download() as waiting:
        await page.click("a.button[download]")
    download = await waiting.value
    assert download.suggested_filename.startswith("recstore-voicemail-")
    assert Path(await download.path()).read_bytes() == audio

    await page.click("details.danger-zone summary")
    await page.click("details.danger-zone button.danger")
    await page.wait_for_url("**/?deleted=1")
    assert await page.locator(f"[data-recording-id='{rid}']").count() == 0
    assert await page.locator("tr.read").count() == 0  # the opened one is gone
    assert page.csp_errors == []
    await page.context.close()


async def test_staff_listens_only_under_an_approved_grant_and_the_log_names_them(
        browser: Any, portal: Any) -> None:
    base, seeded = portal
    rid, _, seconds = seeded.recordings[1]
    staff = await _page(browser, base)
    await _sign_in(staff, seeded.staff_email, seeded.password)
    await staff.fill("#customer", str(seeded.customer_id))
    await staff.click("form[role=search] button")
    await staff.locator(f"[data-recording-id='{rid}'] a").click()
    await staff.locator("#no-grant").wait_for()
    assert await staff.locator("audio").count() == 0
    denied = await staff.context.request.get(f"/console/recordings/{rid}/audio")
    assert denied.status == 403
    await staff.fill("#reason", "Customer hears only silence")
    await staff.fill("#ticket", "SUP-1042")
    await staff.click("form[action='/console/access-requests'] button")
    await staff.wait_for_url(f"**/console/recordings/{rid}?sent=1")

    admin = await _page(browser, base)
    await _sign_in(admin, seeded.admin_email, seeded.password)
    await admin.goto("/access")
    card = admin.locator("[data-access-request-id]")
    assert "SUP-1042" in await card.inner_text()
    assert seeded.staff_email in await card.inner_text()
    await card.locator("select").select_option("3")
    await card.locator("button", has_text="Approve").click()
    await admin.wait_for_url("**/access?done=approved")
    assert await admin.locator("[data-grant-id] .tag.active").count() == 1

    await staff.reload()
    await staff.evaluate("() => document.querySelector('audio').play()")
    await staff.wait_for_function("() => document.querySelector('audio').readyState >= 2")
    assert abs((await _audio_state(staff))["duration"] - seconds) < 0.1

    await admin.goto("/access-log")
    entries = await admin.locator("ol.log li").all_inner_texts()
    assert any(seeded.staff_email in e and "listened to" in e and "under grant" in e
               for e in entries), entries
    for page in (staff, admin):
        assert page.csp_errors == []
        await page.context.close()


async def test_language_follows_the_browser_and_the_switch(browser: Any, portal: Any) -> None:
    base, seeded = portal
    swedish = await _page(browser, base, locale="sv-SE")
    await swedish.goto("/")
    assert await swedish.get_attribute("html", "lang") == "sv"
    assert await swedish.locator("h1").inner_text() == "Logga in"
    await swedish.context.close()
    page = await _page(browser, base, locale="en-GB")
    await _sign_in(page, seeded.user_email, seeded.password)
    assert await page.locator("h1").inner_text() == "Recordings"
    await page.click("button[name=lang][value=sv]")
    await page.wait_for_load_state()
    assert await page.get_attribute("html", "lang") == "sv"
    assert await page.locator("h1").inner_text() == "Inspelningar"
    await page.goto("/settings")
    assert await page.locator("h1").inner_text() == "Inställningar"  # the choice stays
    await page.context.close()


async def _axe(page: Any) -> list[dict[str, Any]]:
    await page.evaluate(AXE.read_text())
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA)
    assert len(result["passes"]) > 10  # the scan really looked at the page
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]]


async def test_main_pages_pass_the_wcag_2_1_aa_scan(browser: Any, portal: Any) -> None:
    base, seeded = portal
    rid = seeded.recordings[0][0]
    found: dict[str, Any] = {}
    for width, height in ((1280, 900), (375, 740)):
        page = await _page(browser, base, viewport={"width": width, "height": height})
        await page.goto("/")
        found[f"{width} /"] = await _axe(page)
        await _sign_in(page, seeded.admin_email, seeded.password)
        for path in ("/", f"/recordings/{rid}", "/access", "/access-log", "/export",
                     "/settings", "/users", "/account/password"):
            await page.goto(path)
            found[f"{width} {path}"] = await _axe(page)
        await page.context.close()
    staff = await _page(browser, base)
    await _sign_in(staff, seeded.staff_email, seeded.password)
    await staff.goto(f"/?customer={seeded.customer_id}")
    found["console"] = await _axe(staff)
    await staff.goto(f"/console/recordings/{rid}")
    found["console recording"] = await _axe(staff)
    await staff.context.close()
    assert {page: v for page, v in found.items() if v} == {}, json.dumps(found, indent=1)


async def test_phone_sized_screen_keeps_everything_within_375_px(browser: Any,
                                                                 portal: Any) -> None:
    base, seeded = portal
    page = await _page(browser, base, viewport={"width": 375, "height": 740},
                       is_mobile=True, has_touch=True)
    await _sign_in(page, seeded.user_email, seeded.password)
    for path in ("/", f"/recordings/{seeded.recordings[0][0]}", "/access", "/access-log",
                 "/settings"):
        await page.goto(path)
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    await page.goto("/")
    first = page.locator("[data-recording-id]").first
    box = await first.bounding_box()
    assert box is not None and box["width"] <= 375
    await page.keyboard.press("Tab")
    focused = await page.evaluate("() => document.activeElement.className")
    assert focused == "skip"  # the first Tab reaches "Skip to content"
    await page.context.close()
