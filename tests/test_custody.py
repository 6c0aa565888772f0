"""Key custody by process: each role serves only its routes, loads only its keys, and a
role started without the key material it needs refuses to start naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from factories import make_tenant, token_headers, upload, wav
from recstore.app import create_app
from recstore.custody import SERVE_CUSTODY, WORKER_CUSTODY, KeyMaterialMissing
from recstore.services import Services, open_services
from recstore.settings import Settings

RECSTORE = [sys.executable, "-m", "recstore.cli"]


def _env(settings: Settings, **drop_or_set: str | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "RECSTORE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
           "RECSTORE_S3_ENDPOINT": "http://127.0.0.1:1", "RECSTORE_S3_ACCESS_KEY": "a",
           "RECSTORE_S3_SECRET_KEY": "b", "RECSTORE_MASTER_KEYS": settings.master_keys_text() or "",
           "RECSTORE_INGEST_KEYS": settings.ingest_keys_text() or "",
           "RECSTORE_STAFF_KEY_FILE": str(settings.staff_key_file),
           "RECSTORE_EPOCH_KEYS_FILE": str(settings.epoch_keys_file),
           "RECSTORE_JWT_PRIVATE_KEY_FILE": str(settings.jwt_private_key_file)}
    for name, value in drop_or_set.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.mark.parametrize(("argv", "missing", "variable"), [
    (["serve", "--role", "customer"], "RECSTORE_MASTER_KEYS", "RECSTORE_MASTER_KEYS"),
    (["serve", "--role", "webhooks"], "RECSTORE_INGEST_KEYS", "RECSTORE_INGEST_KEYS"),
    (["serve", "--role", "webhooks"], "RECSTORE_STAFF_KEY_FILE", "RECSTORE_STAFF_PUBLIC_KEY"),
    (["serve", "--role", "staff"], "RECSTORE_STAFF_KEY_FILE", "RECSTORE_STAFF_KEY_FILE"),
    (["serve"], "RECSTORE_JWT_PRIVATE_KEY_FILE", "RECSTORE_JWT_PRIVATE_KEY_FILE"),
    (["worker", "--role", "fetch"], "RECSTORE_INGEST_KEYS", "RECSTORE_INGEST_KEYS"),
])
def test_a_role_missing_its_key_material_refuses_to_start_and_names_it(
        settings: Settings, argv: list[str], missing: str, variable: str) -> None:
    done = subprocess.run([*RECSTORE, *argv], env=_env(settings, **{missing: None}),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert variable in done.stderr and "Traceback" not in done.stderr
    assert (settings.master_keys_text() or "-") not in done.stderr


@pytest.mark.parametrize(("argv", "variable", "value"), [
    (["serve", "--role", "webhooks"], "RECSTORE_INGEST_KEYS", "i1:not-base64"),
    (["serve", "--role", "customer"], "RECSTORE_MASTER_KEYS", "no-colon-here"),
    (["serve", "--role", "staff"], "RECSTORE_STAFF_KEY_FILE", "/nonexistent/staff.key"),
])
def test_malformed_key_material_refuses_to_start_naming_the_variable(
        settings: Settings, argv: list[str], variable: str, value: str) -> None:
    env = _env(settings, **{variable: value},
               RECSTORE_DATABASE_URL=settings.database_url.get_secret_value())
    done = subprocess.run([*RECSTORE, *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert variable in done.stderr and "Traceback" not in done.stderr


def test_what_each_role_needs_matches_the_trust_table(settings: Settings) -> None:
    bare = settings.model_copy(update={"master_keys": None, "ingest_keys": None,
                                       "staff_key_file": None, "jwt_private_key_file": None})
    from recstore.custody import missing_for

    assert missing_for(bare, WORKER_CUSTODY["retention"]) == []
    assert missing_for(bare, SERVE_CUSTODY["staff"]) == [
        "RECSTORE_STAFF_KEY_FILE", "RECSTORE_JWT_PUBLIC_KEYS_FILE"]
    assert not SERVE_CUSTODY["webhooks"].master and not WORKER_CUSTODY["fetch"].master
    assert not SERVE_CUSTODY["staff"].master and not SERVE_CUSTODY["staff"].jwt_signing


async def test_processes_hold_only_their_roles_keys_even_when_more_is_configured(
        settings: Settings) -> None:
    async with open_services(settings, custody=SERVE_CUSTODY["webhooks"], pool_size=1) as svc:
        assert not svc.keys.has_master
        with pytest.raises(KeyMaterialMissing):
            svc.keys.keyring  # noqa: B018
        with pytest.raises(KeyMaterialMissing):
            svc.keys.epochs.get("2026-01")
        with pytest.raises(KeyMaterialMissing):
            svc.keys.staff_keys  # noqa: B018
        assert svc.keys.staff_public_key is not None
    async with open_services(settings, custody=SERVE_CUSTODY["staff"], pool_size=1) as svc:
        assert not svc.keys.has_master and svc.keys.staff_keys is not None
        with pytest.raises(KeyMaterialMissing):
            svc.keys.ingest_keyring  # noqa: B018
        with pytest.raises(KeyMaterialMissing):
            svc.tokens.issue(uuid.uuid4(), "staff", None)


@pytest.mark.parametrize(("role", "path", "served"), [
    ("webhooks", "/api/v1/recordings", False), ("webhooks", "/staff/v1/recordings/x", False),
    ("customer", "/staff/v1/recordings/x", False), ("staff", "/api/v1/recordings", False),
    ("staff", "/api/v1/auth/login", False), ("customer", "/api/v1/recordings", True),
    ("staff", "/staff/v1/recordings/00000000-0000-0000-0000-000000000000", True),
    ("customer", "/healthz", True), ("webhooks", "/healthz", True),
])
async def test_routes_not_served_by_a_role_answer_404(
        services: Services, aiohttp_client: Any, role: str, path: str, served: bool) -> None:
    client = await aiohttp_client(create_app(services=services, role=role))
    response = await client.get(path)
    assert (response.status == 404) != served or path.endswith("0000"), response.status


async def test_a_split_deployment_stores_through_webhooks_and_reads_through_customer(
        settings: Settings, services: Services, aiohttp_client: Any) -> None:
    tenant = await make_tenant(services)  # provisions this epoch's keys (operator, all keys)
    async with open_services(settings, custody=SERVE_CUSTODY["webhooks"], pool_size=2) as hooks:
        webhooks = await aiohttp_client(create_app(services=hooks, role="webhooks"))
        stored = await upload(webhooks, tenant, wav(1.0))
        assert stored.status == 201, await stored.text()
        recording_id = (await stored.json())["id"]
    customer = await aiohttp_client(create_app(services=services, role="customer"))
    headers = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    audio = await customer.get(f"/api/v1/recordings/{recording_id}/audio", headers=headers)
    assert audio.status == 200 and await audio.read() == wav(1.0)


def test_staff_key_file_is_private(settings: Settings) -> None:
    assert settings.staff_key_file is not None
    assert Path(settings.staff_key_file).stat().st_mode & 0o777 == 0o600


async def test_the_retention_worker_deletes_and_destroys_epochs_holding_no_key(
        settings: Settings, services: Services, client: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from crypto import epoch_of
    from recstore.retention.policy import epoch_destroy_after
    from recstore.retention.scheduler import RetentionSettings, retention_pass

    tenant = await make_tenant(services)
    recorded = datetime.now(UTC) - timedelta(days=85)
    stored = await upload(client, tenant, wav(0.5), **{
        "X-Recstore-Recorded-At": recorded.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert stored.status == 201
    bare = settings.model_copy(update={"master_keys": None, "ingest_keys": None,
                                       "staff_key_file": None})
    async with open_services(bare, custody=WORKER_CUSTODY["retention"], pool_size=2) as worker:
        assert not worker.keys.has_master
        later = epoch_destroy_after(epoch_of(recorded)) + timedelta(seconds=1)
        result = await retention_pass(worker, RetentionSettings(), now=later)
    assert result["deleted"] == 1 and epoch_of(recorded) in result["epochs_destroyed"]
    assert services.keys.epochs.get(epoch_of(recorded)) is None


async def test_the_staff_role_opens_granted_audio_with_no_master_keyring(
        settings: Settings, services: Services, client: Any, aiohttp_client: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from factories import make_staff

    tenant = await make_tenant(services)
    body = wav(1.0, 620.0)
    stored = await upload(client, tenant, body)
    recording_id = (await stored.json())["id"]
    staff = await make_staff(services)
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    granted = await client.post("/api/v1/grants", headers=admin, json={
        "recording_ids": [recording_id], "staff_id": str(staff), "purpose": "ticket 9",
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    assert granted.status == 201
    staff_only = settings.model_copy(update={"master_keys": None, "ingest_keys": None})
    async with open_services(staff_only, custody=SERVE_CUSTODY["staff"], pool_size=2) as svc:
        assert not svc.keys.has_master
        console = await aiohttp_client(create_app(services=svc, role="staff"))
        headers = token_headers(services, staff, "staff")  # minted by the customer role
        audio = await console.get(f"/staff/v1/recordings/{recording_id}/audio", headers=headers)
        assert audio.status == 200 and await audio.read() == body
        revoked = await client.delete(f"/api/v1/grants/{(await granted.json())['id']}",
                                      headers=admin)
        assert revoked.status == 204
        again = await console.get(f"/staff/v1/recordings/{recording_id}/audio", headers=headers)
        assert again.status == 403
