"""The form of the clinic's endpoint pages. It validates input; ``forwarding.endpoint_changes``
does the work."""

from __future__ import annotations

from typing import Any

from django import forms

from forwarding.endpoints import UPDATABLE_FIELDS
from forwarding.models import DEFAULT_SYSTEM_PROMPT, Endpoint, Protocol


class EndpointForm(forms.Form):
    """Create or edit an endpoint. The API key field is never filled in when the page renders."""

    name = forms.CharField(max_length=100)
    protocol = forms.ChoiceField(choices=Protocol.choices)
    base_url = forms.CharField(max_length=500, label="Base URL")
    model = forms.CharField(max_length=200)
    api_key = forms.CharField(
        required=False,
        label="API key",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only. Leave empty to keep the current key.",
    )
    remove_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    is_local = forms.BooleanField(
        required=False, label="Local endpoint (allows http:// and private addresses)"
    )
    timeout_seconds = forms.IntegerField(min_value=1, initial=60)
    max_images = forms.IntegerField(min_value=1, initial=4)
    max_image_side = forms.IntegerField(min_value=1, initial=1568)
    max_image_bytes = forms.IntegerField(min_value=1, initial=4 * 1024 * 1024)
    system_prompt = forms.CharField(widget=forms.Textarea, initial=DEFAULT_SYSTEM_PROMPT)
    data_use_note = forms.CharField(
        widget=forms.Textarea,
        required=False,
        help_text="Shown to patients before they consent: who runs the service, how long it "
        "keeps what it receives, whether it trains on it.",
    )
    enabled = forms.BooleanField(required=False, label="Offered to patients")

    def __init__(self, *args: Any, endpoint: Endpoint | None = None, **kwargs: Any) -> None:
        if endpoint is not None:
            kwargs.setdefault(
                "initial", {name: getattr(endpoint, name) for name in UPDATABLE_FIELDS}
            )
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        if endpoint is None:
            # A new endpoint starts enabled and has no key to remove.
            del self.fields["enabled"]
            del self.fields["remove_api_key"]
        elif endpoint.api_key_object is None:
            del self.fields["remove_api_key"]

    @property
    def has_key(self) -> bool:
        return self.endpoint is not None and self.endpoint.api_key_object is not None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        if cleaned.get("api_key") and cleaned.get("remove_api_key"):
            raise forms.ValidationError("Either enter a new API key or remove it, not both.")
        return cleaned

    def endpoint_values(self) -> dict[str, Any]:
        """The cleaned values the forwarding service takes (everything but the key fields)."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("api_key", "remove_api_key")
        }
