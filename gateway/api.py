"""The JSON API, ``/api/v1/``: one API object, its authentication, and how errors look.

Each app owns its routes (``scans.api``, ``scans.consent.api``, ``audit.api``); they are mounted
here so the OpenAPI schema is one. Authentication is a personal API token (``Authorization:
Bearer <token>``). Errors are JSON ``{"detail": "..."}`` with a message a person can act on:
every refusal a service raises (``scans.errors.UserFacingError``) is translated here, and only
here.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.operation import Operation
from ninja.security import HttpBearer

from accounts.models import User
from accounts.tokens import user_for_bearer
from audit.api import router as audit_router
from scans.api import router as scans_router
from scans.consent.api import router as consent_router
from scans.errors import UserFacingError
from scans.upload import upload_rejection


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest):
        return self.authenticate(request, request.headers.get("Authorization", ""))

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return user_for_bearer(token if token.lower().startswith("bearer ") else f"Bearer {token}")


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
    auth=BearerToken(),
    description="Upload scans, follow their de-identification, and manage them. "
    "Authenticate with a personal API token: `Authorization: Bearer <token>`.",
)


@api.exception_handler(UserFacingError)
def on_refused(request: HttpRequest, exc: UserFacingError) -> HttpResponse:
    """Every refusal of every route: its message for the client, with its status."""
    return api.create_response(request, exc.as_json(), status=exc.status)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(
        request,
        {
            "detail": "Authentication required: send a personal API token as "
            "'Authorization: Bearer <token>'."
        },
        status=401,
    )


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    rejection = upload_rejection(request)
    if rejection is not None:
        # The upload handler stopped reading the body (too large, storage full ...), so a
        # missing `files` is a symptom; its reason is the one the client needs.
        return api.create_response(request, {"detail": rejection.message}, status=rejection.status)
    fields = sorted(
        {".".join(str(p) for p in err.get("loc", [])[1:]) or "body" for err in exc.errors}
    )
    return api.create_response(
        request, {"detail": f"The request is not valid; check: {', '.join(fields)}."}, status=400
    )


api.add_router("", scans_router)
api.add_router("", consent_router)
api.add_router("/audit", audit_router)
