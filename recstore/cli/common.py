"""What the command groups share: reading settings (from RECSTORE_* or an embedded data dir),
opening services, parsing ids and passwords, printing results."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from recstore.cli.output import as_json, human
from recstore.errors import NotFound, RecstoreError

Command = Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]


class UsageError(RecstoreError):
    """The command cannot run as set up (a missing extra, a missing flag): exit 2, not 1."""

    exit_code = 2


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    if wants_json(args):
        print(as_json(result))
    else:
        print(text if text is not None else human(result))


def emit_error(message: str, *, as_json_too: bool) -> None:
    """An error always goes to stderr; with --json it is also stdout's one object."""
    print(f"recstore: {message}", file=sys.stderr)
    if as_json_too:
        print(json.dumps({"error": message}, ensure_ascii=False))


def parse_id(text: str, what: str) -> UUID:
    """An id given on the command line; a malformed one is simply an id that does not exist."""
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise UsageError("--password-stdin is required (passwords never go on the command line)")
    return sys.stdin.readline().rstrip("\n")


def settings_from_args(args: argparse.Namespace) -> Any:
    from recstore.devstack.files import read_runtime, settings_for
    from recstore.settings import Settings

    if getattr(args, "data_dir", None):
        data_dir = Path(args.data_dir).resolve()
        return settings_for(data_dir, read_runtime(data_dir))
    return Settings()  # type: ignore[call-arg]  # from RECSTORE_* variables


async def with_services(args: argparse.Namespace, action: Callable[[Any], Awaitable[Any]]) -> Any:
    from recstore.services import open_services
    from recstore.tls.policy import DB_VARIABLE, check_postgres

    settings = settings_from_args(args)
    await check_postgres(DB_VARIABLE, settings.database_url.get_secret_value())  # a clear TLS error
    async with open_services(settings, pool_size=2) as svc:
        return await action(svc)
