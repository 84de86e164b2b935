"""The client's real address, for every limit and hash that keys on it.

Behind the TLS proxy README requires, ``REMOTE_ADDR`` is the proxy for every user, so a limit
keyed on it (allauth's sign-in lock-out, our API limits) locked the whole clinic out on one
person's five wrong passwords, and the consent's client hash recorded the proxy. This middleware
runs first and puts the address the trusted proxy saw into ``REMOTE_ADDR``, so allauth, the
consent records and our own limits all read the same, real, address.

Only what the operator says is trusted is read (``TRUSTED_PROXY_COUNT`` or
``TRUSTED_CLIENT_IP_HEADER``): a client can write any X-Forwarded-For it likes, but it cannot
remove the entries the proxies append after it, so the address ``count`` entries from the
right is the one the outermost trusted proxy received the connection from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def _valid(address: str) -> str | None:
    address = address.strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address the request came from, as far as the trusted proxies can say."""
    remote = request.META.get("REMOTE_ADDR", "")
    header = settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        return _valid(request.headers.get(header, "")) or remote
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.headers.get("X-Forwarded-For", "")
    if count <= 0 or not forwarded:
        # Straight to the server (a health check from inside the container, or no proxy).
        return remote
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < count:
        # Fewer hops than proxies: the request did not come through all of them, and what it
        # says about itself is not evidence.
        return remote
    return _valid(hops[-count]) or remote


class ClientAddressMiddleware:
    """Sets ``REMOTE_ADDR`` to the client's real address (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.TRUSTED_CLIENT_IP_HEADER or settings.TRUSTED_PROXY_COUNT > 0:
            request.META["REMOTE_ADDR"] = client_address(request)
        return self.get_response(request)
