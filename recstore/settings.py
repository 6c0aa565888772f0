"""Service configuration from RECSTORE_* environment variables, validated at start-up."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Regions whose data centres are inside the EU. London (eu-west-2) and Zurich
# (eu-central-2) are in Europe but outside the EU, so they are deliberately absent.
EU_REGIONS = frozenset(
    {"eu-north-1", "eu-west-1", "eu-west-3", "eu-central-1", "eu-south-1", "eu-south-2"}
)

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECSTORE_", extra="ignore", frozen=True)

    database_url: SecretStr
    # The schema owner, for `migrate` alone; serve and worker use the app role above.
    admin_database_url: SecretStr | None = None
    s3_endpoint: str
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    # An admin identity for `migrate` (bucket, lifecycle backstop); serve and worker use the
    # identity above, which needs only objects in its bucket (docs/OPERATIONS.md).
    s3_admin_access_key: SecretStr | None = None
    s3_admin_secret_key: SecretStr | None = None
    s3_bucket: str = "recstore"
    s3_region: str = "eu-north-1"

    # Which of these a process needs depends on its role (recstore/custody.py).
    master_keys: SecretStr | None = None
    master_keys_file: Path | None = None
    epoch_keys_file: Path
    # Wraps webhook secrets, provider credentials and queued jobs' private fields.
    ingest_keys: SecretStr | None = None
    ingest_keys_file: Path | None = None
    # The staff service's X25519 key pair: grants seal data keys to its public key.
    staff_key_file: Path | None = None
    staff_public_key: str | None = None

    jwt_private_key_file: Path | None = None
    # Verification only (PEM public keys), for processes that must not sign tokens.
    jwt_public_keys_file: Path | None = None
    # Ed25519 key that signs access-log checkpoints (recstore.audit_keys); created on first
    # use. Default: audit-keys.json beside the JWT key.
    audit_keys_file: Path | None = None
    jwt_issuer: str = "recstore"
    jwt_audience: str = "recstore-api"
    jwt_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    # Retired signing keys (PEM public keys): their tokens verify until they expire.
    jwt_previous_public_keys_file: Path | None = None
    # Optional external identity provider; its tokens name customer and role in two claims.
    jwt_jwks_url: str | None = None
    jwt_jwks_issuer: str | None = None
    jwt_jwks_audience: str | None = None
    jwt_jwks_customer_claim: str = "recstore_customer_id"
    jwt_jwks_role_claim: str = "recstore_role"

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # `recstore worker` serves /healthz, /readyz and /metrics here when set.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Without it /metrics on the API port is 404; the metrics port serves it to anyone.
    metrics_token: SecretStr | None = None
    # A connection whose request headers are not complete this long after it opened (or
    # after its previous response) is closed; also the idle keep-alive time.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is
    # believed; from anyone else the header is ignored.
    trusted_proxies: str = ""
    public_base_url: str | None = None

    # Encryption in transit (docs/OPERATIONS.md#tls): HTTPS listener, private S3 CA, policy.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    s3_ca_file: Path | None = None
    require_tls: bool = False

    max_upload_bytes: int = Field(default=512 * MIB, ge=1)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError: refused
        return value

    @field_validator("s3_region")
    @classmethod
    def _region_in_eu(cls, region: str) -> str:
        if region not in EU_REGIONS:
            allowed = ", ".join(sorted(EU_REGIONS))
            raise ValueError(f"region {region!r} is not an EU region (allowed: {allowed})")
        return region

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_is_url(cls, endpoint: str) -> str:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return endpoint.rstrip("/")

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        if self.master_keys is not None and self.master_keys_file is not None:
            raise ValueError("set only one of RECSTORE_MASTER_KEYS or RECSTORE_MASTER_KEYS_FILE")
        if self.ingest_keys is not None and self.ingest_keys_file is not None:
            raise ValueError("set only one of RECSTORE_INGEST_KEYS or RECSTORE_INGEST_KEYS_FILE")
        return self

    def migration_database_url(self) -> str:
        """The owner's DSN; a single-DSN deployment migrates with database_url (and is then
        not least-privileged: docs/AUDIT.md)."""
        dsn = self.admin_database_url or self.database_url
        return dsn.get_secret_value()

    def audit_keys_path(self) -> Path:
        beside = self.jwt_private_key_file or self.epoch_keys_file
        return self.audit_keys_file or beside.with_name("audit-keys.json")

    def master_keys_text(self) -> str | None:
        if self.master_keys is not None:
            return self.master_keys.get_secret_value()
        return self.master_keys_file.read_text().strip() if self.master_keys_file else None

    def ingest_keys_text(self) -> str | None:
        if self.ingest_keys is not None:
            return self.ingest_keys.get_secret_value()
        return self.ingest_keys_file.read_text().strip() if self.ingest_keys_file else None


def settings_field_env_names() -> set[str]:
    """Every environment variable name the settings read (docker-compose is checked against it)."""
    return {f"RECSTORE_{name.upper()}" for name in Settings.model_fields}
