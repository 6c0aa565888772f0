"""What a new-recording notice says. By default: that a recording arrived, when, and a link
to the portal; never the caller's name or the audio. The caller's number only where the
customer opted in (notify_include_caller), decrypted just for the message being sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crypto import open_field
from recstore.consent.notify import Notice
from recstore.db import Connection
from recstore.keys import KeyService
from recstore.recordings.store import field_context

_KIND_TEXT = {"voicemail": "voicemail", "call": "call recording"}
_SV_KIND = {"voicemail": "röstmeddelande", "call": "samtalsinspelning"}


@dataclass(frozen=True)
class RecordingFacts:
    kind: str
    recorded_at: datetime
    duration_ms: int | None
    caller_number: str | None  # None unless the customer opted in

    def payload(self, link: str | None) -> dict[str, str | int | None]:
        return {"recording_kind": self.kind, "recorded_at": self.recorded_at.isoformat(),
                "duration_ms": self.duration_ms, "caller_number": self.caller_number,
                "portal_url": link}


def recording_link(portal_url: str | None, notice: Notice) -> str | None:
    if not portal_url or notice.recording_id is None:
        return None
    return f"{portal_url.rstrip('/')}/recordings/{notice.recording_id}"


async def recording_facts(conn: Connection, keys: KeyService,
                          notice: Notice) -> RecordingFacts | None:
    """None when the notice is not about a recording still live."""
    if notice.kind != "recording.stored" or notice.recording_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT r.id, r.kind, r.epoch, r.recorded_at, r.duration_ms, r.caller_number_sealed,"
        " c.notify_include_caller FROM recordings r JOIN customers c ON c.id = r.customer_id"
        " WHERE r.id = $1 AND r.customer_id = $2 AND r.shredded_at IS NULL"
        " AND r.expires_at > now()", notice.recording_id, notice.customer_id)
    if row is None:
        return None
    caller = None
    if row["notify_include_caller"] and row["caller_number_sealed"] is not None:
        pair = await keys.keypair(conn, notice.customer_id, row["epoch"])
        caller = open_field(pair, bytes(row["caller_number_sealed"]),
                            context=field_context("caller_number", row["id"]))
    return RecordingFacts(row["kind"], row["recorded_at"], row["duration_ms"], caller)


def new_recording_text(notice: Notice, portal_url: str | None,
                       facts: RecordingFacts | None) -> tuple[str, str]:
    """Swedish, then English: the customers are Swedish businesses whose staff may read either,
    and a notice cannot know the reader's choice in the portal."""
    kind = facts.kind if facts else ""
    sv_kind, en_kind = _SV_KIND.get(kind, "inspelning"), _KIND_TEXT.get(kind, "recording")
    link = recording_link(portal_url, notice)
    sv = [f"Ett nytt {sv_kind} har kommit in." if kind != "call"
          else f"En ny {sv_kind} har kommit in."]
    en = [f"A new {en_kind} has arrived."]
    if facts is not None:
        when = f"{facts.recorded_at:%Y-%m-%d %H:%M} UTC"
        sv.append(f"Inspelad: {when}")
        en.append(f"Recorded: {when}")
        if facts.duration_ms is not None:
            seconds = round(facts.duration_ms / 1000)
            sv.append(f"Längd: {seconds} s")
            en.append(f"Length: {seconds} s")
        if facts.caller_number:
            sv.append(f"Från: {facts.caller_number}")
            en.append(f"From: {facts.caller_number}")
    sv.append(f"Lyssna i portalen: {link}" if link else "Lyssna i recstore-portalen.")
    en.append(f"Listen to it in your portal: {link}" if link
              else "Listen to it in your recstore portal.")
    sv.append("Meddelandet innehåller inget ljud; inspelningen ligger krypterad i recstore.")
    en.append("This message contains no audio; the recording stays encrypted in recstore.")
    subject = f"Nytt {sv_kind} / New {en_kind}" if kind != "call" else \
        f"Ny {sv_kind} / New {en_kind}"
    return subject, "\n".join(sv) + "\n\n" + "\n".join(en)
