"""Forms of the clinic admin pages. They validate input; the work is in the service modules."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django import forms

from accounts.models import Role, User
from scans.clinic.models import MAX_RETENTION_DAYS, RetentionPolicy
from scans.forwarding.endpoints import UPDATABLE_FIELDS
from scans.forwarding.models import DEFAULT_SYSTEM_PROMPT, Endpoint, Protocol


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Role.choices)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise forms.ValidationError("An account with that email address already exists.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class FindUserForm(forms.Form):
    """Exact-address lookup, so the user list never has to show anyone's email address."""

    email = forms.EmailField(label="Find an account by its exact email address")


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


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["originals_days", "sanitized_days", "answers_days", "unconsented_days"]
        widgets = {
            name: forms.NumberInput(attrs={"min": 1, "max": MAX_RETENTION_DAYS}) for name in fields
        }
