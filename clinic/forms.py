"""Forms of the clinic admin pages. They validate input; the work is in the service modules."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from clinic.models import MAX_RETENTION_DAYS, RetentionPolicy


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise forms.ValidationError(_("An account with that email address already exists."))
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class FindUserForm(forms.Form):
    """Exact-address lookup, so the user list never has to show anyone's email address."""

    email = forms.EmailField(label=_("Find an account by its exact email address"))


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["originals_days", "sanitized_days", "answers_days", "unconsented_days"]
        widgets = {
            name: forms.NumberInput(attrs={"min": 1, "max": MAX_RETENTION_DAYS}) for name in fields
        }
        labels = {
            "originals_days": _("Originals (days)"),
            "sanitized_days": _("De-identified images (days)"),
            "answers_days": _("Answers (days)"),
            "unconsented_days": _("Never consented to (days)"),
        }
        help_texts = {
            "originals_days": _("Uploaded files, original previews (days after upload)."),
            "sanitized_days": _("De-identified images and previews (days after upload)."),
            "answers_days": _("Answers and their questions (days after the answer)."),
            "unconsented_days": _("Scans never consented to (days after upload)."),
        }


class AcceptInvitationForm(forms.Form):
    email = forms.EmailField(label=_("Your email address"))
    code = forms.CharField(label=_("The code from the invitation"), max_length=100)
    password1 = forms.CharField(label=_("Choose a password"), widget=forms.PasswordInput)
    password2 = forms.CharField(label=_("The password again"), widget=forms.PasswordInput)

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            raise forms.ValidationError(_("The two passwords differ."))
        if first:
            validate_password(first)
        return cleaned
