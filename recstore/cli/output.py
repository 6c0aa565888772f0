"""How the CLI prints: `--json` gets one JSON object, people get aligned lines and tables.

Both come from the same plain values, so every time is RFC 3339 in UTC with a `Z` (as the API
writes it), ids are their canonical text, and no Python repr ever reaches the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID


def rfc3339(at: datetime) -> str:
    """As the API writes times (api/models.py): UTC, `T`, `Z`."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """`value` as JSON types only: what `--json` prints and what the tables show."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID | PurePath):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [plain(v) for v in items]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def as_json(result: Mapping[str, Any]) -> str:
    return json.dumps(plain(result), ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return ", ".join(_cell(v) for v in value) if value else "none"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def table(rows: list[dict[str, Any]], indent: str = "") -> str:
    """Rows of plain values as a left-aligned table with a header line."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [[c.upper() for c in columns], *cells]
    return "\n".join(indent + "  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def human(result: Mapping[str, Any], indent: str = "") -> str:
    """`key: value` lines, keys aligned; nested objects indented, lists of objects as tables."""
    values = plain(result)
    if not values:
        return indent + "(nothing)"
    width = max(len(k) for k in values) + 1
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            lines += [f"{indent}{key}:", human(value, indent + "  ")]
        elif _is_table(value):
            lines += [f"{indent}{key}:", table(value, indent + "  ")]
        elif isinstance(value, str) and "\n" in value:  # a PEM, say: below its name, unindented
            lines += [f"{indent}{key}:", value.rstrip("\n")]
        else:
            lines.append(f"{indent}{(key + ':').ljust(width)} {_cell(value)}")
    return "\n".join(lines)
