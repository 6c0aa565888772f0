"""Real PostgreSQL and S3 for the whole session; a fresh database and bucket per test."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from minio import Minio
from minio.deleteobjects import DeleteObject

from crypto import MasterKeyring
from factories import METRICS_TOKEN, Tenant, make_tenant
from recstore.app import create_app
from recstore.auth.tokens import generate_private_key_file
from recstore.bootstrap import LIFECYCLE_BACKSTOP_DAYS
from recstore.custody.staff_key import generate_staff_key_file
from recstore.db import migrate
from recstore.devstack.stack import APP_ROLE, EmbeddedStack, StackInfo, as_role
from recstore.services import Services, open_services
from recstore.settings import Settings

TEMPLATE_DB = "recstore_template"

# pytest keeps only the newest three numbered temp dirs under one root and prunes the rest, so
# test sessions of two checkouts running at once deleted each other's embedded PostgreSQL data
# dir mid-run. One temp root per checkout keeps them apart (CI runs one session: no change).
_TEMP_ROOT = Path(tempfile.gettempdir()) / (
    "recstore-tests-" + hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:10])
_TEMP_ROOT.mkdir(mode=0o700, exist_ok=True)
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(_TEMP_ROOT))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    embedded = EmbeddedStack(tmp_path_factory.mktemp("stack"))
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def _dsn(info: StackInfo, database: str) -> str:
    from recstore.devstack.stack import create_database  # noqa: F401  (keeps the helper exercised)

    base, _, query = info.database_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
async def template_database(stack: StackInfo) -> str:
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(_dsn(stack, TEMPLATE_DB))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


@pytest.fixture
async def admin_database_url(stack: StackInfo, template_database: str) -> AsyncIterator[str]:
    """A fresh migrated database, as its owner: for fixture set-up and owner-side attacks."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        # Database privileges are not copied from the template (migration 0006 revokes these).
        await admin.execute(f'REVOKE CREATE, TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
    finally:
        await admin.close()
    yield _dsn(stack, name)
    admin = await asyncpg.connect(stack.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def database_url(admin_database_url: str) -> str:
    """The same database as the app role the service runs as, so the whole suite shows that
    role suffices."""
    return as_role(admin_database_url, APP_ROLE)


@pytest.fixture(scope="session")
def jwt_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwt") / "jwt.pem"
    generate_private_key_file(path)
    return path


def _drop_bucket(info: StackInfo, bucket: str) -> None:
    """Remove a test's bucket with every object version. SeaweedFS gives each bucket its
    own volumes, so buckets left behind exhaust its volume slots within a few hundred tests."""
    client = Minio(urlsplit(info.s3_endpoint).netloc, access_key=info.s3_access_key,
                   secret_key=info.s3_secret_key, secure=False, region="eu-north-1")
    if not client.bucket_exists(bucket):
        return
    doomed = [DeleteObject(o.object_name, o.version_id)
              for o in client.list_objects(bucket, recursive=True, include_version=True)
              if o.object_name is not None]
    errors = list(client.remove_objects(bucket, doomed))
    assert not errors, errors
    client.remove_bucket(bucket)


@pytest.fixture
def make_settings(stack: StackInfo, database_url: str, admin_database_url: str,
                  jwt_key_file: Path, tmp_path: Path) -> Iterator[Any]:
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    master = MasterKeyring.generate_entry("test-1")
    ingest = MasterKeyring.generate_entry("ingest-test-1")
    staff_key = tmp_path / "staff.key"
    generate_staff_key_file(staff_key)

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url, "admin_database_url": admin_database_url,
            "s3_endpoint": stack.s3_endpoint,
            "s3_access_key": stack.s3_access_key, "s3_secret_key": stack.s3_secret_key,
            "s3_bucket": bucket, "s3_region": "eu-north-1", "master_keys": master,
            "epoch_keys_file": tmp_path / "epochs.json", "jwt_private_key_file": jwt_key_file,
            "audit_keys_file": tmp_path / "audit-keys.json", "metrics_token": METRICS_TOKEN,
            "ingest_keys": ingest, "staff_key_file": staff_key,
        }
        values.update(overrides)
        return Settings.model_validate(values)

    yield build
    _drop_bucket(stack, bucket)


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    built: Settings = make_settings()
    return built


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings, pool_size=5) as svc:
        await svc.store.ensure_bucket()
        await svc.store.set_expiry_backstop(LIFECYCLE_BACKSTOP_DAYS)
        yield svc


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    """A customer with an admin and a user (see factories.make_tenant)."""
    return await make_tenant(services)


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> TestClient[Any, web.Application]:
    test_client: TestClient[Any, web.Application] = await aiohttp_client(
        create_app(services=services))
    return test_client
