"""The JSON API, ``/api/v1/``: one API object, its authentication, and how errors look.

Each app owns its routes (``scans.api``, ``scans.consent.api``, ``audit.api``); they are mounted
here so the OpenAPI schema is one. Authentication is a personal API token (``Authorization:
Bearer <token>``) whose scopes include the one the route needs: ``read`` for every GET, and
for changes ``upload`` (scans), ``consent`` (consent requests, consents, answers) or ``audit``
(the whole audit API). Each token has ``API_RATE_LIMIT_PER_MINUTE`` requests a minute.

Errors are JSON ``{"code": "...", "detail": "..."}``: ``code`` is a stable name of the kind of
error for programs (``scope_missing``, ``not_found``, ``upload_refused`` ...), the same in every
language; ``detail`` is a sentence a person can act on, in the request's language (the token's
account language if it has one, else ``Accept-Language``). Every refusal a service raises
(``scans.errors.UserFacingError``) is translated here, and only here; anything else is a JSON
500, never Django's HTML page.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.operation import Operation
from ninja.security import HttpBearer

from accounts.middleware import SUPPORTED_LANGUAGES
from accounts.models import TokenScope, User
from accounts.tokens import token_for_bearer
from audit.api import Refused as AuditRefused
from audit.api import router as audit_router
from scans.api import router as scans_router
from scans.consent.api import router as consent_router
from scans.errors import UserFacingError
from scans.logsafe import describe
from scans.upload import upload_rejection

logger = logging.getLogger(__name__)
READING = frozenset({"GET", "HEAD", "OPTIONS"})


class BearerToken(HttpBearer):
    """A live token with the scope the request needs: ``read`` to read, ``changes`` to change."""

    def __init__(self, *, read: TokenScope, changes: TokenScope) -> None:
        super().__init__()
        self.read = read
        self.changes = changes

    def __call__(self, request: HttpRequest):
        return self.authenticate(request, request.headers.get("Authorization", ""))

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        header = token if token.lower().startswith("bearer ") else f"Bearer {token}"
        found = token_for_bearer(header)
        if found is None:
            return None
        _speak_language_of(request, found.user)
        needed = self.read if request.method in READING else self.changes
        if needed.value not in found.scopes:
            message = (
                gettext_noop(
                    "This token may not do this: it needs the '%(scope)s' scope (auditor and "
                    "clinic admin accounts only)."
                )
                if needed == TokenScope.AUDIT
                else gettext_noop("This token may not do this: it needs the '%(scope)s' scope.")
            )
            raise UserFacingError(message, 403, {"scope": needed.value}, code="scope_missing")
        _count_request(found.pk)
        return found.user


def _speak_language_of(request: HttpRequest, user: User) -> None:
    """The token's account language wins over ``Accept-Language``, as on the pages (the session
    middleware that does this for pages knows no token)."""
    if user.language in SUPPORTED_LANGUAGES:
        translation.activate(user.language)
        request.LANGUAGE_CODE = user.language


def _count_request(token_id: int) -> None:
    """At most ``API_RATE_LIMIT_PER_MINUTE`` requests per token and minute, else 429."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    key = f"api-rate:{token_id}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
    if count > limit:
        raise UserFacingError(
            gettext_noop("Too many requests with this token; wait a minute and try again."),
            429,
            code="rate_limited",
        )


# Operation ids are part of the published schema (client generators name methods after them), and
# ninja derives them from the module a route lives in: routes that moved keep their old ids.
OPERATION_ID_PREFIXES = {
    "scans_consent_api_": "scans_api_consent_",
    "audit_api_": "scans_audit_api_",
}


class GatewayAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        operation_id = super().get_openapi_operation_id(operation)
        for prefix, published in OPERATION_ID_PREFIXES.items():
            if operation_id.startswith(prefix):
                return published + operation_id.removeprefix(prefix)
        return operation_id


api = GatewayAPI(
    title="Scan gateway API",
    version="1",
    urls_namespace="api-1",
    auth=BearerToken(read=TokenScope.READ, changes=TokenScope.UPLOAD),
    description="Upload scans, follow their de-identification, and manage them. "
    "Authenticate with a personal API token: `Authorization: Bearer <token>`.",
)


def error_response(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse:
    """The one shape of every API error: a stable ``code`` and a translated ``detail``."""
    return api.create_response(request, {"code": code, "detail": detail}, status=status)


@api.exception_handler(UserFacingError)
def on_refused(request: HttpRequest, exc: UserFacingError) -> HttpResponse:
    """Every refusal of every route: its message for the client, with its status."""
    return api.create_response(request, exc.as_json(gettext), status=exc.status)


@api.exception_handler(AuditRefused)
def on_audit_refused(request: HttpRequest, exc: AuditRefused) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.words(gettext))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    detail = gettext(
        "Authentication required: send a personal API token as 'Authorization: Bearer <token>'."
    )
    return error_response(request, 401, "authentication_required", detail)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Another account's object is a 404 exactly like one that does not exist: one sentence."""
    detail = gettext("There is nothing here: it does not exist, or it is not yours to see.")
    return error_response(request, 404, "not_found", detail)


# Statuses ninja raises by itself (a method the route does not have, a body it cannot parse).
_HTTP_ERRORS = {
    400: ("invalid_request", gettext_noop("The request is not valid.")),
    403: ("forbidden", gettext_noop("This account may not do this.")),
    404: (
        "not_found",
        gettext_noop("There is nothing here: it does not exist, or it is not yours to see."),
    ),
    405: ("method_not_allowed", gettext_noop("This address does not accept this method.")),
}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code, detail = _HTTP_ERRORS.get(exc.status_code, ("error", gettext_noop("The request failed.")))
    return error_response(request, exc.status_code, code, gettext(detail))


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    rejection = upload_rejection(request)
    if rejection is not None:
        # The upload handler stopped reading the body (too large, storage full ...), so a
        # missing `files` is a symptom; its reason is the one the client needs.
        return api.create_response(request, rejection.as_json(gettext), status=rejection.status)
    # The names of the fields are data (the API's own names), listed after the sentence.
    fields = sorted(
        {".".join(str(p) for p in err.get("loc", [])[1:]) or "body" for err in exc.errors}
    )
    detail = gettext("The request is not valid; check: %(fields)s.") % {"fields": ", ".join(fields)}
    return error_response(request, 400, "invalid_request", detail)


@api.exception_handler(Exception)
def on_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """An API client always gets JSON, even when something failed on our side."""
    route = request.resolver_match.route if request.resolver_match else "?"
    # Its type and place only: an exception's text can quote what it was given.
    logger.error("API error on %s %s: %s", request.method, route, describe(exc))
    detail = gettext("Something went wrong on our side; try again later.")
    return error_response(request, 500, "server_error", detail)


api.add_router("", scans_router, auth=BearerToken(read=TokenScope.READ, changes=TokenScope.UPLOAD))
api.add_router(
    "", consent_router, auth=BearerToken(read=TokenScope.READ, changes=TokenScope.CONSENT)
)
api.add_router(
    "/audit", audit_router, auth=BearerToken(read=TokenScope.AUDIT, changes=TokenScope.AUDIT)
)
