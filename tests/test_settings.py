"""Start-up configuration is validated with clear, secret-free errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from recstore.custody import SERVE_CUSTODY, missing_for
from recstore.settings import Settings

BASE: dict[str, Any] = {
    "database_url": "postgresql://u:p@db/recstore", "s3_endpoint": "http://minio:9000",
    "s3_access_key": "access", "s3_secret_key": "s3-secret-value", "master_keys": "k1:" + "A" * 43 + "=",
    "epoch_keys_file": Path("/keys/epochs.json"), "jwt_private_key_file": Path("/keys/jwt.pem"),
}


def test_valid_settings_load() -> None:
    settings = Settings.model_validate(BASE)
    assert settings.s3_region == "eu-north-1"
    assert settings.max_upload_bytes == 512 * 1024 * 1024
    assert "s3-secret-value" not in repr(settings)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "eu-central-2", "ap-south-1", ""])
def test_non_eu_regions_are_refused(region: str) -> None:
    with pytest.raises(ValidationError, match="not an EU region"):
        Settings.model_validate({**BASE, "s3_region": region})


def test_key_sources_are_one_each_and_required_by_role_not_by_settings() -> None:
    without = {k: v for k, v in BASE.items() if k != "master_keys"}
    settings = Settings.model_validate(without)  # a webhooks process holds no master keyring
    assert missing_for(settings, SERVE_CUSTODY["customer"]) == [
        "RECSTORE_MASTER_KEYS (or RECSTORE_MASTER_KEYS_FILE)", "RECSTORE_STAFF_PUBLIC_KEY"]
    with pytest.raises(ValidationError, match="only one of RECSTORE_MASTER_KEYS"):
        Settings.model_validate({**BASE, "master_keys_file": Path("/keys/master")})
    with pytest.raises(ValidationError, match="only one of RECSTORE_INGEST_KEYS"):
        Settings.model_validate({**BASE, "ingest_keys": "i:x", "ingest_keys_file": Path("/k")})


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BASE.items():
        monkeypatch.setenv(f"RECSTORE_{name.upper()}", str(value))
    monkeypatch.setenv("RECSTORE_S3_REGION", "eu-central-1")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.s3_region == "eu-central-1"


def test_errors_do_not_echo_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({**BASE, "s3_region": "us-east-1"})
    assert "s3-secret-value" not in str(caught.value)
