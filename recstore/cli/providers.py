"""CLI commands for provider ingest: `customer set-provider` and the `jobs` group.

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recstore.cli.common import parse_id, with_services
from recstore.cli.output import plain, table

_CREDENTIAL_FLAGS = {
    "twilio": (("--account-sid", "account_sid"), ("--auth-token", "auth_token")),
    "46elks": (("--username", "username"), ("--password", "password")),
    "telnyx": (("--public-key", "public_key"), ("--api-key", "api_key")),
}


def _base_url(args: argparse.Namespace, settings: Any) -> str:
    if settings.public_base_url:
        return str(settings.public_base_url)
    if getattr(args, "data_dir", None):
        from recstore.devstack.files import read_runtime

        url = read_runtime(Path(args.data_dir).resolve()).get("url")
        if url:
            return str(url)
    return f"http://{settings.host}:{settings.port}"


async def cmd_customer_set_provider(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.accounts.providers import set_provider, webhook_urls

    customer_id = parse_id(args.customer_id, "customer")
    credentials = {name: getattr(args, name) for _, name in _CREDENTIAL_FLAGS[args.provider]}

    async def run(svc: Any) -> dict[str, Any]:
        async with svc.pool.acquire() as conn:
            account = await set_provider(conn, svc.keys, customer_id, args.provider,
                                         credentials, api_base=args.api_base,
                                         delete_after_fetch=args.delete_after_fetch)
        return {"customer_id": str(customer_id), "provider": args.provider,
                "api_base": account.api_base, "delete_after_fetch": account.delete_after_fetch,
                "webhook_urls": webhook_urls(_base_url(args, svc.settings), account)}

    result: dict[str, Any] = await with_services(args, run)
    if not args.json:
        lines = [f"{args.provider} configured for customer {customer_id}.",
                 "Configure these URLs at the provider:"]
        lines += [f"  {purpose}: {url}" for purpose, url in result["webhook_urls"].items()]
        print("\n".join(lines))
        return {}
    return result


async def cmd_jobs_list(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.jobs import queue as jobs

    async def run(svc: Any) -> list[dict[str, Any]]:
        return await jobs.list_jobs(svc.pool, status=args.status, limit=args.limit)

    found: list[dict[str, Any]] = await with_services(args, run)
    if not args.json:
        columns = ("id", "status", "provider", "attempts", "run_after", "last_error")
        print(table([{c: plain(job[c]) for c in columns} for job in found]) if found else "no jobs")
        return {}
    return {"jobs": found}


async def cmd_jobs_retry(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.jobs import queue as jobs

    job_id = parse_id(args.job_id, "job")

    async def run(svc: Any) -> dict[str, Any]:
        return await jobs.retry(svc.pool, job_id)

    job: dict[str, Any] = await with_services(args, run)
    return {"id": str(job["id"]), "status": job["status"], "run_after": job["run_after"]}


Register = Callable[..., argparse.ArgumentParser]


def add_set_provider(customer: Any, command: Register) -> None:
    """`customer set-provider CUSTOMER_ID {twilio,46elks,telnyx} ...` as in CONTRACT.md."""
    parser = customer.add_parser(
        "set-provider", help="store a customer's credentials at a pull-style provider")
    parser.add_argument("customer_id")
    providers = parser.add_subparsers(dest="provider", required=True)
    for provider, flags in _CREDENTIAL_FLAGS.items():
        p = command(provider, cmd_customer_set_provider, f"credentials at {provider}",
                    parent=providers)
        for flag, dest in flags:
            p.add_argument(flag, dest=dest, required=True)
        p.add_argument("--delete-after-fetch", action="store_true",
                       help="delete the provider's copy once the encrypted copy is stored")
        p.add_argument("--api-base", help="fetch only from this origin (a local fake provider)")


def add_job_commands(sub: Any, command: Register) -> None:
    group = sub.add_parser("jobs", help="the provider fetch queue").add_subparsers(
        dest="subcommand", required=True)
    listing = command("list", cmd_jobs_list, "list fetch jobs, newest first", parent=group)
    listing.add_argument("--status", choices=["queued", "running", "done", "dead"])
    listing.add_argument("--limit", type=int, default=100)
    retry = command("retry", cmd_jobs_retry, "queue a dead job again, now", parent=group)
    retry.add_argument("job_id")

