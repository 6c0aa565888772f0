"""Every text the portal shows has its Swedish, and the language is chosen as browsers expect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.portal.actions import ACTION_TEXT
from api.portal.i18n import _from_accept_language, translator
from api.portal.render import _TITLES
from api.portal.sv import SWEDISH
from api.portal.views_access import _DONE

TEMPLATES = Path(__file__).resolve().parents[1] / "api" / "portal" / "templates"
VIEWS = TEMPLATES.parent
CALLED = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""")


def _template_texts() -> set[str]:
    found: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        found |= {a or b for a, b in CALLED.findall(path.read_text())}
    return found


def _view_messages() -> set[str]:
    """Texts the views hand to templates that translate them (error=..., detail=...)."""
    found: set[str] = set()
    for path in VIEWS.glob("views_*.py"):
        found |= set(re.findall(r'error="([^"]+)"', path.read_text()))
        found |= set(re.findall(r'error, status = "([^"]+)"', path.read_text()))
    return found


def test_every_text_of_the_portal_has_its_swedish() -> None:
    texts = (_template_texts() | set(ACTION_TEXT.values()) | set(_TITLES.values())
             | set(_DONE.values()) | _view_messages())
    assert len(texts) > 150
    missing = sorted(t for t in texts if t not in SWEDISH)
    assert missing == []


def test_placeholders_survive_translation() -> None:
    for english, swedish in SWEDISH.items():
        assert re.findall(r"{\w+}", english) == re.findall(r"{\w+}", swedish), english
    assert translator("sv")("{n} days", n=3) == "3 dagar"
    assert translator("en")("{n} days", n=3) == "3 days"


@pytest.mark.parametrize(("header", "expected"), [
    ("sv-SE,sv;q=0.9,en;q=0.8", "sv"), ("sv", "sv"), ("en-US,en;q=0.9,sv;q=0.8", "en"),
    ("de-DE,sv;q=0.7,en;q=0.5", "sv"), ("fr,de", None), ("en;q=0.2,sv;q=0.9", "sv"),
    ("sv;q=0,en", "en"), ("sv;q=bogus", None), ("", None),
])
def test_accept_language(header: str, expected: str | None) -> None:
    assert _from_accept_language(header) == expected
