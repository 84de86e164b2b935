"""The tus 1.0 resumable-upload protocol (core, creation and termination), over HTTP.

The same views serve the browser (session cookie, CSRF token in ``X-CSRFToken``) at
``/scans/tus/`` and API clients (``Authorization: Bearer``) at ``/api/v1/tus/``. Each uploaded
file is a tus upload; once all of a study's files are complete, ``finish`` makes them one scan.
The protocol's ``Upload-Metadata`` (where clients put the file name) is ignored on purpose:
names identify, and the gateway never stores them. See https://tus.io/protocols/resumable-upload.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt

from accounts.models import Role, User
from accounts.tokens import user_for_bearer
from scans import resumable
from scans.errors import UserFacingError
from scans.upload import Rejection

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

View = Callable[..., HttpResponse]


def _tus_response(status: int, **headers: str) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _refused(exc: UserFacingError) -> HttpResponse:
    response = JsonResponse(exc.as_json(_), status=exc.status)
    response["Tus-Resumable"] = TUS_VERSION
    return response


def _uploader(request: HttpRequest, api: bool) -> User:
    """The patient this request uploads for: the session user on pages, the token's in the API."""
    user = user_for_bearer(request.headers.get("Authorization", "")) if api else request.user
    if user is None or not user.is_authenticated or not user.is_active:
        raise Rejection(401, gettext_noop("Sign in as a patient to upload scans."))
    if user.role != Role.PATIENT:
        raise Rejection(403, gettext_noop("Only patient accounts can upload scans."))
    return user


def _protocol(api: bool, *, versioned: bool = True) -> Callable[[View], View]:
    """Resolve the uploader, check the protocol version (``versioned``: a tus route, not our
    own ``finish``), and turn refusals into responses."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if request.method == "OPTIONS":
                return _tus_response(
                    204,
                    Tus_Version=TUS_VERSION,
                    Tus_Extension="creation,termination",
                    Tus_Max_Size=str(settings.UPLOAD_MAX_BYTES),
                )
            try:
                user = _uploader(request, api)
                version = request.headers.get("Tus-Resumable")
                if versioned and version is not None and version != TUS_VERSION:
                    return _tus_response(412, Tus_Version=TUS_VERSION)
                return view(request, user, *args, **kwargs)
            except UserFacingError as exc:
                return _refused(exc)

        return csrf_exempt(wrapped) if api else wrapped

    return decorate


def _int_header(request: HttpRequest, name: str) -> int:
    try:
        value = int(request.headers.get(name, ""))
    except ValueError:
        raise Rejection(
            400, gettext_noop("Send a whole number in the %(header)s header."), {"header": name}
        ) from None
    if value < 0:
        raise Rejection(
            400, gettext_noop("Send a whole number in the %(header)s header."), {"header": name}
        )
    return value


def _create(api: bool) -> View:
    @_protocol(api)
    def create(request: HttpRequest, user: User) -> HttpResponse:
        if request.method != "POST":
            return _tus_response(405, Allow="POST, OPTIONS")
        upload = resumable.start_upload(user, _int_header(request, "Upload-Length"))
        name = "api-tus-upload" if api else "scans:tus-upload"
        return _tus_response(201, Location=reverse(name, args=[upload.pk]), Upload_Offset="0")

    return create


def _upload(api: bool) -> View:
    @_protocol(api)
    def upload(request: HttpRequest, user: User, upload_id: uuid.UUID) -> HttpResponse:
        found = resumable.upload_of(user, upload_id)
        if found is None:
            return _tus_response(404)
        if request.method == "HEAD":
            return _tus_response(
                200, Upload_Offset=str(found.offset), Upload_Length=str(found.length)
            )
        if request.method == "DELETE":
            resumable.discard_upload(found)
            return _tus_response(204)
        if request.method != "PATCH":
            return _tus_response(405, Allow="HEAD, PATCH, DELETE, OPTIONS")
        if request.content_type != OFFSET_CONTENT_TYPE:
            return _tus_response(415)
        declared = request.META.get("CONTENT_LENGTH")
        offset = resumable.append_piece(
            found,
            _int_header(request, "Upload-Offset"),
            request.read,
            int(declared) if declared else None,
        )
        return _tus_response(204, Upload_Offset=str(offset))

    return upload


def _finish(api: bool) -> View:
    @_protocol(api, versioned=False)
    def finish(request: HttpRequest, user: User) -> HttpResponse:
        """Make one scan of the listed finished uploads: JSON ``{"uploads": [id, ...]}``."""
        if request.method != "POST":
            return _tus_response(405, Allow="POST")
        try:
            ids = [uuid.UUID(str(i)) for i in json.loads(request.body or b"{}")["uploads"]]
        except (ValueError, KeyError, TypeError):
            raise Rejection(400, gettext_noop('Send {"uploads": [upload ids]} as JSON.')) from None
        scan = resumable.finish_uploads(user, ids)
        if not api:
            messages.success(request, _("Uploaded and encrypted. De-identification has started."))
        return JsonResponse(
            {
                "id": str(scan.pk),
                "status": scan.status,
                "url": reverse("scans:detail", args=[scan.pk]),
            },
            status=201,
        )

    return finish


def patterns(api: bool) -> list:
    """The routes, named for the browser (``scans:tus-*``) or the API (``api-tus-*``)."""
    prefix = "api-tus-" if api else "tus-"
    return [
        path("", _create(api), name=prefix + "create"),
        path("finish/", _finish(api), name=prefix + "finish"),
        path("<uuid:upload_id>/", _upload(api), name=prefix + "upload"),
    ]
