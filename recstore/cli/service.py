"""CLI: the long-running processes (`up`, `serve`, `worker`) and `migrate`, `doctor`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recstore.cli.common import settings_from_args


async def cmd_migrate(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.bootstrap import prepare_storage

    applied = await prepare_storage(settings_from_args(args))
    return {"applied": applied}


async def cmd_doctor(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.doctor import run_checks

    report = await run_checks(settings_from_args(args))
    if not report["ok"]:
        args.exit_code = 1
    return report


async def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(settings_from_args(args), api=True, worker=False)
    return {}


async def cmd_worker(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(settings_from_args(args), api=False, worker=True)
    return {}


async def cmd_up(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.devstack.up import run_up

    await run_up(Path(args.data_dir).resolve(), host=args.host, port=args.port,
                 as_json=args.json, demo=args.demo)
    return {}
