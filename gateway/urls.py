from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from accounts import views as account_views
from accounts.urls import role_patterns
from clinic import account_deletion
from gateway.api import api
from scans import tus


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose health checks: the process answers."""
    return JsonResponse({"ok": True})


# No Django admin site: every role has its own pages, and a clinic admin held no model
# permission there (an empty index behind a second sign-in form). Its URLs are not served.
urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", healthz),
    # The scripts' strings in the page's language, served here (script-src 'self', no inline).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("allauth.urls")),
    path("account/delete/", account_deletion.delete_account, name="account_delete"),
    path("", include("accounts.urls")),
    path("", include(role_patterns)),
    path("scans/", include("scans.urls")),
    path("", include("scans.consent.urls")),
    path("audit/", include("audit.urls")),
    path("clinic/", include("clinic.urls")),
    path("", include("clinic.pacs.urls")),
    path("api/v1/tus/", include(tus.patterns(api=True))),
    path("api/v1/", api.urls),
]

# Error pages in the site's layout (gateway.errors).
handler400 = "gateway.errors.bad_request"
handler403 = "gateway.errors.permission_denied"
handler404 = "gateway.errors.page_not_found"
handler500 = "gateway.errors.server_error"
