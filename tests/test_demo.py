"""`recstore up --demo`'s banner: its login command works when pasted, and it never shows the
login of a demo customer that has since been erased."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from factories import bearer
from recstore.devstack.demo import seed_demo
from recstore.services import Services


def _pasted_login(banner: str) -> dict[str, Any]:
    """What a shell hands curl as the body of the banner's login command."""
    command = re.search(r"curl -s \{url\}/api/v1/auth/login .*?-d '[^']*'", banner, re.S)
    assert command, banner
    words = shlex.split(command[0].replace("\\\n", " "))
    body: dict[str, Any] = json.loads(words[words.index("-d") + 1])
    return body


async def test_the_login_command_works_as_pasted(client: Any, services: Services,
                                                 tmp_path: Path) -> None:
    banner = await seed_demo(services, tmp_path)
    assert "{{" not in banner and "}}" not in banner
    response = await client.post("/api/v1/auth/login", json=_pasted_login(banner))
    assert response.status == 200, await response.text()
    token = (await response.json())["access_token"]
    listing = await (await client.get("/api/v1/recordings", headers=bearer(token))).json()
    assert len(listing["items"]) == 2
    assert await seed_demo(services, tmp_path) == banner  # a restart shows the same login


async def test_an_erased_demo_is_never_shown_again(client: Any, services: Services,
                                                   tmp_path: Path) -> None:
    first = await seed_demo(services, tmp_path)
    old_customer = json.loads((tmp_path / "demo.json").read_text())["customer_id"]
    old_login = _pasted_login(first)
    token = (await (await client.post("/api/v1/auth/login", json=old_login)).json())["access_token"]
    assert (await client.delete("/api/v1/account", headers=bearer(token))).status == 202

    again = await seed_demo(services, tmp_path)
    assert old_login["password"] not in again
    assert old_customer not in again
    assert (await client.post("/api/v1/auth/login", json=old_login)).status == 401
    # A new demo customer, whose banner works like the first one did.
    response = await client.post("/api/v1/auth/login", json=_pasted_login(again))
    assert response.status == 200, await response.text()
    record = json.loads((tmp_path / "demo.json").read_text())
    assert record["customer_id"] in again and record["customer_id"] != old_customer
