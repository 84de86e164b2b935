"""Configuring AI endpoints from the clinic pages: the forwarding service functions plus audit.

``forwarding.endpoints`` does the work and returns what changed; here each change becomes
an audit entry naming the admin, the endpoint id and the changed field names (never values: a
base URL or prompt is free text). The API key is write-only: an empty key field means "keep the
current key", and removing it is a separate, explicit choice.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from audit.actions import AuditAction
from audit.log import append as audit
from forwarding import endpoints
from forwarding.models import Endpoint

API_KEY_FIELD = "api_key"


def create(values: dict[str, Any], api_key: str, *, admin: User) -> Endpoint:
    """Create an endpoint; ValidationError (with a message for the form) for bad values."""
    with transaction.atomic():
        endpoint = endpoints.create_endpoint(api_key=api_key, **values)
        audit(
            AuditAction.ENDPOINT_CREATED,
            actor=admin.pseudonym,
            object_type="endpoint",
            object_id=str(endpoint.pk),
            details={
                "protocol": endpoint.protocol,
                "is_local": endpoint.is_local,
                "has_api_key": endpoint.api_key_object is not None,
                "config_version": endpoint.config_version,
            },
        )
    return endpoint


def change(
    endpoint: Endpoint,
    values: dict[str, Any],
    *,
    api_key: str = "",
    remove_api_key: bool = False,
    admin: User,
) -> list[str]:
    """Apply the form's values; returns the changed field names ("api_key" for the key).

    All of it commits together with its audit entry, or none of it does.
    """
    with transaction.atomic():
        changed = endpoints.update_endpoint(endpoint, **values)
        if api_key.strip() or (remove_api_key and endpoint.api_key_object is not None):
            endpoints.set_api_key(endpoint, "" if remove_api_key else api_key)
            changed.append(API_KEY_FIELD)
        if changed:
            audit(
                AuditAction.ENDPOINT_CHANGED,
                actor=admin.pseudonym,
                object_type="endpoint",
                object_id=str(endpoint.pk),
                details={"fields": sorted(changed), "config_version": endpoint.config_version},
            )
    return sorted(changed)


def disable(endpoint: Endpoint, *, admin: User) -> bool:
    """Stop offering the endpoint to patients; False if it already was disabled."""
    if not endpoint.enabled:
        return False
    with transaction.atomic():
        endpoints.disable_endpoint(endpoint.pk)
        endpoint.refresh_from_db()
        audit(
            AuditAction.ENDPOINT_DISABLED,
            actor=admin.pseudonym,
            object_type="endpoint",
            object_id=str(endpoint.pk),
            details={"config_version": endpoint.config_version},
        )
    return True
