"""Installing the portal on the application: templates, filters, static files, routes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from api.portal import static_files
from api.portal.forms import DISPLAY_ZONE
from api.portal.guard import portal_view
from api.portal.routes import PortalRoute

HERE = Path(__file__).resolve().parent
STATIC_NAME = "portal_static"


def when(value: datetime | None) -> str:
    return value.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M") if value else ""


def duration(ms: int | None) -> str:
    if ms is None:
        return "\u2013"  # an en dash: no length known
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def size(value: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value = value / 1000  # type: ignore[assignment]
    return str(value)


def install(app: web.Application, routes: list[PortalRoute]) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, duration=duration, size=size, short=lambda v: str(v)[:8])
    for route in routes:
        app.router.add_route(route.method, route.path,
                             portal_view(route.roles, route.handler, html_errors=route.html_errors),
                             name=route.name)
    app.router.add_get("/static/{name}", static_files.handler(static_files.load(HERE / "static")),
                       name=STATIC_NAME)
