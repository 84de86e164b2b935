"""Uploads go straight into the vault, encrypted chunk by chunk as they arrive.

Django's stock upload handlers keep small files in memory and write larger ones to a plaintext
temporary file. This module replaces them (``FILE_UPLOAD_HANDLERS``) for every request: a file
is only ever held as one chunk in memory and otherwise exists only as ciphertext.

Two guards keep the vault from holding anything it should not:

* the handler seals files only for a signed-in patient posting to an upload route; for anyone
  else it stops reading the body;
* ``UploadGuardMiddleware`` refuses oversized bodies before a byte is read, and after every
  request shreds whatever was sealed but not claimed by a scan (a rejected upload, an error,
  a dropped connection), so "nothing stored on rejection" holds however the request ended.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext, gettext_noop

from accounts.models import Role, User
from accounts.tokens import user_for_bearer
from scans.errors import UserFacingError
from scans.models import ScanFile, Status
from scans.refusals import refusal_page
from vault import ObjectInfo, VaultWriter, get_vault

log = logging.getLogger(__name__)

# Routes (by URL name) that accept scan uploads. Every other route gets no file sealed at all.
UPLOAD_ROUTES = frozenset({"scans:upload", "api-1:scans"})


class Rejection(UserFacingError):
    """Why the files of this request were not (or not all) sealed: a refusal with its status."""

    code = "upload_refused"

    def __init__(self, status: int, message: str, values: dict[str, object] | None = None) -> None:
        super().__init__(message, status, values)


class SealedUpload(UploadedFile):
    """A file that has been sealed into the vault. It carries no name: names can identify."""

    def __init__(self, info: ObjectInfo, position: int) -> None:
        super().__init__(file=None, name=f"file-{position}", size=info.size)
        self.info = info
        self.position = position
        self.claimed = False

    def open(self, *args: Any, **kwargs: Any) -> SealedUpload:  # pragma: no cover - misuse guard
        raise RuntimeError("read sealed uploads through the vault, by info.object_id")


def sealed_uploads(request: HttpRequest) -> list[SealedUpload]:
    """Every file sealed during this request, in arrival order (kept on the request itself)."""
    uploads: list[SealedUpload] = vars(request).setdefault("_sealed_uploads", [])
    return uploads


def upload_rejection(request: HttpRequest) -> Rejection | None:
    rejection: Rejection | None = vars(request).get("_upload_rejection")
    return rejection


def _reject(
    request: HttpRequest, status: int, message: str, values: dict[str, object] | None = None
) -> None:
    if upload_rejection(request) is None:
        vars(request)["_upload_rejection"] = Rejection(status, message, values)


def quota_refusal(user: User, incoming_bytes: int) -> Rejection | None:
    """A patient's stored originals may not exceed PATIENT_STORAGE_QUOTA_BYTES, so one account
    cannot fill the clinic's blob store for everyone."""
    quota = settings.PATIENT_STORAGE_QUOTA_BYTES
    used = (
        ScanFile.objects.filter(scan__owner=user)
        .exclude(scan__status=Status.DELETED)
        .aggregate(total=Sum("size"))["total"]
        or 0
    )
    if used + incoming_bytes <= quota:
        return None
    return Rejection(
        413,
        gettext_noop(
            "This upload would take your stored scans past your limit of %(gib)s GiB; delete "
            "scans you no longer need, then try again. Nothing was stored."
        ),
        {"gib": quota // 1024**3},
    )


def uploader_refusal(request: HttpRequest) -> Rejection | None:
    """Why files may not be sealed for this request's user, or None for an active patient.

    Session users come from the authentication middleware; API clients from their bearer token.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        user = user_for_bearer(request.headers.get("Authorization", ""))
    if user is None or not user.is_active:
        return Rejection(401, gettext_noop("Sign in as a patient to upload scans."))
    if user.role != Role.PATIENT:
        return Rejection(403, gettext_noop("Only patient accounts can upload scans."))
    return quota_refusal(user, int(request.META.get("CONTENT_LENGTH") or 0))


def is_upload_route(request: HttpRequest) -> bool:
    if request.method != "POST":
        return False
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in UPLOAD_ROUTES


class EncryptingUploadHandler(FileUploadHandler):
    """Seals each uploaded file into the vault as its chunks arrive."""

    chunk_size = 1024 * 1024

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.accepting = False
        self.writer: VaultWriter | None = None
        self.total_bytes = 0
        self.file_count = 0

    @property
    def _request(self) -> HttpRequest:
        # Django always constructs upload handlers with the request they serve.
        assert self.request is not None
        return self.request

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        request = self._request
        if not is_upload_route(request):
            _reject(request, 400, gettext_noop("This page does not accept files."))
        elif (refusal := uploader_refusal(request)) is not None:
            _reject(request, refusal.status, refusal.phrase.text, dict(refusal.phrase.values))
        else:
            self.accepting = True
        return None

    def new_file(
        self,
        field_name: str,
        file_name: str,
        content_type: str,
        content_length: int | None,
        charset: str | None = None,
        content_type_extra: dict[str, bytes] | None = None,
    ) -> None:
        # The file name is deliberately dropped here: it is identifying and never stored.
        super().new_file(
            field_name, "upload", content_type, content_length, charset, content_type_extra
        )
        if not self.accepting:
            raise StopUpload(connection_reset=True)
        if field_name != "files":
            _reject(
                self._request, 400, gettext_noop("Send scan files in the form field named 'files'.")
            )
            raise StopUpload(connection_reset=True)
        self.file_count += 1
        if self.file_count > settings.UPLOAD_MAX_FILES:
            _reject(
                self._request,
                413,
                TOO_MANY_FILES,
                {"count": settings.UPLOAD_MAX_FILES},
            )
            raise StopUpload(connection_reset=True)
        try:
            # No digest: an original is only ever read back, and SHA-256 would halve upload speed.
            self.writer = get_vault().create(digest=False)
        except OSError as exc:
            self._stop_if_storage_full(exc)
            raise
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.total_bytes += len(raw_data)
        if self.total_bytes > settings.UPLOAD_MAX_BYTES:
            self._abort_current()
            vars(self._request).setdefault("_upload_rejection", too_large())
            raise StopUpload(connection_reset=True)
        # new_file opened the writer, or stopped the upload before any chunk could arrive.
        assert self.writer is not None
        try:
            self.writer.write(raw_data)
        except OSError as exc:
            self._stop_if_storage_full(exc)
            raise
        return None

    def file_complete(self, file_size: int) -> SealedUpload | None:
        if self.writer is None:
            return None
        try:
            info = self.writer.close()
        except OSError as exc:
            self._stop_if_storage_full(exc)
            raise
        self.writer = None
        upload = SealedUpload(info, position=self.file_count)
        sealed_uploads(self._request).append(upload)
        return upload

    def upload_interrupted(self) -> None:
        self._abort_current()

    def _abort_current(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def _stop_if_storage_full(self, exc: OSError) -> None:
        """Turn a full blob store into a 507 for the patient instead of a server error.

        The vault writer has already discarded its partial blob; files sealed earlier in this
        request are shredded by the middleware, as for any other refusal.
        """
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return
        self._abort_current()
        log.error("upload refused: the blob store is full")
        _reject(self._request, 507, STORAGE_FULL_MESSAGE)
        raise StopUpload(connection_reset=True) from exc


STORAGE_FULL_MESSAGE = gettext_noop(
    "The gateway's storage is full; nothing was stored. Please tell the clinic."
)
TOO_MANY_FILES = gettext_noop(
    "Too many files: at most %(count)s files per scan. Put a large series in a ZIP archive."
)


def too_large() -> Rejection:
    """The refusal of an upload larger than ``UPLOAD_MAX_BYTES``."""
    return Rejection(
        413,
        gettext_noop("The upload is larger than the limit of %(mib)s MiB; nothing was stored."),
        {"mib": settings.UPLOAD_MAX_BYTES // (1024 * 1024)},
    )


def rejection_response(request: HttpRequest, refusal: Rejection) -> HttpResponse:
    """The refusal as a JSON error for API clients, a plain page for browsers.

    Raised before any view runs (the middleware) or read by the upload views, so neither the API's
    exception handler nor a view's own page can show it.
    """
    if request.path_info.startswith("/api/"):
        return JsonResponse(refusal.as_json(gettext), status=refusal.status)
    return refusal_page(request, "scans/upload_refused.html", {}, refusal)


def shred_unclaimed(request: HttpRequest) -> int:
    """Crypto-shred every file sealed in this request that no scan claimed. Returns the count."""
    uploads = getattr(request, "_sealed_uploads", [])
    shredded = 0
    for upload in uploads:
        if not upload.claimed:
            get_vault().shred(upload.info.object_id)
            shredded += 1
    if shredded:
        log.info("shredded %d unclaimed upload(s)", shredded)
    return shredded


class UploadGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            declared_bytes = int(declared)
        except ValueError:
            return rejection_response(
                request, Rejection(400, gettext_noop("The request's Content-Length is not valid."))
            )
        # A little room for the multipart envelope around the files themselves.
        if declared_bytes > settings.UPLOAD_MAX_BYTES + 1024 * 1024:
            return rejection_response(request, too_large())
        try:
            return self.get_response(request)
        finally:
            shred_unclaimed(request)
