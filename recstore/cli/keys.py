"""CLI: `recstore keys` (a new master key entry, the JWT signing key file, and `jwt-public`, the
public half of the signing key, for key rotation).

Registered by `recstore.cli.main.build_parser`; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from recstore.cli.common import settings_from_args, with_services
from recstore.custody import KeyMaterialMissing


async def cmd_keys_generate(args: argparse.Namespace) -> dict[str, Any]:
    from crypto import MasterKeyring

    return {"master_key": MasterKeyring.generate_entry(args.id)}


async def cmd_keys_init_jwt(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.auth.tokens import generate_private_key_file

    path = settings_from_args(args).jwt_private_key_file
    if path is None:
        raise KeyMaterialMissing("`keys init-jwt` needs RECSTORE_JWT_PRIVATE_KEY_FILE")
    created = not path.exists()
    if created:
        generate_private_key_file(path)
    return {"jwt_private_key_file": str(path), "created": created}


async def cmd_jwt_public(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.auth.tokens import key_id, load_private_key, public_key_pem

    path = settings_from_args(args).jwt_private_key_file
    if path is None:
        raise KeyMaterialMissing("`keys jwt-public` needs RECSTORE_JWT_PRIVATE_KEY_FILE")
    public = load_private_key(path).public_key()
    return {"kid": key_id(public), "public_key_pem": public_key_pem(public).decode()}


async def cmd_init_audit(args: argparse.Namespace) -> dict[str, Any]:
    from recstore import audit_keys

    path = settings_from_args(args).audit_keys_path()
    created = not path.exists()
    keys = audit_keys.load(path)
    return {"audit_keys_file": str(path), "key_id": keys.key_id, "created": created}


async def cmd_rotate_audit(args: argparse.Namespace) -> dict[str, Any]:
    from recstore import audit_keys, checkpoints

    rotated = audit_keys.rotate(settings_from_args(args).audit_keys_path())
    return {"key_id": rotated.key_id, "keys": checkpoints.public_keys(rotated)}


async def cmd_keys_rewrap(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.custody.rotation import rewrap_all

    async def run(svc: Any) -> dict[str, Any]:
        return (await rewrap_all(svc.pool, svc.keys)).as_dict()

    result: dict[str, Any] = await with_services(args, run)
    return result


async def cmd_keys_init_staff(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.custody.staff_key import generate_staff_key_file, load_staff_keys, public_key_text

    path = settings_from_args(args).staff_key_file
    if path is None:
        raise KeyMaterialMissing("`keys init-staff` needs RECSTORE_STAFF_KEY_FILE")
    created = generate_staff_key_file(path)
    return {"staff_key_file": str(path), "created": created,
            "staff_public_key": public_key_text(load_staff_keys(path))}


async def cmd_keys_provision(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.custody.provisioning import provision_all

    async def run(svc: Any) -> dict[str, Any]:
        return {"customer_keys_created": await provision_all(svc.pool, svc.keys)}

    return dict(await with_services(args, run))


async def cmd_keys_migrate_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.custody.ingest_keyring import rewrap_ingest_secrets

    async def run(svc: Any) -> dict[str, Any]:
        return {"rewrapped": await rewrap_ingest_secrets(svc.pool, svc.keys)}

    return dict(await with_services(args, run))


async def cmd_keys_reindex(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.recordings.caller_index import reindex_legacy
    from recstore.retention.weekly_epochs import migrate_monthly_epochs

    async def run(svc: Any) -> dict[str, Any]:
        moved = await migrate_monthly_epochs(svc.pool, svc.keys)
        return {"monthly_epochs": moved.as_dict(),
                "legacy_reindexed": await reindex_legacy(svc.pool, svc.keys)}

    return dict(await with_services(args, run))


def add_custody_commands(keys: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    command("init-staff", cmd_keys_init_staff,
            "create the staff service's key file if missing; print its public key"
            " (RECSTORE_STAFF_PUBLIC_KEY)", parent=keys)
    command("provision", cmd_keys_provision,
            "make every customer's key pairs for the current and coming epochs (cron, daily)",
            parent=keys)
    command("migrate-ingest", cmd_keys_migrate_ingest,
            "re-wrap webhook secrets and provider credentials under the ingest keyring",
            parent=keys)
    command("reindex", cmd_keys_reindex,
            "move monthly epochs to weekly ones and caller indexes to per-epoch keys"
            " (no audio is re-encrypted)", parent=keys)


def add_token_commands(keys: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    command("init-audit", cmd_init_audit,
            "create the access-log signing key file if it is missing", parent=keys)
    command("rewrap", cmd_keys_rewrap,
            "after adding a master or ingest key: re-wrap everything still under an older one",
            parent=keys)
    command("rotate-audit", cmd_rotate_audit,
            "start signing access-log checkpoints with a new key (old public keys are kept)",
            parent=keys)
    command("jwt-public", cmd_jwt_public,
            "print the signing key's id and public PEM (for RECSTORE_JWT_PREVIOUS_PUBLIC_KEYS_FILE)",
            parent=keys)
