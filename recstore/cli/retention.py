"""CLI commands: `recstore retention run|report` and `recstore janitor run`.

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands. `report`
and `run` exit 1 when something is wrong (overdue recordings or epochs, failed deletions),
so cron jobs and monitoring can use the exit status alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from recstore.cli.common import with_services


async def cmd_retention_run(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.retention.scheduler import RetentionSettings, retention_pass

    async def run(svc: Any) -> dict[str, Any]:
        return await retention_pass(svc, RetentionSettings(), dry_run=args.dry_run)

    result: dict[str, Any] = await with_services(args, run)
    if not result["ok"]:
        args.exit_code = 1
    return result


async def cmd_retention_report(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.retention.report import report
    from recstore.retention.scheduler import RetentionSettings

    async def run(svc: Any) -> dict[str, Any]:
        return await report(svc.pool, svc.keys.epochs, grace=RetentionSettings().epoch_grace)

    result: dict[str, Any] = await with_services(args, run)
    if not result["ok"]:
        args.exit_code = 1
    return result


async def cmd_janitor_run(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.retention.scheduler import RetentionSettings, janitor_pass

    async def run(svc: Any) -> dict[str, Any]:
        return await janitor_pass(svc, RetentionSettings(), dry_run=args.dry_run)

    result: dict[str, Any] = await with_services(args, run)
    return result


def add_retention_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="deletion of expired recordings").add_subparsers(
        dest="subcommand", required=True)
    run = command("run", cmd_retention_run,
                  "one retention pass now: delete expired recordings, destroy due epochs",
                  parent=retention)
    run.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    command("report", cmd_retention_report,
            "oldest live recording, counts by age, overdue (must be 0), last successful pass",
            parent=retention)

    janitor = sub.add_parser("janitor", help="orphan objects and rows").add_subparsers(
        dest="subcommand", required=True)
    jrun = command("run", cmd_janitor_run,
                   "remove objects without a row and rows without an object (reported)",
                   parent=janitor)
    jrun.add_argument("--dry-run", action="store_true", help="report only; change nothing")
