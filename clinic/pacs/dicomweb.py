"""DICOMweb for systems that push over HTTP: STOW-RS (PS3.18 10.5) and a QIDO-RS study search
(PS3.18 10.6) of the clinic's inbox, both at ``/dicomweb/studies``.

Authenticated with a clinic DICOMweb token (``Authorization: Bearer dcw_...``), never a
session: cookies are ignored, hence no CSRF. Each part is an instance as the DICOM node would
receive it, and goes through the same ``receiving.receive_instance``.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pydicom
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import DicomwebToken, Source, Study
from clinic.pacs.multipart import MalformedBody, boundary_of, iter_parts
from clinic.pacs.node import token_for
from clinic.pacs.receiving import InstanceRefused, read_summary, receive_instance, uid_hash

log = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
# PS3.18 Table 10.5.3-1 / PS3.4 Annex B: the failure reasons a STOW response carries.
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
SOP_CLASS_NOT_SUPPORTED = 0x0122
QIDO_LIMIT = 1000


def _actor(token: DicomwebToken) -> str:
    return f"dcw-{token.pk:08x}"


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    """The API's error shape: a stable ``code`` for programs, a translated ``detail``."""
    response = JsonResponse({"code": code, "detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="dicomweb"'
    return response


@csrf_exempt
def studies(request: HttpRequest) -> HttpResponse:
    token = token_for(request.headers.get("Authorization", ""))
    if token is None:
        return _refusal(
            401, "authentication_required", gettext("A clinic DICOMweb token is required.")
        )
    if request.method == "POST":
        return _store(request, token)
    if request.method == "GET":
        return _search(request, token)
    return _refusal(405, "method_not_allowed", gettext("Use POST (STOW-RS) or GET (QIDO-RS)."))


def _uids(body: bytes) -> dict[str, Any]:
    """The SOP Class and Instance UIDs of a part, for the response, if they can be read."""
    try:
        header = pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True, force=True)
        return {
            "00081150": {"vr": "UI", "Value": [str(header.SOPClassUID)]},
            "00081155": {"vr": "UI", "Value": [str(header.SOPInstanceUID)]},
        }
    except Exception:  # any parser failure: the item simply names no UIDs
        return {}


def _store(request: HttpRequest, token: DicomwebToken) -> HttpResponse:
    boundary = boundary_of(request.META.get("CONTENT_TYPE", ""))
    if boundary is None:
        return _refusal(
            415,
            "unsupported_media_type",
            gettext('Send multipart/related; type="application/dicom" with a boundary.'),
        )
    stored: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    studies_seen: set[str] = set()
    try:
        for part in iter_parts(
            request,
            boundary,
            max_part_bytes=settings.DICOM_MAX_INSTANCE_BYTES,
            max_total_bytes=settings.UPLOAD_MAX_BYTES,
        ):
            if part.content_type != "application/dicom":
                failed.append({"00081197": {"vr": "US", "Value": [SOP_CLASS_NOT_SUPPORTED]}})
                continue
            try:
                received = receive_instance(part.body, source=Source.STOW, actor=_actor(token))
            except InstanceRefused:
                failed.append(
                    {**_uids(part.body), "00081197": {"vr": "US", "Value": [CANNOT_UNDERSTAND]}}
                )
                continue
            studies_seen.add(str(received.study.pk))
            stored.append(_uids(part.body))
    except MalformedBody as exc:
        _audit_store(token, stored, failed, studies_seen, outcome="malformed")
        return _refusal(
            400 if "large" not in str(exc) else 413,
            "malformed_body",
            gettext("The multipart body is malformed or too large."),
        )
    except Exception:
        log.exception("STOW-RS request could not be filed")
        connection.close()
        _audit_store(token, stored, failed, studies_seen, outcome="error")
        return _refusal(
            503,
            "not_stored",
            gettext("The instances could not be stored now; try again later."),
        )
    _audit_store(token, stored, failed, studies_seen, outcome="ok")
    body: dict[str, Any] = {}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": stored}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    status = 200 if not failed else (202 if stored else 409)
    return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)


def _audit_store(
    token: DicomwebToken,
    stored: list[Any],
    failed: list[Any],
    studies: set[str],
    *,
    outcome: str,
) -> None:
    audit(
        AuditAction.DICOMWEB_STORED,
        actor=_actor(token),
        object_type="dicomweb_token",
        object_id=str(token.pk),
        details={
            "stored": len(stored),
            "refused": len(failed),
            "studies": sorted(studies)[:64],
            "outcome": outcome,
        },
    )


def _study_json(study: Study, summary: dict[str, str]) -> dict[str, Any]:
    def value(vr: str, text: str) -> dict[str, Any]:
        return {"vr": vr, "Value": [text]} if text else {"vr": vr}

    name = summary.get("PatientName", "")
    return {
        "0020000D": value("UI", summary.get("StudyInstanceUID", "")),
        "00080020": value("DA", summary.get("StudyDate", "")),
        "00080050": value("SH", summary.get("AccessionNumber", "")),
        "00080061": value("CS", summary.get("Modality", "")),
        "00081030": value("LO", summary.get("StudyDescription", "")),
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]} if name else {"vr": "PN"},
        "00100020": value("LO", summary.get("PatientID", "")),
        "00201208": {"vr": "IS", "Value": [study.instance_count]},
    }


def _search(request: HttpRequest, token: DicomwebToken) -> HttpResponse:
    """QIDO-RS over the inbox: exact matches on StudyInstanceUID and PatientID."""
    studies = Study.objects.order_by("-updated_at")
    wanted_uid = request.GET.get("StudyInstanceUID") or request.GET.get("0020000D")
    if wanted_uid:
        studies = studies.filter(study_uid_sha256=uid_hash(wanted_uid))
    wanted_patient = request.GET.get("PatientID") or request.GET.get("00100020")
    try:
        limit = max(0, min(int(request.GET.get("limit", QIDO_LIMIT)), QIDO_LIMIT))
        offset = max(0, int(request.GET.get("offset", 0)))
    except ValueError:
        return _refusal(400, "invalid_request", gettext("limit and offset must be numbers."))
    matches = []
    for study in studies[: QIDO_LIMIT * 2]:
        summary = read_summary(study)
        if wanted_patient and summary.get("PatientID") != wanted_patient:
            continue
        matches.append((study, summary))
    page = matches[offset : offset + limit]
    audit(
        AuditAction.STUDY_VIEWED,
        actor=_actor(token),
        object_type="inbox",
        details={"studies": [str(s.pk) for s, _ in page[:64]], "count": len(page)},
    )
    if not page:
        return HttpResponse(status=204)
    return HttpResponse(
        json.dumps([_study_json(s, summary) for s, summary in page]), content_type=DICOM_JSON
    )
