"""The access log in words: each audit action as a phrase that follows the actor's name
("support@… listened to recording … under grant …"). Unknown actions show as they are."""

from __future__ import annotations

ACTION_TEXT = {
    "recording.stored": "delivered a new recording",
    "recording.metadata_read": "opened",
    "recording.audio_read": "listened to",
    "recording.deleted": "deleted",
    "recording.expired": "deleted at the end of its retention period:",
    "recording.object_missing": "found the audio missing for",
    "staff.audio_read": "listened to",
    "staff.metadata_read": "looked at the details of",
    "staff.recordings_listed": "listed your recordings (details only, no audio)",
    "staff.audio_denied": "was refused the audio of",
    "staff.audio_cut_off": "was cut off while listening to",
    "grant.created": "gave access",
    "grant.revoked": "revoked access",
    "access_request.created": "asked for access",
    "access_request.approved": "approved an access request",
    "access_request.denied": "denied an access request",
    "access_request.expired": "closed an access request left unanswered",
    "login.failed": "failed to sign in",
    "access.denied.role": "was refused something their role may not do",
    "access.denied.token_revoked": "tried a withdrawn sign-in",
    "access.denied.session_ended": "tried an ended session",
    "settings.retention_changed": "changed the retention period",
    "settings.provider_copy_changed": "changed the provider-copy setting",
    "settings.notifications_changed": "changed the notification settings",
    "user.invited": "invited a colleague",
    "user.removed": "removed a user",
    "user.password_changed": "changed their password",
    "account.exported": "exported all data",
    "account.erasure_requested": "asked for the whole account to be erased",
    "account.erased": "erased the account",
    "customer_key.destroyed": "destroyed the keys of an expired period",
}


def phrase(action: str) -> str:
    return ACTION_TEXT.get(action, action)
