"""CLI commands of account erasure: `customer erasure-status ID` and `customer erasure-resume`.

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from recstore.cli.common import parse_id, with_services


async def cmd_erasure_status(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.rights.erasure import erasure_status

    customer_id = parse_id(args.customer_id, "customer")

    async def run(svc: Any) -> dict[str, Any]:
        status = await erasure_status(svc.pool, customer_id)
        out: dict[str, Any] = status.as_dict()
        out["objects_remaining"] = len(await svc.store.list_keys(f"recordings/{customer_id}/"))
        return out

    result: dict[str, Any] = await with_services(args, run)
    return result


async def cmd_erasure_resume(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.rights.erasure import resume_pending, run_erasure

    async def run(svc: Any) -> dict[str, Any]:
        if args.customer_id:
            finished = int(await run_erasure(svc.pool, svc.store, parse_id(args.customer_id, "customer")))
        else:
            finished = await resume_pending(svc.pool, svc.store)
        return {"finished": finished}

    result: dict[str, Any] = await with_services(args, run)
    return result


def add_erasure_commands(customer: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    status = command("erasure-status", cmd_erasure_status,
                     "progress of an account erasure (state: running or done)", parent=customer)
    status.add_argument("customer_id")
    resume = command("erasure-resume", cmd_erasure_resume,
                     "finish interrupted account erasures now (all, or one customer)",
                     parent=customer)
    resume.add_argument("customer_id", nargs="?")
