"""The form of the clinic's endpoint pages. It validates input; ``forwarding.endpoint_changes``
does the work."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from forwarding.endpoints import UPDATABLE_FIELDS, validate_base_url
from forwarding.models import DEFAULT_SYSTEM_PROMPT, Endpoint, Protocol

MiB = 1024 * 1024


class EndpointForm(forms.Form):
    """Create or edit an endpoint. The API key field is never filled in when the page renders."""

    name = forms.CharField(
        max_length=100,
        label=_("Name"),
        help_text=_("What patients see when they choose a service."),
    )
    protocol = forms.ChoiceField(
        choices=Protocol.choices,
        label=_("Protocol"),
        help_text=_("The API the service speaks."),
    )
    base_url = forms.CharField(
        max_length=500,
        label=_("Base URL"),
        help_text=_("Starts with https://. Plain http:// only for a local endpoint."),
    )
    model = forms.CharField(
        max_length=200, label=_("Model"), help_text=_("The model name the service expects.")
    )
    api_key = forms.CharField(
        required=False,
        label=_("API key"),
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Write-only: it is stored encrypted and never shown again."),
    )
    remove_api_key = forms.BooleanField(required=False, label=_("Remove the stored API key"))
    is_local = forms.BooleanField(
        required=False, label=_("Local endpoint (allows http:// and private addresses)")
    )
    timeout_seconds = forms.IntegerField(
        min_value=1, initial=60, label=_("Timeout (seconds)"), help_text=_("For each request.")
    )
    max_images = forms.IntegerField(min_value=1, initial=4, label=_("Most images per question"))
    max_image_side = forms.IntegerField(
        min_value=1,
        initial=1568,
        label=_("Longest image side (pixels)"),
        help_text=_("Larger images are scaled down before they are sent."),
    )
    # Shown and typed in MiB; the endpoint keeps bytes.
    max_image_mib = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_digits=8,
        decimal_places=2,
        initial=4,
        label=_("Largest image (MiB)"),
        help_text=_("1 MiB = 1,048,576 bytes."),
    )
    system_prompt = forms.CharField(
        widget=forms.Textarea, initial=DEFAULT_SYSTEM_PROMPT, label=_("System prompt")
    )
    data_use_note = forms.CharField(
        widget=forms.Textarea,
        required=False,
        label=_("Data use note"),
        help_text=_(
            "Shown to patients before they consent: who runs the service, how long it "
            "keeps what it receives, whether it trains on it."
        ),
    )
    enabled = forms.BooleanField(required=False, label=_("Offered to patients"))

    def __init__(self, *args: Any, endpoint: Endpoint | None = None, **kwargs: Any) -> None:
        if endpoint is not None:
            initial = {name: getattr(endpoint, name) for name in UPDATABLE_FIELDS}
            initial["max_image_mib"] = _mib(endpoint.max_image_bytes)
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        if endpoint is None:
            # A new endpoint starts enabled and has no key to keep or remove.
            del self.fields["enabled"]
            del self.fields["remove_api_key"]
            more = _("Leave it empty for a service that needs none.")
        elif endpoint.api_key_object is not None:
            more = _("Leave it empty to keep the current key.")
        else:
            more = _("None is stored now.")
        self.fields["api_key"].help_text = format_lazy(
            "{} {}", self.fields["api_key"].help_text, more
        )
        if endpoint is not None and endpoint.api_key_object is None:
            del self.fields["remove_api_key"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Endpoint.objects.filter(name=name)
        if self.endpoint is not None:
            others = others.exclude(pk=self.endpoint.pk)
        if others.exists():
            raise ValidationError(
                gettext("Another endpoint already has this name; choose another.")
            )
        return name

    @property
    def has_key(self) -> bool:
        return self.endpoint is not None and self.endpoint.api_key_object is not None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        if cleaned.get("api_key") and cleaned.get("remove_api_key"):
            self.add_error(
                "api_key",
                gettext("Either enter a new API key or remove the stored one, not both."),
            )
        if cleaned.get("base_url"):
            try:
                cleaned["base_url"] = validate_base_url(
                    cleaned["base_url"], is_local=bool(cleaned.get("is_local"))
                )
            except ValidationError as exc:
                self.add_error("base_url", _in_web_words(exc))
        return cleaned

    def endpoint_values(self) -> dict[str, Any]:
        """The cleaned values the forwarding service takes (everything but the key fields)."""
        values = {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("api_key", "remove_api_key", "max_image_mib")
        }
        values["max_image_bytes"] = int(self.cleaned_data["max_image_mib"] * MiB)
        return values


def _mib(size: int) -> Decimal:
    return (Decimal(size) / MiB).quantize(Decimal("0.01"))


def _in_web_words(exc: ValidationError) -> str:
    """The service's message, with the command line's option name replaced by this page's
    checkbox (the same check serves ``manage.py endpoint --local``)."""
    text = " ".join(exc.messages)
    return text.replace(" (--local)", "").replace("--local", gettext("a local endpoint"))
