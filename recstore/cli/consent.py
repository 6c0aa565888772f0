"""CLI commands of staff access: `audit verify` and `customer set-notify-webhook`.

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recstore.cli.common import parse_id, with_services


async def cmd_audit_verify(args: argparse.Namespace) -> dict[str, Any]:
    """Exit 1 when the chain is broken or does not extend the checkpoint, or its signature
    fails; exit 2 when the checkpoint cannot be checked at all (never a pass)."""
    from recstore import audit_keys, checkpoints
    from recstore.audit import verify_chain

    customer_id = parse_id(args.customer_id, "customer")
    held = None
    try:
        if args.checkpoint:
            held = checkpoints.read_file(Path(args.checkpoint))
            if held.customer_id != customer_id:
                raise checkpoints.CheckpointInvalid(
                    "the checkpoint is for another customer")
    except checkpoints.CheckpointInvalid as exc:
        return _cannot_check(args, customer_id, exc)

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            check = await verify_chain(conn, customer_id)
            result: dict[str, Any] = {
                "customer_id": str(customer_id), "ok": check.first_broken_seq is None,
                "entries": check.entries, "first_broken_seq": check.first_broken_seq,
                "reason": check.reason}
            if held is not None:
                keys = audit_keys.load(svc.settings.audit_keys_path(), create=False)
                signed = checkpoints.signature_holds(keys, held)
                why = await checkpoints.extends(conn, held) if signed else (
                    "the checkpoint's signature does not verify")
                result["checkpoint"] = {"seq": held.seq, "hash": held.hash,
                                        "key_id": held.key_id, "signature_ok": signed,
                                        "extended": signed and why is None, "reason": why}
                if why is not None:
                    result["ok"] = False
                    result["reason"] = result["reason"] or why
        return result

    try:
        result: dict[str, Any] = await with_services(args, run)
    except (checkpoints.CheckpointInvalid, audit_keys.AuditKeyFileInvalid) as exc:
        return _cannot_check(args, customer_id, exc)
    if not result["ok"]:
        args.exit_code = 1
    return result


def _cannot_check(args: argparse.Namespace, customer_id: Any, exc: Exception) -> dict[str, Any]:
    detail = getattr(exc, "detail", str(exc))
    print(f"recstore: cannot check the checkpoint: {detail}", file=sys.stderr)
    args.exit_code = 2
    return {"customer_id": str(customer_id), "ok": False, "error": detail}


async def cmd_set_notify_webhook(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.consent.notify_channels import set_webhook

    customer_id = parse_id(args.customer_id, "customer")

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            secret = await set_webhook(conn, svc.keys, customer_id, args.url,
                                       require_tls=svc.settings.require_tls)
        return {"customer_id": str(customer_id), "url": args.url, "signing_secret": secret}

    result: dict[str, Any] = await with_services(args, run)
    return result


def add_consent_commands(sub: Any, customer: Any, command: Callable[..., Any]) -> None:
    audit = sub.add_parser("audit", help="the customers' access logs").add_subparsers(
        dest="subcommand", required=True)
    verify = command("verify", cmd_audit_verify,
                     "recompute a customer's hash chain; exit 1 at the first broken link"
                     " or when it does not extend --checkpoint, 2 when that cannot be checked",
                     parent=audit)
    verify.add_argument("customer_id")
    verify.add_argument("--checkpoint", metavar="FILE",
                        help="a checkpoint the customer holds (or an access-log page with one):"
                             " the chain must extend it")
    hook = command("set-notify-webhook", cmd_set_notify_webhook,
                   "send the customer's staff-access notifications to URL (prints the secret)",
                   parent=customer)
    hook.add_argument("customer_id")
    hook.add_argument("--url", required=True)
