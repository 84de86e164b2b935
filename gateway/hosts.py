"""In production, a request's Host must name the gateway exactly, port included.

Django's ``ALLOWED_HOSTS`` compares host names without their port, so ``Host: gateway:4444``
passed; anything the app builds from the request (a redirect, an absolute address) could then
point at that port. Links in mail are built from ``PUBLIC_URL`` only; this refuses the rest: a
Host that carries a port must be ``PUBLIC_URL``'s host and port. Health checks are exempt (they
come from inside the container to the server's own port).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

EXEMPT_PATHS = ("/healthz",)


def host_allowed(host: str) -> bool:
    if ":" not in host.rsplit("]", 1)[-1]:
        return True  # no port: ALLOWED_HOSTS has already decided
    return host.lower() == urlsplit(settings.PUBLIC_URL).netloc.lower()


class HostPortMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.PRODUCTION
            and not request.path.startswith(EXEMPT_PATHS)
            and not host_allowed(request.get_host())
        ):
            return HttpResponseBadRequest("Unknown host.", content_type="text/plain")
        return self.get_response(request)
