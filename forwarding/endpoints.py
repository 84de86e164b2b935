"""Configuring AI endpoints: the only code that writes ``Endpoint`` rows.

Every change to what a patient would be consenting to (provider, address, model, key, limits,
prompt, data-use note) bumps ``config_version``, so a consent given for one configuration is
never silently reused for another. The API key is sealed in the vault and is write-only: it is
read back only to send a request, never shown or logged.

These functions return what changed (the endpoint, or the changed field names) so the caller
can write the audit record; they do not log anything themselves.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from forwarding.models import DEFAULT_SYSTEM_PROMPT, Endpoint, Protocol
from vault import get_vault

DEMO_NAME = "Demo (offline, not a model)"
DEMO_MODEL = "demo"
DEMO_DATA_USE_NOTE = (
    "This is a demonstration endpoint that runs on this gateway's own computer. It is not an AI "
    "model and gives no medical opinion: it only reports how many images it received, their "
    "format and size, and how long your question was. Nothing is sent to any outside company, "
    "and the demo keeps nothing after it answers."
)
UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "protocol",
        "base_url",
        "model",
        "is_local",
        "timeout_seconds",
        "max_images",
        "max_image_side",
        "max_image_bytes",
        "system_prompt",
        "data_use_note",
        "enabled",
    }
)
_POSITIVE_FIELDS = ("timeout_seconds", "max_images", "max_image_side", "max_image_bytes")


def validate_base_url(url: str, *, is_local: bool) -> str:
    """Return ``url`` without a trailing slash, or raise ValidationError saying what is wrong.

    Plain http is allowed only for a local endpoint: anywhere else it would send patients'
    images across the internet unencrypted.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValidationError(_("The base URL must start with https:// (or http:// for --local)."))
    if parts.scheme == "http" and not is_local:
        raise ValidationError(
            _("Plain http:// is only allowed for a local endpoint (--local); use https://.")
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            _("The base URL must not contain a user name or password; give the API key separately.")
        )
    if parts.fragment or url.strip().endswith("#"):
        raise ValidationError(_("The base URL must not contain a #fragment."))
    if not parts.hostname:
        raise ValidationError(_("The base URL has no host name."))
    try:
        parts.port  # noqa: B018 - urlsplit only validates the port when it is read
    except ValueError as exc:
        raise ValidationError(_("The base URL has an invalid port.")) from exc
    return url.strip().rstrip("/")


def _validate(values: dict[str, Any]) -> None:
    if values["protocol"] not in Protocol.values:
        raise ValidationError(
            _("Unknown protocol %(protocol)r; use one of %(choices)s.")
            % {"protocol": values["protocol"], "choices": ", ".join(Protocol.values)}
        )
    if not str(values["name"]).strip():
        raise ValidationError(_("The endpoint needs a name."))
    if not str(values["model"]).strip():
        raise ValidationError(_("The endpoint needs a model name."))
    for field in _POSITIVE_FIELDS:
        if int(values[field]) < 1:
            raise ValidationError(_("%(field)s must be at least 1.") % {"field": field})


def _seal_key(key: str) -> uuid.UUID | None:
    key = key.strip()
    if not key:
        return None
    return uuid.UUID(str(get_vault().put_bytes(key.encode("utf-8")).object_id))


def create_endpoint(
    *,
    name: str,
    protocol: str,
    base_url: str,
    model: str,
    api_key: str = "",
    is_local: bool = False,
    timeout_seconds: int = 60,
    max_images: int = 4,
    max_image_side: int = 1568,
    max_image_bytes: int = 4 * 1024 * 1024,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    data_use_note: str = "",
) -> Endpoint:
    """Create an enabled endpoint at config version 1; raise ValidationError for bad input."""
    values: dict[str, Any] = {
        "name": name.strip(),
        "protocol": protocol,
        "base_url": validate_base_url(base_url, is_local=is_local),
        "model": model.strip(),
        "is_local": is_local,
        "timeout_seconds": timeout_seconds,
        "max_images": max_images,
        "max_image_side": max_image_side,
        "max_image_bytes": max_image_bytes,
        "system_prompt": system_prompt,
        "data_use_note": data_use_note,
    }
    _validate(values)
    if Endpoint.objects.filter(name=values["name"]).exists():
        raise ValidationError(
            _("An endpoint named %(name)r already exists.") % {"name": values["name"]}
        )
    key_object = _seal_key(api_key)
    try:
        return Endpoint.objects.create(api_key_object=key_object, **values)
    except BaseException:
        if key_object:
            get_vault().shred(key_object)  # don't leave an orphaned key behind
        raise


def update_endpoint(endpoint: Endpoint, **changes: Any) -> list[str]:
    """Apply ``changes`` and return the names of the fields that actually changed.

    Bumps ``config_version`` when any field a consent depends on changed. The row is locked
    while it changes, so two administrators editing at once cannot both bump from the same
    version. ``endpoint`` is refreshed in place. Use ``set_api_key`` for the key.
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        values = {field: getattr(locked, field) for field in UPDATABLE_FIELDS} | changes
        values["base_url"] = validate_base_url(values["base_url"], is_local=values["is_local"])
        _validate(values)
        changed = sorted(f for f in UPDATABLE_FIELDS if getattr(locked, f) != values[f])
        if "name" in changed and Endpoint.objects.filter(name=values["name"]).exists():
            raise ValidationError(
                _("An endpoint named %(name)r already exists.") % {"name": values["name"]}
            )
        if changed:
            for field in changed:
                setattr(locked, field, values[field])
            if set(changed) & set(Endpoint.CONSENT_FIELDS):
                locked.config_version += 1
            locked.save()
    endpoint.refresh_from_db()
    return changed


def disable_endpoint(endpoint_id: uuid.UUID | str) -> Endpoint:
    """Stop offering the endpoint to patients; raise Endpoint.DoesNotExist for an unknown id.

    Nothing is deleted: consents and answers keep pointing at the row.
    """
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    update_endpoint(endpoint, enabled=False)
    return endpoint


def set_api_key(endpoint: Endpoint, key: str) -> None:
    """Seal ``key`` in the vault as the endpoint's API key (an empty key removes it).

    The old key is shredded only once the change is committed, so a rolled-back change never
    leaves the endpoint pointing at a destroyed key.
    """
    new_object = _seal_key(key)
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        old_object = locked.api_key_object
        locked.api_key_object = new_object
        locked.config_version += 1
        locked.save(update_fields=["api_key_object", "config_version", "updated_at"])
        if old_object:
            transaction.on_commit(lambda: get_vault().shred(old_object))
    endpoint.refresh_from_db()


def read_api_key(endpoint: Endpoint) -> str:
    """The endpoint's API key, for building a request only; "" when it has none."""
    if endpoint.api_key_object is None:
        return ""
    return get_vault().read_bytes(endpoint.api_key_object).decode("utf-8")


def snapshot(endpoint: Endpoint) -> dict[str, Any]:
    """What a consent record keeps about the endpoint the patient agreed to send to."""
    return {
        "endpoint_id": str(endpoint.id),
        "name": endpoint.name,
        "protocol": endpoint.protocol,
        "host": endpoint.host,
        "model": endpoint.model,
        "config_version": endpoint.config_version,
    }


def ensure_demo_endpoint(url: str) -> Endpoint:
    """Create, or point at ``url``, the offline demo endpoint (see demo_server.py).

    Idempotent: calling it again with the same URL changes nothing and keeps the version.
    """
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(name=DEMO_NAME).first()
        if endpoint is None:
            return create_endpoint(
                name=DEMO_NAME,
                protocol=Protocol.OPENAI,
                base_url=url,
                model=DEMO_MODEL,
                is_local=True,
                data_use_note=DEMO_DATA_USE_NOTE,
            )
        update_endpoint(
            endpoint,
            protocol=Protocol.OPENAI,
            base_url=url,
            model=DEMO_MODEL,
            is_local=True,
            data_use_note=DEMO_DATA_USE_NOTE,
            enabled=True,
        )
        return endpoint
