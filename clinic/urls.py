from django.urls import path

from clinic import views
from forwarding import views as endpoint_views

app_name = "clinic"

urlpatterns = [
    path("", views.index, name="index"),
    path("users/", views.users, name="users"),
    path("users/invite/", views.invite, name="invite"),
    path("invitation/", views.accept_invitation, name="invitation"),
    path("users/<str:pseudonym>/", views.user_detail, name="user"),
    path("users/<str:pseudonym>/role/", views.change_role, name="user_role"),
    path("users/<str:pseudonym>/disable/", views.disable_user, name="user_disable"),
    path("users/<str:pseudonym>/enable/", views.enable_user, name="user_enable"),
    path("users/<str:pseudonym>/reset-mfa/", views.reset_mfa, name="user_reset_mfa"),
    path("endpoints/", endpoint_views.endpoints, name="endpoints"),
    path("endpoints/new/", endpoint_views.endpoint_create, name="endpoint_create"),
    path("endpoints/<uuid:endpoint_id>/", endpoint_views.endpoint_edit, name="endpoint_edit"),
    path(
        "endpoints/<uuid:endpoint_id>/disable/",
        endpoint_views.endpoint_disable,
        name="endpoint_disable",
    ),
    path("endpoints/<uuid:endpoint_id>/test/", endpoint_views.endpoint_test, name="endpoint_test"),
    path("retention/", views.retention_policy, name="retention"),
    path("health/", views.health_page, name="health"),
]
