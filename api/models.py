"""Request and response shapes of the HTTP contract (CONTRACT.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from recstore.recordings.read import CURSOR_PATTERN


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Time = Annotated[datetime, PlainSerializer(_rfc3339, return_type=str)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class OperationalRecording(BaseModel):
    id: UUID
    kind: Literal["call", "voicemail"]
    provider: str
    provider_recording_id: str | None
    recorded_at: Time
    received_at: Time
    expires_at: Time
    duration_ms: int | None
    content_type: str
    size_bytes: int
    sha256: str
    identity: Literal["delivered", "lookup_failed"] = Field(
        "delivered", description="lookup_failed: the provider's caller lookup kept failing, so"
        " the recording was stored without caller identity rather than lost")


class Recording(OperationalRecording):
    caller_number: str | None
    caller_name: str | None
    callee_number: str | None


class RecordingPage(BaseModel):
    items: list[Recording]
    next_cursor: str | None


class RecordingListQuery(Strict):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    # The document promises E.164; national notations ("070-123 45 67") are understood too,
    # anything that is no phone number at all is 422.
    caller: str | None = Field(default=None, max_length=40, json_schema_extra={
        "pattern": r"^\+[1-9][0-9]{6,14}$",
        "description": "an E.164 number, matched through the blind index"})


class UploadCreated(BaseModel):
    id: UUID


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: bool
    object_store: bool
