"""Routes of the customer's rights (issue 5): delete, export, erase, settings."""

from __future__ import annotations

from api import account, export, recordings, settings_routes
from api.rights_models import AccountErasure, AccountSettings, SettingsPatch
from api.security import CUSTOMER_ADMIN, CUSTOMER_ROLES
from api.spec import Operation

RIGHTS_OPERATIONS: list[Operation] = [
    Operation("DELETE", "/api/v1/recordings/{id}", recordings.delete_recording,
              "Delete a recording now: data key shredded, object and row removed",
              "recordings", roles=CUSTOMER_ROLES, status=204, errors=(404, 503)),
    Operation("GET", "/api/v1/export", export.export_account,
              "Everything held about the customer, recordings included, as a streamed ZIP",
              "account", roles=CUSTOMER_ROLES, response_content="application/zip",
              errors=(503,)),
    Operation("DELETE", "/api/v1/account", account.delete_account,
              "Erase the account: keys shredded and tokens refused at once, the rest follows",
              "account", roles=CUSTOMER_ADMIN, response=AccountErasure, status=202),
    Operation("GET", "/api/v1/settings", settings_routes.get_settings, "The customer's settings",
              "account", roles=CUSTOMER_ROLES, response=AccountSettings),
    Operation("PATCH", "/api/v1/settings", settings_routes.patch_settings,
              "Change retention (1-90 days; shortening applies to stored recordings at once)"
              " or provider-copy deletion", "account", roles=CUSTOMER_ADMIN,
              body=SettingsPatch, response=AccountSettings, errors=(422, 503)),
]
