"""How pages show a refusal (``scans.errors.UserFacingError``): the one translation point for
pages, as the API's is the exception handler in ``gateway.api``.

Either the page that was submitted comes back with the message and the refusal's status (a form
the person can correct), or the message is flashed on the page they are sent to next.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext

from scans.errors import UserFacingError


def words(exc: UserFacingError) -> str:
    """The refusal's sentence in the reader's language."""
    return exc.words(gettext)


def refusal_page(
    request: HttpRequest, template: str, context: dict[str, Any], exc: UserFacingError
) -> HttpResponse:
    """``template`` again, with ``error`` set to the refusal's message, answered with its status."""
    return render(request, template, {**context, "error": words(exc)}, status=exc.status)


def flash_refusal(request: HttpRequest, exc: UserFacingError) -> None:
    """The refusal's message, shown on the next page."""
    messages.error(request, words(exc))
