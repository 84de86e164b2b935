"""Pages for asking an AI about a scan: choose, review exactly what would leave, consent,
withdraw, read and delete the answer, download receipts. All decisions live in the consent
modules, scans.answers and scans.sending; these views only translate forms and responses."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.roles import role_required, signed_in_user
from scans import answers, queries, reports, series, wording
from scans.consent.acceptance import accept as accept_request
from scans.consent.errors import ConsentError, WithdrawalRefused
from scans.consent.queries import consent_of, enabled_endpoints, request_of
from scans.consent.receipts import receipt as receipt_of
from scans.consent.requests import MAX_QUESTION_CHARS, question_of, request_consent
from scans.consent.requests import prepared_image as prepared_bytes
from scans.consent.selection import default_selection, sendable_images
from scans.consent.withdrawal import withdraw as withdraw_consent
from scans.models import ConsentRequest, Scan
from scans.refusals import flash_refusal, refusal_page
from scans.rendering import PRESETS, choices_for

patient_only = role_required(Role.PATIENT)


class AskForm(forms.Form):
    endpoint = forms.UUIDField()
    images = forms.MultipleChoiceField(
        error_messages={"required": gettext_lazy("Choose at least one image to send.")}
    )
    question = forms.CharField(max_length=MAX_QUESTION_CHARS, strip=True)
    confirm_identifiers = forms.BooleanField(required=False)

    def __init__(self, *args: Any, image_ids: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        images = self.fields["images"]
        assert isinstance(images, forms.MultipleChoiceField)
        images.choices = [(i, i) for i in image_ids]


def _ask_context(
    scan: Scan, form: AskForm | None, warnings: list[str], error: str
) -> dict[str, Any]:
    endpoints = list(enabled_endpoints())
    images = sendable_images(scan)
    for image in images:
        # The template shows why a flagged image should be looked at before it is ticked.
        setattr(image, "check_reasons", wording.review_reasons(image))  # noqa: B010
    cap = min((e.max_images for e in endpoints), default=0)
    if form is not None and form.is_bound:
        ticked = set(cast(QueryDict, form.data).getlist("images"))
        chosen_endpoint = form.data.get("endpoint", "")
        question = form.data.get("question", "")
    else:
        ticked = {str(image.id) for image in default_selection(images, cap)}
        chosen_endpoint = str(endpoints[0].id) if len(endpoints) == 1 else ""
        question = ""
    posted = cast(QueryDict, form.data) if form is not None and form.is_bound else QueryDict()
    sendable = {image.pk: image for image in images}
    groups = [
        {
            "n": n,
            "series": group,
            "images": [sendable[image.pk] for image in group.images if image.pk in sendable],
            "windows": choices_for(group.modality) if group.is_ct else [],
            "window": posted.get(f"window-{n}", group.default_window),
        }
        for n, group in enumerate(series.series_of(scan)[0], start=1)
    ]
    return {
        "scan": scan,
        "endpoints": endpoints,
        "chosen_endpoint": chosen_endpoint,
        "images": images,
        "groups": [g for g in groups if g["images"]],
        "ticked": ticked,
        "cap": cap,
        "question": question,
        "max_question": MAX_QUESTION_CHARS,
        "warnings": warnings,
        "error": error,
        # Each refused field's first error, shown beside it and tied to it (aria-describedby).
        "field_errors": {
            name: errors[0] for name, errors in (form.errors if form is not None else {}).items()
        },
    }


def chosen_windows(scan: Scan, posted: QueryDict) -> dict[str, str]:
    """The CT window picked for each series (``window-<n>``), by image id; others as saved."""
    windows = {}
    for n, group in enumerate(series.series_of(scan)[0], start=1):
        key = posted.get(f"window-{n}", group.default_window)
        if group.is_ct and key in PRESETS:
            windows.update({str(image.pk): key for image in group.images})
    return windows


@require_http_methods(["GET", "POST"])
@patient_only
def ask(request: HttpRequest, scan_id: uuid.UUID) -> HttpResponse:
    user = signed_in_user(request)
    scan = queries.scan_of(user, scan_id)
    if request.method == "GET":
        return render(request, "consent/ask.html", _ask_context(scan, None, [], ""))
    image_ids = [str(image.id) for image in scan.images.all()]
    form = AskForm(request.POST, image_ids=image_ids)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        response = render(request, "consent/ask.html", _ask_context(scan, form, [], error))
        response.status_code = 400
        return response
    try:
        consent_request = request_consent(
            scan,
            user,
            endpoint_id=form.cleaned_data["endpoint"],
            question=form.cleaned_data["question"],
            image_ids=form.cleaned_data["images"],
            confirm_identifiers=form.cleaned_data["confirm_identifiers"],
            windows=chosen_windows(scan, request.POST),
            language=translation.get_language(),
        )
    except ConsentError as exc:
        warnings = [_(kind) for kind in exc.warnings]
        return refusal_page(
            request, "consent/ask.html", _ask_context(scan, form, warnings, ""), exc
        )
    return redirect("consent:review", scan_id=scan.id, request_id=consent_request.id)


@require_GET
@patient_only
def review(request: HttpRequest, scan_id: uuid.UUID, request_id: uuid.UUID) -> HttpResponse:
    consent_request = request_of(signed_in_user(request), request_id)
    if consent_request.scan_id != scan_id:
        return redirect("consent:review", scan_id=consent_request.scan_id, request_id=request_id)
    images = {
        str(image.id): image
        for image in consent_request.scan.images.filter(
            pk__in=[item["image_id"] for item in consent_request.prepared]
        )
    }
    shown = [
        {**item, "check": wording.review_reasons(images[item["image_id"]])}
        if item["image_id"] in images
        else item
        for item in _captions(consent_request)
    ]
    return render(
        request,
        "consent/review.html",
        {
            "scan": consent_request.scan,
            "req": consent_request,
            "shown": shown,
            "redacted": any(reports.regions_of(image) for image in images.values()),
            "endpoint": consent_request.endpoint,
            "question": question_of(consent_request),
            "accepted": consent_request.accepted_at is not None,
        },
    )


@require_GET
@patient_only
def prepared_image(
    request: HttpRequest, scan_id: uuid.UUID, request_id: uuid.UUID, image_id: uuid.UUID
) -> HttpResponse:
    consent_request = request_of(signed_in_user(request), request_id)
    data, mime = prepared_bytes(consent_request, image_id)
    response = HttpResponse(data, content_type=mime)
    response["Cache-Control"] = "no-store, private"
    return response


@require_POST
@patient_only
def accept(request: HttpRequest, scan_id: uuid.UUID, request_id: uuid.UUID) -> HttpResponse:
    try:
        accept_request(
            request_id,
            signed_in_user(request),
            request.POST.get("consent_text_sha256", ""),
            request.POST.get("manifest_sha256", ""),
            request.POST.get("agree") == "yes",
            request.META.get("REMOTE_ADDR", ""),
            request.headers.get("User-Agent", ""),
        )
    except ConsentError as exc:
        flash_refusal(request, exc)
        return redirect("consent:review", scan_id=scan_id, request_id=request_id)
    messages.success(request, _("Thank you. Your consent is recorded and sending has started."))
    return redirect("scans:detail", scan_id=scan_id)


@require_POST
@patient_only
def withdraw(request: HttpRequest, consent_id: uuid.UUID) -> HttpResponse:
    user = signed_in_user(request)
    record = consent_of(user, consent_id)
    try:
        withdraw_consent(record, user)
    except WithdrawalRefused as exc:
        flash_refusal(request, exc)
    else:
        messages.success(request, _("Your consent was withdrawn. Nothing was sent."))
    return redirect("scans:detail", scan_id=record.scan_id)


@require_GET
@patient_only
def receipt_page(request: HttpRequest, consent_id: uuid.UUID) -> HttpResponse:
    """The consent and its send told for a person, beside the JSON receipts that prove them."""
    record = consent_of(signed_in_user(request), consent_id)
    manifest = json.loads(record.manifest)
    return render(
        request,
        "consent/receipt.html",
        {
            "consent": record,
            "manifest": manifest,
            "shown": _captions(record.request),
            "sent": record.state not in ("active", "withdrawn", "expired", "sending"),
        },
    )


@require_GET
@patient_only
def receipt(request: HttpRequest, consent_id: uuid.UUID, kind: str) -> HttpResponse:
    record = consent_of(signed_in_user(request), consent_id)
    body = json.dumps(receipt_of(record, kind), indent=2, sort_keys=True)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="receipt-{kind}-{record.id}.json"'
    response["Cache-Control"] = "no-store, private"
    return response


@require_GET
@patient_only
def answer_detail(request: HttpRequest, answer_id: uuid.UUID) -> HttpResponse:
    user = signed_in_user(request)
    answer = answers.answer_of(user, answer_id)
    asked = answer.consent.request
    return render(
        request,
        "consent/answer.html",
        {
            "answer": answers.view_answer(answer, user),
            "consent_id": answer.consent_id,
            "scan_id": answer.scan_id,
            "asked": asked,
            "question": question_of(asked),
            "shown": _captions(asked),
        },
    )


def _captions(consent_request: ConsentRequest) -> list[dict[str, Any]]:
    """The prepared images, each captioned with its series, slice and window."""
    groups, _held = series.series_of(consent_request.scan)
    captions = {}
    for group in groups:
        for n, image in enumerate(group.images, start=1):
            captions[str(image.pk)] = _(
                "%(series)s · slice %(slice)s of %(slices)s (image %(position)s)"
            ) % {
                "series": group.title,
                "slice": n,
                "slices": len(group.images),
                "position": image.position,
            }
    return [
        {
            **item,
            "caption": captions.get(item["image_id"], "")
            + (
                " · " + _("%(window)s window") % {"window": PRESETS[item["window"]].label}
                if item.get("window") in PRESETS
                else ""
            ),
        }
        for item in consent_request.prepared
    ]


@require_http_methods(["GET", "POST"])
@patient_only
def answer_delete(request: HttpRequest, answer_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm (a click alone never deletes); POST deletes."""
    user = signed_in_user(request)
    answer = answers.answer_of(user, answer_id)
    if request.method == "GET":
        return render(
            request,
            "confirm.html",
            {
                "title": _("Delete this answer?"),
                "what": _("The answer from %(name)s")
                % {"name": answer.consent.endpoint_snapshot.get("name") or _("the AI service")},
                "consequence": _(
                    "Its text is destroyed. The record that a send happened stays in the audit "
                    "log, without the text. This cannot be undone."
                ),
                "action": _("Delete answer"),
                "back": reverse("consent:answer", args=[answer.pk]),
            },
        )
    answers.delete_answer(answer, user)
    messages.success(request, _("The answer was deleted."))
    return redirect("scans:detail", scan_id=answer.scan_id)
