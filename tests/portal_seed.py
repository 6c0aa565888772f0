"""A customer as the browser tests and `make screenshots` meet one: a Swedish answering-
service client with two users, voicemail and call recordings, and a support engineer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from factories import PASSWORD
from portal_helpers import store_voicemail
from recstore.accounts.customers import create_customer, create_staff, create_user
from recstore.services import Services

CALLERS = [
    ("+46701234567", "Anna Svensson", 7.5, "voicemail", 12),
    ("+46731112233", "Johan Lindqvist", 4.0, "voicemail", 95),
    ("+46812345000", "Kontorsservice i Solna", 11.0, "call", 60 * 5),
    ("+46760009988", None, 3.0, "voicemail", 60 * 26),
    ("+46707654321", "Maria Ek", 5.5, "call", 60 * 24 * 3),
]


@dataclass
class Seeded:
    customer_id: UUID
    admin_email: str
    user_email: str
    staff_email: str
    staff_id: UUID
    recordings: list[tuple[UUID, bytes, float]] = field(default_factory=list)
    password: str = PASSWORD


async def seed(svc: Services, *, recordings: int = len(CALLERS)) -> Seeded:
    async with svc.pool.acquire() as conn:
        customer = await create_customer(conn, svc.keys, name="Bergström Redovisning AB",
                                         email="info@bergstrom.example", retention_days=90)
        admin_email, user_email = "karin@bergstrom.example", "erik@bergstrom.example"
        await create_user(conn, customer_id=customer.customer_id, email=admin_email,
                          password=PASSWORD, role="customer_admin")
        await create_user(conn, customer_id=customer.customer_id, email=user_email,
                          password=PASSWORD, role="customer_user")
        staff_email = "support@recstore.example"
        staff_id = await create_staff(conn, email=staff_email, password=PASSWORD)
    done = Seeded(customer.customer_id, admin_email, user_email, staff_email, staff_id)
    now = datetime.now(UTC)
    for caller, name, seconds, kind, minutes_ago in CALLERS[:recordings]:
        rid, audio = await store_voicemail(
            svc, customer.customer_id, seconds=seconds, caller=caller, name=name, kind=kind,
            recorded_at=now - timedelta(minutes=minutes_ago))
        done.recordings.append((rid, audio, seconds))
    return done
