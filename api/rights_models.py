"""Request and response shapes of the customer-rights routes: settings, erasure, export."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StrictInt

from api.models import Strict, Time

MAX_RETENTION_DAYS = 90


class AccountSettings(BaseModel):
    retention_days: int = Field(ge=1, le=MAX_RETENTION_DAYS)
    delete_provider_copy: bool


class SettingsPatch(Strict):
    """Only the fields present change; an empty object changes nothing."""

    # Strict: "yes", 1 or "30" are refused rather than guessed at.
    retention_days: StrictInt | None = Field(default=None, ge=1, le=MAX_RETENTION_DAYS)
    delete_provider_copy: StrictBool | None = None


class AccountErasure(BaseModel):
    customer_id: UUID
    state: Literal["running", "done"]
    requested_at: Time
    finished_at: Time | None


def erasure_view(customer_id: UUID, state: str, requested_at: datetime,
                 finished_at: datetime | None) -> AccountErasure:
    return AccountErasure.model_validate({"customer_id": customer_id, "state": state,
                                          "requested_at": requested_at,
                                          "finished_at": finished_at})
