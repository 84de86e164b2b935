"""No page or API answer of the gateway is kept by a browser or a proxy cache.

Scan pages, previews, answers, consent reviews and the JSON API carry patient content; a shared
or back-button cache must not keep any of them (a clinic's shared computer, a caching proxy).
Rather than rely on each view remembering, every response the app itself makes is
``Cache-Control: no-store``; static files are served (cacheable) by WhiteNoise before this runs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True, private=True)
        return response
