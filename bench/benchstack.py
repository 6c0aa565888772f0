"""Settings for a benchmark's embedded stack: what every bench here needs, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crypto import MasterKeyring
from recstore.auth.tokens import generate_private_key_file
from recstore.devstack.stack import StackInfo
from recstore.settings import Settings


def bench_settings(info: StackInfo, work: Path, **overrides: Any) -> Settings:
    """Settings pointing at `info`, with a fresh master key and key files under `work`."""
    jwt_key = work / "jwt.pem"
    if not jwt_key.exists():
        generate_private_key_file(jwt_key)
    values: dict[str, Any] = {
        "database_url": info.database_url, "s3_endpoint": info.s3_endpoint,
        "s3_access_key": info.s3_access_key, "s3_secret_key": info.s3_secret_key,
        "master_keys": MasterKeyring.generate_entry("bench"),
        "epoch_keys_file": work / "epochs.json", "jwt_private_key_file": jwt_key,
    }
    values.update(overrides)
    return Settings.model_validate(values)
