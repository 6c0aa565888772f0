"""Every HTTP route of recstore, declared once (router and OpenAPI come from here)."""

from __future__ import annotations

from api import auth_routes, health, recordings, webhooks
from api.models import (
    Health,
    LoginRequest,
    Readiness,
    Recording,
    RecordingListQuery,
    RecordingPage,
    TokenResponse,
    UploadCreated,
)
from api.openapi_models import OpenApiDocument
from api.portal.routes import PORTAL_ROUTES, PortalRoute
from api.provider_webhooks import PROVIDER_OPERATIONS
from api.rights_routes import RIGHTS_OPERATIONS
from api.security import CUSTOMER_ROLES
from api.spec import Operation
from api.staff_access_routes import STAFF_ACCESS_OPERATIONS

OPERATIONS: list[Operation] = [
    Operation("GET", "/healthz", health.healthz, "Process is up", "operations", response=Health),
    Operation("GET", "/readyz", health.readyz, "Database and object store reachable",
              "operations", response=Readiness, extra_responses={503: "Not ready"}),
    Operation("GET", "/metrics", health.metrics,
              "Prometheus metrics (on the API port only with `Authorization: Bearer"
              " <RECSTORE_METRICS_TOKEN>`; open on RECSTORE_METRICS_PORT)", "operations",
              response_content="text/plain", errors=(401, 404)),
    Operation("GET", "/api/openapi.json", health.openapi, "This document", "operations",
              response=OpenApiDocument),
    Operation("POST", "/api/v1/auth/login", auth_routes.login_handler, "Log in", "auth",
              body=LoginRequest, response=TokenResponse, errors=(401, 422, 429)),
    Operation("GET", "/api/v1/recordings", recordings.list_recordings,
              "List recordings, newest first", "recordings", roles=CUSTOMER_ROLES,
              query=RecordingListQuery, response=RecordingPage, errors=(422,)),
    Operation("GET", "/api/v1/recordings/{id}", recordings.get_recording, "One recording",
              "recordings", roles=CUSTOMER_ROLES, response=Recording, errors=(404,)),
    Operation("GET", "/api/v1/recordings/{id}/audio", recordings.get_audio,
              "The original audio (supports Range)", "recordings", roles=CUSTOMER_ROLES,
              response_content="audio/*", errors=(404, 416),
              extra_responses={206: "Partial content"}),
    Operation("POST", "/webhooks/upload/{customer_id}", webhooks.upload_webhook,
              "Signed direct upload of a recording", "webhooks", body_content="audio/*",
              response=UploadCreated, status=201, errors=(401, 413, 415, 422),
              extra_responses={200: "Already stored (same Idempotency-Key)"},
              expect_handler=webhooks.upload_expect),
    *PROVIDER_OPERATIONS,
    *STAFF_ACCESS_OPERATIONS,
    *RIGHTS_OPERATIONS,
]

# The portal's HTML pages (cookie session, CSRF): not part of the OpenAPI document.
PORTAL: list[PortalRoute] = PORTAL_ROUTES
