"""The patient's own page for erasing their account (``/account/delete/``).

It lives beside retention because it destroys the same things for the same reasons; the work is
in ``clinic.erasure``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts.models import Role, User
from accounts.roles import role_required, signed_in_user
from clinic.erasure import ErasureRefused, erase_account
from scans.refusals import flash_refusal


class EraseAccountForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"), widget=forms.PasswordInput, strip=False
    )
    confirm = forms.BooleanField(label=gettext_lazy("I understand that this cannot be undone"))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        # The password again, so that a session left open on a shared computer cannot do this.
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError(_("That is not your password."))
        return self.cleaned_data["password"]


@require_http_methods(["GET", "POST"])
@role_required(Role.PATIENT)
def delete_account(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = EraseAccountForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            erase_account(user)
        except ErasureRefused as exc:
            flash_refusal(request, exc)
        else:
            logout(request)
            messages.success(request, _("Your account and everything in it were deleted."))
            return redirect("home")
    return render(request, "accounts/delete_account.html", {"form": form})
