"""Key custody by process: which key material each role loads, and nothing more.

Owns the roles (here), the staff key pair file (`staff_key`), provisioning of epoch keys
ahead of ingest (`provisioning`) and the move of ingest secrets to the ingest keyring
(`ingest_keyring`). May import crypto and recstore's infrastructure modules.

DESIGN.md "Trust boundaries" is the target and docs/KEYS.md the table. A process is started
with a role (`serve --role`, `worker --role`); it loads only the material its role needs,
even when more is configured, and refuses to start (exit 2) naming the variable it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from recstore.errors import RecstoreError
from recstore.settings import Settings

SERVE_ROLES = ("customer", "webhooks", "staff", "all")
WORKER_ROLES = ("fetch", "retention", "all")


class KeyMaterialMissing(RecstoreError):
    """A role or command needs key material that is not configured (exit 2 at start-up)."""

    title = "Key material missing"


@dataclass(frozen=True)
class Custody:
    master: bool = False  # master keyring and the epoch secrets it unwraps
    ingest: bool = False  # ingest keyring: webhook secrets, provider credentials, job fields
    staff_private: bool = False  # the staff service's private key: opens grant keys
    staff_public: bool = False  # seals grant keys ("all recordings" grants at ingest)
    jwt_signing: bool = False  # issues tokens (login)
    jwt_verify: bool = False  # checks tokens


EVERYTHING = Custody(True, True, True, True, True, True)
# CLI commands run by an operator load whatever is configured and fail at the first use of
# something missing; only the long-running processes are held to a role.
OPERATOR = EVERYTHING

SERVE_CUSTODY = {
    "customer": Custody(master=True, staff_public=True, jwt_signing=True, jwt_verify=True),
    "webhooks": Custody(ingest=True, staff_public=True),
    "staff": Custody(staff_private=True, jwt_verify=True),
    "all": EVERYTHING,
}
WORKER_CUSTODY = {
    "fetch": Custody(ingest=True, staff_public=True),
    "retention": Custody(),
    "all": Custody(ingest=True, staff_public=True),
}


def missing_for(settings: Settings, custody: Custody) -> list[str]:
    """The variables a process with `custody` needs and does not have, in a fixed order."""
    missing = []
    if custody.master and settings.master_keys is None and settings.master_keys_file is None:
        missing.append("RECSTORE_MASTER_KEYS (or RECSTORE_MASTER_KEYS_FILE)")
    if custody.ingest and settings.ingest_keys is None and settings.ingest_keys_file is None:
        missing.append("RECSTORE_INGEST_KEYS (or RECSTORE_INGEST_KEYS_FILE)")
    if custody.staff_private and settings.staff_key_file is None:
        missing.append("RECSTORE_STAFF_KEY_FILE")
    has_staff_public = settings.staff_public_key is not None or settings.staff_key_file is not None
    if custody.staff_public and not has_staff_public:
        missing.append("RECSTORE_STAFF_PUBLIC_KEY")
    if custody.jwt_signing and settings.jwt_private_key_file is None:
        missing.append("RECSTORE_JWT_PRIVATE_KEY_FILE")
    has_verify = settings.jwt_private_key_file is not None or settings.jwt_public_keys_file is not None
    if custody.jwt_verify and not custody.jwt_signing and not has_verify:
        missing.append("RECSTORE_JWT_PUBLIC_KEYS_FILE")
    return missing


def require(settings: Settings, custody: Custody, what: str) -> None:
    missing = missing_for(settings, custody)
    if missing:
        raise KeyMaterialMissing(f"{what} needs {', '.join(missing)}")
