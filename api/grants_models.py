"""Request and response shapes of staff access: grants, access requests, the access log and
the staff's operational view of recordings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    model_validator,
)

from api.models import OperationalRecording, Strict, Time
from recstore.audit import SEQ_CURSOR_PATTERN, rfc3339
from recstore.consent.grants import MAX_LISTED
from recstore.recordings.read import CURSOR_PATTERN

AuditTime = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]
RequestStatus = Literal["pending", "approved", "denied", "expired"]


class PageQuery(Strict):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page")


# The validator below, said in the OpenAPI document: exactly one of the two scopes.
_ONE_SCOPE: dict[str, Any] = {
    "description": 'Either a non-empty "recording_ids" or "all": true, not both.',
    "oneOf": [
        {"required": ["recording_ids"],
         "properties": {"recording_ids": {"type": "array", "minItems": 1},
                        "all": {"const": False}}},
        {"required": ["all"],
         "properties": {"all": {"const": True},
                        "recording_ids": {"anyOf": [{"type": "null"},
                                                    {"type": "array", "maxItems": 0}]}}},
    ],
}


class ScopeBody(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SCOPE)

    recording_ids: list[UUID] | None = Field(default=None, max_length=MAX_LISTED)
    all: StrictBool = False

    @model_validator(mode="after")
    def _one_scope(self) -> ScopeBody:
        if self.all == bool(self.recording_ids):
            raise ValueError('give a non-empty "recording_ids" or "all": true, not both')
        return self


class GrantCreate(ScopeBody):
    staff_id: UUID | None = None
    purpose: str = Field(min_length=1, max_length=500)
    expires_at: AwareDatetime


class Grant(BaseModel):
    id: UUID
    recording_ids: list[UUID]
    all: bool
    staff_id: UUID | None
    purpose: str
    status: Literal["active", "expired", "revoked"]
    created_at: Time
    created_by: UUID
    expires_at: Time
    revoked_at: Time | None
    revoked_by: UUID | None
    request_id: UUID | None
    ticket: str | None


class GrantPage(BaseModel):
    items: list[Grant]
    next_cursor: str | None


class AccessRequestCreate(ScopeBody):
    customer_id: UUID
    reason: str = Field(min_length=1, max_length=2000)
    ticket: str = Field(min_length=1, max_length=200)


class AccessRequestQuery(PageQuery):
    status: RequestStatus | None = None


class Approval(Strict):
    expires_at: AwareDatetime


class AccessRequest(BaseModel):
    id: UUID
    customer_id: UUID
    staff_id: UUID
    recording_ids: list[UUID]
    all: bool
    reason: str
    ticket: str
    status: RequestStatus
    created_at: Time
    expires_at: Time
    decided_at: Time | None
    decided_by: UUID | None
    grant_id: UUID | None


class AccessRequestPage(BaseModel):
    items: list[AccessRequest]
    next_cursor: str | None


class AccessLogQuery(Strict):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, pattern=SEQ_CURSOR_PATTERN,
                               description="next_cursor of the previous page")


class AccessLogEntry(BaseModel):
    id: UUID
    seq: int
    at: AuditTime
    actor_type: Literal["customer", "staff", "system", "provider"]
    actor_id: UUID | None
    action: str
    recording_id: UUID | None
    grant_id: UUID | None
    prev_hash: str
    hash: str


class Checkpoint(BaseModel):
    """The signed head of the chain (docs/AUDIT.md): keep it, verify later logs against it."""

    customer_id: UUID
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry]
    next_cursor: str | None
    checkpoint: Checkpoint


class AuditKey(BaseModel):
    key_id: str
    public_key: str


class AuditKeyList(BaseModel):
    keys: list[AuditKey]


class StaffRecording(OperationalRecording):
    customer_id: UUID
    ingest_status: Literal["stored"]
    ingest_attempts: int | None
    ingest_error: str | None


class StaffRecordingPage(BaseModel):
    items: list[StaffRecording]
    next_cursor: str | None


class StaffRecordingQuery(PageQuery):
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
