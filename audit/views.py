"""The auditor area: the events list, one case's trail, the chain's status, exports.

Read-only apart from exports, which are recorded in the log. The pages show what the log holds
(pseudonymous ids, hashes, counts, statuses) and nothing from the scans, consents or accounts
themselves, so an auditor never sees an image, a question, an answer, a name or an email.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from audit.downloads import FORMATS, export_download
from audit.forms import EventFilterForm, TrailForm
from audit.log import public_key_pem
from audit.models import AuditEntry
from audit.presenting import rows
from audit.reading import chain_status, matching_events, trail

EVENTS_PER_PAGE = 50

auditors_only = role_required(Role.AUDITOR, Role.CLINIC_ADMIN)


@require_GET
@never_cache
@auditors_only
def index(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET).offer_outcomes()
    valid = form.is_valid()
    entries = (
        matching_events(form.event_filter()).order_by("-seq")
        if valid
        else AuditEntry.objects.none()
    )
    page = Paginator(entries, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "valid": valid,
            "page": page,
            "rows": rows(page.object_list),
            "filter_fields": [form[name] for name in form.fields],
        },
        status=200 if valid else 400,
    )


@require_GET
@never_cache
@auditors_only
def case_trail(request: HttpRequest) -> HttpResponse:
    form = TrailForm(request.GET) if "id" in request.GET else TrailForm()
    found = trail(form.cleaned_data["id"]) if form.is_bound and form.is_valid() else None
    return render(
        request,
        "audit/trail.html",
        {
            "form": form,
            "trail": found,
            "rows": rows(found.entries, collapse_previews=True) if found else [],
            "entry_count": len(found.entries) if found else 0,
            "case_ids": sorted(found.ids) if found else [],
        },
    )


@require_GET
@never_cache
@auditors_only
def verification(request: HttpRequest) -> HttpResponse:
    return render(request, "audit/verify.html", {"checked": chain_status()})


@require_POST
@auditors_only
def verify_again(request: HttpRequest) -> HttpResponse:
    chain_status(refresh=True)
    messages.info(request, _("The whole chain was checked again just now."))
    return redirect("audit:verify")


@require_POST
@never_cache
@auditors_only
def export(request: HttpRequest) -> HttpResponseBase:
    form = EventFilterForm(request.POST)
    fmt = request.POST.get("format", "")
    if fmt not in FORMATS or not form.is_valid():
        messages.error(request, _("That export could not be made; check the filter and try again."))
        return redirect("audit:index")
    return export_download(form.event_filter(), fmt, actor=signed_in_user(request).pseudonym)


@require_GET
@cache_control(public=True, max_age=3600)
def public_key(request: HttpRequest) -> HttpResponse:
    """Open to everyone: patients check their receipts offline against this key."""
    response = HttpResponse(public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="audit-public-key.pem"'
    return response
