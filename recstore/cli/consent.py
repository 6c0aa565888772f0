"""CLI commands of staff access: `audit verify` and `customer set-notify-webhook`.

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from recstore.cli.common import parse_id, with_services


async def cmd_audit_verify(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.audit import verify_chain

    customer_id = parse_id(args.customer_id, "customer")

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            check = await verify_chain(conn, customer_id)
        return {"customer_id": str(customer_id), "ok": check.first_broken_seq is None,
                "entries": check.entries, "first_broken_seq": check.first_broken_seq,
                "reason": check.reason}

    result: dict[str, Any] = await with_services(args, run)
    if not result["ok"]:
        args.exit_code = 1
    return result


async def cmd_set_notify_webhook(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.consent.notify_channels import set_webhook

    customer_id = parse_id(args.customer_id, "customer")

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            secret = await set_webhook(conn, svc.keys, customer_id, args.url)
        return {"customer_id": str(customer_id), "url": args.url, "signing_secret": secret}

    result: dict[str, Any] = await with_services(args, run)
    return result


def add_consent_commands(sub: Any, customer: Any, command: Callable[..., Any]) -> None:
    audit = sub.add_parser("audit", help="the customers' access logs").add_subparsers(
        dest="subcommand", required=True)
    verify = command("verify", cmd_audit_verify,
                     "recompute a customer's hash chain; exit 1 at the first broken link",
                     parent=audit)
    verify.add_argument("customer_id")
    hook = command("set-notify-webhook", cmd_set_notify_webhook,
                   "send the customer's staff-access notifications to URL (prints the secret)",
                   parent=customer)
    hook.add_argument("customer_id")
    hook.add_argument("--url", required=True)
