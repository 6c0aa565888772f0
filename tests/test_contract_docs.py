"""The published surface stays honest: OpenAPI covers every route, compose uses known settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from recstore.settings import settings_field_env_names

ROOT = Path(__file__).resolve().parents[1]


async def test_openapi_is_3_1_and_lists_every_route(client: Any) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    # The portal's HTML pages (api/portal) are outside the JSON API's document.
    served = {(route.method, route.resource.canonical) for route in client.app.router.routes()
              if route.method != "HEAD" and route.resource is not None
              and not (route.name or "").startswith("portal_")}
    assert served == documented


async def test_every_bearer_route_documents_401_and_403(client: Any) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "security" in op:
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_compose_sets_only_settings_the_service_knows() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    known = settings_field_env_names()
    seen = set()
    for service in compose["services"].values():
        env = service.get("environment") or {}
        names = env.keys() if isinstance(env, dict) else [e.split("=")[0] for e in env]
        seen |= {name for name in names if name.startswith("RECSTORE_")}
    assert seen, "compose sets no RECSTORE_ variables at all"
    assert seen <= known, seen - known
    for required in ("RECSTORE_DATABASE_URL", "RECSTORE_S3_ENDPOINT", "RECSTORE_S3_REGION",
                     "RECSTORE_MASTER_KEYS", "RECSTORE_EPOCH_KEYS_FILE"):
        assert required in seen


def test_compose_minio_region_is_in_the_eu() -> None:
    from recstore.settings import EU_REGIONS

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["minio"]["environment"]["MINIO_REGION"] in EU_REGIONS
