"""Swedish and English. Templates call `_("English text")`; Swedish comes from the catalog
(api/portal/sv.py), keyed by the English text, so a missing entry shows English rather than
nothing. A browser preferring `sv` gets Swedish; the switch on every page sets a cookie."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from api.portal.sv import SWEDISH

LANGUAGES = ("en", "sv")
LANG_COOKIE = "recstore_lang"
Translate = Callable[..., str]


def _from_accept_language(header: str) -> str | None:
    """The supported language the browser ranks highest (RFC 9110 q-values; among equal
    qualities the one listed first)."""
    best: tuple[float, str] | None = None
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, primary)
    return best[1] if best else None


def language_of(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return _from_accept_language(request.headers.get("Accept-Language", "")) or "en"


def translator(lang: str) -> Translate:
    catalog = SWEDISH if lang == "sv" else {}

    def translate(text: str, **values: Any) -> str:
        found = catalog.get(text, text)
        return found.format(**values) if values else found

    return translate
