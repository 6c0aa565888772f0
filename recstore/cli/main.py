"""The `recstore` command line. Commands that print data take --json and then print exactly
one JSON object on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from recstore.errors import NotFound, RecstoreError

Command = Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    else:
        print(text if text is not None else "\n".join(f"{k}: {v}" for k, v in result.items()))


def parse_id(text: str, what: str) -> UUID:
    """An id given on the command line; a malformed one is simply an id that does not exist."""
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def _read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise SystemExit("--password-stdin is required (passwords never go on the command line)")
    return sys.stdin.readline().rstrip("\n")


def _settings(args: argparse.Namespace) -> Any:
    from recstore.devstack.files import read_runtime, settings_for
    from recstore.settings import Settings

    if getattr(args, "data_dir", None):
        data_dir = Path(args.data_dir).resolve()
        return settings_for(data_dir, read_runtime(data_dir))
    return Settings()  # type: ignore[call-arg]  # from RECSTORE_* variables


async def _with_services(args: argparse.Namespace, action: Callable[[Any], Awaitable[Any]]) -> Any:
    from recstore.services import open_services

    async with open_services(_settings(args), pool_size=2) as svc:
        return await action(svc)


async def cmd_customer_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_customer

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            created = await create_customer(
                conn, svc.keys, name=args.name, email=args.email, phone=args.phone,
                org_number=args.org_number, retention_days=args.retention_days)
        return {"customer_id": str(created.customer_id), "webhook_secret": created.webhook_secret}

    result: dict[str, Any] = await _with_services(args, run)
    return result


async def cmd_user_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_user

    customer_id = parse_id(args.customer, "customer")
    password = _read_password(args)

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            user_id = await create_user(conn, customer_id=customer_id, email=args.email,
                                        password=password, role=args.role)
        return {"user_id": str(user_id)}

    result: dict[str, Any] = await _with_services(args, run)
    return result


async def cmd_staff_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_staff

    password = _read_password(args)

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            staff_id = await create_staff(conn, email=args.email, password=password)
        return {"staff_id": str(staff_id)}

    result: dict[str, Any] = await _with_services(args, run)
    return result


async def cmd_migrate(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.bootstrap import prepare_storage

    applied = await prepare_storage(_settings(args))
    return {"applied": applied}


async def cmd_doctor(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.doctor import run_checks

    report = await run_checks(_settings(args))
    if not report["ok"]:
        args.exit_code = 1
    return report


async def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(_settings(args), api=True, worker=False)
    return {}


async def cmd_worker(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(_settings(args), api=False, worker=True)
    return {}


async def cmd_up(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.devstack.up import run_up

    await run_up(Path(args.data_dir).resolve(), host=args.host, port=args.port,
                 as_json=args.json, demo=args.demo)
    return {}


async def cmd_keys_generate(args: argparse.Namespace) -> dict[str, Any]:
    from crypto import MasterKeyring

    return {"master_key": MasterKeyring.generate_entry(args.id)}


async def cmd_keys_init_jwt(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.auth.tokens import generate_private_key_file

    path = _settings(args).jwt_private_key_file
    created = not path.exists()
    if created:
        generate_private_key_file(path)
    return {"jwt_private_key_file": str(path), "created": created}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recstore", description=__doc__)
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
    up.add_argument("--demo", action="store_true",
                    help="seed a demo customer, login and voicemails into an empty data dir")
    command("serve", cmd_serve, "API and webhooks (production)")
    command("worker", cmd_worker, "ingest worker and retention scheduler (production)")
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
    from recstore.cli.tokens import add_token_commands

    add_token_commands(keys, command)

    customer = sub.add_parser("customer", help="manage customers").add_subparsers(
        dest="subcommand", required=True)
    create = command("create", cmd_customer_create, "create a customer", parent=customer)
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--phone")
    create.add_argument("--org-number")
    create.add_argument("--retention-days", type=int, default=90)
    from recstore.cli.providers import add_job_commands, add_set_provider

    add_set_provider(customer, command)
    add_job_commands(sub, command)
    from recstore.cli.erasure import add_erasure_commands

    add_erasure_commands(customer, command)
    from recstore.cli.consent import add_consent_commands

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
    from recstore.cli.retention import add_retention_commands

    add_retention_commands(sub, command)
    return parser


def _stop_quietly_until_serving() -> None:
    """A SIGTERM that arrives while a long-running command is still starting is a clean stop
    (exit 0, cleanup runs); once serving, the event loop's own handlers take over."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.exit_code = 0
    if args.func in (cmd_up, cmd_serve, cmd_worker):
        _stop_quietly_until_serving()
    try:
        result = asyncio.run(args.func(args))
    except ValidationError as exc:
        problems = "; ".join(f"RECSTORE_{'_'.join(map(str, e['loc'])).upper() or 'SETTINGS'}: "
                             f"{e['msg']}" for e in exc.errors(include_input=False))
        print(f"recstore: configuration error: {problems}", file=sys.stderr)
        return 2
    except RecstoreError as exc:
        print(f"recstore: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if result:
        _emit(args, result)
    return int(args.exit_code)


if __name__ == "__main__":
    sys.exit(main())
