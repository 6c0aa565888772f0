"""CLI: `customer create`, `user create` and `staff create`."""

from __future__ import annotations

import argparse
from typing import Any

from recstore.cli.common import parse_id, read_password, with_services


async def cmd_customer_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_customer

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            created = await create_customer(
                conn, svc.keys, name=args.name, email=args.email, phone=args.phone,
                org_number=args.org_number, retention_days=args.retention_days)
        return {"customer_id": str(created.customer_id), "webhook_secret": created.webhook_secret}

    result: dict[str, Any] = await with_services(args, run)
    return result


async def cmd_user_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_user

    customer_id = parse_id(args.customer, "customer")
    password = read_password(args)

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            user_id = await create_user(conn, customer_id=customer_id, email=args.email,
                                        password=password, role=args.role)
        return {"user_id": str(user_id)}

    result: dict[str, Any] = await with_services(args, run)
    return result


async def cmd_staff_create(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.customers import create_staff

    password = read_password(args)

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            staff_id = await create_staff(conn, email=args.email, password=password)
        return {"staff_id": str(staff_id)}

    result: dict[str, Any] = await with_services(args, run)
    return result
