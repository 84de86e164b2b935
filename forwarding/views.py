"""The clinic admin's pages for AI endpoints (under ``/clinic/endpoints/``, routed by
``clinic.urls`` so they keep the clinic's namespace and navigation).

Only clinic admins get in. Views validate the form and call one function of
``forwarding.endpoint_changes``, which writes the audit entry.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from forwarding import connection_check, endpoint_changes
from forwarding.forms import EndpointForm
from forwarding.models import Endpoint

admin_only = role_required(Role.CLINIC_ADMIN)


@require_GET
@admin_only
def endpoints(request: HttpRequest) -> HttpResponse:
    return render(request, "forwarding/endpoints.html", {"endpoints": Endpoint.objects.all()})


@require_http_methods(["GET", "POST"])
@admin_only
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint_changes.create(
                form.endpoint_values(), form.cleaned_data["api_key"], admin=signed_in_user(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The endpoint was added."))
            return redirect("clinic:endpoints")
    return render(request, "forwarding/endpoint_form.html", {"form": form, "endpoint": None})


@require_http_methods(["GET", "POST"])
@admin_only
def endpoint_edit(request: HttpRequest, endpoint_id: uuid.UUID) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=endpoint_id)
    form = EndpointForm(request.POST or None, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            changed = endpoint_changes.change(
                endpoint,
                form.endpoint_values(),
                api_key=form.cleaned_data["api_key"],
                remove_api_key=form.cleaned_data.get("remove_api_key", False),
                admin=signed_in_user(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                ngettext("Saved (%(count)d change).", "Saved (%(count)d changes).", len(changed))
                % {"count": len(changed)}
                if changed
                else _("Nothing changed."),
            )
            return redirect("clinic:endpoints")
    return render(request, "forwarding/endpoint_form.html", {"form": form, "endpoint": endpoint})


@require_POST
@admin_only
def endpoint_disable(request: HttpRequest, endpoint_id: uuid.UUID) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=endpoint_id)
    if endpoint_changes.disable(endpoint, admin=signed_in_user(request)):
        messages.success(request, _("The endpoint is no longer offered to patients."))
    return redirect("clinic:endpoints")


@require_POST
@admin_only
def endpoint_test(request: HttpRequest, endpoint_id: uuid.UUID) -> HttpResponse:
    """Send the test question (no patient data) and show the outcome on the endpoint's page."""
    endpoint = get_object_or_404(Endpoint, pk=endpoint_id)
    result = connection_check.check_connection(endpoint, admin=signed_in_user(request))
    level = messages.SUCCESS if result.ok else messages.ERROR
    messages.add_message(
        request,
        level,
        _("Test connection to %(name)s: %(result)s (%(elapsed)s ms)")
        % {"name": endpoint.name, "result": result.message, "elapsed": result.elapsed_ms},
    )
    return redirect("clinic:endpoint_edit", endpoint_id=endpoint.pk)
