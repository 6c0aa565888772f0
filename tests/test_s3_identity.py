"""The service's S3 identity may put, get, list and delete objects in its own bucket and
nothing else; `migrate` sets the lifecycle backstop with the admin identity. Tried against the
embedded SeaweedFS with the service's credentials, as a compromised process would."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import _drop_bucket
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.versioningconfig import SUSPENDED, VersioningConfig

from factories import bearer, login, make_tenant, upload, wav
from recstore.app import create_app
from recstore.bootstrap import LIFECYCLE_BACKSTOP_DAYS, prepare_storage
from recstore.devstack.stack import SERVICE_BUCKET, StackInfo
from recstore.services import Services, open_services
from recstore.settings import Settings

OTHER_BUCKET = "t-someone-elses"


def _client(stack: StackInfo, access: str, secret: str) -> Minio:
    return Minio(urlsplit(stack.s3_endpoint).netloc, access_key=access, secret_key=secret,
                 secure=False, region="eu-north-1")


@pytest.fixture
async def service_settings(stack: StackInfo, make_settings: Any) -> AsyncIterator[Settings]:
    """What `recstore up` runs with: the service identity, the admin one for migrate only."""
    settings: Settings = make_settings(
        s3_bucket=SERVICE_BUCKET, s3_access_key=stack.s3_service_access_key,
        s3_secret_key=stack.s3_service_secret_key, s3_admin_access_key=stack.s3_access_key,
        s3_admin_secret_key=stack.s3_secret_key)
    admin = _client(stack, stack.s3_access_key, stack.s3_secret_key)
    if not admin.bucket_exists(OTHER_BUCKET):
        admin.make_bucket(OTHER_BUCKET)
    admin.put_object(OTHER_BUCKET, "recordings/theirs", io.BytesIO(b"theirs"), 6)
    try:
        yield settings
    finally:
        _drop_bucket(stack, SERVICE_BUCKET)
        _drop_bucket(stack, OTHER_BUCKET)


def _denied(action: Callable[[], Any]) -> None:
    with pytest.raises(S3Error) as caught:
        action()
    assert caught.value.code == "AccessDenied"


async def test_migrate_sets_the_backstop_as_admin_and_the_service_cannot_touch_it(
        stack: StackInfo, service_settings: Settings) -> None:
    await prepare_storage(service_settings)
    service = _client(stack, stack.s3_service_access_key, stack.s3_service_secret_key)
    lifecycle = LifecycleConfig([Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="gone",
                                      expiration=Expiration(days=1))])
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{SERVICE_BUCKET}/*"]}]})
    for forbidden in (
            lambda: service.set_bucket_lifecycle(SERVICE_BUCKET, lifecycle),
            lambda: service.delete_bucket_lifecycle(SERVICE_BUCKET),
            lambda: service.set_bucket_policy(SERVICE_BUCKET, policy),
            lambda: service.delete_bucket_policy(SERVICE_BUCKET),
            lambda: service.set_bucket_versioning(SERVICE_BUCKET, VersioningConfig(SUSPENDED)),
            lambda: service.remove_bucket(SERVICE_BUCKET),
            lambda: service.make_bucket("t-new-bucket"),
            lambda: service.put_object(SERVICE_BUCKET, "elsewhere/x", io.BytesIO(b"x"), 1),
            lambda: service.put_object(OTHER_BUCKET, "recordings/x", io.BytesIO(b"x"), 1),
            lambda: service.get_object(OTHER_BUCKET, "recordings/theirs").read(),
            lambda: service.remove_object(OTHER_BUCKET, "recordings/theirs"),
            lambda: list(service.list_objects(OTHER_BUCKET, recursive=True)),
            lambda: service.set_bucket_lifecycle(OTHER_BUCKET, lifecycle)):
        _denied(forbidden)
    async with open_services(service_settings, pool_size=2) as svc:
        assert await svc.store.expiry_backstop_days() == LIFECYCLE_BACKSTOP_DAYS
    admin = _client(stack, stack.s3_access_key, stack.s3_secret_key)
    assert admin.get_object(OTHER_BUCKET, "recordings/theirs").read() == b"theirs"


async def test_the_service_identity_suffices_to_store_read_and_delete(
        stack: StackInfo, service_settings: Settings, aiohttp_client: Any) -> None:
    await prepare_storage(service_settings)
    async with open_services(service_settings, pool_size=3) as svc:
        client = await aiohttp_client(create_app(services=svc))
        tenant = await make_tenant(svc)
        body = wav(0.5)
        stored = await upload(client, tenant, body)
        assert stored.status == 201, await stored.text()
        recording_id = (await stored.json())["id"]
        headers = bearer(await login(client, tenant.admin_email))
        audio = await client.get(f"/api/v1/recordings/{recording_id}/audio", headers=headers)
        assert (audio.status, await audio.read()) == (200, body)
        assert len(await _keys(svc)) == 1
        gone = await client.delete(f"/api/v1/recordings/{recording_id}", headers=headers)
        assert gone.status == 204
        assert await _keys(svc) == []
        assert (await client.get("/readyz")).status == 200


async def _keys(svc: Services) -> list[str]:
    return await svc.store.list_keys()
