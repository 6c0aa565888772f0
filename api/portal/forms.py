"""Reading submitted form fields: bounded, stripped text; a missing field is a 422 page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from aiohttp import web

from api.portal.context import form_key
from recstore.errors import Invalid

# Customers are Swedish businesses: times are shown, and dates read, in Swedish time.
DISPLAY_ZONE = ZoneInfo("Europe/Stockholm")
MAX_FIELD = 2000


def field(request: web.Request, name: str, *, required: bool = True, max_length: int = MAX_FIELD
          ) -> str:
    value = request[form_key].get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise Invalid(f"please fill in {name.replace('_', ' ')}")
    if len(value) > max_length:
        raise Invalid(f"{name.replace('_', ' ')} is too long")
    return value


def checkbox(request: web.Request, name: str) -> bool:
    return request[form_key].get(name) in {"on", "1", "true"}


def uuid_field(request: web.Request, name: str) -> UUID:
    try:
        return UUID(field(request, name, max_length=64))
    except ValueError:
        raise Invalid(f"{name.replace('_', ' ')} is not a valid id") from None


def local_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} is not a date (YYYY-MM-DD)") from None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), DISPLAY_ZONE).astimezone(UTC)


def day_end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def expiry_in_days(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def safe_next(value: str | None) -> str:
    """Only a path on this site: never `//host` or a scheme (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
