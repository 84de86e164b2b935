"""Error pages in the site's layout, with a way back, readable on a phone.

Django's defaults are bare pages with no navigation; a worried patient who meets one should
still see where they are and how to go on. The 500 page renders without a request context
(the failure may be in a context processor or the database), so it needs nothing but static.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

PAGES = {
    400: (
        gettext_lazy("This request could not be understood"),
        gettext_lazy("Please go back and try again."),
    ),
    403: (
        gettext_lazy("This page is not open to you"),
        gettext_lazy(
            "Your account cannot open this page. If you think it should, ask the clinic."
        ),
    ),
    404: (
        gettext_lazy("This page does not exist"),
        gettext_lazy("The link may be old, or what it pointed to was deleted."),
    ),
    500: (
        gettext_lazy("Something went wrong on our side"),
        gettext_lazy(
            "Nothing you did caused this. Please try again in a few minutes; if it keeps "
            "happening, tell the clinic."
        ),
    ),
}


def _page(request: HttpRequest, status: int, detail: str = "") -> HttpResponse:
    title, explanation = PAGES[status]
    context = {"status": status, "title": title, "explanation": explanation, "detail": detail}
    return render(request, "error.html", context, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    title, explanation = PAGES[500]
    body = loader.get_template("error.html").render(
        {"status": 500, "title": title, "explanation": explanation, "bare": True}
    )
    return HttpResponse(body, status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: usually a form left open too long, or cookies blocked."""
    return _page(
        request,
        403,
        _(
            "The form had expired or your browser blocked this site's cookie. Go back, reload "
            "the page and send it again."
        ),
    )
