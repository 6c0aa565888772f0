"""`recstore doctor`: every dependency checked, each with a plain verdict."""

from __future__ import annotations

import shutil
from typing import Any

import asyncpg

from crypto import MasterKeyring
from recstore.bootstrap import LIFECYCLE_BACKSTOP_DAYS, check_bucket_region
from recstore.custody.staff_key import load_staff_keys
from recstore.db import available_migrations, connects_as_owner
from recstore.errors import RecstoreError
from recstore.services import object_store_for
from recstore.settings import Settings


async def run_checks(settings: Settings) -> dict[str, Any]:
    checks: dict[str, dict[str, Any]] = {}

    try:
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
        try:
            applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            owner = await connects_as_owner(conn)
        finally:
            await conn.close()
        pending = [name for version, name, _ in available_migrations() if version not in applied]
        # least_privileged: false when the service's DSN could rewrite the access log.
        checks["database"] = {"ok": not pending, "pending_migrations": pending,
                              "least_privileged": not owner}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}

    store = object_store_for(settings)
    try:
        await store.ping()
        location = await check_bucket_region(store)
        checks["object_store"] = {"ok": True, "bucket": settings.s3_bucket}
        checks["region"] = {
            "ok": True, "configured": settings.s3_region, "reported": location,
            "note": None if location else
            "the object store reports no bucket region (SeaweedFS does not); the configured "
            "region is in the EU allow-list but cannot be proven by the store itself",
        }
    except Exception as exc:
        checks["object_store"] = {"ok": False, "error": str(exc)[:200]}
        checks["region"] = {"ok": False, "configured": settings.s3_region}

    try:
        days = await store.expiry_backstop_days()
        checks["lifecycle_backstop"] = {"ok": days == LIFECYCLE_BACKSTOP_DAYS, "days": days,
                                        "expected_days": LIFECYCLE_BACKSTOP_DAYS}
    except Exception as exc:
        checks["lifecycle_backstop"] = {"ok": False, "error": str(exc)[:200]}
    checks["keys"] = _key_check(settings)

    from recstore.recordings.audio import ensure_ffmpeg_on_path

    ensure_ffmpeg_on_path()
    tools = {tool: shutil.which(tool) for tool in ("ffmpeg", "ffprobe")}
    checks["ffmpeg"] = {"ok": all(tools.values()), **tools}

    from recstore.tls.report import link_report

    links, checks["tls"] = await link_report(settings)
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks, "links": links}


def _key_check(settings: Settings) -> dict[str, Any]:
    """What key material this host holds (recstore/custody.py says which role needs what)."""
    try:
        master, ingest = settings.master_keys_text(), settings.ingest_keys_text()
        keyring = MasterKeyring.parse(master) if master else None
        ingest_ring = MasterKeyring.parse(ingest) if ingest else None
        if settings.staff_key_file is not None:
            load_staff_keys(settings.staff_key_file)
        jwt = settings.jwt_private_key_file
        return {"ok": keyring is not None or ingest_ring is not None,
                "master_key_ids": keyring.key_ids() if keyring else [],
                "current": keyring.current_id if keyring else None,
                "ingest_key_ids": ingest_ring.key_ids() if ingest_ring else [],
                "staff_key_present": settings.staff_key_file is not None,
                "staff_public_key_present": settings.staff_public_key is not None
                or settings.staff_key_file is not None,
                "jwt_key_present": jwt is not None and jwt.exists(),
                "audit_key_present": settings.audit_keys_path().exists()}
    except (OSError, ValueError, RecstoreError) as exc:
        return {"ok": False, "error": type(exc).__name__}
