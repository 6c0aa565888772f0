"""The `recstore` command line. Commands that print data take --json and then print exactly
one JSON object on stdout."""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import sys
from importlib import metadata
from typing import Any, NoReturn

from pydantic import ValidationError

from recstore.cli.accounts import cmd_customer_create, cmd_staff_create, cmd_user_create
from recstore.cli.common import Command, emit, emit_error, wants_json
from recstore.cli.consent import add_consent_commands
from recstore.cli.erasure import add_erasure_commands
from recstore.cli.keys import add_custody_commands, add_token_commands, cmd_keys_generate, cmd_keys_init_jwt
from recstore.cli.providers import add_job_commands, add_set_provider
from recstore.cli.retention import add_retention_commands
from recstore.cli.service import cmd_doctor, cmd_migrate, cmd_serve, cmd_up, cmd_worker
from recstore.cli.tls import add_tls_commands
from recstore.cli.upload import add_upload_command
from recstore.custody import SERVE_ROLES, WORKER_ROLES, KeyMaterialMissing
from recstore.errors import RecstoreError
from recstore.tls.errors import TLSConfigError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error under --json is also stdout's one JSON object (exit 2)."""

    json_requested = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_requested:
            self.print_usage(sys.stderr)
            command = self.prog.removeprefix("recstore").strip()
            emit_error(f"{command}: {message}" if command else message, as_json_too=True)
            self.exit(2)
        super().error(message)


def _version() -> str:
    try:
        return metadata.version("recstore")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        from recstore import __version__
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recstore", description=__doc__)
    parser.add_argument("--version", action="version", version=f"recstore {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Command, help_text: str, parent: Any = sub,
                data_dir: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if data_dir:
            p.add_argument("--data-dir", help="use the embedded stack `recstore up` runs in DIR")
        return p

    up = command("up", cmd_up, "run the whole service on an embedded stack", data_dir=False)
    up.add_argument("--data-dir", default="./.recstore")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--tls", action="store_true",
                    help="HTTPS only, S3 and PostgreSQL over TLS, all verified against a local CA "
                         "made under the data dir")
    up.add_argument("--demo", action="store_true",
                    help="seed a demo customer, login and voicemails into an empty data dir")
    serve = command("serve", cmd_serve, "API and webhooks (production)")
    serve.add_argument("--role", choices=SERVE_ROLES, default="all",
                       help="which routes, and so which keys, this process holds (docs/KEYS.md)")
    worker = command("worker", cmd_worker, "ingest worker and retention scheduler (production)")
    worker.add_argument("--role", choices=WORKER_ROLES, default="all",
                        help="fetch (ingest, notifications) or retention (deletion, epochs)")
    command("migrate", cmd_migrate, "apply database migrations and prepare the bucket")
    command("doctor", cmd_doctor, "check database, object store, region, keys, ffmpeg")

    keys = sub.add_parser("keys", help="key material").add_subparsers(
        dest="subcommand", required=True)
    generate = command("generate", cmd_keys_generate,
                       "print a new master key entry (ID:BASE64) for RECSTORE_MASTER_KEYS",
                       parent=keys, data_dir=False)
    generate.add_argument("--id", required=True, help="key id, e.g. 2026-11-a")
    command("init-jwt", cmd_keys_init_jwt, "create the JWT signing key file if it is missing",
            parent=keys)
    add_token_commands(keys, command)
    add_custody_commands(keys, command)

    customer = sub.add_parser("customer", help="manage customers").add_subparsers(
        dest="subcommand", required=True)
    create = command("create", cmd_customer_create, "create a customer", parent=customer)
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--phone")
    create.add_argument("--org-number")
    create.add_argument("--retention-days", type=int, default=90)
    add_set_provider(customer, command)
    add_job_commands(sub, command)
    add_erasure_commands(customer, command)
    add_consent_commands(sub, customer, command)

    user = sub.add_parser("user", help="manage customer users").add_subparsers(
        dest="subcommand", required=True)
    ucreate = command("create", cmd_user_create, "create a customer user", parent=user)
    ucreate.add_argument("--customer", required=True)
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--role", required=True, choices=["customer_admin", "customer_user"])
    ucreate.add_argument("--password-stdin", action="store_true")

    staff = sub.add_parser("staff", help="manage support staff").add_subparsers(
        dest="subcommand", required=True)
    screate = command("create", cmd_staff_create, "create a staff account", parent=staff)
    screate.add_argument("--email", required=True)
    screate.add_argument("--password-stdin", action="store_true")
    add_retention_commands(sub, command)
    add_upload_command(sub, command)
    add_tls_commands(sub, command)
    return parser


def _stop_quietly_until_serving() -> None:
    """A SIGTERM that arrives while a long-running command is still starting is a clean stop
    (exit 0, cleanup runs); once serving, the event loop's own handlers take over."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _Parser.json_requested = "--json" in argv
    args = build_parser().parse_args(argv)
    args.exit_code = 0
    if args.func in (cmd_up, cmd_serve, cmd_worker):
        _stop_quietly_until_serving()
    failed = functools.partial(emit_error, as_json_too=wants_json(args))
    try:
        result = asyncio.run(args.func(args))
    except ValidationError as exc:
        problems = "; ".join(f"RECSTORE_{'_'.join(map(str, e['loc'])).upper() or 'SETTINGS'}: "
                             f"{e['msg']}" for e in exc.errors(include_input=False))
        failed(f"configuration error: {problems}")
        return 2
    except (TLSConfigError, KeyMaterialMissing) as exc:  # names the variable to fix
        failed(f"configuration error: {exc.detail}")
        return 2
    except RecstoreError as exc:
        failed(exc.detail)
        return int(getattr(exc, "exit_code", 1))
    except OSError as exc:  # a server or file that is not there: say so, without a traceback
        what = exc.strerror or type(exc).__name__
        if isinstance(exc, ConnectionError):
            failed(f"cannot connect: {what}")
        else:
            failed(f"{what}: {exc.filename}" if exc.filename else what)
        return 1
    except KeyboardInterrupt:
        return 130
    if result:
        emit(args, result)
    return int(args.exit_code)
