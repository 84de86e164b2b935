"""Pages of the clinic's side: the node's settings (clinic admin), the inbox and shared answers
(clinicians), and sharing an answer (patients). Each view checks the role, calls one service
function and renders; the services write the audit entries."""

from __future__ import annotations

import ipaddress
import uuid

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from clinic.pacs import handoff, inbox, node, redaction, sharing
from clinic.pacs.models import AllowedPeer, DicomwebToken, Handoff, Study
from scans.answers import answer_of, answers_of
from scans.refusals import flash_refusal

admin_only = role_required(Role.CLINIC_ADMIN)
clinician_only = role_required(Role.CLINICIAN)
patient_only = role_required(Role.PATIENT)


# --- The clinic admin: the node's AE title, its peers, DICOMweb tokens ---------------------------


def _node_page(request: HttpRequest, new_token: str | None = None) -> HttpResponse:
    response = render(
        request,
        "pacs/node.html",
        {
            "node": node.current_node(),
            "peers": AllowedPeer.objects.all(),
            "tokens": DicomwebToken.objects.filter(revoked_at=None),
            "new_token": new_token,
            "port": settings.DICOM_PORT,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@admin_only
def node_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        title = request.POST.get("ae_title", "")
        if node.valid_ae_title(title):
            node.set_ae_title(title, admin=signed_in_user(request))
            messages.success(request, _("The node's AE title was changed."))
            return redirect("pacs:node")
        messages.error(request, _("An AE title is 1 to 16 printable characters, no backslash."))
    return _node_page(request)


@require_POST
@admin_only
def peer_add(request: HttpRequest) -> HttpResponse:
    title = request.POST.get("ae_title", "")
    address = request.POST.get("address", "").strip()
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        address = ""
    if not node.valid_ae_title(title) or not address:
        messages.error(request, _("Give the PACS's calling AE title and its IP address."))
    else:
        node.add_peer(title, address, admin=signed_in_user(request))
        messages.success(request, _("The peer may now send studies."))
    return redirect("pacs:node")


@require_POST
@admin_only
def peer_delete(request: HttpRequest, peer_id: int) -> HttpResponse:
    if node.remove_peer(peer_id, admin=signed_in_user(request)):
        messages.success(request, _("The peer was removed."))
    return redirect("pacs:node")


@require_POST
@admin_only
def token_create(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()[:80] or _("DICOMweb sender")
    return _node_page(request, new_token=node.issue_token(name, admin=signed_in_user(request)))


@require_POST
@admin_only
def token_revoke(request: HttpRequest, dicomweb_token_id: int) -> HttpResponse:
    if node.revoke_token(dicomweb_token_id, admin=signed_in_user(request)):
        messages.success(request, _("The token was revoked."))
    return redirect("pacs:node")


# --- Clinicians: the inbox, hand-off, shared answers ---------------------------------------------


@require_GET
@clinician_only
def study_list(request: HttpRequest) -> HttpResponse:
    response = render(request, "pacs/inbox.html", {"rows": inbox.inbox(signed_in_user(request))})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@clinician_only
def study_detail(request: HttpRequest, study_id: uuid.UUID) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    row = inbox.open_study(study, signed_in_user(request))
    notes = [(h, inbox.quarantine_notes(h)) for h in row.handoffs]
    response = render(request, "pacs/study.html", {"row": row, "handoffs": notes})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@clinician_only
def study_handoff(request: HttpRequest, study_id: uuid.UUID) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    email = (request.POST.get("email") or "").strip()
    if "@" not in email or len(email) > 254:
        messages.error(request, _("Give the patient's e-mail address."))
        return redirect("pacs:study", study_id=study.pk)
    try:
        handoff.hand_off(
            study,
            email,
            clinician=signed_in_user(request),
            language=request.POST.get("language") or None,
        )
    except handoff.HandoffRefused as refusal:
        flash_refusal(request, refusal)
    else:
        messages.success(
            request,
            _(
                "The study was handed to the patient. It is de-identified and waits for their "
                "review; only they can decide to send it anywhere."
            ),
        )
    return redirect("pacs:study", study_id=study.pk)


@require_POST
@clinician_only
def image_redact(request: HttpRequest, study_id: uuid.UUID, image_id: uuid.UUID) -> HttpResponse:
    handed = get_object_or_404(Handoff, study_id=study_id, scan__images__pk=image_id)
    try:
        boxes = redaction.parse_boxes(request.POST.get("boxes", ""))
        outcome = redaction.redact_and_verify(
            handed, str(image_id), boxes, clinician=signed_in_user(request)
        )
    except redaction.RedactionRefused as refusal:
        flash_refusal(request, refusal)
    else:
        if outcome == "clean":
            messages.success(
                request,
                _("The verifier passed the redacted image: it now waits for the patient's review."),
            )
        else:
            messages.error(request, _("The verifier still holds the image back; nothing changed."))
    return redirect("pacs:study", study_id=study_id)


@require_GET
@clinician_only
def shared_list(request: HttpRequest) -> HttpResponse:
    return render(request, "pacs/shared.html", {"shares": sharing.live_shares()})


@require_GET
@clinician_only
def shared_answer(request: HttpRequest, share_id: uuid.UUID) -> HttpResponse:
    shared = sharing.view_shared(sharing.live_share(share_id), signed_in_user(request))
    response = render(request, "pacs/shared_answer.html", shared)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@clinician_only
def shared_image(request: HttpRequest, share_id: uuid.UUID, n: int) -> HttpResponse:
    data, mime = sharing.sent_image(sharing.live_share(share_id), n, signed_in_user(request))
    response = HttpResponse(data, content_type=mime)
    response["Cache-Control"] = "no-store"
    return response


# --- Patients: sharing an answer with the clinic -------------------------------------------------


@require_GET
@patient_only
def share_list(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    live = {s.answer_id: s for s in sharing.shares_of(user).filter(revoked_at=None)}
    rows = [(answer, live.get(answer.pk)) for answer in answers_of(user)]
    return render(request, "pacs/shares.html", {"rows": rows})


@require_POST
@patient_only
def share(request: HttpRequest, answer_id: uuid.UUID) -> HttpResponse:
    user = signed_in_user(request)
    sharing.share_answer(answer_of(user, answer_id), user)
    messages.success(
        request, _("The answer is shared with your clinic. You can stop sharing any time.")
    )
    return redirect("pacs:shares")


@require_POST
@patient_only
def revoke(request: HttpRequest, share_id: uuid.UUID) -> HttpResponse:
    if sharing.revoke_share(share_id, signed_in_user(request)):
        messages.success(request, _("Your clinic can no longer see this answer."))
    return redirect("pacs:shares")
