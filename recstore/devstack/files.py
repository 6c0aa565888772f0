"""Files of a local data dir: dev secrets made on first start, and the runtime record that
lets CLI commands with `--data-dir` reach the stack `recstore up` is running."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crypto import MasterKeyring
from recstore import audit_keys
from recstore.auth.tokens import generate_private_key_file
from recstore.custody.staff_key import generate_staff_key_file
from recstore.errors import RecstoreError
from recstore.settings import Settings


class StackNotRunning(RecstoreError):
    title = "The embedded stack is not running"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def key_paths(data_dir: Path) -> dict[str, Path]:
    keys = data_dir / "keys"
    return {"master": keys / "master.keys", "epochs": keys / "epochs.json",
            "jwt": keys / "jwt-ed25519.pem", "audit": keys / "audit-keys.json",
            "ingest": keys / "ingest.keys", "staff": keys / "staff.key"}


def ensure_dev_keys(data_dir: Path) -> None:
    """Dev master, ingest, staff and JWT keys, generated once and kept (mode 0600). A data
    dir from before the ingest keyring gets one; `up` then re-wraps the old secrets."""
    paths = key_paths(data_dir)
    paths["master"].parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not paths["master"].exists():
        _write_private(paths["master"], MasterKeyring.generate_entry("dev-1") + "\n")
    if not paths["ingest"].exists():
        _write_private(paths["ingest"], MasterKeyring.generate_entry("dev-ingest-1") + "\n")
    generate_staff_key_file(paths["staff"])
    if not paths["jwt"].exists():
        generate_private_key_file(paths["jwt"])
    audit_keys.load(paths["audit"])  # the access-log signing key, made if missing


def runtime_path(data_dir: Path) -> Path:
    return data_dir / "runtime.json"


def write_runtime(data_dir: Path, record: dict[str, Any]) -> None:
    _write_private(runtime_path(data_dir), json.dumps(record))


def clear_runtime(data_dir: Path) -> None:
    runtime_path(data_dir).unlink(missing_ok=True)


def read_runtime(data_dir: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(runtime_path(data_dir).read_text())
    except FileNotFoundError:
        raise StackNotRunning(
            f"no stack is running for {data_dir}: start `recstore up --data-dir {data_dir}`"
        ) from None
    return record


def settings_for(data_dir: Path, runtime: dict[str, Any], **overrides: Any) -> Settings:
    paths = key_paths(data_dir)
    values: dict[str, Any] = {
        "database_url": runtime["database_url"],
        "admin_database_url": runtime.get("admin_database_url"),
        "s3_endpoint": runtime["s3_endpoint"],
        "s3_access_key": runtime["s3_access_key"],
        "s3_secret_key": runtime["s3_secret_key"],
        "s3_admin_access_key": runtime.get("s3_admin_access_key"),
        "s3_admin_secret_key": runtime.get("s3_admin_secret_key"),
        "s3_bucket": runtime.get("s3_bucket", "recstore"),
        "s3_region": "eu-north-1",
        "master_keys_file": paths["master"],
        "epoch_keys_file": paths["epochs"],
        "jwt_private_key_file": paths["jwt"],
        "audit_keys_file": paths["audit"],
        "ingest_keys_file": paths["ingest"],
        "staff_key_file": paths["staff"],
    }
    if runtime.get("url"):  # where `up` listens (doctor reports that link)
        listening = urlsplit(runtime["url"])
        values.update(host=listening.hostname, port=listening.port)
    for name in ("s3_ca_file", "tls_cert_file", "tls_key_file"):  # set by `up --tls`
        if runtime.get(name):
            values[name] = runtime[name]
    values.update(overrides)
    # Embedded settings ignore the process environment so a stray RECSTORE_* cannot mix stacks.
    return Settings.model_validate(values)
