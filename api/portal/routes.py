"""Every route of the portal (HTML, cookie session). Spliced into the app by api.routes,
outside the OpenAPI document, which describes the JSON API only."""

from __future__ import annotations

from dataclasses import dataclass

from api.portal import (
    views_access,
    views_account,
    views_auth,
    views_console,
    views_recordings,
    views_users,
)
from api.portal.guard import PageHandler
from api.security import CUSTOMER_ADMIN, CUSTOMER_ROLES, STAFF_ROLES

PORTAL_ROLES = views_auth.PORTAL_ROLES


@dataclass(frozen=True)
class PortalRoute:
    method: str
    path: str
    handler: PageHandler
    roles: frozenset[str] | None  # None: open (the guard still checks CSRF on POST)
    html_errors: bool = True      # False: audio and downloads keep problem+json errors

    @property
    def name(self) -> str:
        return f"portal_{self.handler.__module__.rsplit('.', 1)[-1]}_{self.handler.__name__}"


PORTAL_ROUTES: list[PortalRoute] = [
    PortalRoute("GET", "/", views_auth.home, None),
    PortalRoute("POST", "/login", views_auth.login_submit, None),
    PortalRoute("POST", "/logout", views_auth.logout, None),
    PortalRoute("POST", "/language", views_auth.switch_language, None),
    PortalRoute("GET", "/recordings/{id}", views_recordings.recording_page, CUSTOMER_ROLES),
    PortalRoute("GET", "/recordings/{id}/audio", views_recordings.audio, CUSTOMER_ROLES,
                html_errors=False),
    PortalRoute("POST", "/recordings/{id}/delete", views_recordings.delete, CUSTOMER_ROLES),
    PortalRoute("GET", "/export", views_account.export_page, CUSTOMER_ROLES),
    PortalRoute("GET", "/export/download", views_account.export_download, CUSTOMER_ROLES,
                html_errors=False),
    PortalRoute("GET", "/access", views_access.access_page, CUSTOMER_ROLES),
    PortalRoute("POST", "/access-requests/{id}/approve", views_access.approve, CUSTOMER_ADMIN),
    PortalRoute("POST", "/access-requests/{id}/deny", views_access.deny, CUSTOMER_ADMIN),
    PortalRoute("POST", "/grants/{id}/revoke", views_access.revoke, CUSTOMER_ADMIN),
    PortalRoute("GET", "/access-log", views_access.log_page, CUSTOMER_ROLES),
    PortalRoute("GET", "/access-log/checkpoint.json", views_access.checkpoint_download,
                CUSTOMER_ROLES, html_errors=False),
    PortalRoute("GET", "/settings", views_account.settings_page, CUSTOMER_ROLES),
    PortalRoute("POST", "/settings", views_account.settings_submit, CUSTOMER_ADMIN),
    PortalRoute("POST", "/account/erase", views_account.erase_account, CUSTOMER_ADMIN),
    PortalRoute("GET", "/users", views_users.users_page, CUSTOMER_ADMIN),
    PortalRoute("POST", "/users", views_users.invite, CUSTOMER_ADMIN),
    PortalRoute("POST", "/users/{id}/remove", views_users.remove_user, CUSTOMER_ADMIN),
    PortalRoute("GET", "/account/password", views_users.password_page, PORTAL_ROLES),
    PortalRoute("POST", "/account/password", views_users.password_submit, PORTAL_ROLES),
    PortalRoute("GET", "/console/recordings/{id}", views_console.console_recording, STAFF_ROLES),
    PortalRoute("GET", "/console/recordings/{id}/audio", views_console.console_audio,
                STAFF_ROLES, html_errors=False),
    PortalRoute("POST", "/console/access-requests", views_console.request_access, STAFF_ROLES),
]
