"""Data stays in the EU: a bucket the store places elsewhere stops the service."""

from __future__ import annotations

import pytest

from recstore.bootstrap import RegionRefused, check_bucket_region
from recstore.object_store import ObjectStore
from recstore.services import Services


class ReportingStore(ObjectStore):
    """The real client, with the store's answer to GetBucketLocation fixed for the test."""

    def __init__(self, real: ObjectStore, reported: str | None) -> None:
        self.__dict__.update(real.__dict__)
        self.reported = reported

    async def bucket_location(self) -> str | None:
        return self.reported


async def test_embedded_store_reports_no_region(services: Services) -> None:
    assert await services.store.bucket_location() is None
    assert await check_bucket_region(services.store) is None


@pytest.mark.parametrize("reported", ["eu-north-1", "eu-central-1", "eu-west-1"])
async def test_eu_buckets_are_accepted(services: Services, reported: str) -> None:
    assert await check_bucket_region(ReportingStore(services.store, reported)) == reported


@pytest.mark.parametrize("reported", ["us-east-1", "eu-west-2", "ap-northeast-1"])
async def test_buckets_outside_the_eu_are_refused(services: Services, reported: str) -> None:
    with pytest.raises(RegionRefused, match=reported):
        await check_bucket_region(ReportingStore(services.store, reported))
